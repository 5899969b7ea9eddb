"""Cache cleanup on a real Redis: thousands of keys per pattern, with and without TTLs."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from redis.asyncio import Redis

from justo.jobs.redis_cleanup import (
    DAILY_PATTERNS,
    PATTERN_MAX_AGE_H,
    clean_patterns,
    entry_time,
    should_delete,
)

NOW = 1_800_000_000.0
HOUR = 3600.0


class Sleeps:
    def __init__(self) -> None:
        self.calls: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


def test_entry_time_reads_seconds_millis_and_iso() -> None:
    assert entry_time(json.dumps({"timestamp": NOW}).encode()) == NOW
    assert entry_time(json.dumps({"createdAt": NOW * 1000}).encode()) == NOW
    assert (
        entry_time(json.dumps({"lastUsed": "2027-01-15T08:00:00Z"}).encode())
        == datetime(2027, 1, 15, 8, 0, tzinfo=UTC).timestamp()
    )
    assert entry_time(b"not json") is None and entry_time(b"") is None
    assert entry_time(b"[1, 2]") is None


def test_rule() -> None:
    fresh = json.dumps({"timestamp": NOW - HOUR}).encode()
    old = json.dumps({"timestamp": NOW - 30 * HOUR}).encode()
    assert not should_delete(fresh, NOW, 24 * HOUR)
    assert should_delete(old, NOW, 24 * HOUR)
    assert should_delete(b"", NOW, 24 * HOUR) and should_delete(b"plain text", NOW, 24 * HOUR)


async def seed(redis: Redis, prefix: str, per_kind: int) -> dict[str, set[bytes]]:
    """Per pattern: old keys without TTL (doomed), fresh ones, old ones with a TTL, and
    a hash (wrong type). Returns the keys that must go."""
    doomed: dict[str, set[bytes]] = {}
    for pattern, max_age_h in PATTERN_MAX_AGE_H.items():
        stem = f"{prefix}:{pattern[:-1]}"
        pipe = redis.pipeline(transaction=False)
        old = json.dumps({"timestamp": NOW - (max_age_h + 1) * HOUR})
        fresh = json.dumps({"createdAt": (NOW - (max_age_h - 1) * HOUR) * 1000})
        gone: set[bytes] = set()
        for i in range(per_kind):
            pipe.set(f"{stem}old:{i}", old)
            gone.add(f"{stem}old:{i}".encode())
            pipe.set(f"{stem}fresh:{i}", fresh)
            pipe.set(f"{stem}ttl:{i}", old, ex=3600)
        pipe.set(f"{stem}garbage", "not json")
        gone.add(f"{stem}garbage".encode())
        pipe.hset(f"{stem}hash", "timestamp", "0")
        await pipe.execute()
        doomed[pattern] = gone
    return doomed


async def test_only_the_right_keys_go(redis: Redis, prefix: str) -> None:
    doomed = await seed(redis, prefix, per_kind=1500)
    await redis.set("unrelated:cache:x", "y")  # outside the patterns entirely
    before = {k async for k in redis.scan_iter(match=f"{prefix}:*", count=1000)}
    expected_gone = set().union(*(doomed[p] for p in DAILY_PATTERNS))
    sizes = [await redis.memory_usage(k) for k in expected_gone]
    sleeps = Sleeps()
    patterns = {p: PATTERN_MAX_AGE_H[p] for p in DAILY_PATTERNS}
    report = await clean_patterns(
        redis, patterns, now=NOW, key_prefix=f"{prefix}:", max_scanned=100_000, sleep=sleeps
    )
    after = {k async for k in redis.scan_iter(match=f"{prefix}:*", count=1000)}
    assert before - after == expected_gone
    assert report.deleted == len(expected_gone)
    assert report.deleted_by_pattern == {f"{prefix}:{p}": len(doomed[p]) for p in DAILY_PATTERNS}
    assert None not in sizes and report.memory_freed == sum(s for s in sizes if s)
    assert await redis.get("unrelated:cache:x") == b"y"
    await redis.delete("unrelated:cache:x")
    # SCAN in batches of 100 (how many per pattern is up to Redis), with a 100 ms pause
    # between two batches of one pattern.
    assert report.batches > len(DAILY_PATTERNS)
    assert sleeps.calls == [0.1] * (report.batches - len(DAILY_PATTERNS))


async def test_scan_stops_at_the_cap(redis: Redis, prefix: str) -> None:
    doomed = await seed(redis, prefix, per_kind=2000)
    before = {k async for k in redis.scan_iter(match=f"{prefix}:*", count=1000)}
    report = await clean_patterns(
        redis, {"cache:*": 24}, now=NOW, key_prefix=f"{prefix}:", max_scanned=1000, sleep=Sleeps()
    )
    assert report.capped is True and report.scanned == 1000
    after = {k async for k in redis.scan_iter(match=f"{prefix}:*", count=1000)}
    # Some of the 1000 keys looked at were doomed: exactly those went, nothing else.
    gone = before - after
    assert gone <= doomed["cache:*"] and len(gone) == report.deleted > 0


async def test_ai_pattern_uses_seven_days(redis: Redis, prefix: str) -> None:
    await redis.set(f"{prefix}:ai:a", json.dumps({"lastUsed": NOW - 6 * 24 * HOUR}))
    await redis.set(f"{prefix}:ai:b", json.dumps({"lastUsed": NOW - 8 * 24 * HOUR}))
    report = await clean_patterns(
        redis, {"ai:*": 168}, now=NOW, key_prefix=f"{prefix}:", sleep=Sleeps()
    )
    assert (report.deleted, report.deleted_by_pattern) == (1, {f"{prefix}:ai:*": 1})
    assert (await redis.exists(f"{prefix}:ai:a"), await redis.exists(f"{prefix}:ai:b")) == (1, 0)
