"""Where the database is and how to connect to it (sync SQLAlchemy).

Workers call the database from threads (``asyncio.to_thread``), so this is plain sync
SQLAlchemy: one ``Engine`` per process, a ``sessionmaker`` on it, one short session per
unit of work::

    engine = make_engine(database_url(os.environ, settings.data_dir))
    Session = session_factory(engine)
    with Session.begin() as session:
        session.add(Workspace(name="Silva Advogados", slug="silva"))
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import ConnectionPoolEntry

from engine.errors import ConfigError

DB_FILE_NAME = "justo.db"
"""The SQLite file under the data directory when ``DATABASE_URL`` is not set."""

SQLITE_BUSY_TIMEOUT_S = 30.0
"""How long a SQLite writer waits for another one before "database is locked"."""

PG_POOL_SIZE = 5
"""Connections kept open per process (the sync worker runs 5 processes at a time)."""

PG_MAX_OVERFLOW = 10
"""Extra connections allowed under bursts, closed when returned."""

PG_POOL_RECYCLE_S = 1800
"""Reconnect after this many seconds (outlives idle timeouts of proxies and poolers)."""

PG_CONNECT_TIMEOUT_S = 10
"""Give up connecting to PostgreSQL after this many seconds."""

_SCHEMES = {
    "postgres": "postgresql+psycopg",
    "postgresql": "postgresql+psycopg",
    "postgresql+psycopg": "postgresql+psycopg",
    "sqlite": "sqlite",
    "sqlite+pysqlite": "sqlite",
}


def database_url(env: Mapping[str, str], data_dir: Path) -> str:
    """The database to use: ``DATABASE_URL``, else a SQLite file in ``data_dir``.

    ``postgres://`` and ``postgresql://`` (as Heroku, Render or Supabase print them) are
    mapped to the psycopg 3 driver, ``postgresql+psycopg://``.

    Args:
        env: The environment (``DATABASE_URL`` is read from it).
        data_dir: The local data directory (``sqlite:///<data_dir>/justo.db``).

    Raises:
        ConfigError: ``DATABASE_URL`` is not a URL, or names a database other than
            PostgreSQL or SQLite.
    """
    configured = env.get("DATABASE_URL", "").strip()
    if not configured:
        return f"sqlite:///{Path(data_dir).resolve() / DB_FILE_NAME}"
    scheme, sep, rest = configured.partition("://")
    if not sep:
        raise ConfigError(f"DATABASE_URL is not a URL: {redact(configured)}")
    driver = _SCHEMES.get(scheme.lower())
    if driver is None:
        raise ConfigError(f"DATABASE_URL must be postgresql:// or sqlite:///, not {scheme}://")
    url = f"{driver}://{rest}"
    try:
        make_url(url)
    except ArgumentError as exc:
        raise ConfigError(f"DATABASE_URL is not a valid URL: {redact(configured)}") from exc
    return url


_CREDENTIALS = re.compile(r"(://[^:/@]*:)[^@/]*@")


def redact(url: str | URL) -> str:
    """``url`` with its password replaced by ``***``, for logs and messages."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return _CREDENTIALS.sub(r"\1***@", str(url))


def make_engine(url: str | URL, **kwargs: Any) -> Engine:
    """An engine for ``url`` with the settings this project relies on.

    SQLite: foreign keys enforced, WAL journal (readers never block the writer), a busy
    timeout, and real transactions (``BEGIN IMMEDIATE``, so savepoints work and two
    threads never deadlock upgrading a read to a write). The file's directory is created.

    PostgreSQL: a bounded pool with pre-ping (survives server restarts) and recycling.

    Args:
        url: A URL as returned by ``database_url``.
        **kwargs: Passed on to ``sqlalchemy.create_engine`` (they win over the defaults).
    """
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(parsed, kwargs)
    options: dict[str, Any] = {
        "pool_size": PG_POOL_SIZE,
        "max_overflow": PG_MAX_OVERFLOW,
        "pool_recycle": PG_POOL_RECYCLE_S,
        "pool_pre_ping": True,
        "connect_args": {
            "connect_timeout": PG_CONNECT_TIMEOUT_S,
            "application_name": "justo-console",
        },
    }
    options.update(kwargs)
    return create_engine(parsed, **options)


def _sqlite_engine(url: URL, kwargs: dict[str, Any]) -> Engine:
    database = url.database or ""
    in_memory = database in ("", ":memory:") or database.startswith("file::memory:")
    if not in_memory:
        Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    options: dict[str, Any] = {"connect_args": {"timeout": SQLITE_BUSY_TIMEOUT_S}}
    options.update(kwargs)
    engine = create_engine(url, **options)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
        # Take transaction control away from the sqlite3 module, which otherwise
        # begins transactions late and breaks SAVEPOINT; see the "begin" hook.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        if not in_memory:
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions on ``engine``; objects stay readable after commit (no reload per attribute).

    Use one session per unit of work, e.g. ``with factory.begin() as session: ...``.
    """
    return sessionmaker(engine, expire_on_commit=False)
