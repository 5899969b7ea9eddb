"""The worker: handlers, retries and backoff, delays, priorities, timeouts, stop, bad input."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

from redis.asyncio import Redis

from engine import Backoff, JobContext, JobSpec, JobState, Queue, Registry, Worker
from engine.queue.queue import now_ms
from engine.runtime.metrics import read_metrics
from engine.worker import leases
from tests.conftest import QueueFactory, eventually


async def run_burst(q: Queue, registry: Registry, concurrency: int = 4) -> Worker:
    worker = Worker(q, registry, concurrency=concurrency, grace_s=1)
    await asyncio.wait_for(worker.run(burst=True), 30)
    return worker


async def test_async_and_sync_handlers_run_and_record_progress_and_logs(
    make_queue: QueueFactory,
) -> None:
    q = make_queue()
    registry = Registry()
    loop_threads: list[str] = []

    @registry.register("double")
    async def double(ctx: JobContext) -> int:
        ctx.progress(50)
        ctx.log("halfway")
        return int(ctx.data) * 2

    @registry.register("blocking")
    def blocking(ctx: JobContext) -> str:
        loop_threads.append(threading.current_thread().name)
        ctx.progress({"done": 1, "of": 1})
        ctx.log("from a thread")
        return "ok"

    a = await q.add("double", 21)
    b = await q.add("blocking", None)
    await run_burst(q, registry)
    job_a, job_b = await q.get_job(a.id), await q.get_job(b.id)
    assert job_a is not None and job_b is not None
    assert (job_a.state, job_a.result, job_a.progress) == (JobState.COMPLETED, 42, 50)
    assert job_a.logs == ["halfway"]
    assert (job_b.result, job_b.progress, job_b.logs) == (
        "ok",
        {"done": 1, "of": 1},
        ["from a thread"],
    )
    assert loop_threads and loop_threads[0] != threading.main_thread().name


async def test_retries_with_backoff_then_succeeds(make_queue: QueueFactory) -> None:
    q = make_queue(attempts=3, backoff=Backoff("fixed", 150))
    registry = Registry()
    starts: list[int] = []

    @registry.register("flaky")
    async def flaky(ctx: JobContext) -> str:
        starts.append(now_ms())
        if ctx.attempt < 3:
            raise RuntimeError(f"try {ctx.attempt} failed")
        return "third time"

    added = await q.add("flaky", None)
    await run_burst(q, registry)
    job = await q.get_job(added.id)
    assert job is not None
    assert (job.state, job.attempts_made, job.result) == (JobState.COMPLETED, 3, "third time")
    assert job.error == "RuntimeError: try 2 failed"
    assert all(b - a >= 150 for a, b in zip(starts, starts[1:], strict=False))
    events = [e["ev"] for e in await q.events()]
    assert events.count("retrying") == 2


def test_exponential_backoff_grows_with_jitter() -> None:
    import random

    backoff = Backoff("exponential", 1000)
    rng = random.Random(7)
    for attempt, full in [(1, 1000), (2, 2000), (3, 4000)]:
        delays = [backoff.delay_for(attempt, rng) for _ in range(50)]
        assert all(full / 2 <= d <= full for d in delays)
        assert len(set(delays)) > 1
    assert Backoff("fixed", 300).delay_for(5) == 300
    assert Backoff("exponential", 1000, max_delay_ms=5000).delay_for(20) <= 5000


async def test_fails_for_good_after_last_attempt_with_traceback(make_queue: QueueFactory) -> None:
    q = make_queue(attempts=2, backoff=Backoff("fixed", 10))
    registry = Registry()

    @registry.register("always")
    def always(ctx: JobContext) -> None:
        raise ValueError("bad input for court TJSP")

    added = await q.add("always", None)
    await run_burst(q, registry)
    job = await q.get_job(added.id)
    assert job is not None
    assert (job.state, job.attempts_made) == (JobState.FAILED, 2)
    assert job.error == "ValueError: bad input for court TJSP"
    assert "Traceback" in job.traceback and "always" in job.traceback
    metrics = await read_metrics(q, minutes=2)
    assert (metrics.completed, metrics.failed, metrics.failed_tries) == (0, 1, 2)


async def test_delayed_job_waits_for_its_time(make_queue: QueueFactory) -> None:
    q = make_queue()
    registry = Registry()
    ran_at: dict[str, int] = {}

    @registry.register("later")
    async def later(ctx: JobContext) -> None:
        ran_at[ctx.id] = now_ms()

    added = await q.add("later", None, delay=0.4)
    job = await q.get_job(added.id)
    assert job is not None and job.ready_ms is not None
    await run_burst(q, registry)
    assert ran_at[added.id] >= job.ready_ms


async def test_lower_priority_number_runs_first(make_queue: QueueFactory) -> None:
    q = make_queue()
    registry = Registry()
    order: list[str] = []

    @registry.register("p")
    async def record(ctx: JobContext) -> None:
        order.append(ctx.data)

    await q.add_bulk(
        [
            JobSpec("p", "p20-a", priority=20),
            JobSpec("p", "p10-a"),
            JobSpec("p", "p0", priority=0),
            JobSpec("p", "p20-b", priority=20),
            JobSpec("p", "p10-b"),
        ]
    )
    await run_burst(q, registry, concurrency=1)
    assert order == ["p0", "p10-a", "p10-b", "p20-a", "p20-b"]


async def test_paused_queue_is_not_fetched_until_resumed(make_queue: QueueFactory) -> None:
    q = make_queue()
    registry = Registry()
    done = asyncio.Event()

    @registry.register("n")
    async def n(ctx: JobContext) -> None:
        done.set()

    await q.pause()
    added = await q.add("n", None)
    worker = Worker(q, registry, concurrency=2)
    task = asyncio.create_task(worker.run())
    # The worker's own fetch sees the pause and leases nothing.
    probe = await leases.fetch(q, now_ms(), 5, "probe")
    assert probe.paused and probe.jobs == []
    job = await q.get_job(added.id)
    assert job is not None and job.state is JobState.WAITING
    await q.resume()
    await asyncio.wait_for(done.wait(), 5)
    worker.stop()
    await task


async def test_async_timeout_fails_the_try(make_queue: QueueFactory) -> None:
    q = make_queue(attempts=1)
    registry = Registry()

    @registry.register("hang")
    async def hang(ctx: JobContext) -> None:
        await asyncio.sleep(3600)

    added = await q.add("hang", None, timeout=0.2)
    await run_burst(q, registry)
    job = await q.get_job(added.id)
    assert job is not None and job.state is JobState.FAILED
    assert job.error == "JobTimeoutError: job exceeded its timeout of 0.2s"


async def test_sync_timeout_fails_the_try_and_frees_the_slot(make_queue: QueueFactory) -> None:
    q = make_queue(attempts=1)
    registry = Registry()
    release = threading.Event()

    @registry.register("stuck")
    def stuck(ctx: JobContext) -> None:
        release.wait(10)

    @registry.register("quick")
    def quick(ctx: JobContext) -> str:
        return "ran"

    stuck_job = await q.add("stuck", None, timeout=0.2)
    quick_job = await q.add("quick", None)
    try:
        await run_burst(q, registry, concurrency=1)
    finally:
        release.set()
    job = await q.get_job(stuck_job.id)
    assert job is not None and job.error.startswith("JobTimeoutError")
    quick_rec = await q.get_job(quick_job.id)
    assert quick_rec is not None and quick_rec.result == "ran"


async def test_graceful_stop_finishes_short_jobs_and_returns_long_ones(
    make_queue: QueueFactory,
) -> None:
    q = make_queue()
    registry = Registry()
    started: set[str] = set()
    finish_short = asyncio.Event()

    @registry.register("short")
    async def short(ctx: JobContext) -> str:
        started.add(ctx.id)
        await finish_short.wait()
        return "done"

    @registry.register("long")
    async def long(ctx: JobContext) -> None:
        started.add(ctx.id)
        await asyncio.sleep(3600)

    s = await q.add("short", None)
    long_job = await q.add("long", None)
    waiting = await q.add("short", None, priority=99)
    worker = Worker(q, registry, concurrency=2, grace_s=0.5)
    task = asyncio.create_task(worker.run())

    async def both_started() -> bool:
        return started == {s.id, long_job.id}

    await eventually(both_started)
    worker.stop()
    finish_short.set()
    await asyncio.wait_for(task, 5)
    short_rec, long_rec = await q.get_job(s.id), await q.get_job(long_job.id)
    assert short_rec is not None and short_rec.state is JobState.COMPLETED
    assert long_rec is not None and long_rec.state is JobState.WAITING
    assert long_rec.attempts_made == 0
    # Given back to the head of the queue: it runs before the job that was waiting.
    head = await q.jobs("waiting", 0, 1)
    assert [j.id for j in head] == [long_job.id, waiting.id]
    assert waiting.id not in started
    assert (await q.counts()).active == 0


async def test_unknown_job_type_fails_after_attempts_with_backoff(make_queue: QueueFactory) -> None:
    q = make_queue(attempts=3, backoff=Backoff("fixed", 100))
    added = await q.add("nope", {"x": 1})
    started = time.monotonic()
    await run_burst(q, Registry())
    job = await q.get_job(added.id)
    assert job is not None
    assert (job.state, job.attempts_made) == (JobState.FAILED, 3)
    assert job.error == "UnknownJobTypeError: unknown job type 'nope' on queue 'q'"
    # Two backoff waits of 100 ms: no hot loop.
    assert time.monotonic() - started >= 0.2


async def test_malformed_entries_go_to_failed_and_good_jobs_complete(
    make_queue: QueueFactory, redis: Redis
) -> None:
    q = make_queue(max_payload=1000)
    registry = Registry()
    done: list[Any] = []

    @registry.register("good")
    async def good(ctx: JobContext) -> None:
        done.append(ctx.data)

    await q.add_bulk(JobSpec("good", i) for i in range(20))
    wait_key = q.keys.wait(q.options.priority)
    await redis.rpush(wait_key, b'{"name": "raw json pushed by hand"}')
    await redis.hset(
        q.keys.job("badjson"),
        mapping={"name": "good", "data": "{not json", "state": "waiting", "prio": 10},
    )
    await redis.hset(q.keys.job("noname"), mapping={"data": "1", "state": "waiting", "prio": 10})
    await redis.hset(
        q.keys.job("huge"),
        mapping={"name": "good", "data": "1" * 5000, "state": "waiting", "prio": 10},
    )
    await redis.rpush(wait_key, "badjson", "noname", "huge", b"\xff\xfe invalid utf8")
    await q.add_bulk(JobSpec("good", i) for i in range(20, 40))
    await run_burst(q, registry)

    assert sorted(done) == list(range(40))
    failed = {j.id: j for j in await q.jobs("failed", 0, 100)}
    assert len(failed) == 5
    assert "not valid JSON" in failed["badjson"].error
    assert failed["badjson"].raw_data == "{not json"
    assert "has no name" in failed["noname"].error
    assert "payload too large" in failed["huge"].error
    raw_entries = sorted(j.raw_entry for j in failed.values() if j.raw_entry)
    assert raw_entries[0] == '{"name": "raw json pushed by hand"}'
    assert "invalid utf8" in raw_entries[1]
    assert all(j.attempts_made <= 1 for j in failed.values())


async def test_lease_is_renewed_while_a_long_job_runs(make_queue: QueueFactory) -> None:
    from engine import Reaper

    q = make_queue(lease_ms=300)
    registry = Registry()
    runs: list[str] = []

    @registry.register("long")
    async def long(ctx: JobContext) -> None:
        runs.append(ctx.id)
        await asyncio.sleep(1.2)

    added = await q.add("long", None)
    reaper = Reaper([q], interval_s=0.05)
    reaper_task = asyncio.create_task(reaper.run())
    await run_burst(q, registry)
    reaper.stop()
    await reaper_task
    job = await q.get_job(added.id)
    assert job is not None and job.state is JobState.COMPLETED
    assert runs == [added.id] and job.stalls == 0


async def test_idle_worker_wakes_on_enqueue_without_polling(make_queue: QueueFactory) -> None:
    q = make_queue()
    registry = Registry()
    got = asyncio.Event()

    @registry.register("n")
    async def n(ctx: JobContext) -> None:
        got.set()

    worker = Worker(q, registry)
    task = asyncio.create_task(worker.run())
    await eventually(lambda: _true_after(worker.stats.round_trips >= 1))
    trips_before = worker.stats.round_trips
    await q.add("n", None)
    await asyncio.wait_for(got.wait(), 5)
    worker.stop()
    await task
    # Waking costs the fetch and the ack, not a stream of polls.
    assert worker.stats.round_trips - trips_before <= 4


async def _true_after(value: bool) -> bool:
    return value


async def test_objects_with_async_call_run_on_the_loop(make_queue: QueueFactory) -> None:
    q = make_queue()
    registry = Registry()

    class Handler:
        async def __call__(self, ctx: JobContext) -> str:
            return f"called {ctx.data}"

    registry.add("obj", Handler())
    added = await q.add("obj", 7)
    await run_burst(q, registry)
    job = await q.get_job(added.id)
    assert job is not None and job.result == "called 7"


async def test_non_retryable_errors_fail_at_once_and_retry_after_is_honoured(
    make_queue: QueueFactory,
) -> None:
    q = make_queue(attempts=5, backoff=Backoff("fixed", 10))
    registry = Registry()

    class PermanentError(Exception):
        retryable = False

    class LaterError(Exception):
        retry_after_s = 0.4

    @registry.register("permanent")
    async def permanent(ctx: JobContext) -> None:
        raise PermanentError("bad recipient")

    @registry.register("later")
    async def later(ctx: JobContext) -> None:
        if ctx.attempt == 1:
            raise LaterError("429")

    a = await q.add("permanent", None)
    b = await q.add("later", None)
    await run_burst(q, registry)
    job_a, job_b = await q.get_job(a.id), await q.get_job(b.id)
    assert job_a is not None and (job_a.state, job_a.attempts_made) == (JobState.FAILED, 1)
    assert job_b is not None and job_b.state is JobState.COMPLETED
    assert job_b.processed_ms is not None and job_b.created_ms is not None
    assert job_b.processed_ms - job_b.created_ms >= 400


async def test_unicode_and_escapes_survive_outcome_packing(make_queue: QueueFactory) -> None:
    q = make_queue(attempts=1)
    registry = Registry()
    text = 'São Paulo – ação ✓ 🚀 "quoted" \\ back\nslash\ttab \x00nul'

    @registry.register("ok")
    async def ok(ctx: JobContext) -> dict[str, str]:
        return {"text": text}

    @registry.register("bad")
    async def bad(ctx: JobContext) -> None:
        raise ValueError(text)

    good, failing = await q.add("ok", None), await q.add("bad", None)
    await run_burst(q, registry)
    done, failed = await q.get_job(good.id), await q.get_job(failing.id)
    assert done is not None and done.result == {"text": text}
    assert failed is not None and failed.error == f"ValueError: {text}"
    assert text in failed.traceback
