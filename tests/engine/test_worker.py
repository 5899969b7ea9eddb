"""The worker: handlers, retries and backoff, delays, priorities, timeouts, stop, bad input."""

from __future__ import annotations

import asyncio
import random
import threading
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from redis.asyncio import Redis

from engine import Backoff, JobContext, JobSpec, JobState, Queue, Registry, Worker
from engine.client import make_client
from engine.queue.queue import now_ms
from engine.runtime.metrics import read_metrics
from engine.worker import leases
from engine.worker.worker import MAX_BLOCK_S
from tests.conftest import QueueFactory, RedisFactory, eventually


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
    assert len(loop_threads) == 1 and loop_threads[0] != threading.main_thread().name


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
    assert len(starts) == 3
    assert all(b - a >= 150 for a, b in zip(starts, starts[1:], strict=False))
    events = [e["ev"] for e in await q.events()]
    assert events.count("retrying") == 2


class Draw(random.Random):
    """A random source that always draws ``value``."""

    def __init__(self, value: float) -> None:
        super().__init__()
        self.value = value

    def random(self) -> float:
        return self.value


def test_exponential_backoff_grows_with_jitter() -> None:
    backoff = Backoff("exponential", 1000)
    rng = random.Random(7)
    for attempt, full in [(1, 1000), (2, 2000), (3, 4000)]:
        delays = [backoff.delay_for(attempt, rng) for _ in range(50)]
        assert all(full / 2 <= d <= full for d in delays)
        assert len(set(delays)) > 1
    assert Backoff("fixed", 300).delay_for(5) == 300
    capped = Backoff("exponential", 1000, max_delay_ms=5000)
    assert capped.delay_for(20, Draw(0.0)) == 2500  # half the cap, at least
    assert capped.delay_for(20, Draw(0.5)) == 3750
    assert capped.delay_for(20, Draw(0.9999)) == 4999  # the cap, at most


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
    assert job is not None and job.ready_ms == job.created_ms + 400
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
    assert job is not None and job.state is JobState.FAILED
    assert job.error == "JobTimeoutError: job exceeded its timeout of 0.2s"
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
    # Bad job hashes: leased once, failed at once, without a retry.
    assert {j.id: (j.error, j.attempts_made) for j in failed.values() if not j.raw_entry} == {
        "badjson": (
            "MalformedJobError: payload is not valid JSON: Expecting property name enclosed "
            "in double quotes: line 1 column 2 (char 1)",
            1,
        ),
        "noname": ("MalformedJobError: job has no name", 1),
        "huge": ("MalformedJobError: payload too large: 5000 bytes, limit 1000", 1),
    }
    assert failed["badjson"].raw_data == "{not json"
    # Waiting-list entries without a job hash: never run, their raw bytes kept.
    no_hash = "MalformedJobError: waiting-list entry has no job hash (raw bytes kept in 'raw')"
    assert sorted(
        (j.raw_entry, j.error, j.attempts_made) for j in failed.values() if j.raw_entry
    ) == [
        ('{"name": "raw json pushed by hand"}', no_hash, 0),
        (b"\xff\xfe invalid utf8".decode(errors="replace"), no_hash, 0),
    ]


async def test_lease_is_renewed_while_a_long_job_runs(
    make_queue: QueueFactory, redis: Redis
) -> None:
    # A lease the wall clock cannot expire during the test on a loaded machine; instead
    # the reaper is run by hand with an explicit clock past the end of the first lease.
    q = make_queue(lease_ms=3000)
    registry = Registry()
    runs: list[str] = []
    finish = asyncio.Event()

    @registry.register("long")
    async def long(ctx: JobContext) -> None:
        runs.append(ctx.id)
        await finish.wait()

    added = await q.add("long", None)
    task = asyncio.create_task(run_burst(q, registry))

    async def deadline() -> float | None:
        return await redis.zscore(q.keys.active, added.id)

    async def leased() -> bool:
        return await deadline() is not None

    await eventually(leased, timeout=30)
    first = await deadline()
    assert first is not None

    async def renewed() -> bool:
        later = await deadline()
        return later is not None and later > first

    await eventually(renewed, timeout=30)
    # One reaper pass at a time when the first lease has run out: the job, still running
    # and renewed, is not reclaimed.
    reaped = await leases.reap(q, int(first) + 1)
    assert reaped.ids == []
    finish.set()
    await asyncio.wait_for(task, 30)
    job = await q.get_job(added.id)
    assert job is not None and job.state is JobState.COMPLETED
    assert runs == [added.id] and job.stalls == 0 and job.lost_worker == ""


