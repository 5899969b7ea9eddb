"""Finding, connecting to and checking Redis.

Order: ``REDIS_URL``; else ``REDIS_HOST``/``REDIS_PORT``/``REDIS_PASSWORD`` (the original's
names); else a Redis answering on localhost:6379; else an embedded ``redis-server`` with
append-only persistence under the data directory.
"""

from __future__ import annotations

import logging
import re
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from engine.errors import RedisUnavailableError, UnsafeRedisError
from engine.keys import run_id_key
from engine.runtime.embedded import EmbeddedRedis

log = logging.getLogger(__name__)

SOCKET_TIMEOUT_S = 10.0
"""Socket timeout of every connection; longer than the longest blocking call (5 s)."""

CONNECT_TIMEOUT_S = 5.0
"""Timeout for opening a connection."""


def redis_url_from_env(env: Mapping[str, str]) -> str | None:
    """The Redis URL the environment configures, or ``None`` when it configures none."""
    if env.get("REDIS_URL"):
        return env["REDIS_URL"]
    host = env.get("REDIS_HOST")
    if not host:
        return None
    port = env.get("REDIS_PORT", "6379")
    password = env.get("REDIS_PASSWORD")
    auth = f":{quote(password, safe='')}@" if password else ""
    return f"redis://{auth}{host}:{port}/0"


def redact_url(url: str) -> str:
    """The URL with any password replaced by ``***``: safe to log."""
    return re.sub(r"//([^@/]*)@", "//***@", url)


def localhost_redis_answers(port: int = 6379, timeout: float = 0.3) -> bool:
    """Whether something accepts TCP connections on localhost:``port``."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout):
            return True
    except OSError:
        return False


def make_client(url: str) -> Redis:
    """An async client with socket timeouts, keepalive and retries with backoff.

    Raises:
        RedisUnavailableError: the URL is invalid.
    """
    # Keepalive is a TCP option; unix-socket connections reject it.
    tcp = {} if url.startswith("unix:") else {"socket_keepalive": True}
    try:
        return Redis.from_url(  # type: ignore[no-any-return]
            url,
            socket_timeout=SOCKET_TIMEOUT_S,
            socket_connect_timeout=CONNECT_TIMEOUT_S,
            health_check_interval=15,
            **tcp,
            # Only connection errors are retried here: a timed-out script may have run, and
            # running a fetch twice would strand leased jobs until the reaper.
            retry=Retry(ExponentialBackoff(cap=2.0, base=0.2), retries=2),
            retry_on_error=[RedisConnectionError],
        )
    except ValueError as exc:
        raise RedisUnavailableError(f"invalid Redis URL {redact_url(url)!r}: {exc}") from exc


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
    except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
        raise RedisUnavailableError(f"cannot reach Redis: {exc}") from exc
    if policy not in ("noeviction", "unknown"):
        message = (
            f"Redis maxmemory-policy is {policy!r}: it may evict queued jobs and lease "
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
