"""``justo-console``: the command line.

With no subcommand it runs the supervisor (every queue's workers and the reaper). Until the
Textual console lands, ``justo-console`` and ``justo-console --headless`` both run it in
the foreground with logs on stdout.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
from pathlib import Path
from typing import Annotated

import typer

from engine.config import JUSTO_QUEUES, data_dir, key_prefix
from engine.connection import RedisRuntime, check_redis, make_client, redact_url
from engine.errors import ConfigError, EngineError, RedisUnavailableError
from engine.registry import Registry
from engine.scripts import Scripts
from engine.supervisor import Supervisor

log = logging.getLogger("justo")

app = typer.Typer(
    help="JustoAI background jobs: supervisor, queue controls and the operations console.",
    pretty_exceptions_show_locals=False,
    add_completion=False,
)


def setup_logging(level: int = logging.INFO) -> None:
    """Log lines to stdout: time, level, logger, message."""
    logging.basicConfig(
        level=level, stream=sys.stdout,
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s", force=True)


def nothing_configured() -> bool:
    """True when the environment names no Redis (so the demo feed is on by default)."""
    return not (os.environ.get("REDIS_URL") or os.environ.get("REDIS_HOST"))


@app.callback(invoke_without_command=True)
def main_command(
    ctx: typer.Context,
    headless: Annotated[bool, typer.Option(
        "--headless", help="Run the supervisor with no screen, logging to stdout.")] = False,
    demo: Annotated[bool | None, typer.Option(
        "--demo/--no-demo",
        help="Feed labelled demo jobs (default: on when no Redis is configured).")] = None,
    redis_url: Annotated[str | None, typer.Option(
        "--redis-url", envvar="REDIS_URL", help="Redis URL (else REDIS_HOST/PORT/PASSWORD, "
        "else localhost:6379, else an embedded redis-server).", show_envvar=True)] = None,
    data: Annotated[Path | None, typer.Option(
        "--data-dir", help="Local state: embedded Redis, logs, pids (JUSTO_DATA_DIR).")] = None,
    allow_eviction: Annotated[bool, typer.Option(
        "--allow-eviction", help="Start even if Redis may evict keys (unsafe).")] = False,
    embedded: Annotated[bool, typer.Option(
        "--embedded", help="Use the embedded redis-server even if one answers on "
        "localhost:6379 (ignored when a Redis URL is configured).")] = False,
) -> None:
    """Run the supervisor: every queue's workers and the stalled-job reaper."""
    if ctx.invoked_subcommand is not None:
        return
    setup_logging()
    if not headless:
        log.info("the Textual console is not built yet; running headless")
    env = dict(os.environ)
    if redis_url:
        env["REDIS_URL"] = redis_url
    use_demo = nothing_configured() if demo is None else demo
    code = run_headless(env, data or data_dir(env), demo=use_demo,
                        allow_eviction=allow_eviction, probe_localhost=not embedded)
    raise typer.Exit(code)


def run_headless(env: dict[str, str], state_dir: Path, *, demo: bool,
                 allow_eviction: bool, probe_localhost: bool = True) -> int:
    """Run the supervisor in the foreground until SIGTERM/SIGINT. Returns the exit code."""
    runtime = RedisRuntime(env, state_dir, probe_localhost=probe_localhost)
    try:
        url = runtime.url()
        log.info("Redis: %s", redact_url(url))
        asyncio.run(_serve(url, key_prefix(env), demo=demo, allow_eviction=allow_eviction))
    except ConfigError as exc:
        log.error("%s", exc)
        return 2
    except RedisUnavailableError as exc:
        log.error("%s", exc)
        return 1
    except EngineError as exc:
        log.error("%s: %s", exc.title, exc)
        return 1
    finally:
        runtime.close()
    return 0


async def _serve(url: str, prefix: str, *, demo: bool, allow_eviction: bool) -> None:
    redis = make_client(url)
    try:
        await check_redis(redis, prefix=prefix, allow_eviction=allow_eviction)
        await Scripts(redis).load()
        registry = Registry()
        if demo:
            from engine.demo import register_demo_handlers

            register_demo_handlers(registry)
        supervisor = Supervisor(redis, JUSTO_QUEUES, registry, prefix=prefix)
        _install_signals(supervisor)
        producer = _start_demo(supervisor) if demo else None
        await supervisor.run()
        if producer is not None:
            producer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await producer
    finally:
        await redis.aclose()


def _start_demo(supervisor: Supervisor) -> asyncio.Task[None]:
    from engine.demo import produce

    log.info("demo feed on: enqueuing labelled demo-* jobs (use --no-demo to turn it off)")
    return asyncio.create_task(produce(supervisor.queues), name="demo-producer")


def _install_signals(supervisor: Supervisor) -> None:
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


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()
