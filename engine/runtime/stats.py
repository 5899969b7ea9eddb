"""A read-only snapshot of every queue, Redis and the supervisors, for the CLI and console.

One pipelined round trip per snapshot: per queue the ``counts`` script and the last hour's
per-minute metric hashes (O(queues × minutes), never O(jobs)), then ``INFO``, ``TIME``, the
supervisors' heartbeats and the new lines of the log stream.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import NoScriptError

from engine.keys import log_stream_key, supervisors_key
from engine.logs import read_log_stream
from engine.queue.queue import Queue
from engine.runtime.metrics import MetricWindow, QueueMetrics, fold, summarize
from engine.runtime.supervisor import (
    SupervisorInfo,
    live_supervisors,
)
from engine.scripts import Scripts, pipeline_call
from engine.scripts.replies import QueueCounts, parse_counts

WINDOW_MINUTES = 60
"""Minutes of metrics in a snapshot."""

LOG_BATCH = 200
"""Most log lines one snapshot carries."""


@dataclass(frozen=True)
class QueueStats:
    """One queue in a snapshot."""

    name: str
    counts: QueueCounts
    metrics: QueueMetrics
    workers: int
    """Worker slots (concurrency) of live supervisors serving this queue."""


@dataclass(frozen=True)
class RedisStats:
    """Redis server facts that matter for a queue."""

    version: str
    used_memory: int
    peak_memory: int
    max_memory: int
    fragmentation: float
    clients: int
    policy: str
    aof: bool
    rdb_last_save: int
    uptime_s: int
    ops_per_s: int


@dataclass(frozen=True)
class EngineSnapshot:
    """Everything a dashboard shows, taken at ``taken_at`` (epoch seconds)."""

    taken_at: float
    queues: tuple[QueueStats, ...]
    redis: RedisStats
    supervisors: tuple[SupervisorInfo, ...] = field(default_factory=tuple)
    logs: tuple[dict[str, str], ...] = field(default_factory=tuple)
    """Log lines newer than the ``logs_after`` id given to ``collect``, oldest first."""
    last_log_id: str = ""
    """Stream id of the newest log line seen (pass it as ``logs_after`` next time)."""
    redis_time: float = 0.0
    """Redis's clock (``TIME``) at the snapshot: heartbeat ages are measured against it."""

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (the ``stats --json`` shape)."""
        return {
            "taken_at": self.taken_at,
            "queues": [_queue_json(q) for q in self.queues],
            "redis": asdict(self.redis),
            "supervisors": [asdict(s) for s in self.supervisors],
        }


def _queue_json(q: QueueStats) -> dict[str, Any]:
    m = q.metrics
    return {
        "name": q.name,
        "paused": q.counts.paused,
        "workers": q.workers,
        "waiting": q.counts.waiting,
        "active": q.counts.active,
        "delayed": q.counts.delayed,
        "failed": q.counts.failed,
        "completed": q.counts.completed,
        "jobs_per_hour": round(m.jobs_per_hour, 1),
        "failure_rate": round(m.failure_rate, 4),
        "run_p50_ms": m.run_p50_ms,
        "run_p95_ms": m.run_p95_ms,
        "wait_p50_ms": m.wait_p50_ms,
        "wait_p95_ms": m.wait_p95_ms,
        "completed_last_hour": m.completed,
        "failed_last_hour": m.failed,
        "per_minute_completed": list(m.per_minute_completed),
    }


async def collect(
    redis: Redis,
    queues: Sequence[Queue],
    *,
    logs_after: str | None = None,
    now_s: float | None = None,
) -> EngineSnapshot:
    """Take one snapshot of ``queues`` in one pipelined round trip.

    Args:
        logs_after: a log stream id; lines after it are included (``None``: no lines,
            ``"$"``-like ``""``: the last ``LOG_BATCH`` lines).
    """
    return (await collect_with_windows(redis, queues, logs_after=logs_after, now_s=now_s))[0]


async def collect_with_windows(
    redis: Redis,
    queues: Sequence[Queue],
    *,
    logs_after: str | None = None,
    now_s: float | None = None,
) -> tuple[EngineSnapshot, dict[str, MetricWindow]]:
    """``collect``, plus each queue's metric window (the histograms the snapshot reduces
    to percentiles; ``/metrics`` exports them whole)."""
    # Metric minutes are stamped by Redis's clock (the scripts take the queue clock), so
    # the window is read by the same clock: a host whose clock is off still reads them.
    if now_s is not None:
        now = now_s
    elif queues:
        now = await queues[0].clock.now_ms() / 1000
    else:
        now = time.time()
    prefix = queues[0].keys.prefix if queues else "justo"
    try:
        replies = await _read(redis, queues, int(now // 60), prefix, logs_after)
    except NoScriptError:
        await Scripts(redis).load()
        replies = await _read(redis, queues, int(now // 60), prefix, logs_after)
    info, (seconds, micros), beats, log_entries = replies[-4:]
    redis_time = float(seconds) + float(micros) / 1e6
    supervisors = live_supervisors(beats, redis_time)
    per_queue = 1 + WINDOW_MINUTES
    stats, windows = [], {}
    for i, queue in enumerate(queues):
        chunk = replies[i * per_queue : (i + 1) * per_queue]
        windows[queue.name] = window = fold(chunk[1:], WINDOW_MINUTES)
        workers = sum(s.queues.get(queue.name, 0) for s in supervisors)
        stats.append(
            QueueStats(
                queue.name,
                parse_counts(chunk[0]),
                summarize(window),
                workers,
            )
        )
    entries = list(reversed(log_entries)) if logs_after == "" else list(log_entries or [])
    last_id = entries[-1][0].decode() if entries else (logs_after or "")
    snapshot = EngineSnapshot(
        now,
        tuple(stats),
        redis_stats(info),
        tuple(supervisors),
        tuple(read_log_stream(entries)),
        last_id,
        redis_time,
    )
    return snapshot, windows


async def _read(
    redis: Redis, queues: Sequence[Queue], minute: int, prefix: str, logs_after: str | None
) -> list[Any]:
    pipe = redis.pipeline(transaction=False)
    for queue in queues:
        k = queue.keys
        pipeline_call(pipe, queue.lua.counts_call())
        for m in range(minute - WINDOW_MINUTES + 1, minute + 1):
            pipe.hgetall(k.metrics(m))
    pipe.info()
    pipe.time()
    pipe.hgetall(supervisors_key(prefix))
    if logs_after == "":
        pipe.xrevrange(log_stream_key(prefix), count=LOG_BATCH)
    elif logs_after is not None:
        pipe.xrange(log_stream_key(prefix), min=f"({logs_after}", count=LOG_BATCH)
    else:
        pipe.echo("")  # keeps the reply layout fixed
    replies = list(await pipe.execute())
    if logs_after is None:
        replies[-1] = []
    return replies


def redis_stats(info: dict[str, Any]) -> RedisStats:
    """Pick the queue-relevant fields out of ``INFO``."""
    return RedisStats(
        version=str(info.get("redis_version", "")),
        used_memory=int(info.get("used_memory", 0)),
        peak_memory=int(info.get("used_memory_peak", 0)),
        max_memory=int(info.get("maxmemory", 0)),
        fragmentation=float(info.get("mem_fragmentation_ratio", 0.0)),
        clients=int(info.get("connected_clients", 0)),
        policy=str(info.get("maxmemory_policy", "unknown")),
        aof=bool(info.get("aof_enabled", 0)),
        rdb_last_save=int(info.get("rdb_last_save_time", 0)),
        uptime_s=int(info.get("uptime_in_seconds", 0)),
        ops_per_s=int(info.get("instantaneous_ops_per_sec", 0)),
    )


@dataclass(frozen=True)
class Health:
    """``health``: 0 healthy, 1 degraded, 2 down, with the reasons."""

    code: int
    status: str
    reasons: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        """The ``health --json`` shape."""
        return {"status": self.status, "code": self.code, "reasons": list(self.reasons)}


STALL_FAILURE_RATE = 0.5
"""A queue failing more than this share of its tries in the last hour is degraded."""

MEMORY_WARN = 0.9
"""Used memory above this share of ``maxmemory`` is degraded."""


def assess(snapshot: EngineSnapshot) -> Health:
    """Judge a snapshot: which conditions make the system degraded."""
    reasons: list[str] = []
    r = snapshot.redis
    if r.policy not in ("noeviction", "unknown"):
        reasons.append(f"redis maxmemory-policy is {r.policy}, not noeviction")
    if r.max_memory and r.used_memory > MEMORY_WARN * r.max_memory:
        reasons.append(f"redis memory at {100 * r.used_memory / r.max_memory:.0f}% of maxmemory")
    if not snapshot.supervisors:
        reasons.append("no live supervisor (no heartbeat in the last 15 s)")
    for q in snapshot.queues:
        tries = q.metrics.completed + q.metrics.failed_tries
        if tries >= 10 and q.metrics.failure_rate > STALL_FAILURE_RATE:
            reasons.append(
                f"queue {q.name}: {100 * q.metrics.failure_rate:.0f}% of tries "
                "failed in the last hour"
            )
        if snapshot.supervisors and q.workers == 0 and q.counts.waiting:
            reasons.append(f"queue {q.name}: {q.counts.waiting} waiting and no worker")
    if reasons:
        return Health(1, "degraded", tuple(reasons))
    return Health(0, "healthy", ())


DOWN = Health(2, "down", ("redis unreachable",))
"""The health when Redis cannot be reached."""
