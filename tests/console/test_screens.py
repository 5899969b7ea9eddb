"""Screens against the fixed fake data: the app they need (a ``ConsoleHost``), the
messages they post up to it, and the redactor they show jobs through."""

from __future__ import annotations

import dataclasses
import io

from rich.console import Console, RenderableType

from console.app import JustoConsole
from console.fake import FakeSource
from console.host import ConsoleHost
from console.messages import PauseQueues, RetryJob
from console.screens.job_detail import render_job
from console.screens.jobs import detail_column
from engine.admin import JobState, Redactor

SIZE = (130, 42)
ENV_SECRET = "env-canary-value-5e7f"


def plain(renderable: RenderableType) -> str:
    """What a renderable shows, as text."""
    buffer = io.StringIO()
    Console(file=buffer, width=200, color_system=None).print(renderable)
    return buffer.getvalue()


def test_the_app_is_what_screens_need() -> None:
    app = JustoConsole(FakeSource(), refresh_s=None)
    host: ConsoleHost = app  # mypy checks the protocol here
    assert isinstance(host, ConsoleHost)
    assert isinstance(app.redactor, Redactor) and app.redactor.secrets == ()


async def test_messages_posted_by_a_screen_reach_the_app() -> None:
    source = FakeSource()
    app = JustoConsole(source, refresh_s=None)
    reloaded: list[bool] = []
    async with app.run_test(size=SIZE) as pilot:
        app.screen.post_message(PauseQueues(["sync", "reports"]))
        app.screen.post_message(RetryJob("sync", "901", after=lambda: reloaded.append(True)))
        await pilot.pause()
        await app.workers.wait_for_complete()
    assert source.calls == [("pause", "sync"), ("pause", "reports"), ("retry_job", "sync", "901")]
    assert reloaded == [True]


async def test_job_views_mask_the_secrets_the_app_was_given() -> None:
    failed = await FakeSource().job("sync", "901")
    assert failed is not None
    job = dataclasses.replace(
        failed,
        error=f"{failed.error} key {ENV_SECRET}",
        logs=[*failed.logs, f"connected with {ENV_SECRET}"],
        data={"note": ENV_SECRET, "apiKey": "sk-canary-fake-key"},
    )
    redactor = Redactor([ENV_SECRET])
    shown = plain(render_job(job, redactor)) + detail_column(job, redactor)
    shown += detail_column(dataclasses.replace(job, state=JobState.WAITING), redactor)
    assert ENV_SECRET not in shown and "sk-canary-fake-key" not in shown
    assert shown.count("***") >= 4
    # Without the value, only the field named like a secret is masked.
    assert ENV_SECRET in plain(render_job(job, Redactor()))
