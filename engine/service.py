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
from collections.abc import Callable
from pathlib import Path

from redis.asyncio import Redis

from engine.connection import check_redis
from engine.handlers import load_modules
from engine.logs import LogStreamSink, secret_values
from engine.registry import Registry
from engine.scripts import Scripts
from engine.settings import Settings
from engine.supervisor import Supervisor, log_stream_key

log = logging.getLogger("justo")


def build_registry(settings: Settings, *, demo: bool) -> Registry:
    """The handlers: the JustoAI jobs, the demo jobs if asked, and operators' modules."""
    registry = Registry()
    if demo:
        from engine.demo import register_demo_handlers

        register_demo_handlers(registry)
    added = load_modules(registry, settings.imports)
    if added:
        log.info("loaded handlers: %s", ", ".join(added))
    return registry


async def start_supervisor(redis: Redis, settings: Settings, registry: Registry, *,
                           allow_eviction: bool = False) -> Supervisor:
    """Check Redis, load the scripts and build a supervisor (not yet running).

    Raises:
        UnsafeRedisError: Redis may evict keys and that was not allowed.
        RedisUnavailableError: Redis cannot be reached.
    """
    await check_redis(redis, prefix=settings.prefix, allow_eviction=allow_eviction)
    await Scripts(redis).load()
    sink = LogStreamSink(log_stream_key(settings.prefix), secrets=secret_values(os.environ))
    logging.getLogger().addHandler(sink)
    return Supervisor(redis, settings.queues, registry, prefix=settings.prefix,
                      recurring=settings.recurring, grace_s=settings.grace_s,
                      scheduler_options={"zone": settings.zone,
                                         "misfire_grace_s": settings.misfire_grace_s},
                      log_sink=sink)


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


async def run_until_stopped(supervisor: Supervisor, *, demo: bool,
                            on_started: Callable[[], None] | None = None) -> None:
    """Run the supervisor (and the demo feed) until it is asked to stop."""
    producer = None
    if demo:
        from engine.demo import produce

        log.info("demo feed on: enqueuing labelled demo-* jobs (use --no-demo to turn it off)")
        producer = asyncio.create_task(produce(supervisor.queues), name="demo-producer")
    if on_started is not None:
        on_started()
    try:
        await supervisor.run()
    finally:
        if producer is not None:
            producer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await producer


def write_pidfile(path: Path) -> Callable[[], None]:
    """Write this process's pid to ``path``; returns a function that removes it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"{os.getpid()}\n")

    def remove() -> None:
        with contextlib.suppress(FileNotFoundError):
            if path.read_text().strip() == str(os.getpid()):
                path.unlink()

    return remove
