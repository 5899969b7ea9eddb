"""A TCP fault-injection proxy between a Redis client and a real redis-server.

Tests and benchmarks use it to make the network fail in the ways that matter to a job
queue: a reply lost after Redis ran the command, a connection reset before the command
left the client's side, latency, a frozen server, and random faults at a seeded rate.

The proxy understands RESP just enough to find where each command (in the client's
stream) and each reply (in the server's stream) ends, so faults apply per *command*: in a
pipeline of three commands, the second one can lose its reply while the first was answered.
Reply ``k`` of a connection answers command ``k`` of it, which holds for request/response
traffic; pub/sub, ``MONITOR`` and ``CLIENT REPLY OFF`` break that pairing and are not
supported with faults armed. Commands a client sends while connecting (redis-py sends
``CLIENT SETINFO`` twice unless ``lib_name=None, lib_version=None``) count like any other.

It runs in a thread of its own with its own event loop, so a pytest-asyncio test (on
another loop) and plain threads drive it the same way; every control method is thread-safe
and returns at once. It imports only the standard library so that a benchmark can run it
as a process of its own::

    python tests/faultproxy.py --upstream unix:///tmp/r/redis.sock --listen-port 7001 \\
        --chaos 0.01 --seed 1

That prints the proxy's URL as its first line, toggles pause on ``SIGUSR1`` (printing
``paused`` or ``resumed``), and on ``SIGTERM`` or ``SIGINT`` stops and prints its
counters as one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import contextlib
import enum
import json
import random
import signal
import socket
import struct
import sys
import threading
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import urlsplit

CHUNK = 64 * 1024
"""Bytes read from a socket at a time."""

CONNECT_TIMEOUT_S = 5.0
"""How long a new client connection waits for the upstream connection."""

OUTBOX_CHUNKS = 64
"""Reply chunks held per connection for a slow client (or a delay) before the proxy stops
reading from Redis: backpressure, not unbounded memory."""


class Fault(enum.Enum):
    """What the proxy does to one command."""

    NONE = "none"
    """Forward it and its reply."""
    LOST_REPLY = "lost_reply"
    """Forward it, let Redis run it, swallow its reply, then close the client connection.
    Commands the client wrote after it are not forwarded."""
    RESET = "reset"
    """Reset the client connection before forwarding it: it did not run."""
    RESET_AFTER_SEND = "reset_after_send"
    """Forward it whole, then reset the client connection at once: it may or may not run
    (in practice Redis reads it before it sees the connection close, so it usually runs)."""


CHAOS_FAULTS: tuple[Fault, ...] = (Fault.LOST_REPLY, Fault.RESET, Fault.RESET_AFTER_SEND)
"""The faults ``chaos`` picks from by default."""


@dataclass(frozen=True)
class FaultStats:
    """Counters since the proxy was built (a snapshot; they keep going)."""

    connections: int
    """Client connections accepted."""
    commands: int
    """Commands that reached a fault decision (commands after a cut are never seen)."""
    replies_dropped: int
    """Replies swallowed by ``LOST_REPLY`` faults (counted when the reply arrived)."""
    resets: int
    """Client connections reset by ``RESET`` and ``RESET_AFTER_SEND`` faults."""

    @property
    def faults(self) -> int:
        """Faults applied: lost replies plus resets."""
        return self.replies_dropped + self.resets


@dataclass(frozen=True)
class Upstream:
    """Where the real Redis listens: a unix socket ``path``, or ``host`` and ``port``."""

    path: str | None = None
    host: str | None = None
    port: int | None = None

    async def open(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """A connection to it."""
        if self.path is not None:
            return await asyncio.open_unix_connection(self.path)
        return await asyncio.open_connection(self.host, self.port)


def parse_upstream(spec: str) -> Upstream:
    """Read an upstream address: ``unix:/path``, ``unix:///path`` (the URL of the suite's
    embedded server), ``/path``, ``host:port``, ``[::1]:port`` or ``redis://host:port/0``.

    Raises:
        ValueError: not one of these forms.
    """
    if spec.startswith("unix:"):
        path = spec.removeprefix("unix:").split("?", 1)[0]
        # "unix:///tmp/r.sock" is a URL with an empty host; "unix:/tmp/r.sock" is not.
        return Upstream(path=path[2:] if path.startswith("///") else path)
    if spec.startswith("/"):
        return Upstream(path=spec)
    if "://" in spec:
        url = urlsplit(spec)
        if url.scheme not in ("redis", "tcp") or not url.hostname:
            raise ValueError(f"unsupported upstream {spec!r}")
        return Upstream(host=url.hostname, port=url.port or 6379)
    host, sep, port = spec.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise ValueError(f"upstream {spec!r} is neither host:port nor a unix socket")
    return Upstream(host=host.strip("[]"), port=int(port))


# --- RESP framing ---------------------------------------------------------------------------

_BLOBS = frozenset(b"$=!")
"""Types whose header gives a payload length: bulk string, verbatim string, blob error."""
_AGGREGATES = frozenset(b"*~>%|")
"""Types whose header gives an element count: array, set, push, map, attribute."""
_SIMPLE = frozenset(b"+-:_,#(")
"""One-line types: simple string, error, integer, null, double, boolean, big number."""


class RespScanner:
    """Finds where RESP messages end in a byte stream fed in pieces of any size.

    It keeps only what it needs to resume (a header line cut in two, the bytes of a bulk
    string still to pass, the element counts of open arrays), so a huge reply arriving in
    many reads is scanned once, not again from its start at every read.

    Args:
        requests: scan a client's stream: top-level lines not starting with ``*`` are
            inline commands, and blank lines and ``*0`` are no command (as in Redis).
            Otherwise scan a server's stream, where top-level push messages (RESP3 ``>``)
            are not replies and so are not reported.
    """

    def __init__(self, *, requests: bool) -> None:
        self._requests = requests
        self._line = bytearray()
        self._skip = 0
        # [elements still to come, whether the aggregate is an element of its parent]
        self._open: list[list[int]] = []
        self._push = False

    def feed(self, data: bytes) -> list[int]:
        """Offsets in ``data`` just past each message that ends in it, in order.

        Raises:
            ValueError: the stream is not RESP.
        """
        ends: list[int] = []
        i, size = 0, len(data)
        while i < size:
            if self._skip:
                step = min(self._skip, size - i)
                i += step
                self._skip -= step
                if not self._skip and self._element_done():
                    ends.append(i)
                continue
            newline = data.find(b"\n", i)
            if newline < 0:
                self._line += data[i:]
                break
            line = data[i : newline + 1]
            if self._line:
                line = bytes(self._line) + line
                self._line.clear()
            i = newline + 1
            if self._header(line):
                ends.append(i)
        return ends

    def _header(self, line: bytes) -> bool:
        """Take one header line; whether a whole message ends with it."""
        kind = line[0]
        if self._requests and not self._open and kind != ord("*"):
            return bool(line.strip())
        if kind in _SIMPLE:
            return self._element_done()
        if kind in _BLOBS:
            length = int(line[1:])
            if length < 0:  # a RESP2 null
                return self._element_done()
            self._skip = length + 2  # the payload and its CRLF
            return False
        if kind in _AGGREGATES:
            count = int(line[1:])
            if kind in b"%|":
                count *= 2  # maps and attributes count pairs
            if kind == ord(">") and not self._open:
                self._push = True
            if count > 0:
                self._open.append([count, int(kind != ord("|"))])
                return False
            if kind == ord("|") or (self._requests and not self._open):
                return False
            return self._element_done()
        raise ValueError(f"not RESP: {line[:40]!r}")

    def _element_done(self) -> bool:
        """One element ended; whether that ends a top-level message."""
        while self._open:
            frame = self._open[-1]
            frame[0] -= 1
            if frame[0]:
                return False
            self._open.pop()
            if not frame[1]:  # an attribute annotates the next element; it is not one
                return False
        push, self._push = self._push, False
        return not push


# --- the proxy -------------------------------------------------------------------------------


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close with a TCP RST (``SO_LINGER`` 0) where the socket allows it, as a network
    failure or a killed peer would, rather than a polite FIN."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


@dataclass(eq=False)
class _Link:
    """One client connection and its connection to Redis."""

    client_reader: asyncio.StreamReader
    client: asyncio.StreamWriter
    upstream_reader: asyncio.StreamReader
    upstream: asyncio.StreamWriter
    outbox: asyncio.Queue[tuple[float, bytes | None]]
    """Reply bytes for the client with the loop time they are due; ``None`` closes."""
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    forwarded: int = 0
    """Commands sent to Redis whole on this connection."""
    replies: int = 0
    """Replies Redis sent whole on this connection."""
    lose: int | None = None
    """Index (on this connection) of the command whose reply is to be swallowed."""
    closed: bool = False

    def finish(self, *, reset: bool = False) -> None:
        """Close both sides (idempotent) and stop this link's other tasks."""
        if self.closed:
            return
        self.closed = True
        if reset:
            _reset(self.client)
        else:
            self.client.close()
        # A plain close flushes what was written: a RESET_AFTER_SEND command still reaches
        # Redis, and a RESET command was never written.
        self.upstream.close()
        current = asyncio.current_task()
        for task in self.tasks:
            if task is not current:
                task.cancel()


