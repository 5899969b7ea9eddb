"""Thin, explicit-time callers of the engine's Lua scripts for ``test_scripts.py``.

Every helper passes ``now`` (epoch ms) itself, so tests simulate time instead of sleeping;
KEYS and ARGV come from the engine's typed script methods (``Queue.lua``), so these tests
check those builders against the scripts too.
"""

from __future__ import annotations

from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any, TypeVar, cast

from redis.asyncio import Redis

from engine.queue.queue import Queue
from engine.worker import leases
from engine.worker.leases import Leased, Outcome

T = TypeVar("T")

T0 = 1_700_000_000_000
"""A fixed "now" (epoch ms) tests start from."""


@dataclass(frozen=True)
class Row:
    """One job of an ``add`` call (the six per-job ARGV values)."""

    id: str = ""
    name: str = "noop"
    data: str = "{}"
    prio: int = 10
    delay: int = 0
    opts: str = ""


async def add(q: Queue, now: int, *rows: Row) -> list[tuple[str, int]]:
    """Run ``add``; returns (id, created) per row."""
    values = [(r.id, r.name, r.data, r.prio, r.delay, r.opts) for r in rows]
    return [(e.id, int(e.created)) for e in await q.lua.add(values, now)]


async def lease(q: Queue, now: int, limit: int = 1, worker: str = "w1") -> list[Leased]:
    """Run ``fetch`` and return the leased jobs."""
    return (await leases.fetch(q, now, limit, worker)).jobs


async def lease_one(q: Queue, now: int, worker: str = "w1") -> Leased:
    """Lease exactly one job (fails the test if none is available)."""
    jobs = await lease(q, now, 1, worker)
    assert len(jobs) == 1, jobs
    return jobs[0]


async def finish_one(
    q: Queue, now: int, job: Leased, kind: leases.OutcomeKind, value: str = "", delay_ms: int = 0
) -> list[str]:
    """Record one outcome for a leased job; returns the rejected ids."""
    return await leases.finish(q, now, [Outcome(job.id, job.token, kind, value, delay_ms=delay_ms)])


async def set_paused(q: Queue, pause: bool, now: int) -> int:
    return int(await q.lua.set_paused(pause, now))


async def retry_failed(q: Queue, now: int, limit: int, ids: list[str] | None = None) -> int:
    return await q.lua.retry_failed(now, limit, ids or [])


async def clean(q: Queue, set_key: str, cutoff: int, limit: int) -> int:
    return await q.lua.clean(set_key, cutoff, limit)


async def drain(q: Queue, limit: int) -> int:
    return await q.lua.drain(limit)


async def remove(q: Queue, job_id: str) -> int:
    return await q.lua.remove(job_id)


async def update(
    q: Queue, job_id: str, token: str, kind: str, value: str, max_lines: int | None = None
) -> int:
    call = q.lua.update_job_call(job_id, token, kind, value, max_lines)
    return int(await q.scripts.call(*call))


async def counts(q: Queue) -> list[int]:
    c = await q.lua.counts()
    return [c.waiting, c.delayed, c.active, c.completed, c.failed, int(c.paused)]


# ------------------------------------------------------------ raw commands


def _aw(value: Awaitable[T] | T) -> Awaitable[T]:
    """redis-py types some replies ``Awaitable[T] | T``; on the async client they are
    always awaitables."""
    return cast(Awaitable[T], value)


async def llen(redis: Redis, key: str) -> int:
    return await _aw(redis.llen(key))


async def hget(redis: Redis, key: str, field: str) -> bytes | None:
    value: Any = await _aw(redis.hget(key, field))
    return cast(bytes | None, value)


async def hset(redis: Redis, key: str, field: str, value: str) -> None:
    await _aw(redis.hset(key, field, value))


async def hdel(redis: Redis, key: str, field: str) -> None:
    await _aw(redis.hdel(key, field))


async def rpush(redis: Redis, key: str, *values: str | bytes) -> None:
    await _aw(redis.rpush(key, *values))


async def lpush(redis: Redis, key: str, *values: str | bytes) -> None:
    await _aw(redis.lpush(key, *values))


async def fields(redis: Redis, key: str) -> dict[str, bytes]:
    """A hash with its field names decoded."""
    raw: dict[bytes, bytes] = await _aw(redis.hgetall(key))
    return {f.decode(): v for f, v in raw.items()}


async def text_fields(redis: Redis, key: str) -> dict[str, str]:
    """A hash with names and values decoded as UTF-8."""
    return {f: v.decode() for f, v in (await fields(redis, key)).items()}


async def items(redis: Redis, key: str) -> list[str]:
    """A whole list, decoded."""
    raw: list[bytes] = await _aw(redis.lrange(key, 0, -1))
    return [r.decode() for r in raw]


async def scores(redis: Redis, key: str) -> dict[str, float]:
    """A whole zset as member -> score."""
    raw: list[tuple[bytes, float]] = await redis.zrange(key, 0, -1, withscores=True)
    return {m.decode(): s for m, s in raw}


async def events(redis: Redis, q: Queue) -> list[dict[str, str]]:
    """Every event of the queue, oldest first."""
    raw: list[tuple[bytes, dict[bytes, bytes]]] = await redis.xrange(q.keys.events)
    return [{k.decode(): v.decode() for k, v in f.items()} for _, f in raw]
