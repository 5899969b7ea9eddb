"""``justo-console db …``: migrate the application database and show its revision.

The database is ``DATABASE_URL`` (``postgres://`` accepted), else ``<data-dir>/justo.db``.
"""

from __future__ import annotations

import typer

from engine.errors import ConfigError, EngineError
from justo.cli.common import CliState, fail, out, state
from justo.db.errors import DatabaseUnavailableError
from justo.db.migrate import check_schema, current_revision, head_revision, upgrade
from justo.db.session import database_url, redact

app = typer.Typer(
    help="Migrate the application database (DATABASE_URL, else "
    "<data-dir>/justo.db) and show its schema revision.",
    no_args_is_help=True,
)


def _url(cli: CliState) -> str:
    try:
        return database_url(cli.env(), cli.settings().data_dir)
    except ConfigError as exc:
        fail(str(exc))


@app.command("upgrade")
def upgrade_command(ctx: typer.Context) -> None:
    """Migrate the database to the newest schema (safe to run again)."""
    url = _url(state(ctx))
    before = _current(url)
    try:
        reached = upgrade(url)
    except DatabaseUnavailableError as exc:
        fail(str(exc), 1)
    except EngineError as exc:
        fail(str(exc))
    if before == reached:
        out.print(f"{redact(url)}: already at {reached}")
    else:
        out.print(f"{redact(url)}: upgraded from {before or '(none)'} to {reached}")


@app.command()
def current(ctx: typer.Context) -> None:
    """Print the database's revision and the one the code needs; exit 1 if they differ."""
    url = _url(state(ctx))
    revision = _current(url)
    head = head_revision()
    out.print(f"database: {redact(url)}")
    out.print(f"current:  {revision or '(none)'}")
    out.print(f"head:     {head}")
    if revision == head:
        return
    try:
        check_schema(url)  # raises, with what to do about it
    except DatabaseUnavailableError as exc:
        fail(str(exc), 1)
    except ConfigError as exc:
        fail(str(exc), 1)


def _current(url: str) -> str | None:
    try:
        return current_revision(url)
    except DatabaseUnavailableError as exc:
        fail(str(exc), 1)
