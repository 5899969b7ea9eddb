"""Cleaning the application's Redis cache keys: SCAN (never KEYS), bounded and gentle.

The original's rules (``workers/cache-cleanup-worker.ts``): a key is deleted only if it has
**no TTL** and its JSON value's ``timestamp``/``createdAt``/``lastUsed`` is older than the
pattern's maximum age, or the value is empty or not JSON. Keys with a TTL are left to Redis;
a key that cannot be read as a string (another type, an error) is kept.

Memory freed is measured: ``MEMORY USAGE`` of each key just before it is deleted, summed.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import ResponseError

log = logging.getLogger("justo.queue.cache-cleanup")

PATTERN_MAX_AGE_H: dict[str, float] = {
    "cache:*": 24,
    "session:*": 24,
    "temp:*": 2,
    "sync:*": 72,
    "ai:*": 168,
}
"""The original's patterns and maximum ages in hours."""

DAILY_PATTERNS = ("cache:*", "session:*", "temp:*", "sync:*")
"""Patterns of the 02:00 job; the 03:00 job does ``ai:*``."""

SCAN_BATCH = 100
"""Keys asked for per SCAN call (its COUNT)."""

BATCH_PAUSE_S = 0.1
"""Pause between SCAN batches so cleanup never hogs Redis."""

MAX_SCANNED = 10_000
"""Keys examined per run at most, across all patterns."""

TIME_FIELDS = ("timestamp", "createdAt", "lastUsed")
"""JSON fields holding the time a cache entry was written or last used."""

Sleep = Callable[[float], Awaitable[None]]


@dataclass
class ScanReport:
    """What a Redis cleanup run did."""

    scanned: int = 0
    deleted: int = 0
    memory_freed: int = 0
    batches: int = 0
    deleted_by_pattern: dict[str, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    capped: bool = False
    """True when the run stopped at ``MAX_SCANNED``."""


def entry_time(raw: bytes | None) -> float | None:
    """The epoch seconds a cache value records, ``None`` if it records none.

    Accepts epoch seconds or milliseconds, or ISO-8601 strings.
    """
    if not raw:
        return None
    try:
        value = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(value, dict):
        return None
    for name in TIME_FIELDS:
        stamp = _epoch(value.get(name))
        if stamp is not None:
            return stamp
    return None


def _epoch(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return value / 1000 if value > 1e11 else float(value)
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
        except ValueError:
            return None
    return None


def should_delete(raw: bytes | None, now: float, max_age_s: float) -> bool:
    """The original's rule for a key without TTL: empty, not JSON, no time, or too old."""
    stamp = entry_time(raw)
    if stamp is None:
        return True
    return now - stamp > max_age_s


async def clean_patterns(
    redis: Redis,
    patterns: dict[str, float],
    *,
    now: float,
    key_prefix: str = "",
    max_scanned: int = MAX_SCANNED,
    batch: int = SCAN_BATCH,
    pause_s: float = BATCH_PAUSE_S,
    sleep: Sleep = asyncio.sleep,
) -> ScanReport:
    """Scan each pattern (max age in hours) and delete what the rule says; bounded.

    Args:
        key_prefix: prepended to every pattern (the application's cache namespace; the
            original used bare ``cache:*`` etc., which is the default).
    """
    report = ScanReport()
    for pattern, max_age_h in patterns.items():
        await _clean_pattern(
            redis,
            key_prefix + pattern,
            max_age_h * 3600,
            now,
            report,
            max_scanned,
            batch,
            pause_s,
            sleep,
        )
        if report.capped:
            break
    return report


async def _clean_pattern(
    redis: Redis,
    pattern: str,
    max_age_s: float,
    now: float,
    report: ScanReport,
    max_scanned: int,
    batch: int,
    pause_s: float,
    sleep: Sleep,
) -> None:
    r: Any = redis
    cursor = 0
    while True:
        room = max_scanned - report.scanned
        if room <= 0:
            report.capped = True
            return
        cursor, keys = await r.scan(cursor=cursor, match=pattern, count=min(batch, room))
        keys = keys[:room]
        report.batches += 1
        report.scanned += len(keys)
        await _judge(redis, keys, pattern, max_age_s, now, report)
        if cursor == 0:
            return
        await sleep(pause_s)


async def _judge(
    redis: Redis,
    keys: Sequence[bytes],
    pattern: str,
    max_age_s: float,
    now: float,
    report: ScanReport,
) -> None:
    if not keys:
        return
    pipe = redis.pipeline(transaction=False)
    for key in keys:
        pipe.pttl(key)
        pipe.get(key)
        pipe.memory_usage(key)
    replies = await pipe.execute(raise_on_error=False)
    doomed: list[bytes] = []
    freed = 0
    for i, key in enumerate(keys):
        ttl, value, size = replies[3 * i : 3 * i + 3]
        if isinstance(value, ResponseError) or isinstance(ttl, Exception):
            continue  # not a string (or unreadable): keep it, as the original did
        if ttl != -1:
            continue  # has a TTL (or vanished): Redis expires it
        if should_delete(value, now, max_age_s):
            doomed.append(key)
            freed += size if isinstance(size, int) else 0
    if doomed:
        r: Any = redis
        deleted = int(await r.unlink(*doomed))
        report.deleted += deleted
        report.memory_freed += freed
        report.deleted_by_pattern[pattern] = report.deleted_by_pattern.get(pattern, 0) + deleted
