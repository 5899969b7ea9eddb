"""A Redis sliding-window rate limiter shared by every supervisor.

Judit allows 180 requests per minute per API key over a 60 s sliding window, shared by every
endpoint; several supervisors use the same key, so the count lives in Redis: one zset of
admission times per limiter key, trimmed to the window, checked and added to atomically by
``rate_limit.lua``.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Protocol

from redis.asyncio import Redis
from redis.exceptions import RedisError

from engine.errors import RedisUnavailableError
from engine.scripts import Scripts
from engine.scripts.queue_scripts import rate_limit
from justo.jobs.lawsuit import TransientProviderError

Clock = Callable[[], float]
"""Wall-clock seconds since the epoch (``time.time``)."""
Sleep = Callable[[float], Awaitable[None]]
"""Waits the given seconds (``asyncio.sleep``)."""


class Limiter(Protocol):
    """Anything a provider client waits on before each request."""

    async def acquire(self) -> None:
        """Return when one more request may be sent.

        Raises:
            TransientProviderError: no room within the limiter's maximum wait.
        """
        ...


class RateLimiter:
    """Admits at most ``limit`` requests per ``window_s`` across every process sharing ``key``.

    Args:
        redis: the client the script runs on.
        key: the zset key, e.g. ``rate_limit_key("judit", prefix)``.
        limit: requests per window (Judit: 180).
        window_s: window length in seconds (Judit: 60).
        max_wait_s: give up (``TransientProviderError``) rather than wait longer in total.
        clock: wall-clock seconds; every process must share it (the window is absolute).
        sleep: how to wait; tests inject a fake that advances their clock.
    """

    def __init__(
        self,
        redis: Redis,
        key: str,
        limit: int = 180,
        window_s: float = 60.0,
        *,
        max_wait_s: float = 30.0,
        clock: Clock = time.time,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        if limit < 1 or window_s <= 0:
            raise ValueError("limit must be >= 1 and window_s > 0")
        self.key = key
        self.limit = limit
        self.window_ms = int(window_s * 1000)
        self.max_wait_s = max_wait_s
        self._scripts = Scripts(redis)
        self._clock = clock
        self._sleep = sleep

    async def try_acquire(self) -> float:
        """Take a slot if there is one: returns 0, else the seconds until there may be one."""
        now_ms = int(self._clock() * 1000)
        try:
            wait_ms = await rate_limit(
                self._scripts, self.key, now_ms, self.limit, self.window_ms, uuid.uuid4().hex
            )
        except (RedisError, RedisUnavailableError) as exc:
            raise TransientProviderError(f"rate limiter unavailable: {type(exc).__name__}") from exc
        return wait_ms / 1000

    async def acquire(self) -> None:
        """Wait until a slot is free and take it.

        Raises:
            TransientProviderError: not admitted within ``max_wait_s`` (``retry_after`` is
                the wait Redis asked for), or Redis is unreachable.
        """
        deadline = self._clock() + self.max_wait_s
        while True:
            wait = await self.try_acquire()
            if wait <= 0:
                return
            if self._clock() + wait > deadline:
                raise TransientProviderError(
                    f"rate limit {self.limit}/{self.window_ms // 1000}s reached; "
                    f"gave up after waiting up to {self.max_wait_s:g}s",
                    retry_after=wait,
                )
            await self._sleep(wait)
