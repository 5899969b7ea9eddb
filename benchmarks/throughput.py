"""Throughput, Redis cost and latency of the justo engine, measured in one command.

    .venv/bin/python benchmarks/throughput.py --jobs 20000 --concurrency 50 --json
    .venv/bin/python benchmarks/throughput.py --redis-url redis://127.0.0.1:6399/0 --json

Without ``--redis-url`` a private ``redis-server`` (no persistence, unix socket) is started
in a temporary directory and stopped at the end. With ``--redis-url`` every key lives under
a fresh, unique prefix, and only those keys are deleted afterwards (never FLUSHALL): the
server may be shared, but then its INFO counters also see other clients' traffic.

What is measured (N = ``--jobs``, C = ``--concurrency``):

* ``enqueue_per_s``: N single ``Queue.add`` calls in a loop (one round trip each).
* ``enqueue_bulk_per_s``: ``Queue.add_bulk`` with lists of 1000 ``JobSpec`` per call.
* ``process_per_s``: one in-process ``Worker`` (concurrency C, no-op async handler) works
  the N waiting jobs; N / (last handler completion - worker start). ``process_acked_per_s``
  also waits for the worker to record the last outcomes in Redis and stop.
* ``redis_commands_per_job``: INFO commandstats calls during processing / N. This counts
  every command Redis executed, *including* the commands run inside Lua scripts (an
  EVALSHA and each ``redis.call`` in it count one each); the benchmark's own INFO is
  subtracted. ``redis_evalsha_per_job`` is the EVALSHA part alone.
* ``round_trips_per_job``: server ``total_reads_processed`` delta during processing / N
  (a pipelined batch read in one go counts once); ``worker_round_trips_per_job`` is the
  worker's own ``stats.round_trips`` / N (its fetch/finish exchanges only; no BLPOP).
* ``bytes_per_waiting_job``: ``used_memory`` growth with the N jobs waiting / N.
* ``latency_p50_ms`` / ``latency_p99_ms``: a worker already running and idle in a child
  process; 500 jobs sent 5 ms apart, each carrying ``time.time()`` taken just before its
  ``add`` call; the handler records start time minus that.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from redis.asyncio import Redis

from engine.client import make_client, redact_url
from engine.queue.queue import JobSpec, Queue
from engine.runtime.embedded import EmbeddedRedis, find_redis_server
from engine.worker.context import JobContext
from engine.worker.registry import Registry
from engine.worker.worker import Worker

QUEUE_NAME = "bench"
"""Name of the benchmark queue (under a unique prefix per run)."""

BULK_BATCH = 1000
"""Jobs per ``add_bulk`` call in the bulk enqueue test."""

SCRIPT = os.path.abspath(__file__)
"""This file: the latency test runs it again as its worker child."""

PROCESS_TIMEOUT_S = 600.0
"""Longest the processing test may take before the run is abandoned."""


# ------------------------------------------------------------------ redis stats


@dataclass(frozen=True)
class Snapshot:
    """The INFO counters one measurement phase needs."""

    cmds: dict[str, int]
    commands_processed: int
    reads: int
    net_in: int
    cpu_s: float
    used_memory: int


async def snapshot(redis: Redis) -> Snapshot:
    """One ``INFO ALL`` round trip."""
    info = await redis.info("all")
    cmds = {
        key[len("cmdstat_") :]: int(value["calls"])
        for key, value in info.items()
        if key.startswith("cmdstat_")
    }
    return Snapshot(
        cmds,
        int(info["total_commands_processed"]),
        int(info["total_reads_processed"]),
        int(info["total_net_input_bytes"]),
        float(info["used_cpu_user"]) + float(info["used_cpu_sys"]),
        int(info["used_memory"]),
    )


def cost(a: Snapshot, b: Snapshot, n: int) -> dict[str, Any]:
    """Per-job Redis cost between two snapshots.

    Redis counts an INFO after it ran, so ``b`` includes ``a``'s own INFO: that one command
    and its read are subtracted.
    """
    diff = {k: v - a.cmds.get(k, 0) for k, v in b.cmds.items() if v != a.cmds.get(k, 0)}
    diff["info"] = diff.get("info", 0) - 1
    diff = {k: v for k, v in diff.items() if v > 0}
    total = sum(diff.values())
    evals = sum(v for k, v in diff.items() if k.startswith(("eval", "fcall")))
    return {
        "commands_per_job": total / n,
        "evalsha_per_job": evals / n,
        "commands_processed_per_job": (b.commands_processed - a.commands_processed - 1) / n,
        "reads_per_job": (b.reads - a.reads - 1) / n,
        "net_in_bytes_per_job": (b.net_in - a.net_in) / n,
        "redis_cpu_us_per_job": (b.cpu_s - a.cpu_s) * 1e6 / n,
        "by_command": {k: round(v / n, 3) for k, v in sorted(diff.items(), key=lambda kv: -kv[1])},
    }


async def delete_prefix(redis: Redis, prefix: str) -> int:
    """Delete every key under ``prefix:`` (SCAN + UNLINK). Returns how many."""
    removed = 0
    batch: list[bytes] = []
    async for key in redis.scan_iter(match=f"{prefix}:*", count=1000):
        batch.append(key)
        if len(batch) >= 1000:
            removed += int(await redis.unlink(*batch))
            batch = []
    if batch:
        removed += int(await redis.unlink(*batch))
    return removed


# ----------------------------------------------------------------------- tests


def job_data(i: int) -> dict[str, Any]:
    """The job argument: the same small dict as the peer harness uses."""
    return {"i": i, "t": time.time(), "lat": False}


async def enqueue_single(queue: Queue, n: int) -> float:
    """Enqueue ``n`` jobs one ``add`` call at a time; returns the seconds it took."""
    t0 = time.perf_counter()
    for i in range(n):
        await queue.add("noop", job_data(i))
    return time.perf_counter() - t0


async def enqueue_bulk(queue: Queue, n: int) -> float:
    """Enqueue ``n`` jobs with ``add_bulk``, ``BULK_BATCH`` per call; returns seconds."""
    t0 = time.perf_counter()
    for start in range(0, n, BULK_BATCH):
        await queue.add_bulk(
            [JobSpec("noop", job_data(i)) for i in range(start, min(n, start + BULK_BATCH))]
        )
    return time.perf_counter() - t0


@dataclass
class ProcessResult:
    """Timings of one processing run."""

    seconds: float
    acked_seconds: float
    steady_seconds: float
    cpu_s: float
    round_trips: int


async def process(queue: Queue, n: int, concurrency: int) -> ProcessResult:
    """Start one worker on the ``n`` waiting jobs and time it until the last completion."""
    done = 0
    t_first = 0.0
    t_last = 0.0
    finished = asyncio.Event()

    async def noop(ctx: JobContext) -> None:
        nonlocal done, t_first, t_last
        done += 1
        if done == 1:
            t_first = time.perf_counter()
        if done == n:
            t_last = time.perf_counter()
            finished.set()

    registry = Registry()
    registry.add("noop", noop)
    worker = Worker(queue, registry, concurrency=concurrency, grace_s=5.0)
    cpu0 = time.process_time()
    t0 = time.perf_counter()
    task = asyncio.create_task(worker.run())
    try:
        await asyncio.wait_for(finished.wait(), PROCESS_TIMEOUT_S)
    finally:
        worker.stop()
        await task
    t_acked = time.perf_counter()
    return ProcessResult(
        t_last - t0,
        t_acked - t0,
        t_last - t_first,
        time.process_time() - cpu0,
        worker.stats.round_trips,
    )


async def latency(url: str, prefix: str, concurrency: int, n: int, gap: float) -> list[float]:
    """Enqueue→start latency (ms) of ``n`` jobs sent ``gap`` s apart to an idle worker."""
    redis = make_client(url)
    queue = Queue(redis, QUEUE_NAME, prefix=prefix)
    await queue.scripts.load()
    ready_key, lat_key = f"{prefix}:bench:ready", f"{prefix}:bench:lat"
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        SCRIPT,
        "--latency-worker",
        json.dumps({"url": url, "prefix": prefix, "concurrency": concurrency, "n": n}),
    )
    try:
        await queue.add("noop", {"warm": True, "t": time.time()})
        if await redis.blpop([ready_key], timeout=60) is None:
            raise RuntimeError("latency worker did not start")
        await asyncio.sleep(1.5)  # the worker is idle again, blocked on the wake-up list
        t0 = time.time()
        for i in range(n):
            wait = t0 + i * gap - time.time()
            if wait > 0:
                await asyncio.sleep(wait)
            await queue.add("noop", {"i": i, "t": time.time(), "lat": True})
        reply = await redis.blpop([lat_key], timeout=120)
        if reply is None:
            raise RuntimeError("latency worker did not report")
        return sorted(float(x) for x in json.loads(reply[1]))
    finally:
        try:
            await asyncio.wait_for(child.wait(), 30)
        except TimeoutError:
            child.kill()
            await child.wait()
        await redis.aclose()


async def latency_worker(url: str, prefix: str, concurrency: int, n: int) -> None:
    """Child process of ``latency``: an idle worker that records each job's latency."""
    redis = make_client(url)
    queue = Queue(redis, QUEUE_NAME, prefix=prefix)
    lats: list[float] = []
    got_all = asyncio.Event()

    async def noop(ctx: JobContext) -> None:
        start = time.time()
        if ctx.data.get("warm"):
            await redis.rpush(f"{prefix}:bench:ready", "1")
            return
        lats.append((start - ctx.data["t"]) * 1000)
        if len(lats) >= n:
            got_all.set()

    registry = Registry()
    registry.add("noop", noop)
    worker = Worker(queue, registry, concurrency=concurrency, grace_s=5.0)
    task = asyncio.create_task(worker.run())
    try:
        await asyncio.wait_for(got_all.wait(), 300)
    finally:
        worker.stop()
        await task
        await redis.rpush(f"{prefix}:bench:lat", json.dumps(lats))
        await redis.aclose()


