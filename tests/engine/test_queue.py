"""The Queue API: enqueue, validation, dedupe, inspection and control operations."""

from __future__ import annotations

import json

import pytest
from redis.asyncio import Redis

from engine import (
    InvalidJobError,
    JobActiveError,
    JobSpec,
    JobState,
    PayloadTooLargeError,
)
from engine.queue.queue import now_ms
from engine.scripts.replies import OutcomeKind
from engine.worker import leases
from tests.conftest import QueueFactory


async def keys_under(redis: Redis, prefix: str) -> list[bytes]:
    return [k async for k in redis.scan_iter(match=f"{prefix}:*")]


async def test_add_returns_generated_ids_and_counts(make_queue: QueueFactory) -> None:
    q = make_queue()
    first = await q.add("noop", {"a": 1})
    second = await q.add("noop", [1, 2])
    assert first.created and second.created
    assert first.id != second.id
    counts = await q.counts()
    assert (counts.waiting, counts.delayed, counts.active, counts.failed) == (2, 0, 0, 0)
    job = await q.get_job(first.id)
    assert job is not None
    assert (job.name, job.data, job.state) == ("noop", {"a": 1}, JobState.WAITING)


async def test_add_with_existing_client_id_is_a_noop(make_queue: QueueFactory) -> None:
    q = make_queue()
    first = await q.add("sync", {"v": 1}, job_id="workspace-7")
    again = await q.add("sync", {"v": 2}, job_id="workspace-7")
    assert first == again.__class__("workspace-7", True)
    assert again.id == "workspace-7" and not again.created
    job = await q.get_job("workspace-7")
    assert job is not None and job.data == {"v": 1}
    assert (await q.counts()).waiting == 1


async def test_payload_over_limit_is_refused_and_nothing_written(
    make_queue: QueueFactory, redis: Redis, prefix: str
) -> None:
    q = make_queue(max_payload=1024)
    with pytest.raises(PayloadTooLargeError, match="over the queue's limit of 1024"):
        await q.add("big", "x" * 2000)
    assert await keys_under(redis, prefix) == []


async def test_bulk_with_one_bad_job_writes_nothing(
    make_queue: QueueFactory, redis: Redis, prefix: str
) -> None:
    q = make_queue()
    specs = [JobSpec("ok", i) for i in range(10)] + [JobSpec("bad", {1, 2})]
    with pytest.raises(InvalidJobError, match="not JSON-serializable"):
        await q.add_bulk(specs)
    assert await keys_under(redis, prefix) == []


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"priority": -1}, "priority must be between"),
        ({"priority": "high"}, "priority must be an integer"),
        ({"delay": -1}, "delay must not be negative"),
        ({"attempts": 0}, "attempts must be at least 1"),
        ({"job_id": ""}, "job id must be"),
        ({"timeout": 0}, "timeout must be positive"),
    ],
)
async def test_add_rejects_bad_options(
    make_queue: QueueFactory, kwargs: dict[str, object], message: str
) -> None:
    with pytest.raises(InvalidJobError, match=message):
        await make_queue().add("x", None, **kwargs)  # type: ignore[arg-type]


async def test_nan_is_not_json(make_queue: QueueFactory) -> None:
    with pytest.raises(InvalidJobError):
        await make_queue().add("x", float("nan"))


async def test_add_bulk_over_several_batches(make_queue: QueueFactory) -> None:
    q = make_queue()
    out = await q.add_bulk(JobSpec("n", i) for i in range(2500))
    assert len(out) == 2500 and len({e.id for e in out}) == 2500
    assert (await q.counts()).waiting == 2500


async def test_jobs_lists_waiting_in_run_order_across_priorities(make_queue: QueueFactory) -> None:
    q = make_queue()
    await q.add("n", "low", priority=50)
    await q.add("n", "urgent", priority=0)
    await q.add("n", "normal")
    await q.add("n", "normal2")
    waiting = await q.jobs("waiting", 0, -1 + 10)
    assert [j.data for j in waiting] == ["urgent", "normal", "normal2", "low"]
    assert [j.data for j in await q.jobs("waiting", 1, 2)] == ["normal", "normal2"]


async def test_delayed_jobs_are_listed_and_counted(make_queue: QueueFactory) -> None:
    q = make_queue()
    added = await q.add("n", None, delay=60)
    counts = await q.counts()
    assert (counts.waiting, counts.delayed) == (0, 1)
    [job] = await q.jobs(JobState.DELAYED)
    assert job.id == added.id and job.state is JobState.DELAYED
    assert job.ready_ms is not None and job.ready_ms >= job.created_ms + 60_000


