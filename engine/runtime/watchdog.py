"""Says so when something blocks the workers' event loop, and where.

A tick task on the watched loop stamps the time; a watcher on another thread (the pulse)
notices when the stamp grows old, and logs once per episode how long the loop has been
blocked, which jobs were running and the line the loop's thread is stuck on. Async
handlers share that loop: one that calls ``time.sleep`` or parses for seconds holds up
every other job of the process.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import threading
import time
import traceback
from collections.abc import Callable

log = logging.getLogger("justo.supervisor")

BLOCKED_S = 1.0
"""A loop that has not run for this long is reported as blocked."""

TICK_S = 0.1
"""How often the watched loop stamps the time, and the watcher looks."""


class LoopWatchdog:
    """Logs a blocked event loop.

    Args:
        running: describes what runs on the loop now (e.g. job ids), for the log line.
        blocked_s: how long the loop may go without running before it is reported.
    """

    def __init__(self, running: Callable[[], str], *, blocked_s: float = BLOCKED_S) -> None:
        self.running = running
        self.blocked_s = blocked_s
        self.episodes = 0
        """Blocked episodes reported so far."""
        self._stamp = time.monotonic()
        self._thread_id: int | None = None

    async def tick(self) -> None:
        """Stamp the time forever; run it on the loop to watch."""
        self._thread_id = threading.get_ident()
        while True:
            self._stamp = time.monotonic()
            await asyncio.sleep(TICK_S)

    async def watch(self) -> None:
        """Look at the stamp forever; run it on another thread's loop."""
        blocked_at: float | None = None
        while True:
            await asyncio.sleep(TICK_S)
            stamp = self._stamp
            lag = time.monotonic() - stamp
            if blocked_at is None and lag > self.blocked_s:
                blocked_at = stamp
                self.episodes += 1
                log.warning(
                    "event loop blocked for %.1fs: a handler is holding it (running: %s); "
                    "stuck at %s",
                    lag,
                    self.running() or "nothing",
                    self._where(),
                )
            elif blocked_at is not None and stamp > blocked_at:
                log.warning("event loop running again after %.1fs blocked", stamp - blocked_at)
                blocked_at = None

    def _where(self) -> str:
        """The innermost line the watched loop's thread is executing."""
        frame = sys._current_frames().get(self._thread_id or -1)
        if frame is None:
            return "an unknown line"
        last = traceback.extract_stack(frame)[-1]
        return f"{last.filename}:{last.lineno} in {last.name}"
