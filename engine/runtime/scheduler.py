"""The cron scheduler: enqueues each tick of each recurring job exactly once.

Any number of supervisors may run it. Time comes from Redis ``TIME`` so their clocks need
not agree; each tick's job is enqueued with ``Queue.add_once``, which claims
``cron:<name>:<tick>`` and adds the job ``cron:<name>:<tick>`` in one atomic script, so
only the first supervisor to reach a tick enqueues it.

Misfires: when the latest tick is newer than the last one handled (a supervisor was down,
or the process was blocked), it runs once if it is at most ``misfire_grace_s`` old, else it
is recorded as missed. Older missed ticks are never run.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from redis.asyncio import Redis

from engine.client import REDIS_DOWN
from engine.keys import schedule_key, schedules_key
from engine.queue.queue import JobSpec, Queue
from engine.runtime.cron import CronJob

log = logging.getLogger(__name__)

MAX_SLEEP_S = 30.0
"""Longest sleep between checks, so configuration and clock changes are noticed."""

Clock = Callable[[], Awaitable[float]]
"""An async source of epoch seconds (Redis ``TIME`` by default; tests inject their own)."""


@dataclass(frozen=True)
class ScheduleStatus:
    """What the scheduler recorded for one recurring job (for the CLI and console)."""

    name: str
    queue: str
    job: str
    cron: str
    timezone: str
    last_tick: float | None
    next_tick: float | None
    last_job_id: str
    last_outcome: str
    """``enqueued`` or ``missed`` (empty before the first tick)."""
    missed: int


class CronScheduler:
    """Enqueues recurring jobs on their ticks.

    Args:
        redis: the client.
        queues: queues by name (every job's queue must be there).
        jobs: the recurring jobs.
        zone: the time zone of the cron expressions.
        prefix: the key prefix.
        owner: who claims ticks (the supervisor id), recorded on each claim.
        misfire_grace_s: how late a tick may still run.
        clock: time source; Redis ``TIME`` by default.
    """

    def __init__(
        self,
        redis: Redis,
        queues: Mapping[str, Queue],
        jobs: Sequence[CronJob],
        *,
        zone: ZoneInfo,
        prefix: str,
        owner: str,
        misfire_grace_s: float = 60.0,
        clock: Clock | None = None,
    ) -> None:
        self.redis = redis
        self._r: Any = redis  # redis-py's async command types are unions mypy can't await
        self.queues = queues
        self.jobs = list(jobs)
        self.zone = zone
        self.prefix = prefix
        self.owner = owner
        self.misfire_grace_s = misfire_grace_s
        self.clock = clock or self.redis_time
        self._last: dict[str, float | None] = {}
        self._stop = asyncio.Event()
        self.fired: list[str] = []
        """Job ids this scheduler enqueued (its claims), newest last."""

    async def redis_time(self) -> float:
        """Epoch seconds by the Redis server's clock."""
        seconds, micros = await self._r.time()
        return float(seconds) + float(micros) / 1e6

    def stop(self) -> None:
        """Ask ``run`` to return."""
        self._stop.set()

    async def start(self) -> None:
        """Register the schedules and load what was handled before (idempotent)."""
        pipe = self.redis.pipeline(transaction=False)
        for job in self.jobs:
            pipe.sadd(schedules_key(self.prefix), job.name)
            pipe.hset(
                schedule_key(self.prefix, job.name),
                mapping={"queue": job.queue, "job": job.job, "cron": job.cron, "tz": self.zone.key},
            )
            pipe.hget(schedule_key(self.prefix, job.name), "last_tick")
        replies = await pipe.execute()
        for job, last in zip(self.jobs, replies[2::3], strict=True):
            self._last[job.name] = float(last) if last else None

    async def register(self) -> None:
        """``start`` plus each schedule's next tick recorded (what ``setup-recurring``
        does; enqueues nothing)."""
        await self.start()
        now = await self.clock()
        for job in self.jobs:
            await self._record_next(job, now)

    async def run(self) -> None:
        """Fire ticks until ``stop()``; Redis errors are logged and retried."""
        started = False
        while not self._stop.is_set():
            try:
                if not started:
                    await self.start()
                    started = True
                now = await self.process(await self.clock())
                delay = self._until_next(now)
            except REDIS_DOWN as exc:
                log.error("scheduler: Redis unavailable (%s)", type(exc).__name__)
                delay = 1.0
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), delay)

    def _until_next(self, now: float) -> float:
        upcoming = min((job.next_tick(now, self.zone) for job in self.jobs), default=None)
        if upcoming is None:
            return MAX_SLEEP_S
        # Local time only measures the wait; the decision at wake-up uses Redis time again.
        return max(0.001, min(MAX_SLEEP_S, upcoming - now))

    async def process(self, now: float) -> float:
        """Handle every tick that became due by ``now``; returns ``now``."""
        for job in self.jobs:
            tick = job.prev_tick(now, self.zone)
            last = self._last.get(job.name)
            if last is not None and tick <= last:
                continue
            if now - tick <= self.misfire_grace_s:
                await self._fire(job, tick, now)
            elif last is not None:
                await self._record_missed(job, tick, now)
            else:
                await self._record_next(job, now)  # first start: nothing was due
            self._last[job.name] = tick
        return now

    async def _fire(self, job: CronJob, tick: float, now: float) -> None:
        queue = self.queues[job.queue]
        period = job.period_s(self.zone, tick)
        ttl = int(max(3600, 2 * period))
        spec = JobSpec(job.job, job.data, job_id=job.job_id(tick))
        claim = f"cron:{job.name}:{int(tick)}"
        enqueued = await queue.add_once(claim, ttl, self.owner, spec)
        if enqueued is None:
            await self._record_next(job, now)
            return
        self.fired.append(enqueued.id)
        log.info(
            "cron %s: enqueued %s on %s (tick %s)",
            job.name,
            enqueued.id,
            job.queue,
            time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(tick)),
        )
        await self._r.hset(
            schedule_key(self.prefix, job.name),
            mapping={
                "last_tick": tick,
                "last_job_id": enqueued.id,
                "last_outcome": "enqueued",
                "next_tick": job.next_tick(now, self.zone),
                "owner": self.owner,
            },
        )

    async def _record_missed(self, job: CronJob, tick: float, now: float) -> None:
        key = schedule_key(self.prefix, job.name)
        recorded = await self._r.hget(key, "last_tick")
        if recorded and float(recorded) >= tick:
            return  # another supervisor handled this tick while this one was away
        log.warning(
            "cron %s: tick at %s missed (older than the %ss grace); not run",
            job.name,
            time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(tick)),
            self.misfire_grace_s,
        )
        pipe = self.redis.pipeline(transaction=False)
        pipe.hset(
            key,
            mapping={
                "last_tick": tick,
                "last_outcome": "missed",
                "last_job_id": "",
                "next_tick": job.next_tick(now, self.zone),
            },
        )
        pipe.hincrby(key, "missed", 1)
        await pipe.execute()

    async def _record_next(self, job: CronJob, now: float) -> None:
        await self._r.hset(
            schedule_key(self.prefix, job.name), "next_tick", job.next_tick(now, self.zone)
        )


async def read_schedules(redis: Redis, prefix: str) -> list[ScheduleStatus]:
    """Every registered schedule's recorded state, sorted by name."""
    r: Any = redis
    names = sorted(n.decode() for n in await r.smembers(schedules_key(prefix)))
    pipe = redis.pipeline(transaction=False)
    for name in names:
        pipe.hgetall(schedule_key(prefix, name))
    rows = await pipe.execute()
    return [_status(name, row) for name, row in zip(names, rows, strict=True)]


def _status(name: str, row: dict[bytes, bytes]) -> ScheduleStatus:
    def text(field: str) -> str:
        return row.get(field.encode(), b"").decode()

    def number(field: str) -> float | None:
        value = row.get(field.encode())
        return float(value) if value else None

    return ScheduleStatus(
        name,
        text("queue"),
        text("job"),
        text("cron"),
        text("tz"),
        number("last_tick"),
        number("next_tick"),
        text("last_job_id"),
        text("last_outcome"),
        int(number("missed") or 0),
    )