class FaultProxy:
    """A Redis proxy that injects faults on demand; see the module's docstring.

    Args:
        upstream: the real server, in any form ``parse_upstream`` reads.
        listen_host: address to listen on.
        listen_port: port to listen on; 0 picks a free one (read it from ``.port``).

    Use as ``with FaultProxy(redis_server.url) as proxy:`` or ``start()`` / ``stop()``.
    Armed faults (``drop_next_replies``, ``reset_next``, ...) queue up in the order they
    were armed and apply to the next commands of any connection, before chaos is drawn.
    """

    def __init__(
        self, upstream: str, *, listen_host: str = "127.0.0.1", listen_port: int = 0
    ) -> None:
        self.upstream = parse_upstream(upstream)
        self.listen_host = listen_host
        self.listen_port = listen_port
        self._lock = threading.Lock()
        self._armed: deque[Fault] = deque()
        self._chaos_rate = 0.0
        self._chaos_faults: tuple[Fault, ...] = CHAOS_FAULTS
        self._rng = random.Random(0)
        self._delay_s = 0.0
        self._paused = False
        self._connections = 0
        self._commands = 0
        self._replies_dropped = 0
        self._resets = 0
        self._port: int | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        # Loop-thread only: futures of tasks waiting for resume(), the live links and the
        # connection handlers.
        self._waiters: set[asyncio.Future[None]] = set()
        self._links: set[_Link] = set()
        self._handlers: set[asyncio.Task[Any]] = set()

    # --- lifecycle --------------------------------------------------------------------------

    def start(self) -> FaultProxy:
        """Start listening (in a thread of its own); returns the proxy once it accepts.

        Raises:
            OSError: the listening address cannot be bound.
        """
        if self._thread is not None:
            raise RuntimeError("the proxy is already running")
        ready: concurrent.futures.Future[int] = concurrent.futures.Future()
        self._thread = threading.Thread(
            target=self._run, args=(ready,), name="faultproxy", daemon=True
        )
        self._thread.start()
        try:
            self._port = ready.result(timeout=10)
        except BaseException:
            self._thread.join(timeout=10)
            self._thread = None
            raise
        return self

    def stop(self) -> None:
        """Close the listening socket and every connection, and end the thread."""
        thread, loop, stopping = self._thread, self._loop, self._stopping
        if thread is None:
            return
        if loop is not None and stopping is not None:
            with contextlib.suppress(RuntimeError):  # the loop already ended
                loop.call_soon_threadsafe(stopping.set)
        thread.join(timeout=10)
        self._thread = None

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        """The port the proxy listens on."""
        if self._port is None:
            raise RuntimeError("the proxy has not started")
        return self._port

    @property
    def url(self) -> str:
        """``redis://`` URL of the proxy (database 0)."""
        host = f"[{self.listen_host}]" if ":" in self.listen_host else self.listen_host
        return f"redis://{host}:{self.port}/0"

    # --- faults ---------------------------------------------------------------------------

    def _arm(self, fault: Fault, n: int) -> None:
        if n < 0:
            raise ValueError(f"n must be >= 0, not {n}")
        with self._lock:
            self._armed.extend([fault] * n)

    def drop_next_replies(self, n: int = 1) -> None:
        """Lose the replies of the next ``n`` commands: each runs, its reply is swallowed
        and the client connection closed (the client sees a connection error)."""
        self._arm(Fault.LOST_REPLY, n)

    def reset_next(self, n: int = 1) -> None:
        """Reset the client connection instead of forwarding each of the next ``n``
        commands: they do not run."""
        self._arm(Fault.RESET, n)

    def reset_after_send_next(self, n: int = 1) -> None:
        """Forward each of the next ``n`` commands whole, then reset the client connection
        at once: they may or may not run."""
        self._arm(Fault.RESET_AFTER_SEND, n)

    def pass_next(self, n: int = 1) -> None:
        """Let the next ``n`` commands through untouched (chaos included), e.g. to aim a
        fault armed after this at the second command of a pipeline."""
        self._arm(Fault.NONE, n)

    def chaos(self, rate: float, seed: int = 0, faults: Sequence[Fault] = CHAOS_FAULTS) -> None:
        """Apply a random fault from ``faults`` to each command with probability ``rate``
        (0 turns chaos off). The random stream restarts from ``seed``: the same commands
        in the same order get the same faults. Armed faults come first and draw nothing.

        Raises:
            ValueError: ``rate`` outside [0, 1] or no fault to pick from.
        """
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"rate must be within [0, 1], not {rate}")
        picks = tuple(fault for fault in faults if fault is not Fault.NONE)
        if rate and not picks:
            raise ValueError("chaos needs at least one fault to pick from")
        with self._lock:
            self._chaos_rate = rate
            self._chaos_faults = picks
            self._rng = random.Random(seed)

    def delay(self, seconds: float) -> None:
        """Deliver every reply ``seconds`` after Redis sent it (0 turns it off). Replies
        keep their order and pipelined replies overlap: this is latency, not a throttle."""
        if seconds < 0:
            raise ValueError(f"delay must be >= 0, not {seconds}")
        with self._lock:
            self._delay_s = seconds

    def pause(self) -> None:
        """Stop forwarding in both directions, as a frozen server would: connections are
        still accepted, nothing is answered. Bytes already on their way may still land."""
        with self._lock:
            self._paused = True

    def resume(self) -> None:
        """Forward again what was held and what comes next."""
        with self._lock:
            self._paused = False
        loop = self._loop
        if loop is not None:
            with contextlib.suppress(RuntimeError):  # the loop already ended: nobody waits
                loop.call_soon_threadsafe(self._wake)

    @property
    def paused(self) -> bool:
        """Whether ``pause()`` is in effect."""
        return self._paused

    def clear(self) -> None:
        """Disarm every armed fault, turn chaos and delay off and resume."""
        with self._lock:
            self._armed.clear()
            self._chaos_rate = 0.0
            self._delay_s = 0.0
        self.resume()

    def stats(self) -> FaultStats:
        """The counters now."""
        with self._lock:
            return FaultStats(
                connections=self._connections,
                commands=self._commands,
                replies_dropped=self._replies_dropped,
                resets=self._resets,
            )

    def _decide(self) -> Fault:
        """The fault for the next command, counting it."""
        with self._lock:
            self._commands += 1
            if self._armed:
                return self._armed.popleft()
            if self._chaos_rate:
                # One draw per command whatever happens, so the faults of command N depend
                # on the seed and N only.
                draw = self._rng.random()
                if draw < self._chaos_rate:
                    picks = self._chaos_faults
                    return picks[min(int(draw / self._chaos_rate * len(picks)), len(picks) - 1)]
            return Fault.NONE

    def _count(self, *, dropped: int = 0, resets: int = 0, connections: int = 0) -> None:
        with self._lock:
            self._replies_dropped += dropped
            self._resets += resets
            self._connections += connections

    # --- the loop thread ------------------------------------------------------------------

    def _run(self, ready: concurrent.futures.Future[int]) -> None:
        try:
            asyncio.run(self._main(ready))
        except BaseException as exc:  # reported to start(), which re-raises it
            if not ready.done():
                ready.set_exception(exc)
        finally:
            self._loop = None

    async def _main(self, ready: concurrent.futures.Future[int]) -> None:
        self._loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        server = await asyncio.start_server(self._serve, self.listen_host, self.listen_port)
        ready.set_result(int(server.sockets[0].getsockname()[1]))
        try:
            await self._stopping.wait()
        finally:
            server.close()
            for link in list(self._links):
                link.finish()
            for handler in list(self._handlers):
                handler.cancel()
            await asyncio.gather(*self._handlers, return_exceptions=True)
            await server.wait_closed()

    def _wake(self) -> None:
        for waiter in self._waiters:
            if not waiter.done():
                waiter.set_result(None)
        self._waiters.clear()

    async def _gate(self) -> None:
        """Wait while paused. resume() clears the flag before it schedules _wake, and the
        flag is checked and the waiter added with no await between, so no wake-up is lost."""
        while self._paused:
            waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._waiters.add(waiter)
            try:
                await waiter
            finally:
                self._waiters.discard(waiter)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        handler = asyncio.current_task()
        assert handler is not None
        self._handlers.add(handler)
        self._count(connections=1)
        try:
            await self._relay(reader, writer)
        except asyncio.CancelledError:
            # stop() cancels handlers; one must not end cancelled, or asyncio's stream
            # server logs an error for it (its done-callback asks the task for its error).
            writer.close()
        finally:
            self._handlers.discard(handler)

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.wait_for(self.upstream.open(), CONNECT_TIMEOUT_S)
        except (OSError, TimeoutError):
            writer.close()  # Redis is down: the client sees its connection fail
            return
        link = _Link(reader, writer, up_reader, up_writer, asyncio.Queue(OUTBOX_CHUNKS))
        self._links.add(link)
        link.tasks = [
            asyncio.create_task(self._guard(link, pump))
            for pump in (self._from_client, self._from_upstream, self._to_client)
        ]
        try:
            await asyncio.gather(*link.tasks, return_exceptions=True)
        finally:
            link.finish()
            self._links.discard(link)

    async def _guard(self, link: _Link, pump: Callable[[_Link], Awaitable[None]]) -> None:
        # The pump's coroutine is made here, inside the task: a task cancelled before it
        # ran leaves no coroutine that was never awaited.
        try:
            await pump(link)
        except asyncio.CancelledError:
            raise
        except Exception:
            # A peer's reset, a broken pipe or bytes that are not RESP end this connection
            # only; the proxy goes on serving the others.
            link.finish()

    async def _send(self, link: _Link, data: bytes) -> None:
        if data:
            link.upstream.write(data)
            await link.upstream.drain()

    async def _from_client(self, link: _Link) -> None:
        """Forward the client's commands to Redis, applying each command's fault."""
        scanner = RespScanner(requests=True)
        while True:
            data = await link.client_reader.read(CHUNK)
            if not data:
                # The client is done sending; its last replies may still be on the way.
                if link.upstream.can_write_eof():
                    link.upstream.write_eof()
                return
            # Decide only while not paused, so a paused proxy applies no fault either.
            await self._gate()
            start = 0  # where the current command starts in data
            for end in scanner.feed(data):
                fault = self._decide()
                if fault is Fault.RESET:
                    await self._send(link, data[:start])
                    self._count(resets=1)
                    link.finish(reset=True)
                    return
                if fault is Fault.RESET_AFTER_SEND:
                    await self._send(link, data[:end])
                    self._count(resets=1)
                    link.finish(reset=True)
                    return
                if fault is Fault.LOST_REPLY:
                    # Set before the command is written: its reply cannot come earlier.
                    link.lose = link.forwarded
                    link.forwarded += 1
                    await self._send(link, data[:end])
                    return  # the rest of the stream is cut: it never reaches Redis
                link.forwarded += 1
                start = end
            # Whole commands and the start of the next one (a large command streams through).
            await self._send(link, data)

    async def _from_upstream(self, link: _Link) -> None:
        """Pass Redis's replies on (through the outbox), swallowing a lost one."""
        scanner = RespScanner(requests=False)
        loop = asyncio.get_running_loop()
        while True:
            data = await link.upstream_reader.read(CHUNK)
            due = loop.time() + self._delay_s
            if not data:
                await link.outbox.put((due, None))
                return
            ends = scanner.feed(data)
            lost = None if link.lose is None else link.lose - link.replies
            link.replies += len(ends)
            if lost is None or lost > len(ends):
                await link.outbox.put((due, data))
                continue
            # Pass on the replies before the lost one; hold back (and so drop) its bytes.
            keep = ends[lost - 1] if lost else 0
            if keep:
                await link.outbox.put((due, data[:keep]))
            if lost < len(ends):  # the lost reply is complete: Redis has run the command
                self._count(dropped=1)
                await link.outbox.put((due, None))
                return

    async def _to_client(self, link: _Link) -> None:
        """Deliver replies once due (the delay), then close when told to."""
        loop = asyncio.get_running_loop()
        while True:
            due, data = await link.outbox.get()
            wait = due - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            await self._gate()
            if data is None:
                link.finish()
                return
            link.client.write(data)
            await link.client.drain()


