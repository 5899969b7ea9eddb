"""Schema migrations: upgrade a database, read its revision, refuse to run on an old one.

The Alembic scripts ship inside the package (``justo/db/migrations``) and are configured
in code, so no ``alembic.ini`` is needed at run time. Workers call ``check_schema`` at
start; operators run ``justo-console db upgrade``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import Connection, Engine
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import OperationalError

from justo.db.errors import DatabaseUnavailableError, SchemaOutdatedError, UnknownSchemaError
from justo.db.session import make_engine, redact

SCRIPT_LOCATION = "justo.db:migrations"
"""The migration scripts, as an Alembic package resource."""

PG_MIGRATION_LOCK = 0x6A7573746F
"""Advisory-lock key ("justo") that serializes concurrent upgrades on PostgreSQL."""

Database = str | URL | Engine
"""A database URL, or an engine already made with ``make_engine``."""


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic ``Config`` for the packaged scripts, optionally bound to ``connection``.

    Useful for running other Alembic commands (``command.downgrade``, ``command.history``).
    """
    config = Config()
    config.set_main_option("script_location", SCRIPT_LOCATION)
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    """The revision the code needs (the newest migration)."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:  # pragma: no cover - the package always ships migrations
        raise RuntimeError("no migrations found in justo/db/migrations")
    return head


@contextmanager
def _engine(database: Database) -> Iterator[Engine]:
    if isinstance(database, Engine):
        yield database
        return
    engine = make_engine(database)
    try:
        yield engine
    finally:
        engine.dispose()


@contextmanager
def _connect(database: Database, *, begin: bool) -> Iterator[Connection]:
    """A connection (in a transaction committed at the end when ``begin``)."""
    with _engine(database) as engine:
        try:
            connection = engine.connect()
        except OperationalError as exc:
            reason = str(exc.orig).strip().splitlines()[0] if exc.orig else type(exc).__name__
            raise DatabaseUnavailableError(
                f"cannot connect to {redact(engine.url)}: {reason}"
            ) from exc
        with connection:
            if begin:
                with connection.begin():
                    yield connection
            else:
                yield connection


def upgrade(database: Database, revision: str = "head") -> str:
    """Migrate the database to ``revision`` (default: the newest) and return where it is.

    Idempotent: on an up-to-date database it does nothing. Concurrent calls are safe
    (PostgreSQL: an advisory lock; SQLite: ``BEGIN IMMEDIATE``).

    Raises:
        DatabaseUnavailableError: the database cannot be reached.
    """
    with _connect(database, begin=True) as connection:
        if connection.dialect.name == "postgresql":
            connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({PG_MIGRATION_LOCK})")
        command.upgrade(alembic_config(connection), revision)
        reached = MigrationContext.configure(connection).get_current_revision()
    return reached or "(none)"


def current_revision(database: Database) -> str | None:
    """The database's revision, or ``None`` when it was never migrated.

    Raises:
        DatabaseUnavailableError: the database cannot be reached.
    """
    if _missing_sqlite_file(database):
        return None  # and don't create an empty file just to look
    with _connect(database, begin=False) as connection:
        revision = MigrationContext.configure(connection).get_current_revision()
        connection.rollback()
    return revision


def _missing_sqlite_file(database: Database) -> bool:
    url = database.url if isinstance(database, Engine) else make_url(database)
    name = url.database or ""
    return (
        url.get_backend_name() == "sqlite"
        and name not in ("", ":memory:")
        and not name.startswith("file:")
        and not Path(name).expanduser().exists()
    )


def check_schema(database: Database) -> str:
    """Make sure the database is at the revision the code needs; return that revision.

    Raises:
        SchemaOutdatedError: the database is empty or behind; the message says to run
            ``justo-console db upgrade``.
        UnknownSchemaError: the database is at a revision this code does not know.
        DatabaseUnavailableError: the database cannot be reached.
    """
    current = current_revision(database)
    head = head_revision()
    if current == head:
        return head
    if current is None:
        raise SchemaOutdatedError(None, head)
    try:
        ScriptDirectory.from_config(alembic_config()).get_revision(current)
    except CommandError as exc:
        raise UnknownSchemaError(current, head) from exc
    raise SchemaOutdatedError(current, head)
