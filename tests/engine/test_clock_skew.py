"""Leases, reaping and delays are decided by Redis's clock, not each host's (issue 12,
class 6): a supervisor whose wall clock runs ahead must not reap jobs that a healthy worker
is renewing, and a producer whose clock is behind must not make a delayed job run late."""

from __future__ import annotations

import asyncio
import sys
import textwrap
import time
from pathlib import Path

import pytest
from redis.asyncio import Redis

from engine import JobContext, JobState, Queue, Registry, Worker
from engine.clock import RedisClock
from engine.options import QueueOptions

LEASE_MS = 900
SKEW_S = 5.0
"""Far more than a lease: on a wall clock this far ahead, every lease looks expired."""

ROOT = Path(__file__).resolve().parents[2]

SKEWED_REAPER = textwrap.dedent(
    """
    import asyncio, sys, time
    _real = time.time
    time.time = lambda: _real() + float(sys.argv[4])  # this host's clock runs ahead
    from engine.client import make_client
    from engine.options import QueueOptions
    from engine.queue.queue import Queue
    from engine.runtime.reaper import Reaper

    async def main() -> None:
        url, prefix, lease = sys.argv[1], sys.argv[2], int(sys.argv[3])
        redis = make_client(url)
        queue = Queue(redis, "q", prefix=prefix, options=QueueOptions(lease_ms=lease))
        reaper = Reaper([queue], interval_s=0.05)
        print("reaping", flush=True)
        try:
            await asyncio.wait_for(reaper.run(), float(sys.argv[5]))
        except asyncio.TimeoutError:
            pass
        await redis.aclose()

    asyncio.run(main())
    """
)


async def test_a_reaper_whose_clock_runs_ahead_leaves_renewed_leases_alone(
    redis: Redis, redis_url: str, prefix: str
) -> None:
    queue = Queue(redis, "q", prefix=prefix, options=QueueOptions(lease_ms=LEASE_MS))
    runs: list[int] = []
    registry = Registry()

    @registry.register("long")
    async def long(ctx: JobContext) -> str:
        runs.append(ctx.attempt)
        await asyncio.sleep(3 * LEASE_MS / 1000)  # outlives three leases, renewed all along
        return "done"

    added = await queue.add("long", None)
    reaper = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        SKEWED_REAPER,
        redis_url,
        prefix,
        str(LEASE_MS),
        str(SKEW_S),
        "6",
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert reaper.stdout is not None
        assert (await reaper.stdout.readline()).strip() == b"reaping"
        worker = Worker(queue, registry, concurrency=1)
        await asyncio.wait_for(worker.run(burst=True), 30)
    finally:
        reaper.kill()
        await reaper.communicate()  # reaps the process and closes its pipe
    job = await queue.get_job(added.id)
    assert job is not None
    assert (job.state, job.result, job.stalls) == (JobState.COMPLETED, "done", 0)
    assert len(runs) == 1
    assert worker.stats.lease_lost == 0


async def test_a_producer_clock_behind_does_not_delay_a_job_further(
    redis: Redis, prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A delay counts from Redis's now: a producer whose clock is an hour behind still
    makes a 0.2 s delayed job due 0.2 s from now."""
    real = time.time
    monkeypatch.setattr(time, "time", lambda: real() - 3600)
    queue = Queue(redis, "q", prefix=prefix)
    added = await queue.add("x", None, delay=0.2)
    seconds, micros = await redis.time()
    job = await queue.get_job(added.id)
    assert job is not None and job.state == JobState.DELAYED
    assert job.ready_ms is not None
    due_in_ms = job.ready_ms - (seconds * 1000 + micros // 1000)
    # Its due time is 0.2 s after Redis's now (give or take a round trip), not an hour off.
    assert abs(due_in_ms - 200) < 1000


async def test_the_redis_clock_follows_redis_not_the_wall_clock(
    redis: Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = time.time
    monkeypatch.setattr(time, "time", lambda: real() + 86_400)
    clock = RedisClock(redis, resync_s=0.0)
    ours = await clock.now_ms()
    seconds, micros = await redis.time()
    theirs = seconds * 1000 + micros // 1000
    # Read one round trip apart on the same server: a day of skew would show as 86.4M ms.
    assert abs(theirs - ours) < 1000
