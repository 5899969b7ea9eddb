"""The async worker: leases jobs from one queue and runs their handlers.

One loop does all Redis traffic for the worker's jobs: each round trip sends the finished
jobs' outcomes, pending progress/log updates and, when slots are free, a fetch for as
many jobs as there are free slots. So at steady state a job costs well under one round
trip of its own. An idle worker blocks on the queue's wake-up list; it never sleeps and
polls.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from redis.asyncio import Redis

from engine.client import REDIS_DOWN
from engine.clock import RedisClock
from engine.logs import queue_logger
from engine.queue.queue import Queue
from engine.scripts import Scripts
from engine.scripts.queue_scripts import QueueScripts, new_request_id
from engine.scripts.replies import OutcomeKind
from engine.worker import leases
from engine.worker.context import JobContext
from engine.worker.execution import run_job
from engine.worker.leases import Leased, Outcome
from engine.worker.pulse import Pulse
from engine.worker.registry import Registry

MAX_BACKOFF_S = 2.5
"""Longest wait between reconnection attempts while Redis is unreachable."""

FLUSH_RETRY_FIRST_S = 0.2
"""First wait before the final flush of a stop is retried after a Redis error."""

FLUSH_RETRY_MAX_S = 2.0
"""Longest wait between final-flush retries (within the grace period)."""

THREAD_REPORT_S = 30.0
"""While a stop waits for handler threads, how often it says so."""

FLUSH_AFTER_THREADS_S = 5.0
"""Time the final flush may retry in after the stop waited for handler threads."""

MAX_BLOCK_S = 5.0
"""Longest an idle worker blocks in one call; keeps the blocking socket under its timeout."""


def _thread_alive(ctx: JobContext) -> bool:
    return ctx.thread is not None and ctx.thread.is_alive()


def make_worker_id(queue: str) -> str:
    """A worker id that says where the worker runs: ``host:pid:queue:random``."""
    return f"{socket.gethostname()}:{os.getpid()}:{queue}:{uuid.uuid4().hex[:6]}"


_Running = tuple[asyncio.Task[Outcome | None], JobContext]
"""A running job's task and context."""


@dataclass
class _Update:
    job_id: str
    token: str
    kind: str
    value: str


@dataclass
class WorkerStats:
    """Counters of one worker since it started."""

    completed: int = 0
    failed: int = 0
    retried: int = 0
    lease_lost: int = 0
    released: int = 0
    round_trips: int = 0
    started_ms: int = field(default_factory=lambda: int(time.time() * 1000))


