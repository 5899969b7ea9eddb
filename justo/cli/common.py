"""What every CLI command shares: resolved options, a Redis connection, errors, output."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import typer
from redis.asyncio import Redis
from rich.console import Console

from engine.client import REDIS_DOWN, make_client, redis_url_from_env
from engine.errors import ConfigError, EngineError, RedisUnavailableError
from engine.queue.queue import Queue
from engine.runtime.connection import localhost_redis_answers
from engine.runtime.embedded import EmbeddedRedis, socket_answers
from engine.runtime.settings import Settings
from engine.units import parse_duration as parse_seconds
from justo import catalog

T = TypeVar("T")

QUIET_LOGGERS = ("httpx", "httpcore", "alembic", "uvicorn", "uvicorn.access", "aiosmtpd")
"""Libraries whose INFO lines (one per HTTP request, per migration step) would drown the
supervisor's own; only their warnings and errors are kept."""

out = Console(highlight=False, soft_wrap=True)
"""Standard output (tables, results)."""

err = Console(stderr=True, highlight=False, soft_wrap=True)
"""Standard error (errors, notices)."""


@dataclass
class CliState:
    """Root options, shared with every subcommand through ``ctx.obj``."""

    config: Path | None = None
    redis_url: str | None = None
    data_dir: Path | None = None
    imports: tuple[str, ...] = ()
    extra_env: dict[str, str] = field(default_factory=dict)

    def env(self) -> dict[str, str]:
        """The environment with the root options applied."""
        env = dict(os.environ)
        env.update(self.extra_env)
        if self.redis_url:
            env["REDIS_URL"] = self.redis_url
        if self.data_dir is not None:
            env["JUSTO_DATA_DIR"] = str(self.data_dir)
        return env

    def settings(self) -> Settings:
        """Resolved settings; exits 2 on a configuration error."""
        try:
            return catalog.load(self.env(), self.config, self.imports)
        except ConfigError as exc:
            fail(str(exc))


def state(ctx: typer.Context) -> CliState:
    """The root options of this invocation."""
    obj = ctx.find_root().obj
    return obj if isinstance(obj, CliState) else CliState()


def fail(message: str, code: int = 2) -> NoReturn:
    """Print ``error: message`` to stderr and exit (2: bad input, nothing written)."""
    err.print(f"[bold red]error:[/] {message}", markup=True, highlight=False)
    raise typer.Exit(code)


def control_url(cli: CliState) -> str:
    """The Redis a control command talks to: the configured one, else the embedded server
    of a supervisor running from this data directory, else localhost:6379.

    Unlike the supervisor, control commands never start a Redis of their own.
    """
    env = cli.env()
    configured = redis_url_from_env(env)
    if configured:
        return configured
    socket_path = cli.settings().data_dir / "redis" / EmbeddedRedis.SOCKET_NAME
    if socket_answers(socket_path):
        return f"unix://{socket_path}"
    if localhost_redis_answers():
        return "redis://127.0.0.1:6379/0"
    fail("no Redis found: set REDIS_URL, or start the supervisor (justo-console start)", 1)


def run_async(cli: CliState, body: Callable[[Redis, Settings], Awaitable[T]]) -> T:
    """Run ``body(redis, settings)`` on a fresh connection; Redis errors exit 1."""
    settings = cli.settings()
    url = control_url(cli)

    async def main() -> T:
        redis = make_client(url)
        try:
            return await body(redis, settings)
        finally:
            await redis.aclose()

    try:
        return asyncio.run(main())
    except REDIS_DOWN as exc:
        # Name what actually failed (a connection refused, a timeout), not the wrapper.
        cause = exc.__cause__ if isinstance(exc, RedisUnavailableError) and exc.__cause__ else exc
        fail(f"Redis unavailable: {type(cause).__name__}", 1)
    except EngineError as exc:
        fail(str(exc))


def check_queue(settings: Settings, name: str) -> None:
    """Exit 2 (before anything is written) when ``name`` is not a configured queue."""
    try:
        settings.queue(name)
    except ConfigError as exc:
        fail(str(exc))


def queue_for(settings: Settings, redis: Redis, name: str) -> Queue:
    """The configured queue ``name``; exits 2 for an unknown queue."""
    check_queue(settings, name)
    return Queue(redis, name, prefix=settings.prefix, options=settings.queue(name).options)


def parse_json(text: str, what: str = "--data") -> Any:
    """Parse a JSON argument; exits 2 with the parser's message when it is not JSON."""
    try:
        return json.loads(text)
    except ValueError as exc:
        fail(f"{what} is not valid JSON: {exc}")


def parse_duration(text: str) -> float:
    """``90``, ``90s``, ``15m``, ``1h``, ``7d`` → seconds; exits 2 on anything else."""
    seconds = parse_seconds(text)
    if seconds is None:
        fail(f"invalid duration {text!r} (use e.g. 30s, 15m, 1h, 7d)")
    return seconds


def print_json(data: Any) -> None:
    """Write ``data`` as JSON to stdout (no markup, no wrapping)."""
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")
