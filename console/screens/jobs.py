"""One queue's jobs by state, paged; ``enter`` opens a job."""

from __future__ import annotations

import json

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Footer, Header, Static, Tab, Tabs

from console import text as fmt
from console.messages import CleanQueue, RemoveJob, RetryFailed
from console.screens.base import ConsoleScreen
from console.screens.job_detail import JobDetailScreen
from engine.admin import EngineSnapshot, Job, JobState, Redactor, format_ms

PAGE_SIZE = 50
"""Jobs per page."""

STATES = (JobState.WAITING, JobState.ACTIVE, JobState.DELAYED, JobState.FAILED, JobState.COMPLETED)


def detail_column(job: Job, redactor: Redactor) -> str:
    """The state-specific last column (error, progress, due time, result or data), with
    secrets masked by ``redactor``."""
    return redactor.text(_detail(job, redactor))


def _detail(job: Job, redactor: Redactor) -> str:
    if job.state is JobState.FAILED:
        return job.error
    if job.state is JobState.ACTIVE:
        return f"progress {job.progress}" if job.progress is not None else f"on {job.worker}"
    if job.state is JobState.DELAYED:
        return f"due {fmt.ms_clock(job.ready_ms)}"
    if job.state is JobState.COMPLETED:
        if job.result is None:
            return format_ms(job.run_ms)
        return f"{format_ms(job.run_ms)} → {json.dumps(job.result, default=str)}"
    if job.data is not None:
        return json.dumps(redactor.payload(job.data), ensure_ascii=False, default=str)
    return job.raw_data


class JobsScreen(ConsoleScreen):
    """Jobs of one queue, one state at a time, ``PAGE_SIZE`` per page."""

    BINDINGS = [
        Binding("escape", "back", "Back"),
        Binding("enter", "open_job", "Details"),
        Binding("tab", "next_state", "Next state", key_display="tab"),
        Binding("shift+tab", "previous_state", "Prev state", show=False),
        Binding("full_stop", "next_page", "Next page", key_display="."),
        Binding("comma", "previous_page", "Prev page", key_display=","),
        Binding("t", "retry_failed", "Retry failed"),
        Binding("c", "clean", "Clean"),
        Binding("d", "remove", "Remove job"),
    ]

    def __init__(self, queue: str, state: JobState = JobState.WAITING) -> None:
        super().__init__()
        self.queue = queue
        self.state = state
        self.page = 0
        self.rows: list[Job] = []

    def compose(self) -> ComposeResult:
        yield Header()
        yield Tabs(*(Tab(s.value, id=s.value) for s in STATES), active=self.state.value)
        yield Static("", id="page")
        yield DataTable(id="jobs", cursor_type="row", zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = f"queue {self.queue}"
        table = self.query_one(DataTable)
        table.add_columns("id", "name", "attempts", "created", "detail")
        self.watch(self.app, "snapshot", self._relabel)
        table.focus()
        self.load()

    def _relabel(self, snapshot: EngineSnapshot | None) -> None:
        if snapshot is None:
            return
        stats = next((q for q in snapshot.queues if q.name == self.queue), None)
        if stats is None:
            return
        c = stats.counts
        counts = {
            "waiting": c.waiting,
            "active": c.active,
            "delayed": c.delayed,
            "failed": c.failed,
            "completed": c.completed,
        }
        tabs = self.query_one(Tabs)
        for state, n in counts.items():
            tab = tabs.get_tab(state)
            if tab is not None:
                tab.label = Text(f"{state} ({fmt.count(n)})")

    @on(Tabs.TabActivated)
    def _tab_changed(self, event: Tabs.TabActivated) -> None:
        if event.tab.id and event.tab.id != self.state.value:
            self.state, self.page = JobState(event.tab.id), 0
            self.load()

    @work(exclusive=True, group="jobs-page", exit_on_error=False)
    async def load(self) -> None:
        """Fetch the current page and show it."""
        start = self.page * PAGE_SIZE
        self.rows = await self.console.source.jobs(
            self.queue, self.state, start, start + PAGE_SIZE - 1
        )
        table = self.query_one(DataTable)
        table.clear()
        redactor = self.console.redactor
        for job in self.rows:
            table.add_row(
                Text(fmt.literal(job.id)),
                Text(fmt.literal(job.name)),
                Text(str(job.attempts_made)),
                Text(fmt.ms_clock(job.created_ms)),
                Text(fmt.one_line(detail_column(job, redactor), 70)),
                key=job.id,
            )
        shown = f"{start + 1}-{start + len(self.rows)}" if self.rows else "none"
        self.query_one("#page", Static).update(
            Text(
                f" {self.queue} › {self.state.value} · page {self.page + 1} · jobs {shown}",
                style="bold",
            )
        )

    def _selected(self) -> Job | None:
        table = self.query_one(DataTable)
        if not self.rows or table.cursor_row < 0:
            return None
        return self.rows[min(table.cursor_row, len(self.rows) - 1)]

    @on(DataTable.RowSelected, "#jobs")
    def _row_selected(self) -> None:
        self.action_open_job()

    def action_open_job(self) -> None:
        job = self._selected()
        if job is not None:
            self.app.push_screen(JobDetailScreen(self.queue, job.id))

    def action_back(self) -> None:
        self.app.pop_screen()

    def _switch(self, step: int) -> None:
        index = (STATES.index(self.state) + step) % len(STATES)
        self.query_one(Tabs).active = STATES[index].value

    def action_next_state(self) -> None:
        self._switch(1)

    def action_previous_state(self) -> None:
        self._switch(-1)

    def action_next_page(self) -> None:
        if len(self.rows) == PAGE_SIZE:
            self.page += 1
            self.load()

    def action_previous_page(self) -> None:
        if self.page > 0:
            self.page -= 1
            self.load()

    def action_retry_failed(self) -> None:
        self.post_message(RetryFailed(self.queue, after=self.load))

    def action_clean(self) -> None:
        self.post_message(CleanQueue(self.queue, after=self.load))

    def action_remove(self) -> None:
        job = self._selected()
        if job is not None:
            self.post_message(RemoveJob(self.queue, job.id, after=self.load))