@pytest.fixture
def own_redis_url(private_redis: RedisFactory) -> str:
    """A server of this test's own: every command it counts was sent by this test."""
    return private_redis(appendonly=False).url


SENT_BY_CLIENTS = ("evalsha", "eval", "script|load", "blpop", "ping")
"""Commands only a client sends (scripts run others, which the server counts as well)."""

FIRST_IDLE_S = MAX_BLOCK_S / 2
"""The long idle period: half a blocking call, so no BLPOP times out within it."""

IDLE_S = 0.5
"""The idle period after each enqueue cycle."""

WOKEN = ["EVALSHA", "EVALSHA", "BLPOP", "EVALSHA", "EVALSHA"]
"""What a worker woken by an enqueue writes: the fetch that leases the job, a fetch that
finds nothing more, the BLPOP it blocks on again, then the job's ack and the next fetch
in one pipeline."""


async def _commands_run(redis: Redis) -> Counter[str]:
    """Commands the server has run so far, by name (INFO, the probe itself, left out)."""
    stats = await redis.info("commandstats")
    return Counter(
        {
            name.removeprefix("cmdstat_"): int(stat["calls"])
            for name, stat in stats.items()
            if name != "cmdstat_info"
        }
    )


def record_commands(client: Redis) -> list[str]:
    """Names of the commands ``client`` writes from now on, in order (call it before the
    client opens its first connection)."""
    written: list[str] = []
    pool = client.connection_pool
    base: Any = pool.connection_class

    def pack_command(self: Any, *args: Any) -> Any:
        written.append(str(args[0]).upper())
        return base.pack_command(self, *args)

    pool.connection_class = type("Recording", (base,), {"pack_command": pack_command})
    return written


async def test_idle_worker_sends_nothing_and_wakes_on_enqueue(own_redis_url: str) -> None:
    worker_redis, probe = make_client(own_redis_url), make_client(own_redis_url)
    written = record_commands(worker_redis)
    queue = Queue(worker_redis, "idle")
    probe_queue = Queue(probe, "idle")
    registry = Registry()
    ran: list[int] = []

    @registry.register("n")
    async def n(ctx: JobContext) -> None:
        ran.append(ctx.data)

    polls = 0

    def completed(count: int) -> Callable[[], Awaitable[bool]]:
        async def check() -> bool:
            nonlocal polls
            polls += 1  # each poll is one EVALSHA of the probe's own
            return (await probe_queue.counts()).completed == count

        return check

    async def blocked() -> bool:
        return (await probe.info("clients"))["blocked_clients"] == 1

    worker = Worker(queue, registry)
    task = asyncio.create_task(worker.run())
    try:
        await eventually(blocked)
        # A first cycle loads the scripts and opens the worker's second connection.
        await probe_queue.add("n", 0)
        await eventually(completed(1))
        trips = 0
        for cycle, idle_s in enumerate([FIRST_IDLE_S, IDLE_S, IDLE_S, IDLE_S], start=1):
            before, written_before = await _commands_run(probe), len(written)
            await asyncio.sleep(idle_s)  # the idle period under test, not a synchronisation
            # Idle: not one command reached the server, not even a BLPOP timing out.
            assert await _commands_run(probe) - before == Counter(), cycle
            assert written[written_before:] == [] and await blocked(), cycle
            if cycle > 1:
                # The enqueue cycle before this idle period cost three round trips: the
                # fetch that leased the job, a fetch that found nothing, then its ack
                # batched with the next fetch.
                assert worker.stats.round_trips - trips == 3, cycle
            if cycle == 4:
                break
            trips, polls, written_before = worker.stats.round_trips, 0, len(written)
            before = await _commands_run(probe)
            await probe_queue.add("n", cycle)
            await eventually(completed(cycle + 1))
            assert written[written_before:] == WOKEN, cycle
            sent = await _commands_run(probe) - before
            # At the server: the add and the probe's polls, the worker's four script calls
            # and its one BLPOP.
            assert {name: sent[name] for name in SENT_BY_CLIENTS if name in sent} == {
                "evalsha": 1 + polls + 4,
                "blpop": 1,
            }, cycle
    finally:
        worker.stop()
        await task
        await worker_redis.aclose()
        await probe.aclose()
    assert ran == [0, 1, 2, 3]


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
    assert job_b is not None and (job_b.state, job_b.attempts_made) == (JobState.COMPLETED, 2)
    assert job_b.processed_ms is not None
    assert job_b.processed_ms - job_b.created_ms >= 400  # the 0.4 s asked for, not the 10 ms


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