# --- command line --------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    """Run the proxy as a process of its own until SIGTERM or SIGINT; see the module's
    docstring."""
    parser = argparse.ArgumentParser(description="Redis fault-injection proxy")
    parser.add_argument("--upstream", required=True, help="unix:/path, host:port or a URL")
    parser.add_argument("--listen-host", default="127.0.0.1")
    parser.add_argument("--listen-port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--chaos", type=float, default=0.0, help="fault rate per command")
    parser.add_argument("--seed", type=int, default=0, help="chaos random seed")
    parser.add_argument("--delay", type=float, default=0.0, help="seconds added to replies")
    args = parser.parse_args(argv)

    proxy = FaultProxy(args.upstream, listen_host=args.listen_host, listen_port=args.listen_port)
    proxy.chaos(args.chaos, seed=args.seed)
    proxy.delay(args.delay)
    done = threading.Event()

    def toggle_pause(signum: int, frame: object) -> None:
        if proxy.paused:
            proxy.resume()
        else:
            proxy.pause()
        print("paused" if proxy.paused else "resumed", flush=True)

    def finish(signum: int, frame: object) -> None:
        done.set()

    signal.signal(signal.SIGUSR1, toggle_pause)
    signal.signal(signal.SIGTERM, finish)
    signal.signal(signal.SIGINT, finish)
    with proxy:
        print(proxy.url, flush=True)
        done.wait()  # interrupted by signals: their handlers run in this (main) thread
    stats = proxy.stats()
    print(json.dumps({**asdict(stats), "faults": stats.faults}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
