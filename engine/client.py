"""How the engine talks to Redis: one client factory (timeouts, keepalive, retries) and
the one list of errors that mean "Redis cannot serve right now".
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from urllib.parse import quote

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import OutOfMemoryError, ReadOnlyError
from redis.exceptions import TimeoutError as RedisTimeoutError

from engine.errors import RedisUnavailableError

UNREACHABLE = (RedisConnectionError, RedisTimeoutError, ConnectionError, OSError)
"""Errors of a call that could not reach Redis (``BusyLoadingError``, Redis still loading
its data after a restart, is a ``ConnectionError``); the engine raises them as
``RedisUnavailableError``."""

REDIS_DOWN = (*UNREACHABLE, RedisUnavailableError, ReadOnlyError, OutOfMemoryError)
"""Everything that means "Redis cannot serve right now", including a replica that a
failover left read-only and a server at ``maxmemory`` refusing writes (OOM under
``noeviction``): loops back off and try again, tools answer "unavailable"."""

SOCKET_TIMEOUT_S = 10.0
"""Socket timeout of every connection; longer than the longest blocking call (5 s)."""

CONNECT_TIMEOUT_S = 5.0
"""Timeout for opening a connection."""


def unavailable(exc: BaseException) -> RedisUnavailableError:
    """The named error for an unreachable Redis (no URL or password in the message)."""
    return RedisUnavailableError(f"Redis unavailable ({type(exc).__name__})")


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
            # No health_check_interval: with retries on, redis-py 5 re-runs the health
            # check's PING inside its own retry, forever, against a server that accepts
            # connections but never answers (a frozen or paused Redis), so the timeout
            # never surfaced (redis-py issues 3555 and 3745). Keepalive and the retry on
            # connection errors already replace a dead pooled connection.
            **tcp,
            # Connection errors are retried at once-ish (20, 40, 80 ms): the state-changing
            # scripts are safe to replay (request ids), and a worker's whole round trip
            # (every slot's ack and next fetch) waits for this; longer outages are waited
            # out by the callers' own backoff. A timeout is not retried: the server may be
            # stuck, and the caller's loop decides.
            retry=Retry(ExponentialBackoff(cap=0.5, base=0.01), retries=3),
            retry_on_error=[RedisConnectionError],
        )
    except ValueError as exc:
        raise RedisUnavailableError(f"invalid Redis URL {redact_url(url)!r}: {exc}") from exc
