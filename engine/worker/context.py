"""What a handler receives: the job's data and a way to record progress and log lines."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

Reporter = Callable[[str, str, str, str], None]
"""Callback ``(job_id, token, kind, value)`` that queues a progress or log update."""


@dataclass
class JobContext:
    """The running job, as its handler sees it.

    ``progress`` and ``log`` may be called from the event loop or from a handler thread;
    the worker batches the writes with its next round trip to Redis.
    """

    id: str
    name: str
    data: Any
    queue: str
    attempt: int
    """1 for the first try, 2 for the first retry, ..."""
    stalls: int
    token: str
    _report: Reporter = field(repr=False)
    lease_lost: bool = False
    """Set when the worker learns the lease was lost; the job's outcome will be discarded."""
    thread: threading.Thread | None = field(default=None, repr=False)
    """The thread a plain-function handler runs on (set by the engine): a stop waits for
    it, since a thread cannot be killed and its job must not run elsewhere meanwhile."""

    def progress(self, value: Any) -> None:
        """Record progress (any JSON value, e.g. a percentage or ``{"done": 3, "of": 9}``)."""
        import json

        self._report(self.id, self.token, "progress", json.dumps(value, default=str))

    def log(self, line: str) -> None:
        """Append a line to the job's log (kept with the job, capped)."""
        self._report(self.id, self.token, "log", str(line))
