"""Timing facts that used to be upper-bound assertions in the unit tests (issue 11).

The unit tests now assert outcomes only (the job is given back, the process exits 0, the
answer is a 503); how long those take is measured here, with the same real parts the tests
use: a private ``redis-server``, the CLI as a subprocess (``python -m justo.cli --headless``
with ``tests.justo.operator_jobs`` loaded), the crash test's worker process
(``tests.engine.crash_worker``) and the admin API served by uvicorn in this loop.

    .venv/bin/python -m benchmarks.timings --json

Each figure is measured ``--repeat`` times (default 3); the JSON has every run, the median
and the maximum, in seconds. It runs in about a minute on 2 cores.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from redis.asyncio import Redis

from engine import JobSpec, JobState, Queue, QueueOptions
from engine.client import make_client
from engine.runtime.embedded import EmbeddedRedis, find_redis_server
from engine.runtime.settings import Settings
from justo import catalog
from justo.api.auth import FailureLimiter
from tests.justo.api.helpers import AUTH, api_client
from tests.justo.supervisor_helpers import (
    ROOT,
    cli_env,
    start_supervisor,
    wait_for_log,
    write_config,
)

GRACE_S = 2.0
"""Grace period of the supervisor stop measurements (what the unit test configures)."""

CRASH_LEASE_MS = 2000
"""Lease of the crash-reclaim measurement."""

CRASH_JOBS = 1000
"""Jobs queued for the crash worker (as in the crash test)."""

OUTAGE_S = 3.0
"""How long Redis stays down in the resume measurement."""

CEILING_S = 60.0
"""Longest wait for any condition here: a hang guard, not part of a figure."""

WORKERS = "/api/admin/workers"

OUTAGE_REQUESTS: list[tuple[str, str, dict[str, Any]]] = [
    ("GET", WORKERS, {}),
    ("GET", "/metrics", {}),
    ("POST", WORKERS, {"json": {"action": "pause"}}),
    ("POST", WORKERS, {"json": {"type": "sync-manual", "data": {"workspaceId": "w"}}}),
]
"""A read, the metrics scrape, a control action and a job creation."""


# --- small helpers ----------------------------------------------------------------------


def new_prefix() -> str:
    return f"tm{uuid.uuid4().hex[:10]}"


async def until(condition: Callable[[], Awaitable[bool]], what: str) -> None:
    """Poll ``condition`` every 10 ms; fail after ``CEILING_S``."""
    deadline = time.monotonic() + CEILING_S
    while not await condition():
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what}: not within {CEILING_S}s")
        await asyncio.sleep(0.01)


def stop_process(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.kill()
        proc.wait()


async def exit_code(proc: subprocess.Popen[bytes]) -> int:
    return await asyncio.to_thread(proc.wait, CEILING_S)


def summary(runs: list[float]) -> dict[str, Any]:
    return {
        "runs": [round(r, 3) for r in runs],
        "median": round(statistics.median(runs), 3),
        "max": round(max(runs), 3),
    }


@contextmanager
def private_redis(root: Path, name: str, *, appendonly: bool = False) -> Iterator[EmbeddedRedis]:
    server = EmbeddedRedis(
        root / name, appendonly=appendonly, binary=find_redis_server(prefer="path")
    )
    server.start()
    try:
        yield server
    finally:
        server.stop()


class Supervisor:
    """One ``justo.cli --headless`` subprocess with an ``ops`` queue under a fresh prefix."""

    def __init__(self, redis: Redis, url: str, work: Path, *, grace: float) -> None:
        self.prefix = new_prefix()
        self.redis = redis
        self.env = cli_env(url, self.prefix, work / self.prefix)
        self.config = write_config(work / f"{self.prefix}.toml", grace=grace)
        self.output = work / f"{self.prefix}.log"
        self.queue = Queue(redis, "ops", prefix=self.prefix, options=QueueOptions(lease_ms=2000))
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> subprocess.Popen[bytes]:
        self.proc = start_supervisor(self.env, self.config, self.output)
        return self.proc

    async def active(self, n: int) -> None:
        async def reached() -> bool:
            return (await self.queue.counts()).active == n

        await until(reached, f"{n} job(s) running")

    async def executed(self) -> int:
        return len(await self.redis.hgetall(f"{self.prefix}:exec"))

    def check_exit(self, code: int) -> None:
        if code != 0:
            raise RuntimeError(f"supervisor exited {code}:\n{self.output.read_text()}")

    def close(self) -> None:
        if self.proc is not None:
            stop_process(self.proc)


# --- supervisor stops -----------------------------------------------------------------------


async def stop_job_finishes_in_grace(redis: Redis, url: str, work: Path) -> float:
    """SIGTERM → exit, while a job runs that finishes just after the signal."""
    sup = Supervisor(redis, url, work, grace=GRACE_S)
    await sup.queue.add("gated", {"gate": "short"})
    proc = sup.start()
    try:
        await sup.active(1)
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        await redis.rpush(f"{sup.prefix}:gate:short", "go")
        code = await exit_code(proc)
        elapsed = time.monotonic() - started
    finally:
        sup.close()
    sup.check_exit(code)
    if await sup.executed() != 1:
        raise RuntimeError("the running job did not finish")
    return elapsed


async def stop_grace_expires(redis: Redis, url: str, work: Path) -> float:
    """SIGTERM → exit, while a job runs that outlasts the grace period (given back)."""
    sup = Supervisor(redis, url, work, grace=GRACE_S)
    added = await sup.queue.add("gated", {"gate": "never"})
    proc = sup.start()
    try:
        await sup.active(1)
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        code = await exit_code(proc)
        elapsed = time.monotonic() - started
    finally:
        sup.close()
    sup.check_exit(code)
    job = await sup.queue.get_job(added.id)
    if job is None or job.state is not JobState.WAITING:
        raise RuntimeError("the unfinished job was not given back")
    return elapsed


async def stop_second_signal(redis: Redis, url: str, work: Path) -> float:
    """Second SIGTERM → exit, with a 600 s grace and hour-long jobs running."""
    sup = Supervisor(redis, url, work, grace=600.0)
    await sup.queue.add_bulk([JobSpec("sleepy", {"s": 3600}) for _ in range(2)])
    proc = sup.start()
    try:
        await sup.active(2)
        proc.send_signal(signal.SIGTERM)
        await wait_for_log(sup.output, "SIGTERM received: finishing running jobs")
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        code = await exit_code(proc)
        elapsed = time.monotonic() - started
    finally:
        sup.close()
    sup.check_exit(code)
    if (await sup.queue.counts()).waiting != 2:
        raise RuntimeError("the running jobs were not given back")
    return elapsed


async def resume_after_redis_restart(work: Path) -> float:
    """Redis down ``OUTAGE_S`` under a running supervisor, then back: from the restart to a
    job enqueued at once having run."""
    with private_redis(work, f"o{uuid.uuid4().hex[:6]}", appendonly=True) as server:
        redis = make_client(server.url)
        sup = Supervisor(redis, server.url, work, grace=GRACE_S)
        await sup.queue.add("sleepy", {"s": 0.01})
        proc = sup.start()
        try:

            async def ran(n: int) -> bool:
                return await sup.executed() == n

            await until(lambda: ran(1), "first job")
            server.stop()
            await wait_for_log(sup.output, "Redis unavailable")
            await asyncio.sleep(OUTAGE_S)  # the outage being measured
            server.start()
            started = time.monotonic()
            await sup.queue.add("sleepy", {"s": 0.01})
            await until(lambda: ran(2), "job after the restart")
            elapsed = time.monotonic() - started
            proc.send_signal(signal.SIGTERM)
            sup.check_exit(await exit_code(proc))
        finally:
            sup.close()
            await redis.aclose()
    return elapsed


# --- crash reclaim --------------------------------------------------------------------------


def start_crash_worker(url: str, prefix: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.engine.crash_worker", url, prefix, str(CRASH_LEASE_MS)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )


async def crash_reclaim(redis: Redis, url: str) -> tuple[float, int]:
    """SIGKILL a worker mid-run, start another: from the kill until every job that was in
    flight has been reclaimed by the new worker's reaper. Returns (seconds, orphans)."""
    prefix = new_prefix()
    queue = Queue(
        redis,
        "crash",
        prefix=prefix,
        options=QueueOptions(lease_ms=CRASH_LEASE_MS, keep_completed=-1),
    )
    await queue.add_bulk(JobSpec("work", i) for i in range(CRASH_JOBS))
    first = start_crash_worker(url, prefix)
    second: subprocess.Popen[bytes] | None = None
    try:

        async def some_done() -> bool:
            return (await queue.counts()).completed >= 200

        await until(some_done, "200 jobs completed")
        first.send_signal(signal.SIGKILL)
        first.wait()
        killed = time.monotonic()
        orphans = [j.id for j in await queue.jobs(JobState.ACTIVE, 0, -1)]
        second = start_crash_worker(url, prefix)

        async def reclaimed() -> bool:
            for job_id in orphans:
                job = await queue.get_job(job_id)
                if job is None or job.stalls < 1:
                    return False
            return True

        await until(reclaimed, "orphans reclaimed")
        elapsed = time.monotonic() - killed

        async def all_done() -> bool:
            return (await queue.counts()).completed == CRASH_JOBS

        await until(all_done, "all jobs completed")
    finally:
        stop_process(first)
        if second is not None:
            stop_process(second)
    return elapsed, len(orphans)


