"""``GET /metrics``: parsed with prometheus_client's own parser after real jobs ran, the
log-scale → ``le`` bucket mapping, and one snapshot read per scrape."""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample
from redis.asyncio import Redis

from engine.options import QueueOptions
from engine.queue.queue import Queue
from engine.runtime.metrics import bucket_of, bucket_upper_ms
from engine.runtime.settings import Settings
from engine.scripts import Scripts
from engine.worker.registry import Registry
from engine.worker.worker import Worker
from justo.api.metrics import LE_SECONDS, Histogram
from tests.justo.api.helpers import AUTH

FAMILIES = {
    "justo_queue_jobs",
    "justo_queue_paused",
    "justo_queue_workers",
    "justo_queue_completed_window",
    "justo_queue_failed_window",
    "justo_queue_failed_tries_window",
    "justo_queue_run_seconds",
    "justo_queue_wait_seconds",
    "justo_redis_used_memory_bytes",
    "justo_redis_peak_memory_bytes",
    "justo_redis_max_memory_bytes",
    "justo_supervisors_live",
    "justo_supervisor_heartbeat_age_seconds",
}


async def _scrape(api: httpx.AsyncClient) -> dict[str, list[Sample]]:
    response = await api.get("/metrics", headers=AUTH)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    return {f.name: f.samples for f in text_string_to_metric_families(response.text)}


def _value(samples: list[Sample], name: str, **labels: str) -> float:
    hits = [
        s.value
        for s in samples
        if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())
    ]
    assert len(hits) == 1, (name, labels, hits)
    return hits[0]


async def _run_jobs(queue: Queue, ok: int, failing: int) -> None:
    registry = Registry()

    @registry.register("ok")
    async def succeed(ctx: Any) -> str:
        await asyncio.sleep(0.02)
        return "done"

    @registry.register("boom")
    async def boom(ctx: Any) -> None:
        raise ValueError("no")

    for _ in range(ok):
        await queue.add("ok", {})
    for _ in range(failing):
        await queue.add("boom", {}, attempts=1)
    await asyncio.wait_for(Worker(queue, registry, concurrency=4, grace_s=1).run(burst=True), 20)


async def test_metrics_after_jobs_ran(
    api: httpx.AsyncClient, redis: Redis, settings: Settings, prefix: str
) -> None:
    queue = Queue(redis, "notifications", prefix=prefix, options=QueueOptions(attempts=1))
    await _run_jobs(queue, ok=3, failing=2)
    await queue.add("ok", {}, delay=300)
    await Queue(redis, "sync", prefix=prefix).pause()
    seconds, micros = await redis.time()
    beat = seconds + micros / 1e6 - 2.0
    await redis.hset(
        f"{prefix}:supervisors",
        "h:7:x",
        json.dumps(
            {
                "id": "h:7:x",
                "host": "h",
                "pid": 7,
                "started": beat - 60,
                "beat": beat,
                "queues": {"notifications": 10},
                "in_flight": {},
                "completed": {},
                "failed": {},
            }
        ),
    )

    families = await _scrape(api)
    seconds, micros = await redis.time()
    scraped_by = seconds + micros / 1e6  # the scrape read Redis TIME before this
    assert set(families) >= FAMILIES
    jobs = families["justo_queue_jobs"]
    for state, count in (
        ("completed", 3),
        ("failed", 2),
        ("delayed", 1),
        ("waiting", 0),
        ("active", 0),
    ):
        assert _value(jobs, "justo_queue_jobs", queue="notifications", state=state) == count
    assert len(jobs) == 5 * len(settings.queues)
    assert _value(families["justo_queue_paused"], "justo_queue_paused", queue="sync") == 1
    assert _value(families["justo_queue_paused"], "justo_queue_paused", queue="notifications") == 0
    assert (
        _value(families["justo_queue_workers"], "justo_queue_workers", queue="notifications") == 10
    )
    for family, count in (
        ("justo_queue_completed_window", 3),
        ("justo_queue_failed_window", 2),
        ("justo_queue_failed_tries_window", 2),
    ):
        assert _value(families[family], family, queue="notifications") == count

    run = families["justo_queue_run_seconds"]
    assert _value(run, "justo_queue_run_seconds_count", queue="notifications") == 5
    assert _value(run, "justo_queue_run_seconds_bucket", queue="notifications", le="+Inf") == 5
    # the 3 successful runs slept 20 ms, so only the 2 failing tries can be under 15 ms
    assert _value(run, "justo_queue_run_seconds_bucket", queue="notifications", le="0.015") <= 2
    assert _value(run, "justo_queue_run_seconds_sum", queue="notifications") >= 0.06
    assert _value(run, "justo_queue_run_seconds_count", queue="sync") == 0
    buckets = [s for s in run if s.name.endswith("_bucket") and s.labels["queue"] == "sync"]
    assert len(buckets) == len(LE_SECONDS) + 1
    wait = families["justo_queue_wait_seconds"]
    assert _value(wait, "justo_queue_wait_seconds_count", queue="notifications") == 5

    assert _value(families["justo_redis_used_memory_bytes"], "justo_redis_used_memory_bytes") > 0
    assert _value(families["justo_redis_max_memory_bytes"], "justo_redis_max_memory_bytes") >= 0
    assert _value(families["justo_supervisors_live"], "justo_supervisors_live") == 1
    age = _value(
        families["justo_supervisor_heartbeat_age_seconds"],
        "justo_supervisor_heartbeat_age_seconds",
        supervisor="h:7:x",
        host="h",
        pid="7",
    )
    # The heartbeat's age on Redis's clock: the 2 s it was backdated, plus however long the
    # scrape took to come (bounded by a Redis TIME read after it, not by a wall-time guess);
    # the exported value is rounded to the millisecond.
    assert 2.0 - 0.001 <= age <= scraped_by - beat + 0.001, (age, scraped_by - beat)


