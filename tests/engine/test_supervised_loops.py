"""No loop of a supervisor dies silently (issue 12): a crash is logged with its traceback
and the loop starts again with backoff."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
from redis.asyncio import Redis

from engine import JobState, Registry
from engine.loops import supervised
from engine.options import QueueOptions
from engine.runtime.config import QueueConfig
from engine.runtime.supervisor import Supervisor
from engine.worker import leases
from tests.conftest import eventually


async def test_a_crashing_loop_is_logged_and_restarted_until_stopped(
    caplog: pytest.LogCaptureFixture,
) -> None:
    stop = asyncio.Event()
    runs: list[int] = []

    async def body() -> None:
        runs.append(len(runs))
        if len(runs) == 3:
            stop.set()
            return
        raise RuntimeError(f"boom {len(runs)}")

    caplog.set_level(logging.ERROR)
    await asyncio.wait_for(supervised("demo loop", body, stop=stop, backoff=(0.01,)), 10)
    assert runs == [0, 1, 2]
    crashes = [r for r in caplog.records if "demo loop crashed" in r.getMessage()]
    assert len(crashes) == 2
    assert all(r.exc_info is not None for r in crashes)  # the traceback is in the log


async def test_a_loop_that_returns_on_its_own_is_restarted(
    caplog: pytest.LogCaptureFixture,
) -> None:
    stop = asyncio.Event()
    runs: list[int] = []

    async def body() -> None:
        runs.append(1)
        if len(runs) == 2:
            stop.set()

    caplog.set_level(logging.ERROR)
    await asyncio.wait_for(supervised("quitter", body, stop=stop, backoff=(0.01,)), 10)
    assert len(runs) == 2
    assert any("quitter ended unexpectedly" in r.getMessage() for r in caplog.records)


async def test_the_reaper_survives_a_bug_and_still_reaps(
    redis: Redis, prefix: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    options = QueueOptions(lease_ms=300)
    registry = Registry()
    registry.register("x")(_done)
    supervisor = Supervisor(redis, [QueueConfig("q", 1, options)], registry, prefix=prefix)
    queue = supervisor.queues["q"]
    original = supervisor.reaper.reap_once
    calls: list[int] = []

    async def flaky() -> Any:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("a bug in the reaper")
        return await original()

    monkeypatch.setattr(supervisor.reaper, "reap_once", flaky)
    added = await queue.add("x", None)
    # Leased by a worker that then died: only the reaper can give it back.
    leased = await leases.fetch(queue, await queue.clock.now_ms(), 1, "dead-worker")
    assert [j.id for j in leased.jobs] == [added.id]
    caplog.set_level(logging.ERROR)
    task = asyncio.create_task(supervisor.run())
    try:
        await eventually(lambda: _reaped_and_run(queue, added.id), timeout=20)
    finally:
        supervisor.request_stop()
        await asyncio.wait_for(task, 30)
    assert any("reaper crashed" in r.getMessage() for r in caplog.records)


async def _done(ctx: Any) -> str:
    return "ok"


async def _reaped_and_run(queue: Any, job_id: str) -> bool:
    job = await queue.get_job(job_id)
    return job is not None and job.state == JobState.COMPLETED and job.stalls == 1
