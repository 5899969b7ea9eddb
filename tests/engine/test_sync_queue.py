"""``SyncQueue``: the blocking facade runs the same validated path as ``Queue``."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from engine import InvalidJobError, JobSpec, JobState, PayloadTooLargeError, QueueOptions
from engine.errors import RedisUnavailableError
from engine.queue.sync import SyncQueue


def test_add_inspect_and_dedupe(redis_url: str, prefix: str) -> None:
    with SyncQueue(redis_url, "mail", prefix=prefix) as queue:
        first = queue.add("send", {"to": "a"}, priority=5, job_id="welcome-1")
        again = queue.add("send", {"to": "b"}, job_id="welcome-1")
        urgent = queue.add("send", {"to": "c"}, priority=0)
        assert (first.id, first.created) == ("welcome-1", True)
        assert (again.id, again.created) == ("welcome-1", False)
        job = queue.get_job("welcome-1")
        assert job is not None and job.data == {"to": "a"} and job.state is JobState.WAITING
        assert queue.counts().waiting == 2
        assert [j.id for j in queue.jobs(JobState.WAITING)] == [urgent.id, "welcome-1"]
        assert queue.get_job("nope") is None


def test_add_bulk_refuses_the_whole_batch_on_one_bad_job(redis_url: str, prefix: str) -> None:
    with SyncQueue(redis_url, "q", prefix=prefix) as queue:
        specs = [JobSpec("ok", 1), JobSpec("bad", {"x": float("nan")}), JobSpec("ok", 3)]
        with pytest.raises(InvalidJobError, match="not JSON-serializable"):
            queue.add_bulk(specs)
        assert queue.counts().waiting == 0
        added = queue.add_bulk([JobSpec("ok", i) for i in range(3)])
        assert [a.created for a in added] == [True, True, True]
        assert queue.counts().waiting == 3


def test_options_apply_and_delay(redis_url: str, prefix: str) -> None:
    options = QueueOptions(max_payload=100)
    with SyncQueue(redis_url, "q", prefix=prefix, options=options) as queue:
        with pytest.raises(PayloadTooLargeError, match="over the queue's limit of 100 bytes"):
            queue.add("big", "x" * 200)
        queue.add("later", None, delay=60)
        counts = queue.counts()
        assert (counts.waiting, counts.delayed) == (0, 1)


def test_works_when_called_from_async_code(redis_url: str, prefix: str) -> None:
    # A web framework may call it from inside its own event loop: the facade's loop is its
    # own thread, so the call blocks that loop briefly but never deadlocks on it.
    async def handler() -> str:
        with SyncQueue(redis_url, "q", prefix=prefix) as queue:
            return queue.add("from-async", 1).id

    job_id = asyncio.run(handler())
    with SyncQueue(redis_url, "q", prefix=prefix) as queue:
        assert queue.get_job(job_id) is not None


def test_close_stops_the_loop_thread(redis_url: str, prefix: str) -> None:
    queue = SyncQueue(redis_url, "q", prefix=prefix)
    thread = queue._thread
    assert thread.is_alive()
    queue.close()
    assert not thread.is_alive()


def test_redis_unreachable_is_a_named_error(tmp_path: Path) -> None:
    with (
        SyncQueue(f"unix://{tmp_path}/no-such.sock", "q") as queue,
        pytest.raises(RedisUnavailableError),
    ):
        queue.add("x", 1)
