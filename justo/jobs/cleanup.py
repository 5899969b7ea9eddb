"""The cache-cleanup worker: Redis cache keys (SCAN, bounded) and old database rows.

Jobs (queue ``cache-cleanup``):
- ``cleanup-expired-cache`` (daily 02:00): ``cache:*``, ``session:*``, ``temp:*``, ``sync:*``
  with the original's ages; successful sync logs older than 30 days (failed ones are kept)
  and temporary analyses older than 48 h.
- ``cleanup-ai-cache`` (daily 03:00): ``ai:*`` older than 7 days and AI-cache rows older
  than 7 days.
- ``manual-cleanup``: ``{"patterns": [...], "maxAgeHours": N}`` (default
  ``cache:*,temp:*,session:*`` and 24 h), Redis only.

The result keeps the original's shape, with ``memoryFreed`` measured from the deleted keys
(the original reported Redis's current total instead).
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from redis.asyncio import Redis

from engine.worker.context import JobContext
from justo.jobs.redis_cleanup import (
    DAILY_PATTERNS,
    PATTERN_MAX_AGE_H,
    ScanReport,
    Sleep,
    clean_patterns,
)

CLEANUP_JOBS = ("cleanup-expired-cache", "cleanup-ai-cache", "manual-cleanup")
"""Job names the cleanup worker handles."""

SYNC_LOG_MAX_AGE = timedelta(days=30)
TEMP_ANALYSIS_MAX_AGE = timedelta(hours=48)
AI_CACHE_MAX_AGE = timedelta(days=7)
MANUAL_DEFAULT_PATTERNS = ("cache:*", "temp:*", "session:*")


class CleanupStore(Protocol):
    """The database side of the cleanup (sync SQLAlchemy; called from a thread)."""

    def delete_successful_sync_logs(self, before: datetime) -> int:
        """Delete SUCCESS sync logs finished before ``before``; returns how many."""
        ...

    def delete_temporary_analyses(self, before: datetime) -> int:
        """Delete temporary analyses created before ``before``; returns how many."""
        ...

    def delete_ai_cache(self, before: datetime) -> int:
        """Delete AI-cache rows created before ``before``; returns how many."""
        ...


class CleanupWorker:
    """Handles the three cleanup jobs.

    Args:
        redis: the Redis whose cache keys are cleaned.
        store: the database side (``None``: Redis only).
        key_prefix: the application's cache namespace prepended to every pattern.
        sleep: injected for tests (the pause between SCAN batches).
    """

    def __init__(
        self,
        redis: Redis,
        store: CleanupStore | None,
        *,
        key_prefix: str = "",
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.redis = redis
        self.store = store
        self.key_prefix = key_prefix
        self.sleep = sleep

    async def __call__(self, job: JobContext) -> dict[str, Any]:
        """The handler: pick the work by job name."""
        started = time.monotonic()
        now = datetime.now(UTC)
        data = job.data if isinstance(job.data, dict) else {}
        if job.name == "cleanup-ai-cache":
            patterns = {"ai:*": PATTERN_MAX_AGE_H["ai:*"]}
        elif job.name == "manual-cleanup":
            patterns = _manual_patterns(data)
        else:
            patterns = {p: PATTERN_MAX_AGE_H[p] for p in DAILY_PATTERNS}
        report = await clean_patterns(
            self.redis, patterns, now=now.timestamp(), key_prefix=self.key_prefix, sleep=self.sleep
        )
        job.progress(60)
        rows = await asyncio.to_thread(self._database, job.name, now)
        job.progress(100)
        return _result(report, rows, started, now)

    def _database(self, name: str, now: datetime) -> dict[str, int]:
        rows = {"expiredSessions": 0, "oldLogs": 0, "tempAnalysis": 0, "aiCache": 0}
        if self.store is None or name == "manual-cleanup":
            return rows
        if name == "cleanup-ai-cache":
            rows["aiCache"] = self.store.delete_ai_cache(now - AI_CACHE_MAX_AGE)
        else:
            rows["oldLogs"] = self.store.delete_successful_sync_logs(now - SYNC_LOG_MAX_AGE)
            rows["tempAnalysis"] = self.store.delete_temporary_analyses(now - TEMP_ANALYSIS_MAX_AGE)
        return rows


def _manual_patterns(data: dict[str, Any]) -> dict[str, float]:
    raw = data.get("patterns") or MANUAL_DEFAULT_PATTERNS
    patterns = [
        p.strip()
        for p in (raw.split(",") if isinstance(raw, str) else raw)
        if isinstance(p, str) and p.strip()
    ]
    hours = float(data.get("maxAgeHours", 24))
    return {p: hours for p in patterns}


def _result(
    report: ScanReport, rows: dict[str, int], started: float, now: datetime
) -> dict[str, Any]:
    by = report.deleted_by_pattern

    def count(*suffixes: str) -> int:
        return sum(n for p, n in by.items() if p.endswith(suffixes))

    known = ("cache:*", "ai:*", "session:*", "temp:*")
    return {
        "success": not report.errors,
        "totalKeysScanned": report.scanned,
        "keysDeleted": report.deleted,
        "memoryFreed": report.memory_freed,
        "databaseRecordsDeleted": sum(rows.values()),
        "errors": report.errors,
        "duration": int((time.monotonic() - started) * 1000),
        "timestamp": now.isoformat(),
        "scanCapped": report.capped,
        "details": {
            "redisCleanup": {
                "generalCache": count("cache:*"),
                "aiCache": count("ai:*"),
                "sessionCache": count("session:*"),
                "tempFiles": count("temp:*"),
                "other": sum(n for p, n in by.items() if not p.endswith(known)),
            },
            "databaseCleanup": {**rows, "failedJobs": 0},
        },
    }
