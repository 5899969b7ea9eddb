"""``justo-console``: the command line.

With no subcommand it opens the Textual console with the supervisor (every queue's
workers, the cron scheduler and the reaper) running in the same process; ``--monitor``
only watches; ``--headless`` runs the supervisor with no screen; ``start``/``stop``/
``status`` run it as a daemon.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from justo.cli import db, jobs, queues, report, run
from justo.cli.common import CliState, err

app = typer.Typer(
    help="JustoAI background jobs: supervisor, queue controls and the operations console.",
    pretty_exceptions_show_locals=False,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.add_typer(queues.app, name="queues")
app.add_typer(jobs.app, name="jobs")
app.add_typer(db.app, name="db")
app.command()(run.start)
app.command()(run.stop)
app.command()(run.restart)
app.command()(run.status)
app.command()(run.logs)
app.command()(report.stats)
app.command()(report.health)
app.command()(report.crons)
app.command("setup-recurring")(report.setup_recurring)


def nothing_configured() -> bool:
    """True when the environment names no Redis (so the demo feed is on by default)."""
    return not (os.environ.get("REDIS_URL") or os.environ.get("REDIS_HOST"))


@app.callback(invoke_without_command=True)
def main_command(
    ctx: typer.Context,
    headless: Annotated[
        bool,
        typer.Option(
            "--headless",
            help="Run the supervisor with no screen, logging to stdout and logs/workers/*.log.",
        ),
    ] = False,
    demo: Annotated[
        bool | None,
        typer.Option(
            "--demo/--no-demo",
            help="Feed labelled demo jobs (default: on when no Redis is configured).",
        ),
    ] = None,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config", help="TOML config file (default: JUSTO_CONFIG, else ./justo.toml)."
        ),
    ] = None,
    redis_url: Annotated[
        str | None,
        typer.Option(
            "--redis-url",
            help="Redis URL (else REDIS_URL, REDIS_HOST/PORT/PASSWORD, "
            "localhost:6379, or an embedded redis-server).",
        ),
    ] = None,
    data: Annotated[
        Path | None,
        typer.Option(
            "--data-dir",
            help="Local state: embedded Redis, logs, pids (JUSTO_DATA_DIR, default ./data).",
        ),
    ] = None,
    imports: Annotated[
        list[str] | None, typer.Option("--import", help="A handler module to load (repeatable).")
    ] = None,
    allow_eviction: Annotated[
        bool, typer.Option("--allow-eviction", help="Start even if Redis may evict keys (unsafe).")
    ] = False,
    embedded: Annotated[
        bool,
        typer.Option(
            "--embedded",
            help="Use the embedded redis-server even if one answers on "
            "localhost:6379 (ignored when a Redis URL is configured).",
        ),
    ] = False,
    monitor: Annotated[
        bool,
        typer.Option(
            "--monitor",
            help="Open the console without running workers: watch a Redis whose "
            "supervisor runs elsewhere.",
        ),
    ] = False,
    api: Annotated[
        str | None,
        typer.Option(
            "--api",
            help="With --headless: serve the admin HTTP API and /metrics on HOST:PORT "
            "(host 127.0.0.1 by default; token from JUSTO_ADMIN_TOKEN or "
            "BULL_BOARD_ACCESS_TOKEN).",
        ),
    ] = None,
    pidfile: Annotated[Path | None, typer.Option("--pidfile", hidden=True)] = None,
) -> None:
    """Run the supervisor, or a subcommand."""
    ctx.obj = CliState(
        config=config, redis_url=redis_url, data_dir=data, imports=tuple(imports or ())
    )
    if ctx.invoked_subcommand is not None:
        return
    use_demo = nothing_configured() and not redis_url if demo is None else demo
    if headless:
        code = run.run_foreground(
            ctx.obj,
            demo=use_demo,
            allow_eviction=allow_eviction,
            embedded=embedded,
            pidfile=pidfile,
            api=api,
        )
    elif api is not None:
        err.print("error: --api needs --headless")
        code = 2
    else:
        # The one place the engine reaches into the console, lazily (see README).
        from justo.cli.console import run_console

        code = run_console(
            ctx.obj.env(),
            ctx.obj.settings(),
            demo=use_demo and not monitor,
            allow_eviction=allow_eviction,
            embedded=embedded,
            monitor=monitor,
        )
    raise typer.Exit(code)


def main() -> None:
    """Console-script entry point."""
    app()
