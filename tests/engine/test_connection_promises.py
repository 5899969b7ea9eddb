"""README promises about finding and talking to Redis.

- "else a Redis answering on localhost:6379, else an embedded ``redis-server``": the probe
  (``localhost_redis_answers``) and ``RedisRuntime`` acting on its answer.
- "Every connection has socket timeouts (connect 5 s, read 10 s)": a server that never
  answers, or never accepts, fails the call with a timeout instead of hanging.

The timeouts are shortened for the tests by patching ``engine.client``'s constants, which
``make_client`` reads on every call; ``asyncio.wait_for(..., 60)`` is only a hang guard.
"""

from __future__ import annotations

import asyncio
import signal
import socket
import time
from collections.abc import AsyncIterator, Coroutine, Iterator
from contextlib import asynccontextmanager, contextmanager, suppress
from pathlib import Path
from typing import Any

import pytest
from redis.exceptions import TimeoutError as RedisTimeoutError

from engine import client as engine_client
from engine.client import make_client
from engine.errors import RedisUnavailableError
from engine.queue.queue import Queue
from engine.runtime import connection
from engine.runtime.connection import RedisRuntime, localhost_redis_answers
from engine.runtime.embedded import EmbeddedRedis
from tests.conftest import RedisFactory, tmp_socket_dir
from tests.support import closed_port

HANG_GUARD_S = 60.0
"""Only there so a broken timeout fails the test instead of hanging it."""

SHORT_TIMEOUT_S = 0.5
"""The timeout the tests configure (the real ones are 5 s and 10 s)."""


@contextmanager
def listening_port() -> Iterator[int]:
    """A loopback port where a plain TCP listener accepts connections."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        yield int(listener.getsockname()[1])


# ------------------------------------------------------------------ the localhost probe


def test_probe_answers_for_a_listening_port_and_not_for_a_closed_one() -> None:
    """Promise: the probe says "a Redis answers" exactly when something accepts TCP
    connections on localhost at that port."""
    with listening_port() as port:
        assert localhost_redis_answers(port) is True
    with closed_port() as port:
        assert localhost_redis_answers(port) is False


def redirect_probe(monkeypatch: pytest.MonkeyPatch, port: int) -> list[int]:
    """Make ``RedisRuntime``'s probe of localhost:6379 run the real probe on ``port``
    (the runtime always asks about 6379: the port is not injectable). Returns the ports
    the runtime asked about."""
    real = localhost_redis_answers
    asked: list[int] = []

    def probe(asked_port: int = 6379, timeout: float = 0.3) -> bool:
        asked.append(asked_port)
        return real(port, timeout)

    monkeypatch.setattr(connection, "localhost_redis_answers", probe)
    return asked


def test_runtime_uses_localhost_when_the_probe_finds_a_server(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Promise: with nothing configured and something answering on localhost:6379, the
    runtime uses it (and starts no embedded server)."""
    data = tmp_path / "data"
    with listening_port() as port:
        asked = redirect_probe(monkeypatch, port)
        runtime = RedisRuntime({}, data, probe_localhost=True)
        try:
            assert runtime.url() == "redis://127.0.0.1:6379/0"
        finally:
            runtime.close()
    assert asked == [6379]
    assert runtime.embedded is None
    assert not (data / "redis").exists()


