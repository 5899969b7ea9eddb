"""A graceful stop during a Redis blip keeps the finished jobs' outcomes (issue 12, class 8):
the final flush retries within the grace period instead of dropping them, so a completed
job is recorded once and never run again."""

from __future__ import annotations

import asyncio
import logging

import pytest

from engine import JobContext, JobState, Queue, Registry, Worker
from engine.client import make_client
from tests.conftest import RedisFactory, eventually


async def test_outcomes_survive_a_redis_blip_during_a_graceful_stop(
    private_redis: RedisFactory, prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    server = private_redis(appendonly=True)
    redis = make_client(server.url)
    gate = asyncio.Event()
    runs: list[str] = []
    registry = Registry()

    @registry.register("gated")
    async def gated(ctx: JobContext) -> str:
        runs.append(ctx.id)
        await gate.wait()
        return "done"

    try:
        queue = Queue(redis, "q", prefix=prefix)
        added = await queue.add("gated", None)
        worker = Worker(queue, registry, concurrency=1, grace_s=30)
        task = asyncio.create_task(worker.run())
        await eventually(lambda: _active(queue, 1), timeout=30)
        caplog.set_level(logging.WARNING)
        server.stop()  # Redis goes away with the job running
        worker.stop()
        gate.set()  # the job finishes: its outcome can only be flushed once Redis is back
        await eventually(lambda: _said(caplog, "flush"), timeout=30)
        server.start()
        await asyncio.wait_for(task, 60)
        job = await queue.get_job(added.id)
        assert job is not None
        assert (job.state, job.result, job.attempts_made) == (JobState.COMPLETED, "done", 1)
        assert runs == [added.id]
        assert (await queue.counts()).active == 0
    finally:
        await redis.aclose()


async def _active(queue: Queue, n: int) -> bool:
    return (await queue.counts()).active == n


async def _said(caplog: pytest.LogCaptureFixture, text: str) -> bool:
    return any(text in record.getMessage() for record in caplog.records)
