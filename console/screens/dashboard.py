"""The dashboard: the queue table, Redis and workers panels, and the live log."""

from __future__ import annotations

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.widgets import DataTable, Footer, Header, Input, Static

from console import text as fmt
from console.messages import CleanQueue, PauseQueues, ResumeQueues, RetryFailed
from console.screens.base import ConsoleScreen
from console.screens.jobs import JobsScreen
from console.widgets import LogPanel, QueueTable, RedisPanel, WorkersPanel
from engine.admin import EngineSnapshot


class DashboardScreen(ConsoleScreen):
    """Every queue at a glance, with keys to act on the selected one."""

    BINDINGS = [
        Binding("enter", "open_queue", "Jobs", key_display="enter"),
        Binding("p", "pause", "Pause"),
        Binding("r", "resume", "Resume"),
        Binding("P", "pause_all", "Pause all", key_display="P", show=False),
        Binding("R", "resume_all", "Resume all", key_display="R", show=False),
        Binding("t", "retry_failed", "Retry failed"),
        Binding("c", "clean", "Clean"),
        Binding("slash", "filter", "Filter", key_display="/"),
        Binding("l", "log_scope", "Log scope"),
        Binding("escape", "clear_filter", "Clear filter", show=False),
    ]

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("", id="stale")
        yield QueueTable(id="queues")
        yield Input(
            placeholder="filter queues and log lines (enter to apply, esc to clear)", id="filter"
        )
        with Horizontal(id="panels"):
            yield RedisPanel(id="redis")
            yield WorkersPanel(id="workers")
        yield LogPanel(id="log")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#filter", Input).display = False
        self.watch(self.app, "snapshot", self.show_snapshot)
        self.watch(self.app, "stale_since", self.show_stale)
        self.query_one(QueueTable).focus()

    @property
    def table(self) -> QueueTable:
        """The queue table."""
        return self.query_one(QueueTable)

    def show_snapshot(self, snapshot: EngineSnapshot | None) -> None:
        """Push a new snapshot down to the widgets."""
        if snapshot is None:
            return
        self.table.show(snapshot, self.console.filter_text)
        self.query_one(RedisPanel).show(snapshot)
        self.query_one(WorkersPanel).show(snapshot)
        self.query_one(LogPanel).add(snapshot.logs)
        self.sub_title = f"{self.console.mode_label} · as of {fmt.clock(snapshot.taken_at)}"

    def show_stale(self, since: float | None) -> None:
        """Show or hide the stale-data banner."""
        banner = self.query_one("#stale", Static)
        banner.display = since is not None
        if since is not None:
            banner.update(
                Text(
                    f"⚠ Redis unreachable since {fmt.clock(since)}: figures below "
                    "are stale; retrying…",
                    style="bold white on red",
                )
            )

    @on(DataTable.RowSelected, "#queues")
    def _row_selected(self) -> None:
        self.action_open_queue()

    def _selected(self) -> str | None:
        name = self.table.selected_queue
        if name is None:
            self.notify("no queue selected", severity="warning")
        return name

    def action_open_queue(self) -> None:
        name = self._selected()
        if name is not None:
            self.app.push_screen(JobsScreen(name))

    def action_pause(self) -> None:
        if (name := self._selected()) is not None:
            self.post_message(PauseQueues([name]))

    def action_resume(self) -> None:
        if (name := self._selected()) is not None:
            self.post_message(ResumeQueues([name]))

    def action_pause_all(self) -> None:
        self.post_message(PauseQueues(self.console.source.queue_names))

    def action_resume_all(self) -> None:
        self.post_message(ResumeQueues(self.console.source.queue_names))

    def action_retry_failed(self) -> None:
        if (name := self._selected()) is not None:
            self.post_message(RetryFailed(name))

    def action_clean(self) -> None:
        if (name := self._selected()) is not None:
            self.post_message(CleanQueue(name))

    def action_filter(self) -> None:
        box = self.query_one("#filter", Input)
        box.display = True
        box.value = self.console.filter_text
        box.focus()

    @on(Input.Submitted, "#filter")
    def _apply_filter(self, event: Input.Submitted) -> None:
        self._set_filter(event.value.strip())

    def action_clear_filter(self) -> None:
        self._set_filter("")

    def _set_filter(self, text: str) -> None:
        self.console.filter_text = text
        box = self.query_one("#filter", Input)
        box.display = bool(text)
        log = self.query_one(LogPanel)
        log.set_filter(queue=log.queue_filter, text=text)
        if self.console.snapshot is not None:
            self.table.show(self.console.snapshot, text)
        self.table.focus()

    def action_log_scope(self) -> None:
        log = self.query_one(LogPanel)
        queue = None if log.queue_filter else self.table.selected_queue
        log.set_filter(queue=queue, text=self.console.filter_text)
