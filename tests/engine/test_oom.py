"""Redis at ``maxmemory`` (``noeviction`` answers OOM to writes) is a moment to ride out,
not a crash (issue 12, class 5): the scheduler's loop backs off and fires the tick once
Redis has room again, like any other "Redis cannot serve right now"."""

from __future__ import annotations

import asyncio
import logging
from zoneinfo import ZoneInfo

import pytest

from engine.client import REDIS_DOWN, make_client
from engine.queue.queue import Queue
from engine.runtime.cron import CronJob
from engine.runtime.scheduler import CronScheduler
from tests.conftest import RedisFactory, eventually
from tests.support import FakeClock

UTC = ZoneInfo("UTC")


def test_out_of_memory_counts_as_redis_down() -> None:
    from redis.exceptions import OutOfMemoryError

    assert issubclass(OutOfMemoryError, REDIS_DOWN)


async def test_the_scheduler_rides_out_out_of_memory(
    private_redis: RedisFactory, prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    server = private_redis(appendonly=False)
    redis = make_client(server.url)
    try:
        queue = Queue(redis, "q", prefix=prefix)
        job = CronJob("every-minute", "q", "tick", "* * * * *")
        clock = FakeClock(1_800_000_000.0)  # a whole minute: the tick is due now
        scheduler = CronScheduler(
            redis, {"q": queue}, (job,), zone=UTC, prefix=prefix, owner="a", clock=clock.read
        )
        await redis.config_set("maxmemory", "1")  # every write is refused with OOM
        caplog.set_level(logging.ERROR, logger="engine.runtime.scheduler")
        task = asyncio.create_task(scheduler.run())
        try:
            await eventually(lambda: _said(caplog, "OutOfMemoryError"), timeout=30)
            assert not task.done(), "the scheduler died on OOM"
            await redis.config_set("maxmemory", "0")
            await eventually(lambda: _has_tick(queue, job, clock.now), timeout=30)
        finally:
            scheduler.stop()
            await asyncio.wait_for(task, 30)
    finally:
        await redis.aclose()


async def _said(caplog: pytest.LogCaptureFixture, text: str) -> bool:
    return any(text in record.getMessage() for record in caplog.records)


async def _has_tick(queue: Queue, job: CronJob, now: float) -> bool:
    return await queue.get_job(job.job_id(now)) is not None
