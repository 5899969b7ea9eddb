"""One process runs every queue's workers and the stalled-job reaper."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from redis.asyncio import Redis

from engine.config import QueueConfig
from engine.queue import Queue
from engine.reaper import Reaper
from engine.registry import Registry
from engine.scripts import Scripts
from engine.worker import Worker

log = logging.getLogger(__name__)


class Supervisor:
    """Runs a worker pool per queue plus the reaper, until asked to stop.

    Args:
        redis: the client every part shares.
        queues: the queues to run.
        registry: handlers by job name (shared by all queues).
        prefix: the key prefix.
        grace_s: how long running jobs may finish on stop.
    """

    def __init__(self, redis: Redis, queues: Sequence[QueueConfig], registry: Registry, *,
                 prefix: str, grace_s: float = 25.0) -> None:
        scripts = Scripts(redis)
        self.queues = {c.name: Queue(redis, c.name, prefix=prefix, options=c.options,
                                     scripts=scripts) for c in queues}
        self.workers = [Worker(self.queues[c.name], registry, concurrency=c.concurrency,
                               grace_s=grace_s) for c in queues]
        self.reaper = Reaper(list(self.queues.values()))
        self._stop = asyncio.Event()

    def request_stop(self, *, fast: bool = False) -> None:
        """Stop fetching; with ``fast`` the grace period is cut to zero."""
        self._stop.set()
        for worker in self.workers:
            worker.stop(fast=fast)
        self.reaper.stop()

    async def run(self) -> None:
        """Run until ``request_stop``; returns once every worker has stopped."""
        tasks = [asyncio.create_task(w.run(), name=w.worker_id) for w in self.workers]
        tasks.append(asyncio.create_task(self.reaper.run(), name="reaper"))
        log.info("supervisor running %d queue(s): %s", len(self.queues),
                 ", ".join(f"{w.queue.name}×{w.concurrency}" for w in self.workers))
        await self._stop.wait()
        results = await asyncio.gather(*tasks, return_exceptions=True)
        for task, result in zip(tasks, results, strict=True):
            if isinstance(result, BaseException) and not isinstance(result,
                                                                    asyncio.CancelledError):
                log.error("%s ended with %r", task.get_name(), result)
        log.info("supervisor stopped")