# --- the admin API --------------------------------------------------------------------------


async def timed_requests(
    api: httpx.AsyncClient, requests: list[tuple[str, str, dict[str, Any]]], status: int
) -> list[float]:
    times = []
    for method, path, kwargs in requests:
        started = time.monotonic()
        response = await api.request(method, path, headers=AUTH, timeout=CEILING_S, **kwargs)
        times.append(time.monotonic() - started)
        if response.status_code != status:
            raise RuntimeError(f"{method} {path}: {response.status_code} {response.text}")
    return times


async def answers_with_redis_stopped(work: Path, settings: Settings, repeat: int) -> list[float]:
    """Each request's time to its 503, Redis having been stopped under a connected client."""
    with private_redis(work, f"a{uuid.uuid4().hex[:6]}") as server:
        redis = make_client(server.url)
        await redis.ping()  # a pooled connection, now dead
        server.stop()
        try:
            async with api_client(
                redis, settings, limiter=FailureLimiter(max_failures=10_000)
            ) as api:
                return await timed_requests(api, OUTAGE_REQUESTS * repeat, 503)
        finally:
            await redis.aclose()


async def answers_with_redis_silent(settings: Settings, repeat: int) -> list[float]:
    """Each request's time to its 503 when Redis accepts connections and never answers."""
    held: list[asyncio.StreamWriter] = []

    async def swallow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    server = await asyncio.start_server(swallow, "127.0.0.1", 0)
    redis = make_client(f"redis://127.0.0.1:{server.sockets[0].getsockname()[1]}/0")
    try:
        async with api_client(redis, settings, limiter=FailureLimiter(max_failures=10_000)) as api:
            return await timed_requests(api, OUTAGE_REQUESTS[::3] * repeat, 503)
    finally:
        await redis.aclose()
        for writer in held:
            writer.close()
        server.close()
        await server.wait_closed()


