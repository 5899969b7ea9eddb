"""Driving the console with Textual's Pilot against the test Redis: every binding that
changes state, checked in Redis, and every cancelled dialog changing nothing."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis
from textual.command import CommandInput, CommandList, CommandPalette
from textual.pilot import Pilot
from textual.widgets import Input

from console.app import JustoConsole
from console.screens.clean import CleanModal
from console.screens.confirm import ConfirmModal
from console.screens.dashboard import DashboardScreen
from console.screens.job_detail import JobDetailScreen
from console.screens.jobs import JobsScreen
from console.source import RedisSource
from engine import JobSpec, JobState, Queue
from engine.queue.queue import now_ms
from engine.runtime.config import QueueConfig
from engine.runtime.settings import Settings
from engine.worker import leases
from tests.conftest import RedisFactory

SIZE = (130, 42)


def settings_for(prefix: str, tmp_path: Path) -> Settings:
    return Settings(
        queues=(QueueConfig("sync", 1), QueueConfig("mail", 1)),
        recurring=(),
        prefix=prefix,
        data_dir=tmp_path,
    )


@pytest.fixture
async def app(redis: Redis, prefix: str, tmp_path: Path) -> AsyncIterator[JustoConsole]:
    yield JustoConsole(RedisSource(redis, settings_for(prefix, tmp_path)), refresh_s=None)


async def finish_jobs(queue: Queue, n: int, kind: leases.OutcomeKind) -> list[str]:
    await queue.add_bulk(JobSpec("x", i, attempts=1) for i in range(n))
    fetched = await leases.fetch(queue, now_ms(), n, "w")
    await leases.finish(
        queue, now_ms(), [leases.Outcome(j.id, j.token, kind, "Boom") for j in fetched.jobs]
    )
    return [j.id for j in fetched.jobs]


async def settle(app: JustoConsole) -> None:
    await app.workers.wait_for_complete()
    await app.poll_once()


CEILING_S = 30.0
"""Longest wait for a condition: only guards against a hang, never a bound under test."""


async def until(pilot: Pilot[Any], condition: Callable[[], bool]) -> None:
    """Let the app run until ``condition()`` holds."""

    async def check() -> bool:
        return condition()

    await until_async(pilot, check)


async def until_async(pilot: Pilot[Any], condition: Callable[[], Awaitable[bool]]) -> None:
    """Let the app run until ``await condition()`` holds."""
    deadline = time.monotonic() + CEILING_S
    while not await condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {CEILING_S}s")
        await pilot.pause(0.02)


def palette_offers(app: JustoConsole, text: str) -> bool:
    """The command palette has searched for ``text`` and highlights a match for it."""
    palette = app.screen
    if not isinstance(palette, CommandPalette) or palette.query_one(CommandInput).value != text:
        return False
    if any(w.node is palette and not w.is_finished for w in app.workers):
        return False  # still searching
    options = palette.query_one(CommandList)
    index = options.highlighted
    return index is not None and text in str(options.get_option_at_index(index).prompt)


async def test_p_and_r_pause_and_resume_the_selected_queue(
    app: JustoConsole, redis: Redis, prefix: str
) -> None:
    sync = Queue(redis, "sync", prefix=prefix)
    mail = Queue(redis, "mail", prefix=prefix)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("p")
        await settle(app)
        assert await sync.is_paused() and not await mail.is_paused()
        await pilot.press("down", "p")
        await settle(app)
        assert await mail.is_paused()
        await pilot.press("r")
        await settle(app)
        assert not await mail.is_paused() and await sync.is_paused()


async def test_shift_p_and_shift_r_act_on_all_queues(
    app: JustoConsole, redis: Redis, prefix: str
) -> None:
    queues = [Queue(redis, n, prefix=prefix) for n in ("sync", "mail")]
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("P")
        await settle(app)
        assert [await q.is_paused() for q in queues] == [True, True]
        await pilot.press("R")
        await settle(app)
        assert [await q.is_paused() for q in queues] == [False, False]


async def test_t_retries_failed_after_confirm_and_cancel_changes_nothing(
    app: JustoConsole, redis: Redis, prefix: str
) -> None:
    sync = Queue(redis, "sync", prefix=prefix)
    await finish_jobs(sync, 4, leases.OutcomeKind.FAILED)
    async with app.run_test(size=SIZE) as pilot:
        await app.poll_once()
        await pilot.press("t")
        await pilot.pause()
        modal = app.screen
        assert isinstance(modal, ConfirmModal) and "4 failed job(s)" in modal.message
        await pilot.press("n")
        await settle(app)
        assert (await sync.counts()).failed == 4
        await pilot.press("t")
        await pilot.pause()
        await pilot.press("enter")  # the focus is on Cancel: enter must not confirm
        await settle(app)
        assert (await sync.counts()).failed == 4
        await pilot.press("t", "y")
        await settle(app)
        counts = await sync.counts()
        assert (counts.failed, counts.waiting) == (0, 4)


async def test_c_cleans_what_the_dialog_counted_and_escape_changes_nothing(
    app: JustoConsole, redis: Redis, prefix: str
) -> None:
    sync = Queue(redis, "sync", prefix=prefix)
    await finish_jobs(sync, 3, leases.OutcomeKind.COMPLETED)
    await finish_jobs(sync, 2, leases.OutcomeKind.FAILED)
    async with app.run_test(size=SIZE) as pilot:
        await app.poll_once()
        await pilot.press("c")
        await pilot.pause()
        assert isinstance(app.screen, CleanModal)
        await pilot.press("escape")
        await settle(app)
        assert (await sync.counts()).completed == 3
        await pilot.press("c")
        await pilot.pause()
        modal = app.screen
        assert isinstance(modal, CleanModal)
        modal.query_one("#age", Input).value = "0s"
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert modal.count == 3
        await pilot.click("#confirm")
        await settle(app)
        counts = await sync.counts()
        assert (counts.completed, counts.failed) == (0, 2)
        await pilot.press("c")
        await pilot.pause()
        modal = app.screen
        assert isinstance(modal, CleanModal)
        await pilot.click("#failed")
        modal.query_one("#age", Input).value = "0s"
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert modal.count == 2
        await pilot.click("#confirm")
        await settle(app)
        assert (await sync.counts()).failed == 0


async def test_d_removes_a_job_after_confirm_only(
    app: JustoConsole, redis: Redis, prefix: str
) -> None:
    sync = Queue(redis, "sync", prefix=prefix)
    first = await sync.add("x", 1)
    await sync.add("x", 2)
    async with app.run_test(size=SIZE) as pilot:
        await app.poll_once()
        await pilot.press("enter")
        await settle(app)
        assert isinstance(app.screen, JobsScreen)
        await pilot.press("d", "n")
        await settle(app)
        assert await sync.get_job(first.id) is not None
        await pilot.press("d", "y")
        await settle(app)
        assert await sync.get_job(first.id) is None
        assert (await sync.counts()).waiting == 1


async def test_r_in_job_detail_retries_a_failed_job(
    app: JustoConsole, redis: Redis, prefix: str
) -> None:
    sync = Queue(redis, "sync", prefix=prefix)
    [job_id] = await finish_jobs(sync, 1, leases.OutcomeKind.FAILED)
    async with app.run_test(size=SIZE) as pilot:
        await app.poll_once()
        await pilot.press("enter")
        await settle(app)
        await pilot.press("tab", "tab", "tab")  # waiting → active → delayed → failed
        await settle(app)
        await pilot.press("enter")
        await settle(app)
        assert isinstance(app.screen, JobDetailScreen) and app.screen.job_id == job_id
        await pilot.press("r")
        await settle(app)
        job = await sync.get_job(job_id)
        assert job is not None and job.state is JobState.WAITING


async def test_redis_outage_shows_stale_marker_and_recovers(
    prefix: str, tmp_path: Path, private_redis: RedisFactory
) -> None:
    from engine.client import make_client

    server = private_redis()
    client = make_client(server.url)
    app = JustoConsole(RedisSource(client, settings_for(prefix, tmp_path)), refresh_s=None)
    try:
        async with app.run_test(size=SIZE) as pilot:
            await app.poll_once()
            assert app.snapshot is not None and app.stale_since is None
            server.stop()
            await app.poll_once()
            await pilot.pause()
            assert app.stale_since is not None
            banner = app.screen.query_one("#stale")
            assert banner.display and "Redis unreachable" in str(banner.render())
            assert isinstance(app.screen, DashboardScreen)  # still running, old data shown
            server.start()
            await app.poll_once()
            await pilot.pause()
            assert app.stale_since is None and not banner.display
    finally:
        await client.aclose()


async def test_command_palette_runs_actions_by_name(
    app: JustoConsole, redis: Redis, prefix: str
) -> None:
    sync = Queue(redis, "sync", prefix=prefix)
    async with app.run_test(size=SIZE) as pilot:
        await app.poll_once()
        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*"Pause all")
        # The palette searches in the background: wait until it offers the command.
        await until(pilot, lambda: palette_offers(app, "Pause all"))
        await pilot.press("enter")

        async def paused() -> bool:
            await settle(app)
            return await sync.is_paused()

        await until_async(pilot, paused)
        assert await sync.is_paused() and not isinstance(app.screen, CommandPalette)


async def test_slash_filters_queues_and_escape_clears(app: JustoConsole) -> None:
    from console.widgets import QueueTable

    async with app.run_test(size=SIZE) as pilot:
        await app.poll_once()
        table = app.screen.query_one(QueueTable)
        assert table.row_count == 2
        await pilot.press("slash", *"mail", "enter")
        await pilot.pause()
        assert table.row_count == 1 and table.selected_queue == "mail"
        await pilot.press("escape")
        await pilot.pause()
        assert table.row_count == 2


async def test_a_failed_in_process_supervisor_is_shown(
    redis: Redis, prefix: str, tmp_path: Path
) -> None:
    class Broken:
        async def run(self) -> None:
            raise RuntimeError("cannot start")

        def request_stop(self, *, fast: bool = False) -> None:
            return None

    app = JustoConsole(
        RedisSource(redis, settings_for(prefix, tmp_path)), refresh_s=None, supervisor=Broken()
    )
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.pause()
        assert app.mode_label.startswith("supervisor STOPPED")
        await pilot.press("q")
        await pilot.pause()
    assert app.return_code == 0
