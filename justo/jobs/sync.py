"""The court-data sync worker: keep monitored processes in step with Judit (then Codilo).

What the original's documentation promised (``workers/sync-worker.ts``), done properly:
select the processes, work in batches of 50 with at most 5 provider calls at once, Judit
first and Codilo as fallback, a 6 h Redis cache of provider results, change detection by
the provider's movement ids, idempotent upserts in one transaction per process, sync logs,
job progress, and the original's result shape cached for 24 h. Transient provider errors
are retried once per process after 30 s. A job for workspace A touches only A's rows.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from redis.asyncio import Redis

from engine.worker.context import JobContext
from justo.jobs.cnj import parse_cnj
from justo.jobs.lawsuit import InvalidCnjError, Lawsuit, LawsuitProvider, ProviderError

SYNC_JOBS = ("full-sync", "manual-sync", "incremental-sync")
"""Job names the sync worker handles."""

BATCH_SIZE = 50
"""Processes per batch (the original's ``BATCH_SIZE``)."""

MAX_CONCURRENT = 5
"""Provider calls in flight at once (the original's ``MAX_CONCURRENT``)."""

RETRY_DELAY_S = 30.0
"""Wait before a process's one retry after a transient provider error (``RETRY_DELAY``,
declared but never used by the original)."""

CACHE_TTL_S = 6 * 3600
"""Provider results are cached this long (``CACHE_TTL``)."""

RESULT_TTL_S = 24 * 3600
"""The job's result is cached this long under ``sync:result:<scope>:<day>``."""

STALE_AFTER_S = 24 * 3600
"""``incremental-sync`` (without force) takes processes not synced for this long."""

DEFAULT_LIMIT = 500
"""Processes per non-full sync, at most (the original's ``take: 500``)."""


@dataclass(frozen=True)
class ProcessRef:
    """A monitored process, as the sync needs it."""

    id: str
    workspace_id: str
    process_number: str
    court: str = ""


@dataclass(frozen=True)
class Applied:
    """What writing one lawsuit into the database changed."""

    new_movements: int
    updated_movements: int

    @property
    def changed(self) -> bool:
        """Whether anything about the movements changed."""
        return bool(self.new_movements or self.updated_movements)


class SyncStore(Protocol):
    """The database side of the sync (sync SQLAlchemy; called from a thread)."""

    def select_processes(
        self,
        *,
        workspace_id: str | None,
        process_ids: Sequence[str] | None,
        stale_before: datetime | None,
        limit: int | None,
    ) -> list[ProcessRef]:
        """Active monitored processes to sync, least recently synced first."""
        ...

    def apply(
        self,
        process: ProcessRef,
        lawsuit: Lawsuit,
        sync_type: str,
        started: datetime,
        duration_ms: int,
    ) -> Applied:
        """Upsert the lawsuit's movements and the process fields, and write a sync log, in
        one transaction."""
        ...

    def record_failure(
        self,
        process: ProcessRef,
        error: str,
        sync_type: str,
        started: datetime,
        duration_ms: int,
        permanent: bool = False,
    ) -> None:
        """Write a FAILED sync log and the process's last error; ``permanent`` (an invalid
        CNJ number) also stops monitoring it until someone fixes the number."""
        ...

    def save_batch_stats(self, workspace_id: str | None, result: dict[str, Any]) -> None:
        """Write a BATCH sync log with the run's counters (``SAVE_SYNC_STATS``)."""
        ...


Sleep = Callable[[float], Awaitable[None]]


@dataclass
class SyncRun:
    """Counters of one run."""

    processed: int = 0
    updated: int = 0
    errors: list[dict[str, str]] = field(default_factory=list)
    retry: list[ProcessRef] = field(default_factory=list)


class SyncWorker:
    """Runs ``full-sync``, ``manual-sync`` and ``incremental-sync`` jobs.

    Args:
        store: the database side.
        provider: Judit with Codilo fallback (a ``ProviderChain``), or the demo sandbox.
        redis: for the provider-result cache and the result cache.
        cache_prefix: namespace of the cache keys (``sync:*`` keys, cleaned by cleanup).
        save_stats: write a BATCH sync log per run (``SAVE_SYNC_STATS=true``).
        retry_delay_s: the wait before retrying transient failures.
        sleep: injected for tests.
    """

    def __init__(
        self,
        store: SyncStore,
        provider: LawsuitProvider,
        redis: Redis,
        *,
        cache_prefix: str = "",
        save_stats: bool = False,
        retry_delay_s: float = RETRY_DELAY_S,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.store = store
        self.provider = provider
        self.redis = redis
        self.cache_prefix = cache_prefix
        self.save_stats = save_stats
        self.retry_delay_s = retry_delay_s
        self.sleep = sleep

    async def __call__(self, job: JobContext) -> dict[str, Any]:
        """The handler: sync what the job's data selects and return the original's result."""
        started = time.monotonic()
        data = job.data if isinstance(job.data, dict) else {}
        kind = str(data.get("type") or job.name)
        workspace_id = data.get("workspaceId")
        force = bool(data.get("forceUpdate"))
        job.progress(10)
        processes = await asyncio.to_thread(
            self._select, kind, workspace_id, data.get("processIds"), force
        )
        job.progress(20)
        run = SyncRun()
        await self._sync_all(job, processes, run, kind, force)
        result = _result(run, started)
        await self._cache_result(workspace_id, result)
        if self.save_stats:
            await asyncio.to_thread(self.store.save_batch_stats, workspace_id, result)
        job.progress(100)
        return result

    def _select(
        self, kind: str, workspace_id: Any, process_ids: Any, force: bool
    ) -> list[ProcessRef]:
        stale = None
        if kind == "incremental-sync" and not force:
            stale = datetime.now(UTC) - timedelta(seconds=STALE_AFTER_S)
        ids = [str(i) for i in process_ids] if isinstance(process_ids, list) else None
        return self.store.select_processes(
            workspace_id=str(workspace_id) if workspace_id else None,
            process_ids=ids,
            stale_before=stale,
            limit=None if kind == "full-sync" else DEFAULT_LIMIT,
        )

    async def _sync_all(
        self, job: JobContext, processes: list[ProcessRef], run: SyncRun, kind: str, force: bool
    ) -> None:
        total = len(processes)
        limiter = asyncio.Semaphore(MAX_CONCURRENT)
        for start in range(0, total, BATCH_SIZE):
            batch = processes[start : start + BATCH_SIZE]
            await asyncio.gather(*(self._one(p, run, kind, force, limiter, True) for p in batch))
            job.progress(20 + round(70 * min(total, start + len(batch)) / max(total, 1)))
        if run.retry:
            retry, run.retry = run.retry, []
            job.log(f"retrying {len(retry)} process(es) after {self.retry_delay_s:.0f}s")
            await self.sleep(self.retry_delay_s)
            await asyncio.gather(*(self._one(p, run, kind, force, limiter, False) for p in retry))

    async def _one(
        self,
        process: ProcessRef,
        run: SyncRun,
        kind: str,
        force: bool,
        limiter: asyncio.Semaphore,
        may_retry: bool,
    ) -> None:
        started = datetime.now(UTC)
        clock = time.monotonic()
        try:
            cnj = parse_cnj(process.process_number).formatted
            lawsuit = await self._lawsuit(cnj, force, limiter)
            applied = await asyncio.to_thread(
                self.store.apply, process, lawsuit, kind, started, _ms_since(clock)
            )
        except ProviderError as exc:
            if exc.retryable and may_retry:
                run.retry.append(process)
                return
            await self._fail(process, exc, run, kind, started, clock)
            return
        run.processed += 1
        run.updated += int(applied.changed)

    async def _fail(
        self,
        process: ProcessRef,
        exc: ProviderError,
        run: SyncRun,
        kind: str,
        started: datetime,
        clock: float,
    ) -> None:
        label = "invalid CNJ number" if isinstance(exc, InvalidCnjError) else type(exc).__name__
        message = f"{label}: {exc}"
        run.processed += 1
        run.errors.append({"processId": process.id, "error": message})
        await asyncio.to_thread(
            self.store.record_failure,
            process,
            message,
            kind,
            started,
            _ms_since(clock),
            isinstance(exc, InvalidCnjError),
        )

    async def _lawsuit(self, cnj: str, force: bool, limiter: asyncio.Semaphore) -> Lawsuit:
        key = f"{self.cache_prefix}sync:lawsuit:{cnj}"
        r: Any = self.redis
        if not force:
            cached = await r.get(key)
            if cached:
                return Lawsuit.from_json(json.loads(cached))
        async with limiter:
            lawsuit = await self.provider.fetch(cnj)
        await r.set(key, json.dumps(lawsuit.to_json()), ex=CACHE_TTL_S)
        return lawsuit

    async def _cache_result(self, workspace_id: Any, result: dict[str, Any]) -> None:
        scope = str(workspace_id) if workspace_id else "global"
        day = datetime.now(UTC).strftime("%Y-%m-%d")
        r: Any = self.redis
        await r.set(
            f"{self.cache_prefix}sync:result:{scope}:{day}", json.dumps(result), ex=RESULT_TTL_S
        )


def _result(run: SyncRun, started: float) -> dict[str, Any]:
    """The original's result shape."""
    return {
        "success": not run.errors,
        "processedCount": run.processed,
        "updatedCount": run.updated,
        "errorCount": len(run.errors),
        "errors": run.errors,
        "duration": _ms_since(started),
        "timestamp": datetime.now(UTC).isoformat(),
    }


def _ms_since(start: float) -> int:
    return int((time.monotonic() - start) * 1000)