async def status_line_before_the_body(api: httpx.AsyncClient, length: int) -> bytes:
    """Announce ``length`` bytes with ``Expect: 100-continue``, send none: the status line."""
    reader, writer = await asyncio.open_connection(api.base_url.host, api.base_url.port)
    try:
        writer.write(
            (
                f"POST {WORKERS} HTTP/1.1\r\nHost: {api.base_url.host}\r\n"
                f"Authorization: {AUTH['Authorization']}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {length}\r\nExpect: 100-continue\r\n\r\n"
            ).encode()
        )
        await writer.drain()
        return await asyncio.wait_for(reader.readline(), CEILING_S)
    finally:
        writer.close()
        await writer.wait_closed()


async def oversized_uploads(redis: Redis, settings: Settings, repeat: int) -> dict[str, Any]:
    """Time to the 413 of a 10 MB body: sent whole (Content-Length), announced only
    (``Expect: 100-continue``), and streamed in chunks without a length (2.6 MB)."""
    big = b'{"type": "sync-manual", "data": {"workspaceId": "' + b"a" * 10_000_000 + b'"}}'

    async def chunks() -> Any:
        yield b'{"type": "sync-manual", "data": {"workspaceId": "'
        for _ in range(40):
            yield b"b" * 65536
        yield b'"}}'

    whole, announced, streamed = [], [], []
    async with api_client(redis, settings, limiter=FailureLimiter(max_failures=10_000)) as api:
        for _ in range(repeat):
            started = time.monotonic()
            response = await api.post(WORKERS, content=big, headers=AUTH, timeout=CEILING_S)
            whole.append(time.monotonic() - started)
            started = time.monotonic()
            line = await status_line_before_the_body(api, len(big))
            announced.append(time.monotonic() - started)
            started = time.monotonic()
            chunked = await api.post(WORKERS, content=chunks(), headers=AUTH, timeout=CEILING_S)
            streamed.append(time.monotonic() - started)
            if (response.status_code, chunked.status_code) != (413, 413) or b" 413 " not in line:
                raise RuntimeError(f"expected 413s: {response.status_code} {line!r}")
    return {
        "upload_10mb_413_s": summary(whole),
        "announced_10mb_413_s": summary(announced),
        "chunked_2_6mb_413_s": summary(streamed),
    }