async def test_log_scale_buckets_map_exactly_onto_le_bounds(
    api: httpx.AsyncClient, redis: Redis, prefix: str
) -> None:
    queue = Queue(redis, "reports", prefix=prefix)
    # The window is the 60 minutes up to the scrape's minute (the API's clock). Were the
    # minute to turn between writing the hashes and the scrape, the edge cases would shift:
    # write them again for the new minute and scrape again.
    for _ in range(3):
        minute = int(time.time() // 60)
        # bucket 0: ≤0.19 ms; 5: ≤1.83 ms; 40: ≤1217 ms; 43: ≤2047 ms; 100: hours (only +Inf)
        await redis.hset(
            queue.keys.metrics(minute),
            mapping={
                "r0": 1,
                "r5": 2,
                "r40": 1,
                "r43": 1,
                "r100": 1,
                "rs": 5000,
                "w3": 4,
                "ws": 12,
                "c": 6,
            },
        )
        await redis.hset(queue.keys.metrics(minute - 59), mapping={"r5": 1})  # still in window
        await redis.hset(queue.keys.metrics(minute - 60), mapping={"r5": 50})  # outside
        run = (await _scrape(api))["justo_queue_run_seconds"]
        if int(time.time() // 60) == minute:
            break
        await redis.delete(*(queue.keys.metrics(m) for m in (minute, minute - 59, minute - 60)))
    else:
        raise AssertionError("the minute turned during every attempt")

    def bucket(le: str) -> float:
        return _value(run, "justo_queue_run_seconds_bucket", queue="reports", le=le)

    assert bucket("0.001") == 1
    assert bucket("0.003") == 4
    assert bucket("1.023") == 4
    assert bucket("2.047") == 6
    assert bucket("4194.303") == 6
    assert bucket("+Inf") == 7
    assert _value(run, "justo_queue_run_seconds_sum", queue="reports") == 5.0


def test_le_bounds_are_engine_bucket_upper_bounds() -> None:
    assert LE_SECONDS[:4] == (0.001, 0.003, 0.007, 0.015)
    assert LE_SECONDS[-1] == 4194.303
    for ms in (0, 0.5, 1, 2, 3, 10, 999, 1000, 60_000, 3_600_000):
        b = bucket_of(ms)
        le = min(x for x in LE_SECONDS if x * 1000 >= bucket_upper_ms(b))
        assert ms <= le * 1000  # a duration is never counted below its own value


def test_prometheus_buckets_are_cumulative() -> None:
    assert Histogram().prometheus_buckets()[-1] == ("+Inf", 0.0)
    buckets = dict(Histogram(Counter({0: 2, 5: 1, 200: 4}), 10.0).prometheus_buckets())
    assert (buckets[repr(LE_SECONDS[0])], buckets[repr(LE_SECONDS[1])]) == (2.0, 3.0)
    assert (buckets[repr(LE_SECONDS[-1])], buckets["+Inf"]) == (3.0, 7.0)


async def test_one_round_trip_per_scrape(
    api: httpx.AsyncClient, redis: Redis, monkeypatch: Any
) -> None:
    await Scripts(redis).load()
    calls: list[str] = []
    real_pipeline: Any = redis.pipeline
    real_command: Any = redis.execute_command

    def pipeline(*args: Any, **kwargs: Any) -> Any:
        calls.append("pipeline")
        return real_pipeline(*args, **kwargs)

    async def command(*args: Any, **kwargs: Any) -> Any:
        calls.append(str(args[0]))
        return await real_command(*args, **kwargs)

    monkeypatch.setattr(redis, "pipeline", pipeline)
    monkeypatch.setattr(redis, "execute_command", command)
    await _scrape(api)
    assert calls == ["pipeline"]
