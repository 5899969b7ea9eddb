"""Long-lived loops that never die silently.

Every loop of a supervisor (workers, lease renewal, reaper, scheduler, heartbeat, log
sink) runs under ``supervised``: an unexpected exception is logged with its traceback and
the loop starts again after a growing pause, instead of the task ending quietly and the
part it served (cron, leases, liveness) stopping for good.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence

RESTART_BACKOFF_S = (1.0, 2.0, 5.0, 10.0, 30.0)
"""Waits before restarting a loop that crashed, growing with consecutive crashes."""

HEALTHY_RUN_S = 60.0
"""A loop that ran this long before it crashed starts again from the shortest wait."""

log = logging.getLogger("justo.supervisor")


async def supervised(
    name: str,
    body: Callable[[], Awaitable[None]],
    *,
    stop: asyncio.Event | None = None,
    backoff: Sequence[float] = RESTART_BACKOFF_S,
    logger: logging.Logger = log,
) -> None:
    """Run ``body()`` until ``stop`` is set (forever without one), restarting it with
    backoff whenever it raises or returns on its own. Cancellation ends it."""
    crashes = 0
    while stop is None or not stop.is_set():
        started = time.monotonic()
        try:
            await body()
            if stop is None or stop.is_set():
                return
            logger.error("%s ended unexpectedly; restarting it", name)
        except asyncio.CancelledError:
            raise
        except Exception:
            if time.monotonic() - started >= HEALTHY_RUN_S:
                crashes = 0
            delay = backoff[min(crashes, len(backoff) - 1)]
            logger.exception("%s crashed; restarting it in %.0fs", name, delay)
            crashes += 1
            await _pause(delay, stop)
            continue
        await _pause(backoff[0], stop)


async def _pause(seconds: float, stop: asyncio.Event | None) -> None:
    if stop is None:
        await asyncio.sleep(seconds)
        return
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
