"""Every job failed for good counts in the failure metrics, whoever failed it (issue 12,
class 13): the reaper's stalled-out jobs and fetch's malformed entries were missing."""

from __future__ import annotations

from redis.asyncio import Redis

from engine.runtime.metrics import read_metrics
from engine.worker import leases
from tests.conftest import QueueFactory
from tests.engine.script_helpers import T0, Row, add, lease_one


async def test_a_job_the_reaper_fails_is_counted(make_queue: QueueFactory) -> None:
    queue = make_queue(max_stalls=1, lease_ms=1000)
    await add(queue, T0, Row())
    await lease_one(queue, T0)
    reaped = await leases.reap(queue, T0 + 5000)
    assert (reaped.requeued, reaped.failed) == (0, 1)
    metrics = await read_metrics(queue, 5, now_s=(T0 + 5000) / 1000)
    assert (metrics.failed, metrics.failed_tries, metrics.completed) == (1, 1, 0)


async def test_a_malformed_entry_is_counted(make_queue: QueueFactory, redis: Redis) -> None:
    queue = make_queue()
    await redis.rpush(queue.keys.wait(10), "no-such-job")
    await redis.zadd(queue.keys.priorities, {"10": 10})
    fetched = await leases.fetch(queue, T0, 5, "w1")
    assert fetched.jobs == []
    assert (await queue.counts()).failed == 1
    metrics = await read_metrics(queue, 5, now_s=T0 / 1000)
    assert (metrics.failed, metrics.failed_tries) == (1, 1)