async def test_pause_and_resume_report_changes(make_queue: QueueFactory) -> None:
    q = make_queue()
    assert await q.pause() is True
    assert await q.pause() is False
    assert await q.is_paused()
    assert (await q.counts()).paused
    assert await q.resume() is True
    assert await q.resume() is False
    events = [e["ev"] for e in await q.events()]
    assert events[:2] == ["resumed", "paused"]


async def _fail_jobs(q: object, n: int) -> list[str]:
    from engine.queue.queue import Queue

    assert isinstance(q, Queue)
    await q.add_bulk(JobSpec("n", i, attempts=1) for i in range(n))
    fetched = await leases.fetch(q, now_ms(), n, "w1")
    outcomes = [leases.Outcome(j.id, j.token, OutcomeKind.FAILED, "Boom: no") for j in fetched.jobs]
    assert await leases.finish(q, now_ms(), outcomes) == []
    return [j.id for j in fetched.jobs]


async def test_retry_failed_with_limit_moves_oldest_first(make_queue: QueueFactory) -> None:
    q = make_queue()
    ids = await _fail_jobs(q, 5)
    assert await q.retry_failed(limit=2) == 2
    counts = await q.counts()
    assert (counts.failed, counts.waiting) == (3, 2)
    retried = await q.get_job(ids[0])
    assert retried is not None and retried.attempts_made == 0
    assert retried.state is JobState.WAITING
    assert await q.retry_failed() == 3
    assert (await q.counts()).failed == 0


async def test_retry_jobs_by_id_skips_jobs_not_failed(make_queue: QueueFactory) -> None:
    q = make_queue()
    ids = await _fail_jobs(q, 2)
    other = await q.add("n", None)
    assert await q.retry_jobs([ids[1], other.id, "missing"]) == 1
    assert (await q.counts()).failed == 1


async def test_clean_respects_age_and_limit(make_queue: QueueFactory, redis: Redis) -> None:
    q = make_queue(keep_failed=-1)
    ids = await _fail_jobs(q, 5)
    assert await q.clean("failed", older_than=3600) == 0
    assert await q.clean("failed", older_than=0, limit=2) == 2
    assert (await q.counts()).failed == 3
    assert not await redis.exists(q.keys.job(ids[0]))
    assert await q.clean(JobState.FAILED) == 3
    with pytest.raises(InvalidJobError):
        await q.clean("waiting")  # type: ignore[arg-type]


async def test_drain_removes_waiting_and_delayed_but_not_active(make_queue: QueueFactory) -> None:
    q = make_queue()
    await q.add_bulk(JobSpec("n", i) for i in range(1500))
    await q.add("n", None, delay=30)
    fetched = await leases.fetch(q, now_ms(), 3, "w1")
    assert await q.drain() == 1500 - 3 + 1
    counts = await q.counts()
    assert (counts.waiting, counts.delayed, counts.active) == (0, 0, 3)
    assert await q.get_job(fetched.jobs[0].id) is not None


async def test_remove_refuses_active_jobs(make_queue: QueueFactory) -> None:
    q = make_queue()
    waiting = await q.add("n", None)
    running = await q.add("n", None, priority=0)
    await leases.fetch(q, now_ms(), 1, "w1")
    with pytest.raises(JobActiveError):
        await q.remove(running.id)
    assert await q.remove(waiting.id) is True
    assert await q.remove(waiting.id) is False
    assert (await q.counts()).waiting == 0


async def test_job_record_keeps_error_and_traceback(make_queue: QueueFactory) -> None:
    q = make_queue()
    [job_id] = await _fail_jobs(q, 1)
    job = await q.get_job(job_id)
    assert job is not None
    assert job.state is JobState.FAILED and job.error == "Boom: no"
    assert job.finished_ms is not None
    assert json.loads(job.raw_data) == 0


async def test_jobs_accepts_negative_positions_like_lrange(make_queue: QueueFactory) -> None:
    q = make_queue()
    await q.add_bulk([JobSpec("n", i) for i in range(5)] + [JobSpec("n", 9, priority=0)])
    assert [j.data for j in await q.jobs("waiting", 0, -1)] == [9, 0, 1, 2, 3, 4]
    assert [j.data for j in await q.jobs("waiting", -2, -1)] == [3, 4]


async def test_redis_down_is_a_named_error_for_producers(tmp_path: object) -> None:
    from engine import RedisUnavailableError
    from engine.client import make_client
    from engine.queue.queue import Queue

    client = make_client("unix:///tmp/justo-no-such-redis.sock")
    try:
        with pytest.raises(RedisUnavailableError, match="Redis unavailable"):
            await Queue(client, "q", prefix="x").add("n", 1)
        with pytest.raises(RedisUnavailableError):
            await Queue(client, "q", prefix="x").counts()
    finally:
        await client.aclose()