# --- the run --------------------------------------------------------------------------------


async def measure(repeat: int) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="jt", dir="/tmp"))  # short: unix socket paths
    results: dict[str, Any] = {}
    try:
        with private_redis(work, "main") as server:
            redis = make_client(server.url)
            try:
                for name, probe in (
                    ("supervisor_stop_job_finishes_in_grace_s", stop_job_finishes_in_grace),
                    ("supervisor_stop_grace_expires_s", stop_grace_expires),
                    ("supervisor_stop_second_signal_s", stop_second_signal),
                ):
                    results[name] = summary(
                        [await probe(redis, server.url, work) for _ in range(repeat)]
                    )
                crashes = [await crash_reclaim(redis, server.url) for _ in range(repeat)]
                results["crash_reclaim_after_sigkill_s"] = {
                    **summary([seconds for seconds, _ in crashes]),
                    "orphans": [n for _, n in crashes],
                }
                settings = catalog.settings(prefix=new_prefix(), data_dir=work)
                results.update(await oversized_uploads(redis, settings, repeat))
                results["api_503_redis_stopped_s"] = summary(
                    await answers_with_redis_stopped(work, settings, repeat)
                )
                results["api_503_redis_silent_s"] = summary(
                    await answers_with_redis_silent(settings, repeat)
                )
                # Once: the outage itself takes OUTAGE_S.
                results["resume_after_redis_restart_s"] = summary(
                    [await resume_after_redis_restart(work)]
                )
            finally:
                await redis.aclose()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return results


def machine() -> dict[str, Any]:
    version = subprocess.run(
        [find_redis_server(prefer="path"), "--version"], capture_output=True, text=True, check=False
    ).stdout.split()
    return {
        "cpus": os.cpu_count(),
        "load_average_before": [round(x, 2) for x in os.getloadavg()],
        "python": platform.python_version(),
        "redis_server": next((v[2:] for v in version if v.startswith("v=")), "?"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--repeat", type=int, default=3, help="runs of each figure (3)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    info = machine()
    started = time.monotonic()
    results = asyncio.run(measure(args.repeat))
    report = {
        "machine": info,
        "grace_s": GRACE_S,
        "crash_lease_ms": CRASH_LEASE_MS,
        "outage_s": OUTAGE_S,
        "results": results,
        "total_s": round(time.monotonic() - started, 1),
    }
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        for name, value in results.items():
            print(f"{name}: median {value['median']} s, max {value['max']} s, runs {value['runs']}")


if __name__ == "__main__":
    main()
