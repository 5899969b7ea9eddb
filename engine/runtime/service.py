"""Starting a supervisor from settings: check Redis, load scripts and handlers, run, stop.

The application builds the registry (its own handlers first); ``build_supervisor`` then
adds the operators' ``--import`` modules, which may replace a built-in handler. Shared by
``--headless``, the daemon and the console, which runs the same supervisor in its own
process.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import Callable, Coroutine, Mapping, Sequence
from pathlib import Path
from typing import Any

from redis.asyncio import Redis

from engine.keys import log_stream_key
from engine.logs import LogStreamSink, secret_values
from engine.runtime.connection import check_redis
from engine.runtime.handlers import load_modules
from engine.runtime.settings import Settings
from engine.runtime.supervisor import Supervisor
from engine.scripts import Scripts
from engine.worker.registry import Registry

log = logging.getLogger("justo")


def validate_modules(settings: Settings) -> None:
    """Import the operator's handler modules once, so a bad module is refused (exit 2)
    before anything starts.

    Raises:
        ConfigError: a module cannot be imported or registers nothing.
    """
    load_modules(Registry(), settings.imports)


async def prepare_redis(redis: Redis, settings: Settings, *, allow_eviction: bool = False) -> None:
    """Check that Redis is reachable and safe, and load the engine's scripts.

    Raises:
        UnsafeRedisError: Redis may evict keys and that was not allowed.
        RedisUnavailableError: Redis cannot be reached.
    """
    await check_redis(redis, prefix=settings.prefix, allow_eviction=allow_eviction)
    await Scripts(redis).load()


def build_supervisor(
    redis: Redis, settings: Settings, registry: Registry, env: Mapping[str, str]
) -> Supervisor:
    """A supervisor (not yet running) for ``registry`` plus the operators' modules, with
    its log lines streamed to Redis (secrets from ``env`` masked).

    Raises:
        ConfigError: an operator's module cannot be imported or registers nothing.
    """
    added = load_modules(registry, settings.imports)
    if added:
        log.info("loaded handlers: %s", ", ".join(added))
    sink = LogStreamSink(log_stream_key(settings.prefix), secrets=secret_values(env))
    logging.getLogger().addHandler(sink)
    return Supervisor(
        redis,
        settings.queues,
        registry,
        prefix=settings.prefix,
        recurring=settings.recurring,
        grace_s=settings.grace_s,
        scheduler_options={"zone": settings.zone, "misfire_grace_s": settings.misfire_grace_s},
        log_sink=sink,
    )


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
    *,
    companions: Sequence[Coroutine[Any, Any, None]] = (),
    on_started: Callable[[], None] | None = None,
) -> None:
    """Run the supervisor until it is asked to stop, with ``companions`` (e.g. a producer)
    running beside it and cancelled when it stops."""
    tasks = [asyncio.create_task(c) for c in companions]
    if on_started is not None:
        on_started()
    try:
        await supervisor.run()
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task


def write_pidfile(path: Path) -> Callable[[], None]:
    """Write this process's pid to ``path``; returns a function that removes it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"{os.getpid()}\n")

    def remove() -> None:
        with contextlib.suppress(FileNotFoundError):
            if path.read_text().strip() == str(os.getpid()):
                path.unlink()

    return remove