def test_runtime_embeds_a_server_when_the_probe_finds_none(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Promise: with nothing configured and nothing answering on localhost:6379, the
    runtime starts an embedded ``redis-server`` under the data directory."""
    data = tmp_socket_dir(tmp_path)
    with closed_port() as port:
        asked = redirect_probe(monkeypatch, port)
        runtime = RedisRuntime({}, data, probe_localhost=True)
        try:
            url = runtime.url()
            assert runtime.embedded is not None
            assert url == f"unix://{data / 'redis' / 'redis.sock'}"
            assert asyncio.run(_ping(url)) is True
        finally:
            runtime.close()
    assert asked == [6379]
    assert runtime.embedded is None


async def _ping(url: str) -> bool:
    client = make_client(url)
    try:
        return bool(await client.ping())
    finally:
        await client.aclose()


# ------------------------------------------------------------------ socket timeouts


class SilentRedis:
    """A TCP server that speaks just enough RESP to let redis-py finish its connection
    handshake (``CLIENT SETINFO`` is answered ``+OK``) and then never answers a command.
    Every command it receives is recorded."""

    HANDSHAKE = {b"CLIENT": b"+OK\r\n", b"SELECT": b"+OK\r\n", b"PING": b"+PONG\r\n"}

    def __init__(self) -> None:
        self.commands: list[list[bytes]] = []
        self.port = 0
        self._writers: list[asyncio.StreamWriter] = []

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.append(writer)
        with suppress(ConnectionError, asyncio.IncompleteReadError, ValueError):
            while True:
                command = await _read_command(reader)
                self.commands.append(command)
                answer = self.HANDSHAKE.get(command[0].upper()) if command else None
                if answer is not None:
                    writer.write(answer)
                    await writer.drain()

    @asynccontextmanager
    async def running(self) -> AsyncIterator[SilentRedis]:
        server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = int(server.sockets[0].getsockname()[1])
        try:
            yield self
        finally:
            server.close()
            for writer in self._writers:
                writer.close()
            await server.wait_closed()

    def named(self, name: bytes) -> list[list[bytes]]:
        """The received commands called ``name``."""
        return [c for c in self.commands if c and c[0].upper() == name]


async def _read_command(reader: asyncio.StreamReader) -> list[bytes]:
    """One RESP array of bulk strings (what a client sends)."""
    header = await reader.readuntil(b"\r\n")
    if not header.startswith(b"*"):
        raise ValueError(f"not a RESP array: {header!r}")
    parts = []
    for _ in range(int(header[1:-2])):
        length = int((await reader.readuntil(b"\r\n"))[1:-2])
        parts.append((await reader.readexactly(length + 2))[:-2])
    return parts


async def outcome(call: Coroutine[Any, Any, object]) -> BaseException | None:
    """Run ``call``; return what it raised (None if it returned). A call still running
    after the hang guard fails the test: the timeouts should have ended it long before."""
    task = asyncio.ensure_future(call)
    done, _ = await asyncio.wait({task}, timeout=HANG_GUARD_S)
    if not done:
        task.cancel()
        with suppress(BaseException):
            await task
        pytest.fail(
            f"the call still hung after {HANG_GUARD_S:g}s although the connection's "
            f"timeouts are {SHORT_TIMEOUT_S:g}s"
        )
    return task.exception()


def assert_timed_out(error: BaseException | None, what: str) -> None:
    """``error`` is the engine's ``RedisUnavailableError`` caused by a redis-py timeout
    (``what``: "Timeout reading" or "Timeout connecting"), directly or through redis-py's
    own wrapping (a ``ConnectionError`` raised from the timeout)."""
    assert isinstance(error, RedisUnavailableError), repr(error)
    cause = error.__cause__
    while cause is not None and not isinstance(cause, RedisTimeoutError):
        cause = cause.__cause__
    assert isinstance(cause, RedisTimeoutError), repr(error.__cause__)
    assert what in str(cause), str(cause)


async def test_a_command_left_unanswered_fails_with_a_timeout_and_is_sent_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Promise: the read timeout of ``make_client``'s connections turns a command Redis
    never answers into ``RedisUnavailableError`` (caused by redis-py's ``TimeoutError``)
    instead of a hang; and the timed-out script call is sent once, never re-sent (it may
    have run: ``engine/client.py`` retries connection errors only)."""
    monkeypatch.setattr(engine_client, "SOCKET_TIMEOUT_S", SHORT_TIMEOUT_S)
    async with SilentRedis().running() as server:
        client = make_client(f"redis://127.0.0.1:{server.port}/0")
        started = time.monotonic()
        try:
            error = await outcome(Queue(client, "q", prefix="silent").counts())
            elapsed = time.monotonic() - started
        finally:
            await client.aclose()
    assert_timed_out(error, "Timeout reading")
    assert elapsed >= SHORT_TIMEOUT_S * 0.9  # it was the timeout that ended the wait
    assert len(server.named(b"EVALSHA")) == 1, server.commands


async def test_a_frozen_redis_fails_a_call_on_an_open_connection_with_a_timeout(
    monkeypatch: pytest.MonkeyPatch, private_redis: RedisFactory
) -> None:
    """Promise: a real Redis that stops answering (SIGSTOP: the kernel still accepts
    connections, the server answers nothing) fails a call on an already open connection
    with a timeout."""
    monkeypatch.setattr(engine_client, "SOCKET_TIMEOUT_S", SHORT_TIMEOUT_S)
    server = private_redis(appendonly=False)
    client = make_client(server.url)
    queue = Queue(client, "q", prefix="frozen")
    try:
        assert (await queue.counts()).waiting == 0  # the connection is open and works
        with frozen(server):
            error = await outcome(queue.counts())
    finally:
        await client.aclose()
    assert_timed_out(error, "Timeout reading")


async def test_a_frozen_redis_fails_a_new_clients_call_with_a_timeout(
    monkeypatch: pytest.MonkeyPatch, private_redis: RedisFactory
) -> None:
    """Promise: the same frozen Redis fails the first call of a client made after it froze
    (a CLI command, a supervisor starting, a new pooled connection) with a timeout too,
    rather than hanging: "every connection has socket timeouts"."""
    monkeypatch.setattr(engine_client, "SOCKET_TIMEOUT_S", SHORT_TIMEOUT_S)
    server = private_redis(appendonly=False)
    with frozen(server):
        client = make_client(server.url)
        try:
            error = await outcome(Queue(client, "q", prefix="frozen").counts())
        finally:
            await client.aclose()
    assert_timed_out(error, "Timeout reading")


@contextmanager
def frozen(server: EmbeddedRedis) -> Iterator[None]:
    """The server stopped with SIGSTOP for the block, continued afterwards."""
    assert server.process is not None
    server.process.send_signal(signal.SIGSTOP)
    try:
        yield
    finally:
        server.process.send_signal(signal.SIGCONT)


@contextmanager
def never_accepting_port() -> Iterator[int]:
    """A loopback port whose listener's accept queue is full, so a new connection's SYN is
    dropped and ``connect`` waits (Linux)."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        port = int(listener.getsockname()[1])
        fillers = []
        try:
            for _ in range(8):
                filler = socket.socket()
                filler.setblocking(False)
                with suppress(BlockingIOError):
                    filler.connect(("127.0.0.1", port))
                fillers.append(filler)
            yield port
        finally:
            for filler in fillers:
                filler.close()


async def test_a_server_that_never_accepts_fails_the_connect_with_a_timeout(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Promise: the connect timeout of ``make_client``'s connections turns a Redis that
    never completes the TCP handshake into ``RedisUnavailableError`` (caused by redis-py's
    "Timeout connecting") instead of a hang. The read timeout is set above the hang
    guard, so only the connect timeout can end the wait in time."""
    monkeypatch.setattr(engine_client, "CONNECT_TIMEOUT_S", SHORT_TIMEOUT_S)
    monkeypatch.setattr(engine_client, "SOCKET_TIMEOUT_S", 10 * HANG_GUARD_S)
    with never_accepting_port() as port:
        with socket.socket() as probe:  # the setup itself: connecting really waits
            probe.settimeout(SHORT_TIMEOUT_S)
            with pytest.raises(TimeoutError):
                probe.connect(("127.0.0.1", port))
        client = make_client(f"redis://127.0.0.1:{port}/0")
        started = time.monotonic()
        try:
            error = await outcome(Queue(client, "q", prefix="unaccepted").counts())
            elapsed = time.monotonic() - started
        finally:
            await client.aclose()
    assert_timed_out(error, "Timeout connecting")
    assert elapsed >= SHORT_TIMEOUT_S * 0.9
