"""The per-queue table: counts, throughput, failure rate, latency, workers, paused."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import DataTable

from console import text as fmt
from engine.admin import EngineSnapshot, QueueStats, format_ms

COLUMNS: tuple[tuple[str, str], ...] = (
    ("queue", "queue"),
    ("state", "state"),
    ("waiting", "waiting"),
    ("active", "active"),
    ("delayed", "delayed"),
    ("failed", "failed"),
    ("per_hour", "done/h"),
    ("failure", "fail %"),
    ("run_p95", "run p95"),
    ("wait_p95", "wait p95"),
    ("workers", "workers"),
    ("throughput", "done/min · 20 min"),
)
"""(column key, header) in display order."""


def cells(q: QueueStats) -> dict[str, Text]:
    """The row of one queue as styled, literal cells."""
    m, c = q.metrics, q.counts
    state = Text("paused", style="bold yellow") if c.paused else Text("running", style="green")
    failed = Text(fmt.count(c.failed), style="bold red" if c.failed else "")
    failure = Text(
        fmt.percent(m.failure_rate),
        style="red" if m.failure_rate >= 0.1 else "yellow" if m.failure_rate else "",
    )
    workers = Text(str(q.workers), style="" if q.workers else "dim")
    return {
        "queue": Text(fmt.literal(q.name), style="bold"),
        "state": state,
        "waiting": Text(fmt.count(c.waiting)),
        "active": Text(fmt.count(c.active)),
        "delayed": Text(fmt.count(c.delayed)),
        "failed": failed,
        "per_hour": Text(f"{m.jobs_per_hour:.0f}"),
        "failure": failure,
        "run_p95": Text(format_ms(m.run_p95_ms)),
        "wait_p95": Text(format_ms(m.wait_p95_ms)),
        "workers": workers,
        "throughput": Text(fmt.sparkline(m.per_minute_completed, 20), style="cyan"),
    }


class QueueTable(DataTable[Text]):
    """One row per queue, updated cell by cell so the cursor and scroll stay put."""

    DEFAULT_CSS = """
    QueueTable { height: auto; max-height: 14; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=True)
        self._shown: list[str] = []
        self._cells: dict[tuple[str, str], Text] = {}

    def on_mount(self) -> None:
        for key, label in COLUMNS:
            self.add_column(label, key=key)

    @property
    def selected_queue(self) -> str | None:
        """The queue under the cursor."""
        if not self._shown or self.cursor_row < 0:
            return None
        return self._shown[min(self.cursor_row, len(self._shown) - 1)]

    def show(self, snapshot: EngineSnapshot, name_filter: str = "") -> None:
        """Show ``snapshot``'s queues whose name contains ``name_filter``."""
        wanted = [q for q in snapshot.queues if name_filter.lower() in q.name.lower()]
        names = [q.name for q in wanted]
        if names != self._shown:
            self._rebuild(wanted)
            return
        for q in wanted:
            for key, value in cells(q).items():
                # Only changed cells: each update re-renders the table.
                if self._cells.get((q.name, key)) != value:
                    self._cells[(q.name, key)] = value
                    self.update_cell(q.name, key, value)

    def _rebuild(self, queues: list[QueueStats]) -> None:
        keep = self.selected_queue
        self.clear()
        for q in queues:
            row = cells(q)
            self.add_row(*(row[key] for key, _ in COLUMNS), key=q.name)
        self._shown = [q.name for q in queues]
        self._cells = {(q.name, key): value for q in queues for key, value in cells(q).items()}
        if keep in self._shown:
            self.move_cursor(row=self._shown.index(keep))
