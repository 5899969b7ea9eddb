"""Finding Redis, start-up safety checks, the embedded server and surviving outages."""

from __future__ import annotations

import asyncio
import logging
import re
from pathlib import Path

import pytest

from engine import JobContext, Queue, Registry, UnsafeRedisError, Worker
from engine.client import make_client, redact_url, redis_url_from_env
from engine.runtime.connection import RedisRuntime, check_redis
from engine.runtime.embedded import EmbeddedRedis
from tests.conftest import RedisFactory, eventually


@pytest.fixture
def own_server(private_redis: RedisFactory) -> EmbeddedRedis:
    """A server this test may reconfigure, stop and restart."""
    return private_redis()


def test_url_from_env_prefers_redis_url_then_host_port_password() -> None:
    assert redis_url_from_env({"REDIS_URL": "redis://h:1/2", "REDIS_HOST": "x"}) == "redis://h:1/2"
    assert redis_url_from_env(
        {"REDIS_HOST": "cache", "REDIS_PORT": "6380", "REDIS_PASSWORD": "p@ss/word"}
    ) == ("redis://:p%40ss%2Fword@cache:6380/0")
    assert redis_url_from_env({"REDIS_HOST": "cache"}) == "redis://cache:6379/0"
    assert redis_url_from_env({}) is None


def test_redact_url_hides_passwords() -> None:
    assert redact_url("redis://:s3cret@host:6379/0") == "redis://***@host:6379/0"
    assert redact_url("redis://user:s3cret@host/0") == "redis://***@host/0"
    assert redact_url("unix:///tmp/r.sock") == "unix:///tmp/r.sock"


async def test_evicting_policy_is_refused_unless_allowed(own_server: EmbeddedRedis) -> None:
    client = make_client(own_server.url)
    try:
        await client.config_set("maxmemory-policy", "allkeys-lru")
        with pytest.raises(UnsafeRedisError, match="allkeys-lru"):
            await check_redis(client, prefix="p")
        health = await check_redis(client, prefix="p", allow_eviction=True)
        assert health.policy == "allkeys-lru"
        await client.config_set("maxmemory-policy", "noeviction")
        health = await check_redis(client, prefix="p")
        assert (health.policy, health.appendonly) == ("noeviction", True)
    finally:
        await client.aclose()


async def test_missing_aof_warns_and_restart_is_detected(
    own_server: EmbeddedRedis, caplog: pytest.LogCaptureFixture
) -> None:
    client = make_client(own_server.url)
    await client.config_set("appendonly", "no")
    with caplog.at_level(logging.WARNING):
        first = await check_redis(client, prefix="p")
    assert not first.restarted
    assert "no append-only file" in caplog.text
    await client.config_set("appendonly", "yes")

    async def rewritten() -> bool:
        info = await client.info("persistence")
        return not info["aof_rewrite_in_progress"] and not info["aof_rewrite_scheduled"]

    await eventually(rewritten)
    await client.aclose()
    own_server.stop()
    own_server.start()
    client = make_client(own_server.url)
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        second = await check_redis(client, prefix="p")
    await client.aclose()
    assert second.restarted and second.run_id != first.run_id
    assert "Redis restarted since last seen" in caplog.text


def test_runtime_starts_embedded_server_with_aof_when_nothing_configured(tmp_path: Path) -> None:
    short = Path("/tmp") / f"jrt{tmp_path.name[-8:]}"
    runtime = RedisRuntime({}, short, probe_localhost=False)
    try:
        url = runtime.url()
        assert url.startswith("unix://")
        assert runtime.embedded is not None
        import redis

        client = redis.Redis.from_url(url)
        assert client.config_get("appendonly") == {"appendonly": "yes"}
        assert client.config_get("maxmemory-policy") == {"maxmemory-policy": "noeviction"}
        client.close()
    finally:
        runtime.close()
    assert runtime.embedded is None


@pytest.mark.slow
async def test_worker_survives_redis_outage_and_resumes(
    own_server: EmbeddedRedis, caplog: pytest.LogCaptureFixture
) -> None:
    client = make_client(own_server.url)
    queue = Queue(client, "outage", prefix="p")
    registry = Registry()
    seen: list[int] = []

    @registry.register("n")
    async def n(ctx: JobContext) -> None:
        seen.append(ctx.data)

    worker = Worker(queue, registry, concurrency=2)
    task = asyncio.create_task(worker.run())
    await queue.add("n", 1)

    async def got(count: int) -> bool:
        return len(seen) >= count

    await eventually(lambda: got(1))
    with caplog.at_level(logging.ERROR, logger="justo.queue.outage"):
        own_server.stop()
        # Stay down across a few backoff steps: until the worker has failed three times.
        await eventually(lambda: _failures(caplog, 3), timeout=60)
        own_server.start()
        await queue.add("n", 2)
        await eventually(lambda: got(2), timeout=60)
    worker.stop()
    await asyncio.wait_for(task, 30)
    await client.aclose()
    errors = [r for r in caplog.records if "Redis unavailable" in r.getMessage()]
    # No hot loop, whatever the outage lasted: the announced waits start at 0.5 s or more
    # and grow up to a cap under 5 s (so work resumes soon), and each next try comes only
    # after the announced wait.
    delays = [float(m) for m in re.findall(r"retrying in ([0-9.]+)s", caplog.text)]
    assert len(delays) == len(errors) >= 3, caplog.text
    assert delays == sorted(delays) and 0.5 <= delays[0] < delays[2] <= delays[-1] < 5, delays
    gaps = [b.created - a.created for a, b in zip(errors, errors[1:], strict=False)]
    assert all(gap >= 0.9 * delay for gap, delay in zip(gaps, delays, strict=False)), gaps


async def _failures(caplog: pytest.LogCaptureFixture, count: int) -> bool:
    return caplog.text.count("Redis unavailable") >= count
