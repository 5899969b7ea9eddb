"""Lost replies, for real (issue 12, class 7): a TCP proxy lets Redis run a call and then
drops its reply and the connection. The engine's client retries connection errors, so the
same call reaches Redis twice; it must create and lease only once."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from engine import JobContext, JobSpec, JobState, Queue, Registry, Worker
from engine.client import make_client
from engine.options import QueueOptions
from engine.runtime.embedded import EmbeddedRedis
from engine.worker import leases
from tests.faultproxy import FaultProxy


@pytest.fixture
def proxy(redis_server: EmbeddedRedis) -> Iterator[FaultProxy]:
    with FaultProxy(redis_server.url) as running:
        yield running


async def _warm(queue: Queue) -> None:
    """Connect and load the scripts first, so the armed fault hits the call under test."""
    await queue.counts()
    await queue.clock.now_ms()


async def test_an_add_whose_reply_is_lost_creates_one_job(proxy: FaultProxy, prefix: str) -> None:
    redis = make_client(proxy.url)
    try:
        queue = Queue(redis, "q", prefix=prefix)
        await _warm(queue)
        proxy.drop_next_replies(1)
        added = await queue.add("x", {"n": 1})
        assert proxy.stats().replies_dropped == 1
        counts = await queue.counts()
        assert counts.waiting == 1
        job = await queue.get_job(added.id)
        assert job is not None and job.data == {"n": 1}
    finally:
        await redis.aclose()


async def test_a_bulk_add_whose_reply_is_lost_creates_each_job_once(
    proxy: FaultProxy, prefix: str
) -> None:
    redis = make_client(proxy.url)
    try:
        queue = Queue(redis, "q", prefix=prefix)
        await _warm(queue)
        proxy.drop_next_replies(1)
        added = await queue.add_bulk(JobSpec("x", i) for i in range(50))
        assert proxy.stats().replies_dropped == 1
        assert len({a.id for a in added}) == 50
        assert (await queue.counts()).waiting == 50
    finally:
        await redis.aclose()


async def test_a_fetch_whose_reply_is_lost_leases_each_job_once(
    proxy: FaultProxy, prefix: str
) -> None:
    redis = make_client(proxy.url)
    try:
        queue = Queue(redis, "q", prefix=prefix)
        await queue.add_bulk(JobSpec("x", i) for i in range(3))
        now = await queue.clock.now_ms()
        proxy.drop_next_replies(1)
        fetched = await leases.fetch(queue, now, 1, "w1", request_id="lost-once")
        assert proxy.stats().replies_dropped == 1
        assert len(fetched.jobs) == 1
        counts = await queue.counts()
        assert (counts.active, counts.waiting) == (1, 2)  # not two leased, one stranded
    finally:
        await redis.aclose()


async def test_a_worker_rides_out_lost_replies_without_running_a_job_twice(
    proxy: FaultProxy, prefix: str
) -> None:
    redis = make_client(proxy.url)
    runs: list[str] = []
    registry = Registry()

    @registry.register("x")
    async def handler(ctx: JobContext) -> None:
        runs.append(ctx.id)

    try:
        options = QueueOptions(keep_completed=-1)  # keep every record, to check each
        queue = Queue(redis, "q", prefix=prefix, options=options)
        added = await queue.add_bulk(JobSpec("x", i) for i in range(200))
        proxy.chaos(0.05, seed=7)  # one call in twenty loses its reply or its connection
        worker = Worker(queue, registry, concurrency=10)
        await asyncio.wait_for(worker.run(burst=True), 60)
        proxy.chaos(0)
        assert proxy.stats().faults > 0
        counts = await queue.counts()
        assert (counts.waiting, counts.active, counts.completed) == (0, 0, 200)
        assert sorted(runs, key=int) == [a.id for a in added]  # each ran exactly once
        jobs = await queue.jobs(JobState.COMPLETED, 0, -1)
        assert all(j.stalls == 0 for j in jobs)
    finally:
        await redis.aclose()
