"""The supervisor as a real process: signals, Redis outages, operator modules, cron ticks."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from redis.asyncio import Redis

from engine import JobSpec, JobState, Queue, QueueOptions
from engine.client import make_client
from engine.runtime.embedded import EmbeddedRedis, find_redis_server
from engine.runtime.supervisor import read_supervisors
from tests.conftest import eventually
from tests.justo.supervisor_helpers import cli_env, start_supervisor, write_config


def stop_process(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.kill()
        proc.wait()


def ops_queue(redis: Redis, prefix: str) -> Queue:
    return Queue(redis, "ops", prefix=prefix, options=QueueOptions(lease_ms=2000))


async def exec_counts(redis: Redis, prefix: str) -> dict[str, int]:
    raw = await redis.hgetall(f"{prefix}:exec")
    return {k.decode(): int(v) for k, v in raw.items()}


async def test_sigterm_finishes_running_jobs_and_returns_the_rest(
    redis: Redis, redis_url: str, prefix: str, tmp_path: Path
) -> None:
    env = cli_env(redis_url, prefix, tmp_path / "data")
    config = write_config(tmp_path / "justo.toml", grace=2.0)
    queue = ops_queue(redis, prefix)
    # Gated jobs finish only when the test opens their gate, so what runs when the signal
    # lands does not depend on timing.
    long_jobs = await queue.add_bulk([JobSpec("gated", {"gate": "long"}) for _ in range(2)])
    short_jobs = await queue.add_bulk([JobSpec("gated", {"gate": "short"}) for _ in range(2)])
    later = await queue.add_bulk([JobSpec("sleepy", {"s": 0.1}) for _ in range(6)])
    output = tmp_path / "out.log"
    proc = start_supervisor(env, config, output)
    try:

        async def four_running() -> bool:
            return (await queue.counts()).active == 4

        await eventually(four_running, timeout=20)
        signalled = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        await redis.rpush(f"{prefix}:gate:short", "go", "go")
        code = await asyncio.to_thread(proc.wait, 15)
        elapsed = time.monotonic() - signalled
    finally:
        stop_process(proc)
    assert code == 0, output.read_text()
    assert elapsed <= 2.0 + 2.0, elapsed
    done = await exec_counts(redis, prefix)
    assert all(done.get(j.id) == 1 for j in short_jobs)
    assert not any(j.id in done for j in long_jobs)
    head = await queue.jobs(JobState.WAITING, 0, 1)
    assert {j.id for j in head} == {j.id for j in long_jobs}
    assert (await queue.counts()).active == 0
    assert not any(j.id in done for j in later)

    # After a restart every job runs, none twice.
    await redis.rpush(f"{prefix}:gate:long", "go", "go")
    proc = start_supervisor(env, config, output)
    try:

        async def all_done() -> bool:
            return len(await exec_counts(redis, prefix)) == 10

        await eventually(all_done, timeout=30)
    finally:
        proc.send_signal(signal.SIGTERM)
        await asyncio.to_thread(proc.wait, 15)
    assert set((await exec_counts(redis, prefix)).values()) == {1}


async def test_second_sigterm_stops_without_grace(
    redis: Redis, redis_url: str, prefix: str, tmp_path: Path
) -> None:
    env = cli_env(redis_url, prefix, tmp_path / "data")
    config = write_config(tmp_path / "justo.toml", grace=30.0)
    queue = ops_queue(redis, prefix)
    jobs = await queue.add_bulk([JobSpec("sleepy", {"s": 60}) for _ in range(2)])
    proc = start_supervisor(env, config, tmp_path / "out.log")
    try:

        async def running() -> bool:
            return (await queue.counts()).active == 2

        await eventually(running, timeout=20)
        proc.send_signal(signal.SIGTERM)
        await asyncio.sleep(0.5)
        signalled = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        code = await asyncio.to_thread(proc.wait, 15)
        assert time.monotonic() - signalled < 3
    finally:
        stop_process(proc)
    assert code == 0
    waiting = await queue.jobs(JobState.WAITING, 0, -1)
    assert {j.id for j in waiting} == {j.id for j in jobs}


@pytest.fixture
def own_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedRedis]:
    server = EmbeddedRedis(
        tmp_path_factory.mktemp("outage"), appendonly=True, binary=find_redis_server(prefer="path")
    )
    server.start()
    yield server
    server.stop()


async def test_supervisor_survives_redis_down_for_ten_seconds(
    own_redis: EmbeddedRedis, prefix: str, tmp_path: Path
) -> None:
    env = cli_env(own_redis.url, prefix, tmp_path / "data")
    config = write_config(tmp_path / "justo.toml")
    output = tmp_path / "out.log"
    redis = make_client(own_redis.url)
    queue = ops_queue(redis, prefix)
    before = await queue.add_bulk([JobSpec("sleepy", {"s": 0.05}) for _ in range(5)])
    proc = start_supervisor(env, config, output)
    try:

        async def first_done() -> bool:
            return len(await exec_counts(redis, prefix)) == 5

        await eventually(first_done, timeout=20)
        own_redis.stop()
        await asyncio.sleep(10)  # the outage itself is what is being tested
        assert proc.poll() is None, output.read_text()
        own_redis.start()
        restarted = time.monotonic()
        after = await queue.add_bulk([JobSpec("sleepy", {"s": 0.05}) for _ in range(5)])

        async def second_done() -> bool:
            return len(await exec_counts(redis, prefix)) == 10

        await eventually(second_done, timeout=20)
        assert time.monotonic() - restarted <= 5.0 + 1.0
    finally:
        proc.send_signal(signal.SIGTERM)
        code = await asyncio.to_thread(proc.wait, 15)
        await redis.aclose()
    assert code == 0
    assert {j.id for j in before + after} <= set(await _counts(own_redis, prefix))
    log = output.read_text()
    assert "Redis unavailable" in log
    assert "Traceback" not in log


async def _counts(server: EmbeddedRedis, prefix: str) -> dict[str, int]:
    redis = make_client(server.url)
    try:
        return await exec_counts(redis, prefix)
    finally:
        await redis.aclose()


async def test_three_supervisors_enqueue_each_second_tick_exactly_once(
    redis: Redis, redis_url: str, prefix: str, tmp_path: Path
) -> None:
    env = cli_env(redis_url, prefix, tmp_path / "data")
    config = write_config(tmp_path / "justo.toml", every_second=True)
    procs = [start_supervisor(env, config, tmp_path / f"out{i}.log") for i in range(3)]
    try:

        async def all_beating() -> bool:
            return len(await read_supervisors(redis, prefix)) == 3

        await eventually(all_beating, timeout=30)
        start = int(time.time()) + 1
        await asyncio.sleep(30)  # the run length is what the acceptance asks for
        end = int(time.time()) - 2
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        codes = [await asyncio.to_thread(p.wait, 15) for p in procs]
    assert codes == [0, 0, 0]
    runs = await exec_counts(redis, prefix)
    ticks = {
        int(job_id.split(":")[2]): n
        for job_id, n in runs.items()
        if job_id.startswith("cron:every-second:")
    }
    window = range(start, end + 1)
    assert [t for t in window if t not in ticks] == [], "missed ticks"
    assert {ticks[t] for t in window} == {1}, "a tick ran more than once"
    owners = await redis.hget(f"{prefix}:cron:every-second", "owner")
    assert owners is not None
