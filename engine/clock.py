"""The time that decides leases, reaping and delays: the Redis server's clock.

Every process reads Redis ``TIME`` now and then and carries it forward with its own
monotonic clock in between. So hosts whose wall clocks disagree, or a wall clock that
jumps (an NTP step, a VM resumed), still agree on when a lease expires: a supervisor whose
clock runs minutes ahead no longer reaps jobs that healthy workers are renewing.
"""

from __future__ import annotations

import time
import weakref
from typing import Protocol

from redis.asyncio import Redis

from engine.client import UNREACHABLE, unavailable

RESYNC_S = 15.0
"""Seconds between two reads of Redis ``TIME``. A monotonic clock drifts by parts per
million, so the estimate stays within a millisecond or two of Redis between reads."""


class Clock(Protocol):
    """A source of "now" in epoch milliseconds."""

    async def now_ms(self) -> int:
        """The current time in epoch milliseconds."""
        ...


class RedisClock:
    """Redis's ``TIME``, read every ``resync_s`` and extrapolated by ``time.monotonic``.

    The first call reads ``TIME`` (one round trip); later calls cost no I/O until the
    next resync. When a resync fails because Redis is down, the last reading carries on:
    the script the caller is about to run fails anyway and says why.

    Args:
        redis: the client whose server's clock this is.
        resync_s: seconds between reads of ``TIME``.
    """

    def __init__(self, redis: Redis, *, resync_s: float = RESYNC_S) -> None:
        self._redis = redis
        self._resync_s = resync_s
        self._base_ms: float | None = None
        self._base_mono = 0.0

    async def now_ms(self) -> int:
        """Redis's time now, in epoch milliseconds."""
        if self._base_ms is None or time.monotonic() - self._base_mono >= self._resync_s:
            await self._sync()
        assert self._base_ms is not None
        return int(self._base_ms + (time.monotonic() - self._base_mono) * 1000)

    async def _sync(self) -> None:
        sent = time.monotonic()
        try:
            seconds, micros = await self._redis.time()
        except UNREACHABLE as exc:
            if self._base_ms is None:
                raise unavailable(exc) from exc
            return  # keep extrapolating the last reading; the caller's own call will fail
        received = time.monotonic()
        # The server read its clock somewhere inside the round trip: take the middle.
        self._base_ms = seconds * 1000 + micros / 1000
        self._base_mono = (sent + received) / 2


class WallClock:
    """This host's wall clock: for tools that must not touch Redis to tell the time."""

    async def now_ms(self) -> int:
        """The local time in epoch milliseconds."""
        return int(time.time() * 1000)


_CLOCKS: weakref.WeakKeyDictionary[Redis, RedisClock] = weakref.WeakKeyDictionary()


def redis_clock(redis: Redis) -> RedisClock:
    """The one ``RedisClock`` of a client, shared by every queue that uses the client."""
    clock = _CLOCKS.get(redis)
    if clock is None:
        clock = _CLOCKS[redis] = RedisClock(redis)
    return clock
