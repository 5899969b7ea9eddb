"""Test doubles and helpers shared by the whole suite, written once: a recording job
context, an injected clock, and ports (a closed one held, a free one handed out once)."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from engine.worker.context import JobContext


class JobRecorder:
    """A ``JobContext`` for calling a handler directly; its progress values (decoded) and
    log lines are recorded. ``retry()`` is the same job one attempt later."""

    def __init__(
        self,
        name: str = "job",
        data: Any = None,
        *,
        queue: str = "q",
        job_id: str = "j1",
        attempt: int = 1,
    ) -> None:
        self.progress: list[Any] = []
        self.logs: list[str] = []
        self.ctx = JobContext(job_id, name, data, queue, attempt, 0, "t", self._record)

    def _record(self, job_id: str, token: str, kind: str, value: str) -> None:
        if kind == "progress":
            self.progress.append(json.loads(value))
        else:
            self.logs.append(value)

    def retry(self) -> JobRecorder:
        """The next attempt of the same job; it keeps recording into the same lists."""
        ctx = self.ctx
        again = JobRecorder(
            ctx.name, ctx.data, queue=ctx.queue, job_id=ctx.id, attempt=ctx.attempt + 1
        )
        again.progress, again.logs = self.progress, self.logs
        return again


class FakeClock:
    """An injected clock: ``clock()`` is the time, ``await clock.read()`` the same for code
    that takes an async clock (Redis ``TIME``), and ``sleep`` records the wait and moves
    the time on instead of waiting."""

    def __init__(self, now: float = 1_780_000_000.0) -> None:
        self.now = now
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def read(self) -> float:
        """The time, for an async clock."""
        return self.now

    async def sleep(self, seconds: float) -> None:
        """Record the wait and advance the clock by it."""
        self.sleeps.append(seconds)
        self.now += seconds


@contextmanager
def closed_port() -> Iterator[int]:
    """A loopback port nothing listens on, for as long as the block runs: the socket is
    bound (so no one else gets the port) but never listens, so connecting is refused."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        yield int(holder.getsockname()[1])


_handed_out: set[int] = set()


def free_port() -> int:
    """A loopback TCP port free now, for a server a test starts in another process.

    Never the same port twice in a session, so two servers of one run cannot collide; the
    kernel hands out ephemeral ports in sequence, so another process taking it between this
    probe and the server's bind is unlikely, and the server then fails loudly, not silently.
    """
    for _ in range(100):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = int(probe.getsockname()[1])
        if port not in _handed_out:
            _handed_out.add(port)
            return port
    raise RuntimeError("no free loopback port")
