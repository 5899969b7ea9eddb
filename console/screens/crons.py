"""The recurring jobs: expression, last and next tick, last job and its outcome."""

from __future__ import annotations

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Footer, Header

from console import text as fmt
from console.screens.base import ConsoleScreen
from console.screens.job_detail import JobDetailScreen


class CronsScreen(ConsoleScreen):
    """One row per recurring job, refreshed with every snapshot."""

    BINDINGS = [
        Binding("escape", "back", "Back"),
        Binding("enter", "open_job", "Last job"),
    ]

    def compose(self) -> ComposeResult:
        yield Header()
        yield DataTable(id="crons", cursor_type="row", zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = "recurring jobs (ticks shown in each cron's own time zone)"
        table = self.query_one(DataTable)
        table.add_columns(
            "name",
            "queue",
            "job",
            "cron",
            "last tick",
            "outcome",
            "last job",
            "job state",
            "next tick",
        )
        self.watch(self.app, "snapshot", self._on_snapshot)
        table.focus()

    def _on_snapshot(self, _: object) -> None:
        self.load()

    @work(exclusive=True, group="crons", exit_on_error=False)
    async def load(self) -> None:
        """Read the schedules and the state of each one's last job."""
        self.rows = await self.console.source.crons()
        table = self.query_one(DataTable)
        keep = table.cursor_row
        table.clear()
        for row in self.rows:
            job = (
                await self.console.source.job(row.queue, row.last_job_id)
                if row.last_job_id
                else None
            )
            outcome = row.last_outcome or "-"
            if row.missed:
                outcome += f" ({row.missed} missed)"
            state = job.state.value if job is not None else ("gone" if row.last_job_id else "-")
            table.add_row(
                *(
                    Text(fmt.literal(v))
                    for v in (
                        row.name,
                        row.queue,
                        row.job,
                        row.cron,
                        fmt.zoned_clock(row.last_tick, row.timezone),
                        outcome,
                        row.last_job_id or "-",
                        state,
                        fmt.zoned_clock(row.next_tick, row.timezone),
                    )
                ),
                key=row.name,
            )
        if self.rows:
            table.move_cursor(row=min(max(keep, 0), len(self.rows) - 1))

    def action_back(self) -> None:
        self.app.pop_screen()

    def action_open_job(self) -> None:
        table = self.query_one(DataTable)
        rows = getattr(self, "rows", [])
        if rows and 0 <= table.cursor_row < len(rows) and rows[table.cursor_row].last_job_id:
            row = rows[table.cursor_row]
            self.app.push_screen(JobDetailScreen(row.queue, row.last_job_id))