# ------------------------------------------------------------------------ main


async def run(
    url: str, jobs: int, concurrency: int, lat_n: int, lat_gap: float, private: bool
) -> dict[str, Any]:
    """All the tests on the server at ``url``; returns the result dict."""
    prefix = f"justobench{uuid.uuid4().hex[:10]}"
    redis = make_client(url)
    queue = Queue(redis, QUEUE_NAME, prefix=prefix)
    try:
        await queue.scripts.load()
        server = await redis.info("server")
        await redis.ping()

        # 1. single enqueue, and the memory of N waiting jobs
        s0 = await snapshot(redis)
        enqueue_s = await enqueue_single(queue, jobs)
        s1 = await snapshot(redis)
        counts = await queue.counts()
        if counts.waiting != jobs:
            raise RuntimeError(f"expected {jobs} waiting jobs, found {counts.waiting}")

        # 2. processing with one worker
        s1b = await snapshot(redis)
        proc = await process(queue, jobs, concurrency)
        s2 = await snapshot(redis)
        counts = await queue.counts()
        if counts.waiting or counts.active:
            raise RuntimeError(f"jobs left after processing: {counts}")
        await delete_prefix(redis, prefix)

        # 3. bulk enqueue
        s3 = await snapshot(redis)
        bulk_s = await enqueue_bulk(queue, jobs)
        s4 = await snapshot(redis)
        await delete_prefix(redis, prefix)

        # 4. latency with an idle worker in another process
        lats = await latency(url, prefix, concurrency, lat_n, lat_gap)
    finally:
        if private:
            await redis.flushall()
        else:
            await delete_prefix(redis, prefix)
        await redis.aclose()

    enq = cost(s0, s1, jobs)
    pc = cost(s1b, s2, jobs)
    bulk = cost(s3, s4, jobs)
    quant = statistics.quantiles(lats, n=100, method="inclusive")
    return {
        "jobs": jobs,
        "concurrency": concurrency,
        "redis": "private redis-server (unix socket)" if private else redact_url(url),
        "redis_version": server.get("redis_version"),
        "enqueue_per_s": jobs / enqueue_s,
        "enqueue_bulk_per_s": jobs / bulk_s,
        "process_per_s": jobs / proc.seconds,
        "process_acked_per_s": jobs / proc.acked_seconds,
        "process_steady_per_s": (jobs - 1) / proc.steady_seconds if proc.steady_seconds else None,
        "worker_cpu_us_per_job": proc.cpu_s * 1e6 / jobs,
        "redis_commands_per_job": pc["commands_per_job"],
        "redis_evalsha_per_job": pc["evalsha_per_job"],
        "redis_total_commands_processed_per_job": pc["commands_processed_per_job"],
        "round_trips_per_job": pc["reads_per_job"],
        "worker_round_trips_per_job": proc.round_trips / jobs,
        "redis_cpu_us_per_job": pc["redis_cpu_us_per_job"],
        "process_commands_by_name": pc["by_command"],
        "bytes_per_waiting_job": (s1.used_memory - s0.used_memory) / jobs,
        "enqueue_commands_per_job": enq["commands_per_job"],
        "enqueue_round_trips_per_job": enq["reads_per_job"],
        "enqueue_bulk_round_trips_per_job": bulk["reads_per_job"],
        "enqueue_bulk_bytes_per_waiting_job": (s4.used_memory - s3.used_memory) / jobs,
        "latency_n": len(lats),
        "latency_gap_ms": lat_gap * 1000,
        "latency_p50_ms": statistics.median(lats),
        "latency_p99_ms": quant[98],
        "latency_max_ms": lats[-1],
        "notes": {
            "redis_commands_per_job": "INFO commandstats calls during processing / N: "
            "EVALSHA calls plus every command run inside the scripts; benchmark INFO excluded",
            "redis_total_commands_processed_per_job": "total_commands_processed delta / N "
            "(as Redis counts it: on 7.x this also includes commands run inside scripts)",
            "round_trips_per_job": "server total_reads_processed delta during processing / N",
            "worker_round_trips_per_job": "Worker.stats.round_trips / N (fetch+finish exchanges)",
            "process_per_s": "N / (last handler completion - worker start), in-process worker",
        },
    }