class Worker:
    """Runs the jobs of one queue with bounded concurrency.

    Args:
        queue: the queue to work.
        registry: handlers by job name.
        concurrency: jobs run at once.
        worker_id: the id recorded on leased jobs; generated when omitted.
        grace_s: on stop, how long running jobs may finish before they are given back to
            the head of the queue. A plain-function handler still running then is waited
            for (its thread cannot be stopped) unless the stop is fast.
        pulse: the thread that renews this worker's leases; the worker starts one of its
            own when none is given. Either way renewal never waits for this event loop.
    """

    def __init__(
        self,
        queue: Queue,
        registry: Registry,
        *,
        concurrency: int = 10,
        worker_id: str | None = None,
        grace_s: float = 25.0,
        pulse: Pulse | None = None,
    ) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self.queue = queue
        self.registry = registry
        self.concurrency = concurrency
        self.worker_id = worker_id or make_worker_id(queue.name)
        self.grace_s = grace_s
        self.stats = WorkerStats()
        self.log = queue_logger(queue.name)
        self._running: dict[str, _Running] = {}
        self._outbox: list[Outcome] = []
        self._updates: list[_Update] = []
        self._wake = asyncio.Event()
        self._hurry = asyncio.Event()
        self._stopping = False
        self._blocker: asyncio.Task[Any] | None = None
        self._alone: str | None = None
        """Id of a quarantined job running by itself (nothing else is fetched meanwhile)."""
        self._held = False
        """A quarantined job waits at the head of the queue for this worker to be idle."""
        self._loop: asyncio.AbstractEventLoop | None = None
        self._backoff_s = 0.0
        self._pulse = pulse
        self._fetch_id: str | None = None
        """Request id of a fetch not answered yet (see ``_send``)."""

    @property
    def in_flight(self) -> list[str]:
        """Ids of the jobs running now."""
        return list(self._running)

    def stop(self, *, fast: bool = False) -> None:
        """Ask the worker to stop: no new fetches; running jobs get the grace period to
        finish (none with ``fast``), then the rest go back to the head of the queue."""
        self._stopping = True
        if fast:
            self._hurry.set()
        self._wake.set()

    async def run(self, *, burst: bool = False) -> None:
        """Work until ``stop()`` is called (or, with ``burst``, until the queue is empty)."""
        self._loop = asyncio.get_running_loop()
        pulse = self._pulse or Pulse(self.queue.redis, name=f"pulse:{self.worker_id}")
        if self._pulse is None:
            pulse.start()
        renewer = pulse.spawn(
            f"lease renewal of worker {self.worker_id}", lambda: self._renew_loop(pulse.redis)
        )
        try:
            while not self._stopping:
                if await self._step(burst):
                    break
        finally:
            try:
                await self._shutdown()
            finally:
                # Whatever ended the worker also ends its renewals.
                renewer.cancel()
                if self._pulse is None:
                    await pulse.aclose()

    async def _step(self, burst: bool) -> bool:
        """One loop turn. Returns True when a burst run is done."""
        self._wake.clear()
        try:
            result = await self._exchange()
        except REDIS_DOWN as exc:
            await self._redis_down(exc)
            return False
        self._backoff_s = 0.0
        if result is not None and result.jobs:
            for job in result.jobs:
                self._start(job)
            return False
        if burst and not self._running and not self._outbox and await self._queue_empty():
            return True
        await self._idle(result)
        return False

    def _free_slots(self) -> int:
        """Jobs to fetch now: none while stopping or while a quarantined job runs alone, and
        none while one waits for this worker to drain."""
        if self._stopping or self._alone is not None or (self._held and self._running):
            return 0
        return self.concurrency - len(self._running)

    async def _exchange(self) -> leases.FetchResult | None:
        """Send outcomes and updates, and fetch for free slots, in one round trip."""
        free = self._free_slots()
        if not self._outbox and not self._updates and free == 0:
            return None
        # Take what is pending now; jobs finishing during the round trip go to fresh lists.
        outcomes, self._outbox = self._outbox, []
        updates, self._updates = self._updates, []
        try:
            replies = await self._send(outcomes, updates, free)
        except BaseException:
            self._outbox[:0], self._updates[:0] = outcomes, updates
            raise
        if outcomes:
            self._count_rejected(replies[len(updates)])
        if free == 0:
            return None
        result = leases.parse_fetch(replies[-1])
        self._fetch_id = None  # answered: the next fetch is a new request
        self._held = result.held
        return result

    async def _send(self, outcomes: list[Outcome], updates: list[_Update], free: int) -> Any:
        now = await self.queue.clock.now_ms()
        calls = [
            leases.update_call(self.queue, u.job_id, u.token, u.kind, u.value) for u in updates
        ]
        if outcomes:
            calls.append(leases.finish_call(self.queue, now, outcomes))
        if free > 0:
            # Until a fetch is answered, every retry sends the same request id: if Redis ran
            # it but the reply was lost, the retry gets those jobs rather than leasing more.
            self._fetch_id = self._fetch_id or new_request_id()
            fetch = leases.fetch_call(
                self.queue,
                now,
                free,
                self.worker_id,
                alone_ok=not self._running,
                request_id=self._fetch_id,
            )
            calls.append(fetch)
        replies = await self.queue.scripts.run(calls)
        self.stats.round_trips += 1
        return replies

    def _count_rejected(self, rejected: list[bytes]) -> None:
        for job_id in rejected:
            self.stats.lease_lost += 1
            self.log.warning(
                "job %s: outcome rejected, the lease was lost (job was reclaimed)", job_id.decode()
            )

    async def _idle(self, result: leases.FetchResult | None) -> None:
        """Wait until a job finishes, work arrives, a delayed job is due, or stop."""
        if self._stopping:
            return
        if result is None or len(self._running) >= self.concurrency:
            await self._wake.wait()
            return
        timeout = MAX_BLOCK_S
        if result.next_due_ms is not None:
            timeout = min(
                timeout, max(0.01, (result.next_due_ms - await self.queue.clock.now_ms()) / 1000)
            )
        if self._blocker is None:
            self._blocker = asyncio.create_task(self._block(timeout))
        waker = asyncio.create_task(self._wake.wait())
        try:
            await asyncio.wait({self._blocker, waker}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            waker.cancel()
        if self._blocker.done():
            blocker, self._blocker = self._blocker, None
            if not blocker.cancelled() and blocker.exception() is not None:
                await self._redis_down(blocker.exception())  # type: ignore[arg-type]

    async def _block(self, timeout: float) -> Any:
        """BLPOP the queue's wake-up list (fractional seconds need Redis 6+)."""
        redis: Any = self.queue.redis  # redis-py's execute_command is untyped
        return await redis.execute_command("BLPOP", self.queue.keys.notify, f"{timeout:.3f}")

    async def _queue_empty(self) -> bool:
        # Active jobs of other workers count: if their worker died, the reaper gives them
        # back and this burst run should take them.
        counts = await self.queue.counts()
        return counts.waiting == 0 and counts.delayed == 0 and counts.active == 0

    async def _redis_down(self, exc: BaseException) -> None:
        # Capped well under 5 s so work resumes within 5 s of Redis coming back.
        self._backoff_s = min(MAX_BACKOFF_S, max(0.5, self._backoff_s * 2))
        self.log.error(
            "worker %s: Redis unavailable (%s); retrying in %.1fs",
            self.worker_id,
            type(exc).__name__,
            self._backoff_s,
        )
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._wake.wait(), self._backoff_s)

    # ------------------------------------------------------------- jobs

    def _start(self, job: Leased) -> None:
        if job.stalls > 0:
            # Its last worker died while running it: it may be what killed it. Run it alone
            # so that, if it kills this process too, no innocent job is reclaimed with it.
            self._alone = job.id
            self.log.warning(
                "job %s was reclaimed after %d stall(s); running it alone", job.id, job.stalls
            )
        ctx = JobContext(
            job.id,
            job.name,
            None,
            self.queue.name,
            job.attempts_made,
            job.stalls,
            job.token,
            self._report,
        )
        task = asyncio.create_task(self._run(job, ctx), name=f"job:{self.queue.name}:{job.id}")
        self._running[job.id] = (task, ctx)

    async def _run(self, job: Leased, ctx: JobContext) -> Outcome | None:
        try:
            outcome = await run_job(self.queue, self.registry, job, ctx)
        except asyncio.CancelledError:
            return None  # forced stop: the lease is released by _shutdown
        self._count(outcome)
        self._outbox.append(outcome)
        self._running.pop(job.id, None)
        if self._alone == job.id:
            self._alone = None
        self._wake.set()
        return outcome

    def _count(self, outcome: Outcome) -> None:
        if outcome.kind in (OutcomeKind.COMPLETED, OutcomeKind.COMPLETED_DELETE):
            self.stats.completed += 1
        elif outcome.kind == OutcomeKind.RETRY:
            self.stats.retried += 1
        else:
            self.stats.failed += 1

    def _report(self, job_id: str, token: str, kind: str, value: str) -> None:
        """Queue a progress/log write; safe to call from handler threads."""
        loop = self._loop
        if loop is None:
            return
        loop.call_soon_threadsafe(self._add_update, _Update(job_id, token, kind, value))

    def _add_update(self, update: _Update) -> None:
        self._updates.append(update)
        self._wake.set()

    # ------------------------------------------------------------- leases

    async def _renew_loop(self, redis: Redis) -> None:
        """Renew the leases of the running jobs every third of a lease. Runs on the pulse's
        thread, with the pulse's client and clock: nothing here touches this worker's loop."""
        lua = QueueScripts(Scripts(redis), self.queue.keys, self.queue.options)
        clock = RedisClock(redis)
        lease_ms = self.queue.options.lease_ms
        while True:
            await asyncio.sleep(lease_ms / 3000)
            # dict.copy is atomic under the GIL: a safe snapshot from another thread.
            running = self._running.copy()
            held = [(job_id, ctx.token) for job_id, (_, ctx) in running.items()]
            if not held:
                continue
            try:
                lost = await lua.renew(await clock.now_ms() + lease_ms, held)
            except REDIS_DOWN as exc:
                self.log.warning(
                    "worker %s: lease renewal failed (%s)", self.worker_id, type(exc).__name__
                )
                continue
            self._mark_lost(lost, running)

    def _mark_lost(self, lost: list[str], snapshot: dict[str, _Running]) -> None:
        """Flag the jobs whose renewal was refused. Only a job still running lost its
        lease: one that finished between the snapshot and the renewal was acked (its
        outcome is recorded), not lost, and is not warned about."""
        for job_id in lost:
            entry = self._running.get(job_id)
            if entry is None or entry is not snapshot.get(job_id) or entry[1].lease_lost:
                continue
            entry[1].lease_lost = True
            self.log.warning("job %s: lease lost; its outcome will be discarded", job_id)

    async def _shutdown(self) -> None:
        """Let running jobs finish within the grace period; give the rest back."""
        self._stopping = True
        flush_until = time.monotonic() + self.grace_s
        if self._blocker is not None:
            self._blocker.cancel()
            # Cancelling a blocked BLPOP normally ends it at once, but it has been seen to
            # run out its (≤ 5 s) timeout instead; never let that hold up a stop. A leftover
            # blocker ends when its timeout passes or its client is closed.
            await asyncio.wait({self._blocker}, timeout=0.25)
        tasks = [task for task, _ in self._running.values()]
        if tasks:
            await self._wait_grace(tasks)
            if await self._wait_threads():
                flush_until = max(flush_until, time.monotonic() + FLUSH_AFTER_THREADS_S)
        leftover = [
            (job_id, ctx.token)
            for job_id, (_, ctx) in self._running.items()
            if not _thread_alive(ctx)  # never given back while its thread still runs it
        ]
        for task, _ in self._running.values():
            task.cancel()
        await asyncio.gather(*(t for t, _ in self._running.values()), return_exceptions=True)
        await self._flush_final(leftover, flush_until)

    async def _wait_threads(self) -> bool:
        """After the grace period, wait for plain-function handlers still running: their
        threads cannot be stopped, so giving their jobs back would run them twice at once.
        Their leases stay renewed meanwhile. A fast stop ends the wait: those jobs then
        stay leased and the reaper takes them back once this process has exited. Returns
        whether there was anything to wait for."""
        waited = False
        while not self._hurry.is_set():
            threads = {task: ctx.id for task, ctx in self._running.values() if _thread_alive(ctx)}
            if not threads:
                return waited
            waited = True
            self.log.warning(
                "worker %s: %d plain-function handler(s) still running after the grace "
                "period (jobs %s); a thread cannot be stopped, so the stop waits for them "
                "with their leases kept; stop again to exit now",
                self.worker_id,
                len(threads),
                ", ".join(threads.values()),
            )
            hurry = asyncio.ensure_future(self._hurry.wait())
            await asyncio.wait(
                {*threads, hurry}, timeout=THREAD_REPORT_S, return_when=asyncio.FIRST_COMPLETED
            )
            hurry.cancel()
        return waited

    async def _wait_grace(self, tasks: list[asyncio.Task[Outcome | None]]) -> None:
        """Wait for ``tasks`` up to the grace period, or until a fast stop is asked."""
        all_done = asyncio.ensure_future(asyncio.wait(tasks))
        hurry = asyncio.ensure_future(self._hurry.wait())
        await asyncio.wait(
            {all_done, hurry}, timeout=self.grace_s, return_when=asyncio.FIRST_COMPLETED
        )
        all_done.cancel()
        hurry.cancel()

    async def _unanswered_fetch(self) -> list[tuple[str, str]]:
        """The jobs leased by a fetch whose reply was lost (replayed by its request id), so
        a stop gives them back at once instead of leaving them to the reaper."""
        if self._fetch_id is None:
            return []
        result = await leases.fetch(
            self.queue, await self.queue.clock.now_ms(), 1, self.worker_id, self._fetch_id
        )
        self._fetch_id = None
        return [(job.id, job.token) for job in result.jobs]

    async def _flush_final(self, leftover: list[tuple[str, str]], until: float) -> None:
        """Send the last outcomes and give the unfinished jobs back, retrying a Redis blip
        until ``until`` (the end of the grace period; one try on a fast stop): an outcome
        dropped here would make a finished job run again."""
        delay = FLUSH_RETRY_FIRST_S
        while True:
            try:
                await self._exchange()
                leftover += await self._unanswered_fetch()
                if leftover:
                    self.stats.released += await leases.release(self.queue, leftover)
                    self.log.info(
                        "worker %s: gave %d unfinished job(s) back to the queue",
                        self.worker_id,
                        len(leftover),
                    )
                return
            except REDIS_DOWN as exc:
                if self._hurry.is_set() or time.monotonic() + delay > until:
                    # The leases expire and the reaper requeues these jobs: nothing is lost.
                    self.log.error(
                        "worker %s: could not flush on stop (%s); the reaper will recover "
                        "%d job(s)",
                        self.worker_id,
                        type(exc).__name__,
                        len(leftover) + len(self._outbox),
                    )
                    return
                self.log.warning(
                    "worker %s: final flush failed (%s); retrying in %.1fs",
                    self.worker_id,
                    type(exc).__name__,
                    delay,
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, FLUSH_RETRY_MAX_S)
