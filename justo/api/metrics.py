"""``GET /metrics``: the engine in the Prometheus text format, from ONE Redis round trip.

Per scrape, ``engine.runtime.stats.collect_with_windows`` reads everything in one pipeline (each
queue's counts and last hour of per-minute metric hashes, ``INFO``, ``TIME``, the
heartbeats); the raw run/wait histograms it also returns become Prometheus histograms.
A collector built for that one scrape turns it into metric families.

Window figures (completed/failed in the last hour, the run and wait histograms) slide with
time, so they are gauges and gauge-valued histograms: read their values (e.g.
``histogram_quantile(0.95, justo_queue_run_seconds_bucket)``), do not ``rate()`` them.

Histogram buckets: the engine's log-scale buckets (four per doubling, bucket ``b`` holds
durations up to ``bucket_upper_ms(b)``) are summed into one Prometheus bucket per doubling,
``le`` = 1, 3, 7, … 2**22-1 ms (in seconds), so every engine bucket falls exactly inside one
``le`` bound; durations over ~70 min only count in ``+Inf``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from redis.asyncio import Redis

from engine.queue.queue import Queue
from engine.runtime.metrics import bucket_upper_ms
from engine.runtime.stats import WINDOW_MINUTES, EngineSnapshot, collect_with_windows

CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4
"""What ``generate_latest`` writes."""

DOUBLINGS = 22
"""Prometheus buckets per histogram (before ``+Inf``): up to 2**22-1 ms ≈ 70 min."""

STATES = ("waiting", "active", "delayed", "failed", "completed")


def _le_bucket(doubling: int) -> int:
    """The engine bucket whose upper bound is 2**(doubling+1)-1 ms."""
    return 4 * doubling + 3


LE_SECONDS: tuple[float, ...] = tuple(
    bucket_upper_ms(_le_bucket(k)) / 1000 for k in range(DOUBLINGS)
)
"""The ``le`` bounds, in seconds: 0.001, 0.003, 0.007, … 4194.303."""


@dataclass
class Histogram:
    """Engine bucket counts and the sum of durations (ms) of one queue over the window."""

    buckets: Counter[int] = field(default_factory=Counter)
    sum_ms: float = 0.0

    def prometheus_buckets(self) -> list[tuple[str, float]]:
        """Cumulative ``(le, count)`` pairs ending with ``+Inf``."""
        out: list[tuple[str, float]] = []
        for k, le in enumerate(LE_SECONDS):
            top = _le_bucket(k)
            out.append((repr(le), float(sum(n for b, n in self.buckets.items() if b <= top))))
        out.append(("+Inf", float(sum(self.buckets.values()))))
        return out


@dataclass(frozen=True)
class Scrape:
    """One scrape's data: the snapshot, the raw histograms and Redis's clock."""

    snapshot: EngineSnapshot
    run: dict[str, Histogram]
    wait: dict[str, Histogram]
    redis_now: float


async def read_scrape(redis: Redis, queues: Sequence[Queue], now_s: float) -> Scrape:
    """Read everything ``/metrics`` shows: the stats snapshot's one pipelined round trip,
    keeping the raw histograms it folds into percentiles."""
    snapshot, windows = await collect_with_windows(redis, queues, now_s=now_s)
    run = {name: Histogram(w.run, w.run_sum_ms) for name, w in windows.items()}
    wait = {name: Histogram(w.wait, w.wait_sum_ms) for name, w in windows.items()}
    return Scrape(snapshot, run, wait, snapshot.redis_time)


class ScrapeCollector:
    """A prometheus_client collector over one ``Scrape`` (built per request)."""

    def __init__(self, scrape: Scrape) -> None:
        self.scrape = scrape

    def collect(self) -> Iterable[Metric]:
        """Every metric family of the scrape."""
        yield from self._queue_families()
        yield from self._histograms()
        yield from self._redis_families()
        yield from self._supervisor_families()

    def _queue_families(self) -> Iterable[Metric]:
        queues = self.scrape.snapshot.queues
        jobs = GaugeMetricFamily(
            "justo_queue_jobs", "Jobs in each state.", labels=["queue", "state"]
        )
        paused = GaugeMetricFamily(
            "justo_queue_paused", "1 when the queue is paused.", labels=["queue"]
        )
        workers = GaugeMetricFamily(
            "justo_queue_workers",
            "Worker slots of live supervisors serving the queue.",
            labels=["queue"],
        )
        window = f"in the last {WINDOW_MINUTES} minutes"
        done = GaugeMetricFamily(
            "justo_queue_completed_window", f"Jobs completed {window}.", labels=["queue"]
        )
        failed = GaugeMetricFamily(
            "justo_queue_failed_window", f"Jobs failed for good {window}.", labels=["queue"]
        )
        tries = GaugeMetricFamily(
            "justo_queue_failed_tries_window",
            f"Failed tries (retried or not) {window}.",
            labels=["queue"],
        )
        for q in queues:
            counts = q.counts
            for state in STATES:
                jobs.add_metric([q.name, state], getattr(counts, state))
            paused.add_metric([q.name], 1.0 if counts.paused else 0.0)
            workers.add_metric([q.name], q.workers)
            done.add_metric([q.name], q.metrics.completed)
            failed.add_metric([q.name], q.metrics.failed)
            tries.add_metric([q.name], q.metrics.failed_tries)
        return [jobs, paused, workers, done, failed, tries]

    def _histograms(self) -> Iterable[Metric]:
        for name, source, what in (
            ("justo_queue_run_seconds", self.scrape.run, "Run time"),
            ("justo_queue_wait_seconds", self.scrape.wait, "Wait (enqueue to start)"),
        ):
            family = HistogramMetricFamily(
                name,
                f"{what} of tries in the last {WINDOW_MINUTES} minutes (sliding window: "
                "read the values, do not rate() them).",
                labels=["queue"],
            )
            for queue, hist in source.items():
                family.add_metric([queue], hist.prometheus_buckets(), hist.sum_ms / 1000)
            yield family

    def _redis_families(self) -> Iterable[Metric]:
        r = self.scrape.snapshot.redis
        yield GaugeMetricFamily(
            "justo_redis_used_memory_bytes", "Redis used memory.", value=r.used_memory
        )
        yield GaugeMetricFamily(
            "justo_redis_peak_memory_bytes", "Redis peak memory.", value=r.peak_memory
        )
        yield GaugeMetricFamily(
            "justo_redis_max_memory_bytes", "Redis maxmemory (0: no limit).", value=r.max_memory
        )

    def _supervisor_families(self) -> Iterable[Metric]:
        sups = self.scrape.snapshot.supervisors
        yield GaugeMetricFamily(
            "justo_supervisors_live", "Supervisors whose heartbeat is recent.", value=len(sups)
        )
        age = GaugeMetricFamily(
            "justo_supervisor_heartbeat_age_seconds",
            "Seconds since each live supervisor's heartbeat (Redis time).",
            labels=["supervisor", "host", "pid"],
        )
        for s in sups:
            age.add_metric(
                [s.id, s.host, str(s.pid)], max(0.0, round(self.scrape.redis_now - s.beat, 3))
            )
        yield age


def render(scrape: Scrape) -> bytes:
    """The Prometheus text exposition of one scrape."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(ScrapeCollector(scrape))
    return generate_latest(registry)
