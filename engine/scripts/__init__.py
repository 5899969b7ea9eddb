"""Lua scripts of the engine, one file per state change.

Each ``*.lua`` file in this package has a header naming every KEY and ARGV. ``Scripts``
reads them with ``importlib.resources`` once and calls them by SHA (EVALSHA). When Redis
answers NOSCRIPT (it restarted, or someone ran SCRIPT FLUSH) the scripts are loaded again
and only the calls that were refused are re-sent: a refused call never ran, so re-sending
it cannot apply a change twice.

redis-py's own ``Script`` objects are not used because its pipelines send a SCRIPT EXISTS
before every execute: one extra round trip per batch on the hot path.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from functools import cache
from importlib import resources
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline
from redis.exceptions import NoScriptError

from engine.client import UNREACHABLE, unavailable

SCRIPT_NAMES = (
    "add",
    "fetch",
    "finish",
    "renew",
    "release",
    "reap",
    "set_paused",
    "retry_failed",
    "clean",
    "drain",
    "remove",
    "update_job",
    "counts",
    "rate_limit",
)
"""Every script shipped with the engine (file ``<name>.lua``)."""


@cache
def source(name: str) -> str:
    """The Lua source of one script."""
    return resources.files(__package__).joinpath(f"{name}.lua").read_text(encoding="utf-8")


@cache
def sha(name: str) -> str:
    """The SHA1 Redis knows the script by."""
    return hashlib.sha1(source(name).encode("utf-8")).hexdigest()


Call = tuple[str, Sequence[Any], Sequence[Any]]


class Scripts:
    """Runs the engine's scripts on one async client.

    Args:
        redis: the client the scripts run on.
    """

    def __init__(self, redis: Redis) -> None:
        self.redis = redis

    async def load(self) -> None:
        """Load every script into Redis's script cache."""
        pipe = self.redis.pipeline(transaction=False)
        for name in SCRIPT_NAMES:
            pipe.script_load(source(name))
        await pipe.execute()

    async def call(self, name: str, keys: Sequence[Any], args: Sequence[Any]) -> Any:
        """Run one script and return its reply (a plain EVALSHA: no pipeline to build).

        Raises:
            RedisUnavailableError: Redis cannot be reached (or timed out).
        """
        redis: Any = self.redis
        try:
            try:
                return await redis.evalsha(sha(name), len(keys), *keys, *args)
            except NoScriptError:
                # Not run at all (the script cache was empty), so sending it again is safe.
                await self.load()
                return await redis.evalsha(sha(name), len(keys), *keys, *args)
        except UNREACHABLE as exc:
            raise unavailable(exc) from exc

    async def run(self, calls: Sequence[Call]) -> list[Any]:
        """Run several script calls in one pipelined round trip; returns their replies.

        Raises the first error any call returned (after NOSCRIPT recovery), and
        ``RedisUnavailableError`` when Redis cannot be reached.
        """
        try:
            return await self._run(calls)
        except UNREACHABLE as exc:
            raise unavailable(exc) from exc

    async def _run(self, calls: Sequence[Call]) -> list[Any]:
        replies = await self._send(calls)
        missing = [i for i, r in enumerate(replies) if isinstance(r, NoScriptError)]
        if missing:
            await self.load()
            again = await self._send([calls[i] for i in missing])
            for i, reply in zip(missing, again, strict=True):
                replies[i] = reply
        for reply in replies:
            if isinstance(reply, Exception):
                raise reply
        return replies

    async def _send(self, calls: Sequence[Call]) -> list[Any]:
        pipe = self.redis.pipeline(transaction=False)
        for call in calls:
            pipeline_call(pipe, call)
        return list(await pipe.execute(raise_on_error=False))


def pipeline_call(pipe: Pipeline, call: Call) -> None:
    """Queue one script call on a pipeline that also carries other commands (the caller
    loads the scripts again on NOSCRIPT)."""
    name, keys, args = call
    pipe.evalsha(sha(name), len(keys), *keys, *args)
