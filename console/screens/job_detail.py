"""Everything about one job: data, options, attempts, times, error, traceback, logs."""

from __future__ import annotations

import json
from typing import Any

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.widgets import Footer, Header, Static

from console import text as fmt
from console.messages import RemoveJob, RetryJob
from console.screens.base import ConsoleScreen
from engine.admin import Job, JobState, Redactor, format_ms


def pretty(value: Any) -> str:
    """JSON, indented, as literal text."""
    return fmt.literal(json.dumps(value, indent=2, ensure_ascii=False, default=str))


def render_job(job: Job, redactor: Redactor) -> RenderableType:
    """The job as a key/value table plus data, traceback and log sections, all literal and
    with secrets masked by ``redactor`` (payload fields named like password/token/api_key,
    credentials in text, the secret values it was given)."""
    parts: list[RenderableType] = [_facts(job, redactor), Text("\ndata", style="bold underline")]
    parts.append(
        Text(
            pretty(redactor.payload(job.data))
            if job.data is not None
            else fmt.literal(redactor.text(job.raw_data or "null"))
        )
    )
    if job.raw_entry:
        parts += [
            Text("\nraw list entry", style="bold underline"),
            Text(fmt.literal(redactor.text(job.raw_entry))),
        ]
    if job.traceback:
        parts += [
            Text("\ntraceback", style="bold underline"),
            Text(fmt.literal(redactor.text(job.traceback)), style="red"),
        ]
    if job.logs:
        parts.append(Text("\nlog", style="bold underline"))
        parts += [Text(fmt.literal(redactor.text(line))) for line in job.logs]
    return Group(*parts)


def _facts(job: Job, redactor: Redactor) -> Table:
    """The key/value table: identity, state, attempts, options, times, result, error."""
    facts = Table(show_header=False, box=None, padding=(0, 1))
    facts.add_column(style="bold cyan", no_wrap=True)
    facts.add_column()
    rows: list[tuple[str, str]] = [
        ("id", job.id),
        ("queue", job.queue),
        ("name", job.name or "(none)"),
        ("state", job.state.value),
        ("priority", str(job.priority)),
        ("attempts", f"{job.attempts_made} made, {job.stalls} stalled"),
        ("options", json.dumps(job.options) if job.options else "(queue defaults)"),
        ("created", fmt.ms_clock(job.created_ms)),
        ("ready", fmt.ms_clock(job.ready_ms)),
        ("started", fmt.ms_clock(job.processed_ms)),
        ("finished", fmt.ms_clock(job.finished_ms)),
        ("run time", format_ms(job.run_ms)),
        ("worker", job.worker or "-"),
    ]
    if job.lost_worker:
        rows.append(("lost worker", job.lost_worker))
    if job.progress is not None:
        rows.append(("progress", json.dumps(job.progress)))
    if job.result is not None:
        rows.append(("result", json.dumps(redactor.payload(job.result), default=str)))
    if job.error:
        rows.append(("error", redactor.text(job.error)))
    for key, value in rows:
        facts.add_row(key, Text(fmt.literal(value)))
    return facts


class JobDetailScreen(ConsoleScreen):
    """One job, literally; ``r`` retries it (if failed), ``d`` removes it."""

    BINDINGS = [
        Binding("escape", "back", "Back"),
        Binding("r", "retry", "Retry"),
        Binding("d", "remove", "Remove"),
        Binding("f5", "reload", "Reload"),
    ]

    def __init__(self, queue: str, job_id: str) -> None:
        super().__init__()
        self.queue = queue
        self.job_id = job_id
        self.job: Job | None = None

    def compose(self) -> ComposeResult:
        yield Header()
        with VerticalScroll():
            yield Static("loading…", id="detail")
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = f"queue {self.queue} › job {fmt.one_line(self.job_id, 40)}"
        self.action_reload()

    @work(exclusive=True, group="job-detail", exit_on_error=False)
    async def action_reload(self) -> None:
        """Read the job again."""
        self.job = await self.console.source.job(self.queue, self.job_id)
        detail = self.query_one("#detail", Static)
        if self.job is None:
            detail.update(Text(f"job {fmt.literal(self.job_id)} no longer exists", style="dim"))
        else:
            detail.update(render_job(self.job, self.console.redactor))

    def action_back(self) -> None:
        self.app.pop_screen()

    def action_retry(self) -> None:
        if self.job is None or self.job.state is not JobState.FAILED:
            self.notify("only failed jobs can be retried", severity="warning")
            return
        self.post_message(RetryJob(self.queue, self.job_id, after=self.action_reload))

    def action_remove(self) -> None:
        if self.job is not None:
            self.post_message(RemoveJob(self.queue, self.job_id, after=self.action_back))
