"""Where the console's data comes from, and where its actions go.

``ConsoleSource`` is the seam: ``RedisSource`` talks to Redis through the engine (the same
functions the CLI uses); tests and snapshots use a fake with fixed data. The console never
touches Redis keys itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, Protocol

from redis.asyncio import Redis

from engine.admin import (
    EngineSnapshot,
    Job,
    JobState,
    Queue,
    ScheduleStatus,
    Settings,
    collect,
    read_schedules,
)

FinishedState = Literal["completed", "failed"]


class ConsoleSource(Protocol):
    """Everything the console reads and does."""

    queue_names: Sequence[str]

    async def snapshot(self) -> EngineSnapshot:
        """One refresh: queues, Redis, supervisors and new log lines."""
        ...

    async def jobs(self, queue: str, state: JobState, start: int, stop: int) -> list[Job]:
        """A page of one queue's jobs in one state."""
        ...

    async def job(self, queue: str, job_id: str) -> Job | None:
        """One job with its log lines."""
        ...

    async def crons(self) -> list[ScheduleStatus]:
        """Every recurring job's recorded state."""
        ...

    async def pause(self, queue: str) -> bool:
        """Pause a queue; True if it was running."""
        ...

    async def resume(self, queue: str) -> bool:
        """Resume a queue; True if it was paused."""
        ...

    async def retry_failed(self, queue: str) -> int:
        """Retry every failed job of a queue; returns how many."""
        ...

    async def count_finished(self, queue: str, state: FinishedState, older_than: float) -> int:
        """How many jobs ``clean`` would delete."""
        ...

    async def clean(self, queue: str, state: FinishedState, older_than: float) -> int:
        """Delete finished jobs older than ``older_than`` seconds; returns how many."""
        ...

    async def retry_job(self, queue: str, job_id: str) -> int:
        """Retry one failed job; returns 1 if it moved."""
        ...

    async def remove_job(self, queue: str, job_id: str) -> bool:
        """Delete one job that is not running."""
        ...


class RedisSource:
    """``ConsoleSource`` over a Redis client and the configured queues.

    Args:
        redis: the client.
        settings: the same settings the supervisor uses.
    """

    def __init__(self, redis: Redis, settings: Settings) -> None:
        self.redis = redis
        self.prefix = settings.prefix
        self.queues = {
            c.name: Queue(redis, c.name, prefix=settings.prefix, options=c.options)
            for c in settings.queues
        }
        self.queue_names: Sequence[str] = list(self.queues)
        self._last_log: str = ""

    async def snapshot(self) -> EngineSnapshot:
        snap = await collect(self.redis, list(self.queues.values()), logs_after=self._last_log)
        self._last_log = snap.last_log_id or self._last_log
        return snap

    async def jobs(self, queue: str, state: JobState, start: int, stop: int) -> list[Job]:
        return await self.queues[queue].jobs(state, start, stop)

    async def job(self, queue: str, job_id: str) -> Job | None:
        return await self.queues[queue].get_job(job_id)

    async def crons(self) -> list[ScheduleStatus]:
        return await read_schedules(self.redis, self.prefix)

    async def pause(self, queue: str) -> bool:
        return await self.queues[queue].pause()

    async def resume(self, queue: str) -> bool:
        return await self.queues[queue].resume()

    async def retry_failed(self, queue: str) -> int:
        return await self.queues[queue].retry_failed()

    async def count_finished(self, queue: str, state: FinishedState, older_than: float) -> int:
        return await self.queues[queue].count_finished(state, older_than)

    async def clean(self, queue: str, state: FinishedState, older_than: float) -> int:
        return await self.queues[queue].clean(state, older_than)

    async def retry_job(self, queue: str, job_id: str) -> int:
        return await self.queues[queue].retry_jobs([job_id])

    async def remove_job(self, queue: str, job_id: str) -> bool:
        return await self.queues[queue].remove(job_id)
