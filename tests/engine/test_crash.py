"""Crash safety: a worker process SIGKILLed mid-run loses no job, and its stale acks fail."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

from redis.asyncio import Redis

from engine import JobSpec, JobState, Queue, QueueOptions
from engine.queue.queue import now_ms
from engine.scripts.replies import OutcomeKind
from engine.worker import leases
from tests.conftest import eventually

ROOT = Path(__file__).resolve().parents[2]
LEASE_MS = 1000
JOBS = 1000


def start_worker(url: str, prefix: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.engine.crash_worker", url, prefix, str(LEASE_MS)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )


async def test_sigkilled_worker_loses_no_job(redis: Redis, redis_url: str, prefix: str) -> None:
    queue = Queue(
        redis, "crash", prefix=prefix, options=QueueOptions(lease_ms=LEASE_MS, keep_completed=-1)
    )
    ids = [e.id for e in await queue.add_bulk(JobSpec("work", i) for i in range(JOBS))]

    first = start_worker(redis_url, prefix)

    async def some_done() -> bool:
        return (await queue.counts()).completed >= 200

    await eventually(some_done, timeout=30)
    first.send_signal(signal.SIGKILL)
    first.wait()
    orphans = [j.id for j in await queue.jobs(JobState.ACTIVE, 0, -1)]
    tokens = {i: (await redis.hget(queue.keys.job(i), "tok")) for i in orphans}
    assert orphans, "the kill should land while jobs are in flight"

    second = start_worker(redis_url, prefix)
    try:

        async def orphans_reclaimed() -> bool:
            for job_id in orphans:
                job = await queue.get_job(job_id)
                if job is None or job.stalls < 1:
                    return False
            return True

        # The new worker's reaper reclaims every orphan once its lease has run out (how
        # soon after the kill is measured in benchmarks/timings.py; the ceiling guards a hang).
        await eventually(orphans_reclaimed, timeout=60, interval=0.05)

        async def all_completed() -> bool:
            return (await queue.counts()).completed == JOBS

        await eventually(all_completed, timeout=60)
        assert await asyncio.to_thread(second.wait, 30) == 0
    finally:
        if second.poll() is None:
            second.kill()

    execs = await redis.mget([f"{prefix}:exec:{i}" for i in ids])
    assert all(e is not None and int(e) >= 1 for e in execs), "a job never ran"
    duplicates = sum(int(e) - 1 for e in execs if e is not None)
    assert duplicates <= len(orphans)
    counts = await queue.counts()
    assert (counts.active, counts.waiting, counts.failed) == (0, 0, 0)

    # A stale worker's ack after the reclaim is rejected by the fencing token.
    stale = orphans[0]
    token = tokens[stale]
    assert token is not None
    rejected = await leases.finish(
        queue, now_ms(), [leases.Outcome(stale, token.decode(), OutcomeKind.FAILED, "late ack")]
    )
    assert rejected == [stale]
    job = await queue.get_job(stale)
    assert job is not None and job.state is JobState.COMPLETED and job.error != "late ack"


async def test_poison_job_is_isolated_and_failed_without_innocent_victims(
    redis: Redis, redis_url: str, prefix: str
) -> None:
    """A job that kills its process runs at most 3 times and then fails; the jobs that
    were running beside it when it struck are rerun one at a time and all complete."""
    queue = Queue(
        redis, "crash", prefix=prefix, options=QueueOptions(lease_ms=LEASE_MS, keep_completed=-1)
    )
    # Slow innocents are still running, beside the poison job, when it kills the process.
    normal = [e.id for e in await queue.add_bulk(JobSpec("slow", i) for i in range(5))]
    [poison] = [e.id for e in await queue.add_bulk([JobSpec("poison", None)])]
    normal += [e.id for e in await queue.add_bulk(JobSpec("slow", i) for i in range(10))]
    normal += [e.id for e in await queue.add_bulk(JobSpec("work", i) for i in range(20))]
    deaths = 0
    for _ in range(8):
        proc = start_worker(redis_url, prefix)
        code = await asyncio.to_thread(proc.wait, 60)
        if code != 0:
            deaths += 1
        counts = await queue.counts()
        if code == 0 and counts.waiting == counts.active == counts.delayed == 0:
            break
    job = await queue.get_job(poison)
    assert job is not None and job.state is JobState.FAILED
    assert job.stalls == 3 and "StalledJobError" in job.error
    assert int(await redis.get(f"{prefix}:exec:{poison}") or 0) == 3
    assert deaths == 3
    counts = await queue.counts()
    assert (counts.completed, counts.failed) == (len(normal), 1)
    for job_id in normal:
        record = await queue.get_job(job_id)
        assert record is not None and record.state is JobState.COMPLETED
