"""The failure path never fails (issue 12, classes 3 and 4): whatever a handler raises and
whatever a job's stored options hold, the job ends retried or failed with a readable reason,
the jobs beside it finish, and the worker goes on."""

from __future__ import annotations

import asyncio

from engine import JobContext, JobState, Queue, Registry, Worker
from engine.queue.queue import now_ms
from engine.worker.execution import RESULT_PREVIEW_BYTES
from tests.conftest import QueueFactory
from tests.engine.script_helpers import Row, add


class UnprintableError(Exception):
    """An exception whose message cannot be turned into text."""

    def __str__(self) -> str:
        raise RuntimeError("no text for you")


def registry_with_failures() -> Registry:
    registry = Registry()

    @registry.register("unprintable")
    async def unprintable(ctx: JobContext) -> None:
        raise UnprintableError()

    @registry.register("surrogate")
    async def surrogate(ctx: JobContext) -> None:
        raise ValueError("bad byte \udce9 in a file name")

    @registry.register("logs-surrogate")
    async def logs_surrogate(ctx: JobContext) -> str:
        ctx.log("reading \udce9.pdf")
        return "read"

    @registry.register("ok")
    async def ok(ctx: JobContext) -> str:
        return "done"

    @registry.register("fails")
    async def fails(ctx: JobContext) -> None:
        raise ValueError("boom")

    return registry


async def run_until_settled(queue: Queue, registry: Registry) -> Worker:
    """A burst worker: returns once nothing is left to run (a hang fails the test)."""
    worker = Worker(queue, registry, concurrency=4, grace_s=1)
    await asyncio.wait_for(worker.run(burst=True), 60)
    return worker


async def test_an_unprintable_exception_fails_the_job_with_its_class(
    make_queue: QueueFactory,
) -> None:
    queue = make_queue()
    bad = await queue.add("unprintable", None, attempts=1)
    good = await queue.add("ok", None)
    await run_until_settled(queue, registry_with_failures())
    failed, done = await queue.get_job(bad.id), await queue.get_job(good.id)
    assert failed is not None and done is not None
    assert failed.state is JobState.FAILED
    assert failed.error == "UnprintableError: <unprintable UnprintableError>"
    assert (done.state, done.result) == (JobState.COMPLETED, "done")
    counts = await queue.counts()
    assert (counts.active, counts.waiting, counts.failed, counts.completed) == (0, 0, 1, 1)


async def test_a_lone_surrogate_in_an_error_is_stored_replaced(make_queue: QueueFactory) -> None:
    queue = make_queue()
    bad = await queue.add("surrogate", None, attempts=1)
    beside = [await queue.add("ok", i) for i in range(3)]
    await run_until_settled(queue, registry_with_failures())
    failed = await queue.get_job(bad.id)
    assert failed is not None and failed.state is JobState.FAILED
    assert failed.error == "ValueError: bad byte ? in a file name"
    assert "bad byte ? in a file name" in failed.traceback
    for added in beside:
        job = await queue.get_job(added.id)
        assert job is not None and job.state is JobState.COMPLETED
    assert (await queue.counts()).active == 0


async def test_a_stored_backoff_that_cannot_be_read_still_retries(
    make_queue: QueueFactory,
) -> None:
    # Written before ``add`` checked backoffs (or by hand): the job must not wedge.
    queue = make_queue(attempts=2)
    opts = '{"backoff":{"kind":"linear","delay_ms":10}}'
    [(job_id, _)] = await add(queue, now_ms(), Row(name="fails", opts=opts))
    worker = Worker(queue, registry_with_failures(), concurrency=2, grace_s=1)
    await asyncio.wait_for(worker.run(burst=True), 60)
    job = await queue.get_job(job_id)
    assert job is not None
    assert (job.state, job.attempts_made, job.error) == (JobState.FAILED, 2, "ValueError: boom")
    assert (await queue.counts()).active == 0


async def test_a_lone_surrogate_in_a_log_line_is_stored_replaced(
    make_queue: QueueFactory,
) -> None:
    queue = make_queue()
    logged = await queue.add("logs-surrogate", None)
    beside = await queue.add("ok", None)
    await run_until_settled(queue, registry_with_failures())
    job, other = await queue.get_job(logged.id), await queue.get_job(beside.id)
    assert job is not None and other is not None
    assert (job.state, job.result, job.logs) == (JobState.COMPLETED, "read", ["reading ?.pdf"])
    assert other.state is JobState.COMPLETED


async def test_a_result_over_the_limit_reads_back_as_a_marked_preview(
    make_queue: QueueFactory,
) -> None:
    # Issue 12, class 13: it was cut mid-token at 64 KiB and read back as nothing.
    queue = make_queue()
    registry = Registry()

    @registry.register("big")
    async def big(ctx: JobContext) -> dict[str, str]:
        return {"text": "é" * 100_000}

    added = await queue.add("big", None)
    await run_until_settled(queue, registry)
    job = await queue.get_job(added.id)
    assert job is not None and job.state is JobState.COMPLETED
    result = job.result
    assert isinstance(result, dict)
    assert (result["truncated"], result["bytes"]) == (True, len('{"text":""}') + 200_000)
    assert result["preview"].startswith('{"text":"éé')
    assert len(result["preview"].encode()) <= RESULT_PREVIEW_BYTES
