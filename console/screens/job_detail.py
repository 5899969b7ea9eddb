"""Everything about one job: data, options, attempts, times, error, traceback, logs."""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING, Any

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Header, Static

from console import text as fmt
from engine.job import Job, JobState
from engine.logs import redact, secret_values
from engine.redaction import redact_payload

if TYPE_CHECKING:
    from console.app import JustoConsole


def pretty(value: Any) -> str:
    """JSON, indented, as literal text."""
    return fmt.literal(json.dumps(value, indent=2, ensure_ascii=False, default=str))


SECRETS = secret_values(os.environ)
"""Values of secret-looking environment variables, masked wherever they appear."""


def render_job(job: Job) -> RenderableType:
    """The job as a key/value table plus data, traceback and log sections, all literal and
    with secrets masked (payload fields named like password/token/api_key, credentials in
    text)."""
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
        ("run time", fmt.duration_ms(job.run_ms)),
        ("worker", job.worker or "-"),
    ]
    if job.lost_worker:
        rows.append(("lost worker", job.lost_worker))
    if job.progress is not None:
        rows.append(("progress", json.dumps(job.progress)))
    if job.result is not None:
        rows.append(("result", json.dumps(redact_payload(job.result, SECRETS), default=str)))
    if job.error:
        rows.append(("error", redact(job.error, SECRETS)))
    for key, value in rows:
        facts.add_row(key, Text(fmt.literal(value)))
    parts: list[RenderableType] = [facts, Text("\ndata", style="bold underline")]
    parts.append(
        Text(
            pretty(redact_payload(job.data, SECRETS))
            if job.data is not None
            else fmt.literal(redact(job.raw_data or "null", SECRETS))
        )
    )
    if job.raw_entry:
        parts += [
            Text("\nraw list entry", style="bold underline"),
            Text(fmt.literal(redact(job.raw_entry, SECRETS))),
        ]
    if job.traceback:
        parts += [
            Text("\ntraceback", style="bold underline"),
            Text(fmt.literal(redact(job.traceback, SECRETS)), style="red"),
        ]
    if job.logs:
        parts.append(Text("\nlog", style="bold underline"))
        parts += [Text(fmt.literal(redact(line, SECRETS))) for line in job.logs]
    return Group(*parts)


class JobDetailScreen(Screen[None]):
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

    @property
    def console(self) -> JustoConsole:
        """The app, typed."""
        from console.app import JustoConsole

        assert isinstance(self.app, JustoConsole)
        return self.app

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
            detail.update(render_job(self.job))

    def action_back(self) -> None:
        self.app.pop_screen()

    def action_retry(self) -> None:
        if self.job is None or self.job.state is not JobState.FAILED:
            self.notify("only failed jobs can be retried", severity="warning")
            return
        self.console.retry_job(self.queue, self.job_id, after=self.action_reload)

    def action_remove(self) -> None:
        if self.job is not None:
            self.console.confirm_remove(self.queue, self.job_id, after=self.action_back)
