"""What the chaos soak found (issue 12): a lost reply stalled a whole worker for 0.4 s, a
job acked while its lease was being renewed was called lost, and unreadable stored
options were ignored without a word."""

from __future__ import annotations

import asyncio
import logging

import pytest

from engine import JobContext
from engine.client import make_client
from engine.scripts.replies import parse_fetch
from engine.worker.registry import Registry
from engine.worker.worker import Worker
from tests.conftest import QueueFactory


def test_a_dropped_connection_is_retried_within_milliseconds(redis_url: str) -> None:
    """Replays are safe now, so the first retry need not wait: every slot's ack and next
    fetch share the round trip that waits for it."""
    client = make_client(redis_url)
    retry = client.connection_pool.connection_kwargs["retry"]
    backoff = retry._backoff  # redis-py keeps the policy here
    assert [round(backoff.compute(n), 3) for n in (1, 2, 3)] == [0.02, 0.04, 0.08]
    assert retry._retries == 3


async def test_a_job_acked_during_a_renewal_is_not_called_lost(
    make_queue: QueueFactory, caplog: pytest.LogCaptureFixture
) -> None:
    worker = Worker(make_queue(), Registry(), concurrency=1)
    ctx = JobContext("7", "x", None, "q", 1, 0, "42", lambda *a: None)
    task: asyncio.Task[None] = asyncio.create_task(asyncio.sleep(0))
    snapshot = {"7": (task, ctx)}  # taken while job 7 ran; it finished and was acked since
    caplog.set_level(logging.WARNING)
    worker._mark_lost(["7"], snapshot)  # type: ignore[arg-type]
    await task
    assert not ctx.lease_lost
    assert not any("lease lost" in r.getMessage() for r in caplog.records)


async def test_a_running_job_whose_renewal_is_refused_is_flagged(
    make_queue: QueueFactory, caplog: pytest.LogCaptureFixture
) -> None:
    worker = Worker(make_queue(), Registry(), concurrency=1)
    ctx = JobContext("7", "x", None, "q", 1, 0, "42", lambda *a: None)
    task: asyncio.Task[None] = asyncio.create_task(asyncio.sleep(0))
    entry = (task, ctx)
    worker._running["7"] = entry
    caplog.set_level(logging.WARNING)
    worker._mark_lost(["7"], {"7": entry})
    await task
    assert ctx.lease_lost
    assert any("job 7: lease lost" in r.getMessage() for r in caplog.records)


def test_unreadable_stored_options_are_logged(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    reply = [0, -1, 1, 0, b"9", 5, b"x", b"{}", 1, 1, b"{not json", 0]
    (job,) = parse_fetch(reply).jobs
    assert job.options == {}
    assert any("job 9: its stored options" in r.getMessage() for r in caplog.records)
