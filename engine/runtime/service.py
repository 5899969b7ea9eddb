"""Starting the whole system from settings: connect, check Redis, load handlers, run.

Shared by ``justo-console --headless`` and (later) the console, which runs the same
supervisor in its own process.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import Callable, Mapping
from pathlib import Path

from redis.asyncio import Redis

from engine.logs import LogStreamSink, secret_values
from engine.runtime.connection import check_redis
from engine.runtime.handlers import load_modules
from engine.runtime.settings import Settings
from engine.runtime.supervisor import Supervisor, log_stream_key
from engine.scripts import Scripts
from engine.worker.registry import Registry
from justo.jobs.wiring import JustoJobs, setup_justo_jobs

log = logging.getLogger("justo")


def validate_modules(settings: Settings) -> None:
    """Import the operator's handler modules once, so a bad module is refused (exit 2)
    before anything starts.

    Raises:
        ConfigError: a module cannot be imported or registers nothing.
    """
    load_modules(Registry(), settings.imports)


async def build_registry(
    redis: Redis, settings: Settings, env: Mapping[str, str], *, demo: bool
) -> tuple[Registry, JustoJobs]:
    """The handlers: demo jobs (if asked), the JustoAI jobs, then operators' modules (which
    may replace a built-in handler). Returns what the JustoAI jobs hold open."""
    registry = Registry()
    if demo:
        from justo.demo import register_demo_handlers

        register_demo_handlers(registry)
    jobs = await setup_justo_jobs(registry, redis, settings, env, demo=demo)
    added = load_modules(registry, settings.imports)
    if added:
        log.info("loaded handlers: %s", ", ".join(added))
    return registry, jobs


async def start_supervisor(
    redis: Redis,
    settings: Settings,
    env: Mapping[str, str],
    *,
    demo: bool,
    allow_eviction: bool = False,
) -> tuple[Supervisor, JustoJobs]:
    """Check Redis, load the scripts, build the handlers and a supervisor (not yet
    running). Close the returned ``JustoJobs`` when the supervisor has stopped.

    Raises:
        UnsafeRedisError: Redis may evict keys and that was not allowed.
        RedisUnavailableError: Redis cannot be reached.
        SchemaOutdatedError: the configured database needs ``justo-console db upgrade``.
    """
    await check_redis(redis, prefix=settings.prefix, allow_eviction=allow_eviction)
    await Scripts(redis).load()
    registry, jobs = await build_registry(redis, settings, env, demo=demo)
    sink = LogStreamSink(log_stream_key(settings.prefix), secrets=secret_values(env))
    logging.getLogger().addHandler(sink)
    supervisor = Supervisor(
        redis,
        settings.queues,
        registry,
        prefix=settings.prefix,
        recurring=settings.recurring,
        grace_s=settings.grace_s,
        scheduler_options={"zone": settings.zone, "misfire_grace_s": settings.misfire_grace_s},
        log_sink=sink,
    )
    return supervisor, jobs


def install_signals(supervisor: Supervisor) -> None:
    """First SIGTERM/SIGINT: graceful stop. A second one: stop without the grace period."""
    loop = asyncio.get_running_loop()
    received = 0

    def on_signal(signum: int) -> None:
        nonlocal received
        received += 1
        name = signal.Signals(signum).name
        if received == 1:
            log.info("%s received: finishing running jobs (send again to stop faster)", name)
            supervisor.request_stop()
        else:
            log.info("%s received again: giving unfinished jobs back now", name)
            supervisor.request_stop(fast=True)

    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, on_signal, signum)


async def run_until_stopped(
    supervisor: Supervisor,
    jobs: JustoJobs,
    *,
    demo: bool,
    on_started: Callable[[], None] | None = None,
) -> None:
    """Run the supervisor (and the demo feed) until it is asked to stop, then close what
    the jobs hold."""
    producer = None
    if demo:
        from justo.demo import produce

        log.info("demo feed on: enqueuing labelled demo-* jobs (use --no-demo to turn it off)")
        producer = asyncio.create_task(
            produce(supervisor.queues, sync_workspace_id=jobs.demo_workspace_id),
            name="demo-producer",
        )
    if on_started is not None:
        on_started()
    try:
        await supervisor.run()
    finally:
        if producer is not None:
            producer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await producer
        await jobs.aclose()


def write_pidfile(path: Path) -> Callable[[], None]:
    """Write this process's pid to ``path``; returns a function that removes it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"{os.getpid()}\n")

    def remove() -> None:
        with contextlib.suppress(FileNotFoundError):
            if path.read_text().strip() == str(os.getpid()):
                path.unlink()

    return remove