def print_table(result: dict[str, Any]) -> None:
    """Human-readable output."""
    for key, value in result.items():
        if isinstance(value, float):
            print(f"{key:40s} {value:12,.2f}")
        elif not isinstance(value, dict):
            print(f"{key:40s} {value}")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--redis-url",
        help="use this server (keys under a unique prefix); default: start a private redis-server",
    )
    ap.add_argument("--jobs", type=int, default=20000, help="N jobs per test")
    ap.add_argument("--concurrency", type=int, default=50, help="worker concurrency")
    ap.add_argument("--latency-jobs", type=int, default=500)
    ap.add_argument("--latency-gap-ms", type=float, default=5.0)
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    ap.add_argument("--latency-worker", help=argparse.SUPPRESS)
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    """Entry point."""
    args = parse_args(argv)
    if args.latency_worker:
        cfg = json.loads(args.latency_worker)
        asyncio.run(latency_worker(cfg["url"], cfg["prefix"], cfg["concurrency"], cfg["n"]))
        return
    if args.jobs < 2:
        raise SystemExit("--jobs must be at least 2")
    gap = args.latency_gap_ms / 1000
    if args.redis_url:
        result = asyncio.run(
            run(args.redis_url, args.jobs, args.concurrency, args.latency_jobs, gap, private=False)
        )
    else:
        with tempfile.TemporaryDirectory(prefix="justo-bench-") as tmp:
            server = EmbeddedRedis(
                Path(tmp), appendonly=False, binary=find_redis_server(prefer="path")
            )
            server.start()
            try:
                result = asyncio.run(
                    run(
                        server.url,
                        args.jobs,
                        args.concurrency,
                        args.latency_jobs,
                        gap,
                        private=True,
                    )
                )
            finally:
                server.stop()
    if args.json:
        print(json.dumps(result))
    else:
        print_table(result)


if __name__ == "__main__":
    main()
