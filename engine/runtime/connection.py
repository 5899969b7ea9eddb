"""Finding, connecting to and checking Redis.

Order: ``REDIS_URL``; else ``REDIS_HOST``/``REDIS_PORT``/``REDIS_PASSWORD`` (the original's
names); else a Redis answering on localhost:6379; else an embedded ``redis-server`` with
append-only persistence under the data directory.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from redis.asyncio import Redis
from redis.exceptions import ResponseError

from engine.client import UNREACHABLE, redis_url_from_env
from engine.errors import RedisUnavailableError, UnsafeRedisError
from engine.keys import run_id_key
from engine.runtime.embedded import EmbeddedRedis

log = logging.getLogger(__name__)


def localhost_redis_answers(port: int = 6379, timeout: float = 0.3) -> bool:
    """Whether something accepts TCP connections on localhost:``port``."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout):
            return True
    except OSError:
        return False


@dataclass(frozen=True)
class RedisHealth:
    """What the start-up checks found."""

    policy: str
    appendonly: bool
    run_id: str
    restarted: bool
    version: str


async def check_redis(redis: Redis, *, prefix: str, allow_eviction: bool = False) -> RedisHealth:
    """Start-up checks: eviction policy, persistence, and whether Redis restarted.

    Raises:
        UnsafeRedisError: ``maxmemory-policy`` is not ``noeviction`` (unless allowed).
        RedisUnavailableError: Redis cannot be reached.
    """
    try:
        info = await redis.info("server")
        policy, appendonly = await _config(redis)
        run_id = str(info.get("run_id", ""))
        previous = await redis.getset(run_id_key(prefix), run_id)
    except UNREACHABLE as exc:
        raise RedisUnavailableError(f"cannot reach Redis: {exc}") from exc
    if policy not in ("noeviction", "unknown"):
        message = (
            # No "name: value" shape here: log redaction would take the policy name (it
            # contains "key") for a secret field and mask the words after it.
            f"Redis maxmemory-policy is {policy!r}, so Redis may evict queued jobs and lease "
            "keys. Set it to 'noeviction' (CONFIG SET maxmemory-policy noeviction)"
        )
        if not allow_eviction:
            raise UnsafeRedisError(message + " or pass --allow-eviction.")
        log.warning("%s; continuing because eviction was explicitly allowed", message)
    if not appendonly:
        log.warning(
            "Redis has no append-only file: a Redis crash loses recent jobs (set appendonly yes)"
        )
    restarted = previous is not None and previous.decode() != run_id
    if restarted:
        log.warning("Redis restarted since last seen (run_id changed): possible data loss")
    return RedisHealth(policy, appendonly, run_id, restarted, str(info.get("redis_version")))


async def _config(redis: Redis) -> tuple[str, bool]:
    try:
        policy = (await redis.config_get("maxmemory-policy")).get("maxmemory-policy", "unknown")
        aof = (await redis.config_get("appendonly")).get("appendonly", "no")
    except ResponseError:
        # Managed Redis services often deny CONFIG: warn rather than refuse.
        log.warning("CONFIG is not allowed on this Redis; cannot check maxmemory-policy")
        return "unknown", True
    return str(policy), str(aof) == "yes"


class RedisRuntime:
    """Resolves where Redis is, starting an embedded server when needed.

    Args:
        env: the environment to read.
        data_dir: where an embedded server keeps its socket and AOF.
        probe_localhost: look for a Redis on localhost:6379 before embedding one.
    """

    def __init__(
        self, env: Mapping[str, str], data_dir: Path, *, probe_localhost: bool = True
    ) -> None:
        self.env = env
        self.data_dir = data_dir
        self.probe_localhost = probe_localhost
        self.embedded: EmbeddedRedis | None = None

    def url(self) -> str:
        """The URL to use; starts the embedded server on first call if nothing else exists."""
        configured = redis_url_from_env(self.env)
        if configured:
            return configured
        if self.probe_localhost and localhost_redis_answers():
            return "redis://127.0.0.1:6379/0"
        if self.embedded is None:
            self.embedded = EmbeddedRedis(self.data_dir / "redis")
            self.embedded.start()
            log.info(
                "started embedded redis-server (%s) in %s",
                self.embedded.binary,
                self.embedded.data_dir,
            )
        return self.embedded.url

    def close(self) -> None:
        """Stop the embedded server, if one was started."""
        if self.embedded is not None:
            self.embedded.stop()
            self.embedded = None
