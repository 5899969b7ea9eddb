"""Handlers that misbehave with time cannot make a job run twice (issue 12, classes 9, 12).

- An ``async def`` handler that blocks the event loop (``time.sleep``) used to stop lease
  renewal, which ran on the same loop: another supervisor's reaper took the job back and
  ran it again. Renewal now runs on the pulse thread, and a watchdog says which job
  blocked the loop and where.
- A plain-function handler still running when a stop's grace period ended used to be
  released while its thread ran on: two copies at once. The stop now waits for it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import cast

import pytest
from redis import Redis as SyncRedis
from redis.asyncio import Redis

from engine import JobContext, JobState, Queue, Registry, Worker
from engine.keys import supervisors_key
from engine.options import QueueOptions
from engine.runtime import supervisor as supervisor_module
from engine.runtime.config import QueueConfig
from engine.runtime.supervisor import Supervisor
from tests.conftest import eventually

LEASE_MS = 600
ROOT = Path(__file__).resolve().parents[2]

REAPER = textwrap.dedent(
    """
    import asyncio, sys
    from engine.client import make_client
    from engine.options import QueueOptions
    from engine.queue.queue import Queue
    from engine.runtime.reaper import Reaper

    async def main() -> None:
        redis = make_client(sys.argv[1])
        options = QueueOptions(lease_ms=int(sys.argv[3]))
        queue = Queue(redis, "q", prefix=sys.argv[2], options=options)
        print("reaping", flush=True)
        try:
            await asyncio.wait_for(Reaper([queue], interval_s=0.05).run(), float(sys.argv[4]))
        except asyncio.TimeoutError:
            pass
        await redis.aclose()

    asyncio.run(main())
    """
)


async def _other_supervisors_reaper(redis_url: str, prefix: str) -> asyncio.subprocess.Process:
    """A reaper in another process, as another supervisor runs one."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        REAPER,
        redis_url,
        prefix,
        str(LEASE_MS),
        "15",
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
    )
    assert proc.stdout is not None
    assert (await proc.stdout.readline()).strip() == b"reaping"
    return proc


async def test_a_handler_blocking_the_loop_keeps_its_lease(
    redis: Redis, redis_url: str, prefix: str
) -> None:
    queue = Queue(redis, "q", prefix=prefix, options=QueueOptions(lease_ms=LEASE_MS))
    runs: list[int] = []
    registry = Registry()

    @registry.register("hog")
    async def hog(ctx: JobContext) -> str:
        runs.append(ctx.attempt)
        time.sleep(3 * LEASE_MS / 1000)  # noqa: ASYNC251 (the bug under test) blocks 3 leases
        return "done"

    added = await queue.add("hog", None)
    reaper = await _other_supervisors_reaper(redis_url, prefix)
    try:
        worker = Worker(queue, registry, concurrency=1)
        await asyncio.wait_for(worker.run(burst=True), 30)
    finally:
        reaper.kill()
        await reaper.communicate()
    job = await queue.get_job(added.id)
    assert job is not None
    assert (job.state, job.result, job.attempts_made, job.stalls) == (
        JobState.COMPLETED,
        "done",
        1,
        0,
    )
    assert runs == [1]
    assert worker.stats.lease_lost == 0


async def test_the_watchdog_names_the_job_and_line_that_block_the_loop(
    redis: Redis, prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="justo.supervisor")
    registry = Registry()

    @registry.register("hog")
    async def hog(ctx: JobContext) -> str:
        time.sleep(2.0)  # noqa: ASYNC251 (the bug under test); reported after a second
        return "done"

    supervisor = Supervisor(redis, [QueueConfig("q", 1)], registry, prefix=prefix)
    added = await supervisor.queues["q"].add("hog", None)
    task = asyncio.create_task(supervisor.run())
    try:
        await eventually(lambda: _completed(supervisor.queues["q"], added.id), timeout=30)
        await eventually(lambda: _said(caplog, "running again"), timeout=10)
    finally:
        supervisor.request_stop()
        await asyncio.wait_for(task, 30)
    report = next(r.getMessage() for r in caplog.records if "event loop blocked" in r.getMessage())
    assert f"q: {added.id}" in report
    assert "test_blocking_handlers.py" in report and "in hog" in report
    assert supervisor.watchdog.episodes == 1


