"""The JustoAI supervisor: the engine's supervisor with the JustoAI handlers (and, with
``demo``, the demo handlers and feed)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine, Mapping
from typing import Any

from redis.asyncio import Redis

from engine.runtime.service import build_supervisor, prepare_redis, run_until_stopped
from engine.runtime.settings import Settings
from engine.runtime.supervisor import Supervisor
from engine.worker.registry import Registry
from justo import demo as demo_jobs
from justo.jobs.wiring import JustoJobs, open_justo_jobs

log = logging.getLogger("justo")


async def start_supervisor(
    redis: Redis,
    settings: Settings,
    env: Mapping[str, str],
    *,
    demo: bool,
    allow_eviction: bool = False,
) -> tuple[Supervisor, JustoJobs]:
    """Check Redis, load the scripts, open the JustoAI jobs and build a supervisor (not yet
    running). Close the returned ``JustoJobs`` when the supervisor has stopped.

    Raises:
        UnsafeRedisError: Redis may evict keys and that was not allowed.
        RedisUnavailableError: Redis cannot be reached.
        SchemaOutdatedError: the configured database needs ``justo-console db upgrade``.
    """
    await prepare_redis(redis, settings, allow_eviction=allow_eviction)
    jobs = await open_justo_jobs(redis, settings, env, demo=demo)
    registry = Registry()
    if demo:
        demo_jobs.register(registry)
    jobs.register(registry)
    try:
        return build_supervisor(redis, settings, registry, env), jobs
    except BaseException:
        await jobs.aclose()
        raise


async def run_until_stopped_and_close(
    supervisor: Supervisor,
    jobs: JustoJobs,
    *,
    demo: bool,
    on_started: Callable[[], None] | None = None,
) -> None:
    """Run the supervisor (and the demo feed) until it is asked to stop, then close what
    the jobs hold."""
    companions: list[Coroutine[Any, Any, None]] = []
    if demo:
        log.info("demo feed on: enqueuing labelled demo-* jobs (use --no-demo to turn it off)")
        companions.append(
            demo_jobs.produce(supervisor.queues, sync_workspace_id=jobs.demo_workspace_id)
        )
    try:
        await run_until_stopped(supervisor, companions=companions, on_started=on_started)
    finally:
        await jobs.aclose()
