"""One process runs everything: every queue's workers, the cron scheduler, the reaper, a
heartbeat and the log stream.

Parts never take each other down: every loop runs under ``engine.loops.supervised`` (a
crash is logged with its traceback and the loop restarts with backoff), and every loop
rides out Redis outages on its own. Lease renewal, the heartbeat and the event-loop
watchdog run on the pulse, a thread with its own loop and connection, so a handler that
blocks the workers' loop cannot make leases lapse or the supervisor look dead.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis

from engine.client import REDIS_DOWN
from engine.keys import supervisors_key
from engine.logs import LogStreamSink
from engine.loops import supervised
from engine.queue.queue import Queue
from engine.runtime.config import QueueConfig
from engine.runtime.cron import CronJob
from engine.runtime.reaper import Reaper
from engine.runtime.scheduler import CronScheduler
from engine.runtime.watchdog import LoopWatchdog
from engine.scripts import Scripts
from engine.worker.pulse import Pulse
from engine.worker.registry import Registry
from engine.worker.worker import Worker

log = logging.getLogger("justo.supervisor")

HEARTBEAT_S = 5.0
"""Seconds between heartbeats."""

ALIVE_S = 3 * HEARTBEAT_S
"""A supervisor whose last heartbeat is older than this (by Redis time) is gone."""

FORGET_S = 3600.0
"""Heartbeats older than this are deleted by readers."""


@dataclass(frozen=True)
class SupervisorInfo:
    """A live supervisor, as its heartbeat describes it."""

    id: str
    host: str
    pid: int
    started: float
    beat: float
    queues: dict[str, int]
    in_flight: dict[str, list[str]]
    completed: dict[str, int]
    failed: dict[str, int]


class Supervisor:
    """Runs a worker pool per queue, the scheduler, the reaper and the heartbeat.

    Args:
        redis: the client every part shares.
        queues: the queues to run.
        registry: handlers by job name (shared by all queues).
        prefix: the key prefix.
        recurring: recurring jobs for the cron scheduler (none: no scheduler).
        scheduler_options: ``zone`` and ``misfire_grace_s`` for the scheduler.
        grace_s: how long running jobs may finish on stop.
        log_sink: where to send log lines for the console (optional).
    """

    def __init__(
        self,
        redis: Redis,
        queues: Sequence[QueueConfig],
        registry: Registry,
        *,
        prefix: str,
        recurring: Sequence[CronJob] = (),
        scheduler_options: dict[str, Any] | None = None,
        grace_s: float = 25.0,
        log_sink: LogStreamSink | None = None,
    ) -> None:
        self.id = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.redis = redis
        self.prefix = prefix
        self.registry = registry
        self.grace_s = grace_s
        self.started = time.time()
        self.configs = {c.name: c for c in queues}
        scripts = Scripts(redis)
        self.queues = {
            c.name: Queue(redis, c.name, prefix=prefix, options=c.options, scripts=scripts)
            for c in queues
        }
        self.pulse = Pulse(redis, name=f"pulse:{self.id}")
        """Thread with its own loop and connection for lease renewal, heartbeat, watchdog."""
        self.watchdog = LoopWatchdog(self._describe_running)
        self.workers = {c.name: self._new_worker(c.name) for c in queues}
        self.reaper = Reaper(list(self.queues.values()))
        self.scheduler = (
            CronScheduler(
                redis,
                self.queues,
                recurring,
                prefix=prefix,
                owner=self.id,
                **(scheduler_options or {}),
            )
            if recurring
            else None
        )
        self.log_sink = log_sink
        self._stop = asyncio.Event()
        self._fast = False

    def _new_worker(self, queue: str) -> Worker:
        config = self.configs[queue]
        return Worker(
            self.queues[queue],
            self.registry,
            concurrency=config.concurrency,
            grace_s=self.grace_s,
            worker_id=f"{self.id}:{queue}",
            pulse=self.pulse,
        )

    def request_stop(self, *, fast: bool = False) -> None:
        """Stop fetching; running jobs get the grace period (none with ``fast``)."""
        self._fast = self._fast or fast
        self._stop.set()
        for worker in self.workers.values():
            worker.stop(fast=self._fast)
        self.reaper.stop()
        if self.scheduler is not None:
            self.scheduler.stop()

    async def run(self) -> None:
        """Run until ``request_stop``; returns once every part has stopped."""
        self.pulse.start()
        self.pulse.spawn("heartbeat", self._heartbeat_loop)
        self.pulse.spawn("event-loop watchdog", self.watchdog.watch)
        tick = asyncio.create_task(self.watchdog.tick(), name="watchdog-tick")
        tasks = [
            self._loop(f"worker for queue {name}", lambda n=name: self._run_worker(n))  # type: ignore[misc]
            for name in self.workers
        ]
        tasks.append(self._loop("reaper", self.reaper.run))
        if self.scheduler is not None:
            tasks.append(self._loop("cron scheduler", self.scheduler.run))
        with contextlib.suppress(*REDIS_DOWN):
            await forget_dead_supervisors(self.redis, self.prefix)
        sink = self._loop("log sink", self._run_log_sink) if self.log_sink else None
        log.info(
            "supervisor %s running: %s",
            self.id,
            ", ".join(f"{n}×{c.concurrency}" for n, c in self.configs.items()),
        )
        try:
            await self._stop.wait()
            await asyncio.gather(*tasks, return_exceptions=True)
        finally:
            tick.cancel()
            await self.pulse.aclose()
            await self._remove_heartbeat()
            log.info("supervisor %s stopped", self.id)
            if sink is not None and self.log_sink is not None:
                self.log_sink.stop()
                await asyncio.gather(sink, return_exceptions=True)

    def _loop(self, name: str, body: Callable[[], Awaitable[None]]) -> asyncio.Task[None]:
        return asyncio.create_task(supervised(name, body, stop=self._stop), name=name)

    async def _run_worker(self, name: str) -> None:
        """One run of a queue's worker; one that ended early (crashed, or stopped on its
        own) is replaced by a fresh worker for the next run."""
        worker = self.workers[name]
        try:
            await worker.run()
        finally:
            if not self._stop.is_set():
                self.workers[name] = self._new_worker(name)

    async def _run_log_sink(self) -> None:
        assert self.log_sink is not None
        await self.log_sink.run(self.redis)

    def _describe_running(self) -> str:
        """The jobs in flight, per queue: what the watchdog names when the loop blocks."""
        parts = [
            f"{name}: {', '.join(ids[:10])}"
            for name, worker in self.workers.items()
            if (ids := worker.in_flight)
        ]
        return "; ".join(parts)

    # ------------------------------------------------------------ heartbeat

    def heartbeat(self) -> dict[str, Any]:
        """What this supervisor publishes about itself."""
        return {
            "id": self.id,
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "started": self.started,
            "beat": time.time(),
            "queues": {n: c.concurrency for n, c in self.configs.items()},
            "in_flight": {n: w.in_flight for n, w in self.workers.items()},
            "completed": {n: w.stats.completed for n, w in self.workers.items()},
            "failed": {n: w.stats.failed for n, w in self.workers.items()},
        }

    async def beat_once(self, redis: Redis | None = None) -> None:
        """Publish the heartbeat now (on ``redis``, this supervisor's client by default)."""
        r: Any = redis or self.redis
        seconds, micros = await r.time()
        data = self.heartbeat() | {"beat": seconds + micros / 1e6}
        await r.hset(supervisors_key(self.prefix), self.id, json.dumps(data))

    async def _heartbeat_loop(self) -> None:
        """Beat every ``HEARTBEAT_S``; runs on the pulse, with the pulse's client."""
        while True:
            try:
                await self.beat_once(self.pulse.redis)
            except REDIS_DOWN as exc:
                log.warning("heartbeat failed: Redis unavailable (%s)", type(exc).__name__)
            await asyncio.sleep(HEARTBEAT_S)

    async def _remove_heartbeat(self) -> None:
        r: Any = self.redis
        with contextlib.suppress(*REDIS_DOWN):
            await r.hdel(supervisors_key(self.prefix), self.id)


async def read_supervisors(redis: Redis, prefix: str) -> list[SupervisorInfo]:
    """Live supervisors, oldest first (one round trip)."""
    pipe = redis.pipeline(transaction=False)
    pipe.time()
    pipe.hgetall(supervisors_key(prefix))
    (seconds, micros), raw = await pipe.execute()
    return live_supervisors(raw, seconds + micros / 1e6)


def parse_heartbeat(value: bytes | str) -> SupervisorInfo | None:
    """One heartbeat entry, or ``None`` when it is malformed: the one reader of its
    fields, so no reader can be broken by a bad entry."""
    try:
        data = json.loads(value)
        return SupervisorInfo(
            str(data["id"]),
            str(data["host"]),
            int(data["pid"]),
            float(data["started"]),
            float(data["beat"]),
            dict(data["queues"]),
            dict(data["in_flight"]),
            dict(data.get("completed", {})),
            dict(data.get("failed", {})),
        )
    except (ValueError, KeyError, TypeError, AttributeError):
        return None


def live_supervisors(raw: dict[bytes, bytes], now: float) -> list[SupervisorInfo]:
    """Parse a heartbeat hash, keeping those that beat within ``ALIVE_S`` of ``now``."""
    infos = [info for info in map(parse_heartbeat, raw.values()) if info is not None]
    return sorted((i for i in infos if now - i.beat <= ALIVE_S), key=lambda i: i.started)


async def forget_dead_supervisors(redis: Redis, prefix: str) -> int:
    """Delete heartbeats older than ``FORGET_S``; returns how many."""
    r: Any = redis
    seconds, micros = await r.time()
    now = seconds + micros / 1e6
    raw = await r.hgetall(supervisors_key(prefix))
    # A malformed entry is garbage: forgotten with the dead, never fatal to a start-up.
    infos = {k: parse_heartbeat(v) for k, v in raw.items()}
    dead = [k for k, info in infos.items() if info is None or now - info.beat > FORGET_S]
    if dead:
        await r.hdel(supervisors_key(prefix), *dead)
    return len(dead)
