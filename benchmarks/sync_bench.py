"""Full sync of N monitored processes against a provider with fixed latency.

The bound: with at most 5 provider calls in flight and L seconds per call, N processes
cannot take less than N × L / 5. The figure reported is the ratio of the measured time to
that bound (1.0 = the sync adds no overhead of its own).

    .venv/bin/python benchmarks/sync_bench.py --processes 5000 --latency-ms 50 --json

The provider is in-process (an ``asyncio.sleep`` of the latency, then a lawsuit with
``--movements`` steps), so the figure measures the worker: selection, batching, the Redis
cache write, change detection and one SQLite (or ``--database-url``) transaction per process.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from engine.client import make_client
from engine.runtime.embedded import EmbeddedRedis, find_redis_server
from engine.worker.context import JobContext
from justo.db import make_engine, session_factory, upgrade
from justo.db.models import MonitoredProcess, Workspace
from justo.jobs.lawsuit import Lawsuit, Movement
from justo.jobs.store import SqlSyncStore
from justo.jobs.sync import MAX_CONCURRENT, SyncWorker
from justo.jobs.wiring import demo_cnj


class LatencyProvider:
    """Answers every CNJ after ``latency`` seconds with ``movements`` steps."""

    name = "judit"

    def __init__(self, latency: float, movements: int) -> None:
        self.latency = latency
        self.movements = movements
        self.calls = 0
        self.in_flight = 0
        self.max_in_flight = 0

    async def fetch(self, cnj: str) -> Lawsuit:
        self.calls += 1
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            await asyncio.sleep(self.latency)
        finally:
            self.in_flight -= 1
        base = datetime(2025, 1, 1, tzinfo=UTC)
        steps = tuple(
            Movement(f"{cnj[-6:]}-{i}", base + timedelta(days=i), f"Movimento {i}")
            for i in range(self.movements)
        )
        return Lawsuit(cnj=cnj, provider="judit", court="TJSP", movements=steps)


def seed(url: str, processes: int) -> None:
    """A workspace with ``processes`` monitored processes (valid CNJ numbers)."""
    engine = make_engine(url)
    upgrade(engine)
    sessions = session_factory(engine)
    with sessions.begin() as session:
        workspace = Workspace(name="bench", slug=f"bench-{uuid.uuid4().hex[:6]}")
        session.add(workspace)
        session.flush()
        session.add_all(
            MonitoredProcess(workspace_id=workspace.id, process_number=demo_cnj(i))
            for i in range(processes)
        )
    engine.dispose()


async def run(
    url: str, redis_url: str, processes: int, latency: float, movements: int
) -> dict[str, Any]:
    """Seed, then time one ``full-sync`` job."""
    await asyncio.to_thread(seed, url, processes)
    engine = make_engine(url)
    redis = make_client(redis_url)
    provider = LatencyProvider(latency, movements)
    worker = SyncWorker(
        SqlSyncStore(session_factory(engine)),
        provider,
        redis,
        cache_prefix=f"bench{uuid.uuid4().hex[:6]}:",
    )
    progress: list[str] = []
    job = JobContext(
        "b1",
        "full-sync",
        {"type": "full-sync"},
        "sync",
        1,
        0,
        "t",
        lambda *args: progress.append(args[3]),
    )
    started = time.monotonic()
    result = await worker(job)
    elapsed = time.monotonic() - started
    await redis.aclose()
    engine.dispose()
    bound = processes * latency / MAX_CONCURRENT
    return {
        "processes": processes,
        "latency_ms": latency * 1000,
        "movements_per_process": movements,
        "elapsed_s": round(elapsed, 2),
        "bound_s": round(bound, 2),
        "ratio_to_bound": round(elapsed / bound, 3),
        "processes_per_s": round(processes / elapsed, 1),
        "provider_calls": provider.calls,
        "max_in_flight": provider.max_in_flight,
        "errors": result["errorCount"],
        "updated": result["updatedCount"],
        "database": url.split(":")[0],
    }


def main() -> None:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    parser.add_argument("--processes", type=int, default=5000)
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument("--movements", type=int, default=10)
    parser.add_argument(
        "--database-url", default=None, help="default: a fresh SQLite file in a temp directory"
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="jsb", dir="/tmp") as tmp:
        url = args.database_url or f"sqlite:///{Path(tmp) / 'bench.db'}"
        with EmbeddedRedis(
            Path(tmp) / "redis", appendonly=False, binary=find_redis_server(prefer="path")
        ) as server:
            figures = asyncio.run(
                run(url, server.url, args.processes, args.latency_ms / 1000, args.movements)
            )
    print(json.dumps(figures) if args.json else json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
