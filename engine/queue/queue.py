"""The async queue API: enqueue, inspect and control one queue.

Every state change goes through one Lua script (see ``engine/scripts``); this module
only validates arguments, serializes data and maps script replies to typed results.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from redis.asyncio import Redis

from engine.clock import Clock, redis_clock
from engine.errors import InvalidJobError, JobActiveError, PayloadTooLargeError
from engine.job import Job, JobState
from engine.keys import DEFAULT_PREFIX, QueueKeys
from engine.options import (
    Backoff,
    QueueOptions,
    check_attempts,
    check_job_id,
    check_priority,
    check_seconds,
)
from engine.scripts import Scripts
from engine.scripts.queue_scripts import QueueScripts
from engine.scripts.replies import Enqueued, QueueCounts, parse_enqueued

ADD_BATCH = 1000
"""Jobs per ``add`` script call in ``add_bulk``: big enough to amortize the round trip,
small enough not to block Redis for long."""

CONTROL_BATCH = 1000
"""Jobs per call of the batched control scripts (clean, drain, retry)."""


def now_ms() -> int:
    """This host's wall-clock time in epoch milliseconds. The engine decides by
    ``Queue.clock`` (Redis's time) instead; this is for tests and tools."""
    return int(time.time() * 1000)


@dataclass(frozen=True)
class JobSpec:
    """One job for ``Queue.add_bulk``; fields as the keyword arguments of ``Queue.add``."""

    name: str
    data: Any = None
    job_id: str | None = None
    priority: int | None = None
    delay: float = 0.0
    attempts: int | None = None
    backoff: Backoff | None = None
    timeout: float | None = None
    retention: int | None = None


class Queue:
    """One named queue in Redis.

    Args:
        redis: an async client (``decode_responses`` must be off).
        name: the queue name; all its keys share the hash tag ``{name}``.
        prefix: key prefix, ``justo`` by default.
        options: queue defaults and limits.
        scripts: the script runner; one per client is shared when omitted.
        clock: the time that decides delays, leases and ages; Redis's ``TIME`` (shared by
            every queue on the client) when omitted, so hosts' clocks need not agree.

    Priorities: **lower numbers run first** (0 is the most urgent; the default is 10).
    The original system's "priority 10 = high" was a misreading of Bull, where 1 is the
    highest priority.
    """

    def __init__(
        self,
        redis: Redis,
        name: str,
        *,
        prefix: str = DEFAULT_PREFIX,
        options: QueueOptions | None = None,
        scripts: Scripts | None = None,
        clock: Clock | None = None,
    ) -> None:
        if not name or any(c in name for c in "{}"):
            raise InvalidJobError(f"invalid queue name: {name!r}")
        self.redis = redis
        self.name = name
        self.keys = QueueKeys(prefix, name)
        self.options = options or QueueOptions()
        self.scripts = scripts or Scripts(redis)
        self.clock: Clock = clock or redis_clock(redis)
        self.lua = QueueScripts(self.scripts, self.keys, self.options)
        """This queue's scripts, one typed method each."""

    # ----------------------------------------------------------------- enqueue

    async def add(
        self,
        name: str,
        data: Any = None,
        *,
        job_id: str | None = None,
        priority: int | None = None,
        delay: float = 0.0,
        attempts: int | None = None,
        backoff: Backoff | None = None,
        timeout: float | None = None,
        retention: int | None = None,
    ) -> Enqueued:
        """Enqueue one job.

        Args:
            name: the job type; a worker runs the handler registered under it.
            data: any JSON-serializable value.
            job_id: a client-chosen id; if a job with it exists, nothing is written.
            priority: lower runs first; defaults to the queue's priority.
            delay: seconds before the job may run.
            attempts: total tries before the job is failed for good.
            backoff: delay between tries.
            timeout: seconds a single try may run.
            retention: ``0`` deletes the job record as soon as it completes; otherwise the
                queue's retention applies.

        Raises:
            InvalidJobError: bad arguments or data that is not JSON.
            PayloadTooLargeError: the serialized data exceeds the queue's limit.
        """
        spec = JobSpec(name, data, job_id, priority, delay, attempts, backoff, timeout, retention)
        return (await self.add_bulk([spec]))[0]

    async def add_bulk(self, specs: Iterable[JobSpec]) -> list[Enqueued]:
        """Enqueue many jobs, ``ADD_BATCH`` per script call, all calls in one pipeline.

        Every spec is validated before anything is written, so one bad job rejects the
        whole call and nothing is enqueued.
        """
        rows = [self._encode(spec) for spec in specs]
        if not rows:
            return []
        now = await self.clock.now_ms()
        if len(rows) <= ADD_BATCH:
            return await self.lua.add(rows, now)
        chunks = [rows[i : i + ADD_BATCH] for i in range(0, len(rows), ADD_BATCH)]
        return parse_enqueued(await self.scripts.run([self.lua.add_call(c, now) for c in chunks]))

    async def add_once(self, guard: str, ttl_s: int, owner: str, spec: JobSpec) -> Enqueued | None:
        """Add ``spec`` only if the claim key ``guard`` (a suffix under this queue's keys)
        is not taken yet; the claim and the add are one atomic step.

        Returns ``None`` when another caller claimed it first. Cron ticks use this so that
        several supervisors enqueue each tick exactly once.
        """
        added = await self.lua.add(
            [self._encode(spec)], await self.clock.now_ms(), (guard, ttl_s, owner)
        )
        return added[0] if added else None

    def _encode(self, spec: JobSpec) -> list[Any]:
        if not isinstance(spec.name, str) or not spec.name:
            raise InvalidJobError(f"job name must be a non-empty string, not {spec.name!r}")
        job_id = check_job_id(spec.job_id)
        priority = check_priority(self.options.priority if spec.priority is None else spec.priority)
        delay_ms = int(check_seconds("delay", spec.delay) * 1000)
        data = encode_data(spec.data, self.options.max_payload)
        return [job_id, spec.name, data, priority, delay_ms, _encode_opts(spec)]

    # --------------------------------------------------------------- inspect

    async def counts(self) -> QueueCounts:
        """Jobs per state, in one round trip, without scanning any job."""
        return await self.lua.counts()

    async def is_paused(self) -> bool:
        """Whether the queue is paused."""
        return bool(await self.redis.exists(self.keys.paused))

    async def get_job(self, job_id: str) -> Job | None:
        """The job's record with its log lines, or ``None`` if there is no such job."""
        pipe = self.redis.pipeline(transaction=False)
        pipe.hgetall(self.keys.job(job_id))
        pipe.lrange(self.keys.job_logs(job_id), 0, -1)
        raw, logs = await pipe.execute()
        if not raw:
            return None
        return Job.from_hash(self.name, job_id, raw, logs)

    async def jobs(self, state: JobState | str, start: int = 0, stop: int = 49) -> list[Job]:
        """Jobs in one state, by position (inclusive ``stop``, like LRANGE).

        Waiting jobs come in run order; delayed by due time; active by lease deadline;
        completed and failed newest first. Jobs deleted between the two reads are skipped.
        """
        ids = await self._ids(JobState(state), start, stop)
        if not ids:
            return []
        pipe = self.redis.pipeline(transaction=False)
        for job_id in ids:
            pipe.hgetall(self.keys.job(job_id))
        raws = await pipe.execute()
        return [Job.from_hash(self.name, i, r) for i, r in zip(ids, raws, strict=True) if r]

    async def _ids(self, state: JobState, start: int, stop: int) -> list[str]:
        k = self.keys
        if state is JobState.WAITING:
            return await self._waiting_ids(start, stop)
        if state in (JobState.COMPLETED, JobState.FAILED):
            key = k.completed if state is JobState.COMPLETED else k.failed
            raw = await self.redis.zrevrange(key, start, stop)
        else:
            raw = await self.redis.zrange(
                k.delayed if state is JobState.DELAYED else k.active, start, stop
            )
        return [r.decode() for r in raw]

    async def _waiting_ids(self, start: int, stop: int) -> list[str]:
        prios = [int(p) for p in await self.redis.zrange(self.keys.priorities, 0, -1)]
        pipe = self.redis.pipeline(transaction=False)
        for prio in prios:
            pipe.llen(self.keys.wait(prio))
        lengths = await pipe.execute()
        total = sum(lengths)
        # Negative positions count from the end, as in LRANGE.
        start, stop = (start + total if start < 0 else start), (stop + total if stop < 0 else stop)
        # Map the [start, stop] window over the concatenated lists, lowest priority first.
        offset = 0
        for prio, length in zip(prios, lengths, strict=True):
            lo, hi = max(start - offset, 0), stop - offset
            if hi >= 0 and lo < length:
                pipe.lrange(self.keys.wait(prio), lo, hi)
            offset += length
        return [r.decode() for chunk in await pipe.execute() for r in chunk]

    async def events(self, count: int = 100) -> list[dict[str, str]]:
        """The newest events (failed, retrying, stalled, paused, ...), newest first."""
        raw = await self.redis.xrevrange(self.keys.events, count=count)
        return [
            {"at": entry_id.decode()}
            | {k.decode(): v.decode("utf-8", "replace") for k, v in fields.items()}
            for entry_id, fields in raw
        ]

    # --------------------------------------------------------------- control

    async def pause(self) -> bool:
        """Stop workers from fetching this queue's jobs (enqueue goes on).

        Returns ``True`` if the queue was running."""
        return await self._set_paused(True)

    async def resume(self) -> bool:
        """Let workers fetch again. Returns ``True`` if the queue was paused."""
        return await self._set_paused(False)

    async def _set_paused(self, pause: bool) -> bool:
        return await self.lua.set_paused(pause, await self.clock.now_ms())

    async def retry_failed(self, limit: int | None = None) -> int:
        """Move up to ``limit`` failed jobs (all when ``None``), oldest first, back to
        waiting with fresh attempts. Returns how many moved."""
        moved = 0
        while limit is None or moved < limit:
            batch = CONTROL_BATCH if limit is None else min(CONTROL_BATCH, limit - moved)
            done = await self.lua.retry_failed(await self.clock.now_ms(), batch)
            moved += done
            if done < batch:
                break
        return moved

    async def retry_jobs(self, job_ids: Sequence[str]) -> int:
        """Retry these failed jobs; ids not in the failed set are skipped."""
        return (
            await self.lua.retry_failed(await self.clock.now_ms(), len(job_ids), job_ids)
            if job_ids
            else 0
        )

    async def clean(
        self,
        state: Literal["completed", "failed"] | JobState,
        older_than: float = 0.0,
        limit: int | None = None,
    ) -> int:
        """Delete completed or failed jobs that finished more than ``older_than`` seconds
        ago, oldest first, at most ``limit`` (all when ``None``). Returns how many."""
        key = self._finished_key(JobState(state))
        cutoff = await self.clock.now_ms() - int(older_than * 1000)
        removed = 0
        while limit is None or removed < limit:
            batch = CONTROL_BATCH if limit is None else min(CONTROL_BATCH, limit - removed)
            done = await self.lua.clean(key, cutoff, batch)
            removed += done
            if done < batch:
                break
        return removed

    async def count_finished(
        self, state: Literal["completed", "failed"] | JobState, older_than: float = 0.0
    ) -> int:
        """How many completed or failed jobs finished more than ``older_than`` seconds ago
        (what ``clean`` with the same arguments would delete, without a limit)."""
        key = self._finished_key(JobState(state))
        cutoff = await self.clock.now_ms() - int(older_than * 1000)
        return int(await self.redis.zcount(key, "-inf", cutoff))

    def _finished_key(self, state: JobState) -> str:
        if state not in (JobState.COMPLETED, JobState.FAILED):
            raise InvalidJobError(f"clean works on completed or failed jobs, not {state.value}")
        return self.keys.completed if state is JobState.COMPLETED else self.keys.failed

    async def drain(self) -> int:
        """Delete every waiting and delayed job (active ones run on). Returns how many."""
        removed = 0
        while True:
            done = await self.lua.drain(CONTROL_BATCH)
            removed += done
            if done == 0:
                return removed

    async def remove(self, job_id: str) -> bool:
        """Delete one job. Returns ``False`` if there was no such job.

        Raises:
            JobActiveError: the job is running; it is left alone.
        """
        code = await self.lua.remove(job_id)
        if code < 0:
            raise JobActiveError(f"job {job_id} is active; stop or wait for it first")
        return code == 1


def encode_data(data: Any, max_payload: int) -> str:
    """Serialize job data to compact JSON and enforce the payload limit.

    Raises:
        InvalidJobError: the data is not JSON-serializable (NaN and infinity included).
        PayloadTooLargeError: the encoded size exceeds ``max_payload`` bytes.
    """
    try:
        text = json.dumps(data, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise InvalidJobError(f"job data is not JSON-serializable: {exc}") from exc
    size = len(text.encode("utf-8"))
    if size > max_payload:
        raise PayloadTooLargeError(
            f"job data is {size} bytes, over the queue's limit of {max_payload} bytes"
        )
    return text


def _encode_opts(spec: JobSpec) -> str:
    opts: dict[str, Any] = {}
    if spec.attempts is not None:
        opts["attempts"] = check_attempts(spec.attempts)
    if spec.backoff is not None:
        opts["backoff"] = spec.backoff.to_json()
    if spec.timeout is not None:
        opts["timeout"] = check_seconds("timeout", spec.timeout, positive=True)
    if spec.retention is not None:
        if spec.retention != 0:
            raise InvalidJobError("retention accepts 0 (delete on completion) or None")
        opts["retention"] = 0
    return json.dumps(opts, separators=(",", ":")) if opts else ""