async def test_a_stop_never_releases_a_job_whose_thread_still_runs(
    redis: Redis, prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    queue = Queue(redis, "q", prefix=prefix)
    started = threading.Event()
    runs: list[tuple[str, int]] = []
    registry = Registry()

    @registry.register("slow")
    def slow(ctx: JobContext) -> str:
        runs.append((ctx.id, ctx.attempt))
        started.set()
        time.sleep(1.5)  # outlives the first worker's grace period
        return "done"

    added = await queue.add("slow", None)
    first = Worker(queue, registry, concurrency=1, grace_s=0.2)
    first_run = asyncio.create_task(first.run())
    await asyncio.to_thread(started.wait, 30)
    second = Worker(queue, registry, concurrency=1)  # ready to take anything released
    second_run = asyncio.create_task(second.run())
    caplog.set_level(logging.WARNING)
    first.stop()
    await asyncio.wait_for(first_run, 30)
    await eventually(lambda: _completed(queue, added.id), timeout=10)
    second.stop()
    await asyncio.wait_for(second_run, 30)
    job = await queue.get_job(added.id)
    assert job is not None
    assert (job.state, job.result, job.attempts_made) == (JobState.COMPLETED, "done", 1)
    assert runs == [(added.id, 1)]
    assert first.stats.released == 0
    assert any("still running after the grace period" in r.getMessage() for r in caplog.records)


async def test_a_fast_stop_leaves_a_running_thread_job_leased_not_released(
    redis: Redis, prefix: str
) -> None:
    """A fast stop does not wait; the job stays leased (its thread ends with the process)
    and the reaper takes it back only once its lease lapses."""
    queue = Queue(redis, "q", prefix=prefix)
    started, release = threading.Event(), threading.Event()
    registry = Registry()

    @registry.register("stuck")
    def stuck(ctx: JobContext) -> None:
        started.set()
        release.wait(30)

    added = await queue.add("stuck", None)
    worker = Worker(queue, registry, concurrency=1, grace_s=0.1)
    run = asyncio.create_task(worker.run())
    try:
        await asyncio.to_thread(started.wait, 30)
        worker.stop(fast=True)
        await asyncio.wait_for(run, 30)
        job = await queue.get_job(added.id)
        assert job is not None and job.state == JobState.ACTIVE
        assert worker.stats.released == 0
    finally:
        release.set()


async def _completed(queue: Queue, job_id: str) -> bool:
    job = await queue.get_job(job_id)
    return job is not None and job.state == JobState.COMPLETED


async def _said(caplog: pytest.LogCaptureFixture, text: str) -> bool:
    return any(text in record.getMessage() for record in caplog.records)


async def test_the_heartbeat_goes_on_while_a_handler_blocks_the_loop(
    redis: Redis, redis_url: str, prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Other supervisors and the console judge liveness by the heartbeat: a blocked loop
    must not make this supervisor look dead."""
    monkeypatch.setattr(supervisor_module, "HEARTBEAT_S", 0.3)
    blocking = threading.Event()
    registry = Registry()

    @registry.register("hog")
    async def hog(ctx: JobContext) -> None:
        blocking.set()
        time.sleep(2.0)  # noqa: ASYNC251 (the bug under test)
        blocking.clear()

    supervisor = Supervisor(redis, [QueueConfig("q", 1)], registry, prefix=prefix)
    added = await supervisor.queues["q"].add("hog", None)
    beats: list[float] = []
    watcher = threading.Thread(target=_watch_beats, args=(redis_url, prefix, blocking, beats))
    watcher.start()  # its own thread and connection: this test's loop is the blocked one
    task = asyncio.create_task(supervisor.run())
    try:
        await eventually(lambda: _completed(supervisor.queues["q"], added.id), timeout=30)
    finally:
        supervisor.request_stop()
        await asyncio.wait_for(task, 30)
        watcher.join(30)
    assert len(set(beats)) >= 3  # it kept beating during the two blocked seconds


def _watch_beats(url: str, prefix: str, blocking: threading.Event, beats: list[float]) -> None:
    """Collect the supervisor's heartbeat times seen while the handler blocks."""
    client = SyncRedis.from_url(url)
    try:
        blocking.wait(30)
        while blocking.is_set():
            for raw in cast(list[bytes], client.hvals(supervisors_key(prefix))):
                beats.append(json.loads(raw)["beat"])
            time.sleep(0.1)
    finally:
        client.close()
