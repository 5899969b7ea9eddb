"""The stalled-job reaper: returns jobs whose lease expired to their queue."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence

from engine.client import REDIS_DOWN
from engine.queue.queue import Queue
from engine.worker import leases

log = logging.getLogger(__name__)


class Reaper:
    """Recovers jobs of crashed or hung workers.

    Every ``interval_s`` (half the shortest lease by default) each queue's expired leases
    are reaped: the job goes back to the head of its waiting list, or to failed after
    ``max_stalls`` expiries. Several reapers may run at once; the script is atomic, so
    each expired lease is handled exactly once.

    Args:
        queues: the queues to watch.
        interval_s: seconds between passes.
    """

    def __init__(self, queues: Sequence[Queue], interval_s: float | None = None) -> None:
        self.queues = list(queues)
        shortest = min((q.options.lease_ms for q in self.queues), default=30_000)
        self.interval_s = interval_s if interval_s is not None else shortest / 2000
        self._stop = asyncio.Event()

    def stop(self) -> None:
        """Ask ``run`` to return."""
        self._stop.set()

    async def reap_once(self) -> dict[str, leases.ReapResult]:
        """One pass over every queue; returns what was recovered per queue."""
        results: dict[str, leases.ReapResult] = {}
        for queue in self.queues:
            result = await leases.reap(queue, await queue.clock.now_ms())
            if result.ids:
                log.warning(
                    "queue %s: recovered %d stalled job(s) (%d requeued, %d failed): %s",
                    queue.name,
                    len(result.ids),
                    result.requeued,
                    result.failed,
                    ", ".join(result.ids[:20]),
                )
            results[queue.name] = result
        return results

    async def run(self) -> None:
        """Reap until ``stop()``; Redis errors are logged and the loop goes on."""
        while not self._stop.is_set():
            try:
                await self.reap_once()
            except REDIS_DOWN as exc:
                log.error("reaper: Redis unavailable (%s)", type(exc).__name__)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), self.interval_s)
