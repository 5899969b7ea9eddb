"""Running the supervisor: in the foreground (``--headless``) or as a daemon
(``start``/``stop``/``restart``/``status``), and reading its per-worker logs."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Annotated

import typer
from redis.asyncio import Redis
from rich.table import Table

from engine.client import make_client, redact_url
from engine.errors import ConfigError, EngineError, RedisUnavailableError
from engine.logs import setup_logging, worker_log_path
from engine.runtime.connection import RedisRuntime
from engine.runtime.service import install_signals, validate_modules, write_pidfile
from engine.runtime.settings import Settings
from engine.runtime.supervisor import SupervisorInfo, read_supervisors
from justo.cli.common import QUIET_LOGGERS, CliState, err, fail, out, run_async, state
from justo.service import run_until_stopped_and_close, start_supervisor

log = logging.getLogger("justo")

START_WAIT_S = 15.0
"""How long ``start`` waits for the daemon to write its pid file."""


def pid_path(settings: Settings) -> Path:
    """``<data>/pids/supervisor.pid``."""
    return settings.data_dir / "pids" / "supervisor.pid"


def log_dir(settings: Settings) -> Path:
    """``<data>/logs``."""
    return settings.data_dir / "logs"


def run_foreground(
    cli: CliState,
    *,
    demo: bool,
    allow_eviction: bool,
    embedded: bool,
    pidfile: Path | None,
    api: str | None = None,
) -> int:
    """The supervisor in the foreground until SIGTERM/SIGINT. Returns the exit code."""
    settings = cli.settings()
    try:
        listen = prepare_api(api, cli.env())
    except ConfigError as exc:
        err.print(f"error: {exc}")
        return 2
    setup_logging(
        log_dir=log_dir(settings),
        queues=[q.name for q in settings.queues],
        env=cli.env(),
        quiet=QUIET_LOGGERS,
    )
    runtime = RedisRuntime(cli.env(), settings.data_dir, probe_localhost=not embedded)
    try:
        validate_modules(settings)
        url = runtime.url()
        log.info("Redis: %s", redact_url(url))
        asyncio.run(
            _serve(
                url,
                settings,
                cli.env(),
                demo=demo,
                allow_eviction=allow_eviction,
                pidfile=pidfile,
                listen=listen,
            )
        )
    except ConfigError as exc:
        log.error("%s", exc)
        return 2
    except (RedisUnavailableError, EngineError) as exc:
        log.error("%s: %s", exc.title, exc)
        return 1
    finally:
        runtime.close()
    return 0


ApiListen = tuple[str, int, str | None, socket.socket]


def prepare_api(api: str | None, env: dict[str, str]) -> ApiListen | None:
    """Check the admin token and bind the API socket before anything starts, so a bad
    token or a busy port is refused at once.

    Raises:
        ConfigError: bad address, unsafe token, or the port cannot be bound.
    """
    if api is None:
        return None
    from justo.api import check_token_config, token_from_env
    from justo.api.server import bind_socket, parse_listen_address

    host, port = parse_listen_address(api)
    token = token_from_env(env)
    for warning in check_token_config(token, host):
        log.warning("admin API: %s", warning)
    try:
        sock = bind_socket(host, port)
    except OSError as exc:
        raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror}") from exc
    return host, port, token, sock


async def _serve(
    url: str,
    settings: Settings,
    env: dict[str, str],
    *,
    demo: bool,
    allow_eviction: bool,
    pidfile: Path | None,
    listen: ApiListen | None = None,
) -> None:
    redis = make_client(url)
    remove_pid = None
    api_task = None
    stop_api = asyncio.Event()
    try:
        supervisor, jobs = await start_supervisor(
            redis, settings, env, demo=demo, allow_eviction=allow_eviction
        )
        install_signals(supervisor)
        if listen is not None:
            api_task = asyncio.create_task(_serve_api(redis, settings, env, listen, stop_api))
        if pidfile is not None:
            remove_pid = write_pidfile(pidfile)
        await run_until_stopped_and_close(supervisor, jobs, demo=demo)
    finally:
        stop_api.set()
        if api_task is not None:
            await asyncio.gather(api_task, return_exceptions=True)
        if remove_pid is not None:
            remove_pid()
        await redis.aclose()


async def _serve_api(
    redis: Redis, settings: Settings, env: dict[str, str], listen: ApiListen, stop: asyncio.Event
) -> None:
    from justo.api import create_app
    from justo.api.server import serve_api

    host, port, token, sock = listen
    app = create_app(redis, settings, token=token, env=env)
    log.info(
        "admin API on http://%s:%d (routes need the admin token, /healthz does not)", host, port
    )
    await serve_api(app, host, port, stop=stop, sock=sock)


def read_pid(path: Path) -> int | None:
    """The pid in ``path`` if that process is alive; a stale file is removed."""
    try:
        pid = int(path.read_text().strip())
    except (FileNotFoundError, ValueError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        err.print(f"removed stale pid file {path} (process {pid} is gone)")
        path.unlink(missing_ok=True)
        return None
    except PermissionError:
        return pid
    return pid


def start(
    ctx: typer.Context,
    demo: Annotated[
        bool, typer.Option("--demo/--no-demo", help="Feed labelled demo jobs.")
    ] = False,
    allow_eviction: Annotated[bool, typer.Option("--allow-eviction")] = False,
    embedded: Annotated[
        bool,
        typer.Option(
            "--embedded",
            help="Use the embedded redis-server even if one answers on localhost:6379.",
        ),
    ] = False,
) -> None:
    """Start the supervisor as a daemon (pid in <data>/pids/supervisor.pid)."""
    cli = state(ctx)
    settings = cli.settings()
    path = pid_path(settings)
    pid = read_pid(path)
    if pid is not None:
        fail(f"already running (pid {pid}); use 'justo-console restart'", 1)
    child = _spawn(cli, settings, path, demo=demo, allow_eviction=allow_eviction, embedded=embedded)
    deadline = time.monotonic() + START_WAIT_S
    while time.monotonic() < deadline:
        if read_pid(path) is not None:
            out.print(f"supervisor started (pid {child.pid}); logs in {log_dir(settings)}")
            return
        if child.poll() is not None:
            fail(
                f"supervisor exited with code {child.returncode}; see "
                f"{log_dir(settings) / 'supervisor.out'}",
                1,
            )
        time.sleep(0.1)  # waiting for another process to write a file
    fail(
        f"supervisor did not start within {START_WAIT_S:.0f}s; see "
        f"{log_dir(settings) / 'supervisor.out'}",
        1,
    )


def _spawn(
    cli: CliState,
    settings: Settings,
    path: Path,
    *,
    demo: bool,
    allow_eviction: bool,
    embedded: bool = False,
) -> subprocess.Popen[bytes]:
    args = [
        sys.executable,
        "-m",
        "justo.cli",
        "--headless",
        "--pidfile",
        str(path),
        "--data-dir",
        str(settings.data_dir),
        "--demo" if demo else "--no-demo",
    ]
    if cli.config is not None:
        args += ["--config", str(cli.config)]
    for module in cli.imports:
        args += ["--import", module]
    if allow_eviction:
        args.append("--allow-eviction")
    if embedded:
        args.append("--embedded")
    log_dir(settings).mkdir(parents=True, exist_ok=True)
    with (log_dir(settings) / "supervisor.out").open("ab") as output:
        return subprocess.Popen(
            args,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=cli.env(),
        )


def stop(
    ctx: typer.Context,
    timeout: Annotated[float, typer.Option(help="Seconds to wait before SIGKILL.")] = 40.0,
) -> None:
    """Stop the daemon: SIGTERM (graceful), SIGKILL after --timeout."""
    settings = state(ctx).settings()
    path = pid_path(settings)
    pid = read_pid(path)
    if pid is None:
        out.print("supervisor is not running")
        return
    os.kill(pid, signal.SIGTERM)
    if _wait_gone(pid, timeout):
        path.unlink(missing_ok=True)
        out.print(f"supervisor stopped (pid {pid})")
        return
    os.kill(pid, signal.SIGKILL)
    _wait_gone(pid, 5)
    path.unlink(missing_ok=True)
    err.print(
        f"supervisor did not stop within {timeout:.0f}s; killed (pid {pid}). "
        "Its unfinished jobs return to their queues when their leases expire."
    )


def _wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.1)  # polling another process's exit: there is no fd to wait on
    return False


def restart(
    ctx: typer.Context,
    demo: Annotated[bool, typer.Option("--demo/--no-demo")] = False,
    embedded: Annotated[bool, typer.Option("--embedded")] = False,
) -> None:
    """Stop the daemon if it runs, then start it (with the options ``start`` takes)."""
    stop(ctx)
    start(ctx, demo=demo, allow_eviction=False, embedded=embedded)


def status(ctx: typer.Context) -> None:
    """The daemon's pid and every live supervisor's queues, workers and heartbeat."""
    cli = state(ctx)
    settings = cli.settings()
    pid = read_pid(pid_path(settings))
    out.print(f"daemon: {'running (pid ' + str(pid) + ')' if pid else 'not running'}")

    async def body(redis: Redis, _: Settings) -> list[SupervisorInfo]:
        return await read_supervisors(redis, settings.prefix)

    supervisors = run_async(cli, body)
    if not supervisors:
        out.print("no live supervisor (no heartbeat in the last 15 s)")
        raise typer.Exit(1 if pid is None else 0)
    now = time.time()
    for info in supervisors:
        out.print(
            f"\nsupervisor {info.id}  host {info.host}  pid {info.pid}  "
            f"up {_ago(now - info.started)}  heartbeat {_ago(now - info.beat)} ago"
        )
        table = Table("queue", "workers", "in flight", "completed", "failed")
        for name, concurrency in info.queues.items():
            table.add_row(
                name,
                str(concurrency),
                str(len(info.in_flight.get(name, []))),
                str(info.completed.get(name, 0)),
                str(info.failed.get(name, 0)),
            )
        out.print(table)


def _ago(seconds: float) -> str:
    seconds = max(0, int(seconds))
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 7200:
        return f"{seconds // 60}m"
    return f"{seconds // 3600}h{(seconds % 3600) // 60:02d}m"


def logs(
    ctx: typer.Context,
    worker: Annotated[
        str, typer.Argument(help="A queue name, or 'supervisor' (scheduler, reaper, start-up).")
    ] = "supervisor",
    follow: Annotated[
        bool, typer.Option("-f", "--follow", help="Keep printing new lines.")
    ] = False,
    lines: Annotated[int, typer.Option("-n", "--lines", help="Lines to show first.")] = 50,
) -> None:
    """Print a worker's log file (logs/workers/<worker>.log), secrets already redacted."""
    settings = state(ctx).settings()
    known = ["supervisor", *(q.name for q in settings.queues)]
    if worker not in known:
        fail(f"unknown worker {worker!r} (known: {', '.join(known)})")
    path = worker_log_path(log_dir(settings), worker)
    if not path.exists():
        fail(f"no log yet at {path}", 1)
    with path.open(encoding="utf-8", errors="replace") as handle:
        for line in handle.readlines()[-lines:]:
            sys.stdout.write(line)
        sys.stdout.flush()
        while follow:
            line = handle.readline()
            if line:
                sys.stdout.write(line)
                sys.stdout.flush()
            else:
                time.sleep(0.25)  # tail -f: a file has nothing to block on
