"""A corrupt entry never costs the jobs beside it (issue 12, classes 1 and 2): fetch checks
what it reads before it writes, moves the corrupt entry to failed with its reason, and
leases the rest of the batch."""

from __future__ import annotations

from redis.asyncio import Redis

from engine import JobSpec, JobState
from engine.worker import leases
from tests.conftest import QueueFactory
from tests.engine.script_helpers import T0


async def test_a_job_key_that_is_not_a_hash_goes_to_failed_alone(
    make_queue: QueueFactory, redis: Redis
) -> None:
    queue = make_queue()
    before = await queue.add_bulk(JobSpec("j", i) for i in range(2))
    await redis.rpush(queue.keys.wait(10), "odd")
    await redis.set(queue.keys.job("odd"), "a string, not a job")
    after = await queue.add_bulk(JobSpec("j", i) for i in range(2))
    fetched = await leases.fetch(queue, T0, 10, "w1")
    assert [j.id for j in fetched.jobs] == [e.id for e in before + after]
    [record] = await queue.jobs(JobState.FAILED)
    assert record.error == (
        "MalformedJobError: waiting-list entry 'odd' names a string key, not a job hash"
    )
    assert await redis.get(queue.keys.job("odd")) == b"a string, not a job"
    counts = await queue.counts()
    assert (counts.waiting, counts.active, counts.failed) == (0, 4, 1)


async def test_a_job_with_a_field_that_is_not_a_number_goes_to_failed_alone(
    make_queue: QueueFactory, redis: Redis
) -> None:
    queue = make_queue()
    good = await queue.add("j", 1)
    bad = await queue.add("j", 2)
    await redis.hset(queue.keys.job(bad.id), "att", "many")
    late = await queue.add("j", 3)
    fetched = await leases.fetch(queue, T0, 10, "w1")
    assert [j.id for j in fetched.jobs] == [good.id, late.id]
    job = await queue.get_job(bad.id)
    assert job is not None and job.state is JobState.FAILED
    assert job.error == "MalformedJobError: field 'att' is not a number: 'many'"


async def test_a_ready_time_that_is_not_a_number_reads_as_now(
    make_queue: QueueFactory, redis: Redis
) -> None:
    queue = make_queue()
    added = await queue.add("j", 1)
    await redis.hset(queue.keys.job(added.id), "rt", "soon")
    fetched = await leases.fetch(queue, T0, 10, "w1")
    assert [(j.id, j.ready_ms) for j in fetched.jobs] == [(added.id, T0)]
