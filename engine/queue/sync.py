"""A small synchronous facade for producers that are not async (web apps, scripts).

``SyncQueue`` runs the async ``Queue`` on a private event loop in a daemon thread, so
the same validated code path and the same scripts serve both worlds.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine, Iterable
from typing import Any, TypeVar

from engine.client import make_client
from engine.job import Job, JobState
from engine.keys import DEFAULT_PREFIX
from engine.options import Backoff, QueueOptions
from engine.queue.queue import JobSpec, Queue
from engine.scripts.replies import Enqueued, QueueCounts

T = TypeVar("T")


class SyncQueue:
    """Blocking access to one queue.

    Args:
        url: the Redis URL.
        name: the queue name.
        prefix: key prefix.
        options: queue options (payload limit, default priority, ...).

    Use as a context manager, or call ``close()`` when done.
    """

    def __init__(
        self,
        url: str,
        name: str,
        *,
        prefix: str = DEFAULT_PREFIX,
        options: QueueOptions | None = None,
    ) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, daemon=True, name=f"sync-queue:{name}"
        )
        self._thread.start()
        self._queue: Queue = self._run(self._make(url, name, prefix, options))

    @staticmethod
    async def _make(url: str, name: str, prefix: str, options: QueueOptions | None) -> Queue:
        return Queue(make_client(url), name, prefix=prefix, options=options)

    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result()

    def add(
        self,
        name: str,
        data: Any = None,
        *,
        job_id: str | None = None,
        priority: int | None = None,
        delay: float = 0.0,
        attempts: int | None = None,
        backoff: Backoff | None = None,
        timeout: float | None = None,
        retention: int | None = None,
    ) -> Enqueued:
        """Enqueue one job; see ``Queue.add``."""
        return self._run(
            self._queue.add(
                name,
                data,
                job_id=job_id,
                priority=priority,
                delay=delay,
                attempts=attempts,
                backoff=backoff,
                timeout=timeout,
                retention=retention,
            )
        )

    def add_bulk(self, specs: Iterable[JobSpec]) -> list[Enqueued]:
        """Enqueue many jobs; see ``Queue.add_bulk``."""
        return self._run(self._queue.add_bulk(list(specs)))

    def get_job(self, job_id: str) -> Job | None:
        """See ``Queue.get_job``."""
        return self._run(self._queue.get_job(job_id))

    def counts(self) -> QueueCounts:
        """See ``Queue.counts``."""
        return self._run(self._queue.counts())

    def jobs(self, state: JobState | str, start: int = 0, stop: int = 49) -> list[Job]:
        """See ``Queue.jobs``."""
        return self._run(self._queue.jobs(state, start, stop))

    def close(self) -> None:
        """Close the connection and stop the loop thread."""
        self._run(self._queue.redis.aclose())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        self._loop.close()

    def __enter__(self) -> SyncQueue:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
