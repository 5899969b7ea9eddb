"""Side panels of the dashboard: Redis health and the live supervisors."""

from __future__ import annotations

from rich.console import Group
from rich.text import Text
from textual.widgets import Static

from console import text as fmt
from engine.admin import EngineSnapshot


class RedisPanel(Static):
    """Memory, fragmentation, clients, eviction policy and persistence."""

    DEFAULT_CSS = """
    RedisPanel { border: round $primary; border-title-color: $text; padding: 0 1; }
    """

    def on_mount(self) -> None:
        self.border_title = "Redis"

    def show(self, snapshot: EngineSnapshot) -> None:
        """Render the Redis part of ``snapshot``."""
        r = snapshot.redis
        maximum = fmt.size(r.max_memory) if r.max_memory else "no limit"
        share = f" ({100 * r.used_memory / r.max_memory:.0f}%)" if r.max_memory else ""
        lines = [
            Text(f"version {r.version}   up {fmt.ago(r.uptime_s)}   {r.ops_per_s} ops/s"),
            Text(
                f"memory  {fmt.size(r.used_memory)} used{share}, peak {fmt.size(r.peak_memory)},"
                f" max {maximum}"
            ),
            Text(f"fragmentation {r.fragmentation:.2f}   clients {r.clients}"),
        ]
        if r.policy in ("noeviction", "unknown"):
            lines.append(Text(f"eviction policy {r.policy}", style="green"))
        else:
            lines.append(
                Text(
                    f"⚠ eviction policy {r.policy}: Redis may DROP jobs (set noeviction)",
                    style="bold white on red",
                )
            )
        persistence = "AOF on" if r.aof else "AOF off: a Redis crash loses recent jobs"
        lines.append(Text(f"persistence {persistence}", style="" if r.aof else "yellow"))
        self.update(Group(*lines))


class WorkersPanel(Static):
    """Every live supervisor from its heartbeat: uptime, beat age, jobs in flight."""

    DEFAULT_CSS = """
    WorkersPanel { border: round $primary; border-title-color: $text; padding: 0 1; }
    """

    def on_mount(self) -> None:
        self.border_title = "Workers"

    def show(self, snapshot: EngineSnapshot) -> None:
        """Render the supervisors of ``snapshot``."""
        if not snapshot.supervisors:
            self.update(Text("no live supervisor: nothing is processing jobs", style="bold red"))
            return
        lines = []
        now = snapshot.taken_at
        for s in snapshot.supervisors:
            lines.append(
                Text(
                    f"{fmt.literal(s.host)} pid {s.pid}  up {fmt.ago(now - s.started)}"
                    f"  beat {fmt.ago(now - s.beat)} ago",
                    style="bold",
                )
            )
            busy = [
                f"{q} {len(ids)}/{s.queues.get(q, 0)}"
                for q, ids in s.in_flight.items()
                if s.queues.get(q)
            ]
            lines.append(Text("  " + "  ".join(busy), style="dim" if not busy else ""))
        self.update(Group(*lines))
