"""Reading the per-minute metrics that ``finish.lua`` writes.

Each queue has one hash per minute (``<prefix>:{q}:metrics:<minute>``) with counters
``c`` (completed), ``f`` (failed for good), ``e`` (failed tries, retried or not), sums
``rs``/``ws`` of run and wait milliseconds, and log-scale histograms ``r<b>``/``w<b>``
(four buckets per doubling). Reading an hour is 60 small HGETALLs in one pipeline:
O(minutes), never O(jobs).
"""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from engine.queue.queue import Queue


def bucket_of(ms: float) -> int:
    """The histogram bucket of a duration (same formula as ``finish.lua``)."""
    return math.floor(math.log(ms + 1) / math.log(2) * 4)


def bucket_upper_ms(bucket: int) -> float:
    """The largest duration that falls into ``bucket``."""
    return float(2 ** ((bucket + 1) / 4) - 1)


@dataclass(frozen=True)
class QueueMetrics:
    """Aggregated metrics of one queue over a window of whole minutes."""

    minutes: int
    completed: int
    failed: int
    failed_tries: int
    run_p50_ms: float | None
    run_p95_ms: float | None
    wait_p50_ms: float | None
    wait_p95_ms: float | None
    run_avg_ms: float | None
    wait_avg_ms: float | None
    per_minute_completed: tuple[int, ...]
    """Completed jobs per minute, oldest first (for sparklines)."""

    @property
    def jobs_per_hour(self) -> float:
        """Completed jobs per hour over the window."""
        return self.completed * 60 / self.minutes if self.minutes else 0.0

    @property
    def failure_rate(self) -> float:
        """Failed tries divided by all finished tries (0.0 when nothing ran)."""
        tries = self.completed + self.failed_tries
        return self.failed_tries / tries if tries else 0.0


def percentile(histogram: Counter[int], q: float) -> float | None:
    """The ``q`` quantile (0..1) of a bucket histogram, as the bucket's upper bound."""
    total = sum(histogram.values())
    if total == 0:
        return None
    rank = q * total
    seen = 0
    for bucket in sorted(histogram):
        seen += histogram[bucket]
        if seen >= rank:
            return round(bucket_upper_ms(bucket), 1)
    return round(bucket_upper_ms(max(histogram)), 1)


async def read_metrics(queue: Queue, minutes: int = 60, now_s: float | None = None) -> QueueMetrics:
    """Aggregate the last ``minutes`` minutes (the current one included)."""
    current = int((now_s if now_s is not None else time.time()) // 60)
    pipe = queue.redis.pipeline(transaction=False)
    for minute in range(current - minutes + 1, current + 1):
        pipe.hgetall(queue.keys.metrics(minute))
    rows = await pipe.execute()
    return aggregate(rows, minutes)


@dataclass(frozen=True)
class MetricWindow:
    """One queue's per-minute metric hashes folded together: the one reader of their
    fields (counters ``c``/``f``/``e``, sums ``rs``/``ws``, histograms ``r<b>``/``w<b>``)."""

    minutes: int
    counters: Counter[str]
    run: Counter[int]
    """Run-time histogram: bucket → tries (``bucket_upper_ms`` gives each bound)."""
    wait: Counter[int]
    run_sum_ms: float
    wait_sum_ms: float
    per_minute_completed: tuple[int, ...]
    """Completed jobs per minute, oldest first."""


def fold(rows: Iterable[Mapping[bytes, bytes]], minutes: int) -> MetricWindow:
    """Fold per-minute hashes (oldest first) into one window."""
    counters: Counter[str] = Counter()
    run: Counter[int] = Counter()
    wait: Counter[int] = Counter()
    sums = {"rs": 0.0, "ws": 0.0}
    per_minute = []
    for row in rows:
        per_minute.append(int(row.get(b"c", 0)))
        for field, value in row.items():
            name = field.decode()
            if name in sums:
                sums[name] += float(value)
            elif name[:1] in ("r", "w") and name[1:].isdigit():
                (run if name[0] == "r" else wait)[int(name[1:])] += int(value)
            else:
                counters[name] += int(value)
    return MetricWindow(minutes, counters, run, wait, sums["rs"], sums["ws"], tuple(per_minute))


def summarize(window: MetricWindow) -> QueueMetrics:
    """Counts, percentiles and averages of a window."""
    timed = sum(window.run.values())
    return QueueMetrics(
        minutes=window.minutes,
        completed=window.counters["c"],
        failed=window.counters["f"],
        failed_tries=window.counters["e"],
        run_p50_ms=percentile(window.run, 0.5),
        run_p95_ms=percentile(window.run, 0.95),
        wait_p50_ms=percentile(window.wait, 0.5),
        wait_p95_ms=percentile(window.wait, 0.95),
        run_avg_ms=window.run_sum_ms / timed if timed else None,
        wait_avg_ms=window.wait_sum_ms / timed if timed else None,
        per_minute_completed=window.per_minute_completed,
    )


def aggregate(rows: Iterable[Mapping[bytes, bytes]], minutes: int) -> QueueMetrics:
    """Fold per-minute hashes (oldest first) into one ``QueueMetrics``."""
    return summarize(fold(rows, minutes))
