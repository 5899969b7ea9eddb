"""Database fixtures: every test runs on SQLite (a temp file) and on PostgreSQL.

PostgreSQL is ``JUSTO_TEST_DATABASE_URL``, else ``postgres@127.0.0.1:5432/test`` (or
``root@``), trust auth. Each test gets its own schema, ``justo_<session>_<n>``, reached
through ``search_path``; it is dropped (CASCADE) after the test and no other schema is
ever touched. When PostgreSQL cannot be reached its tests are skipped, except under CI
(``CI=true`` or ``1``), where the run stops at once with how to start it: CI must run both
databases.
"""

from __future__ import annotations

import itertools
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import NullPool

from justo.db import make_engine, session_factory, upgrade
from tests.ci import under_ci

PG_CANDIDATES = (
    "postgresql+psycopg://postgres@127.0.0.1:5432/test",
    "postgresql+psycopg://root@127.0.0.1:5432/test",
)
"""Where the local and CI PostgreSQL is (trust auth); the first that answers is used."""

DATABASES = ("sqlite", "postgresql")


def _admin_engine(url: str) -> Engine:
    return create_engine(
        url, poolclass=NullPool, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3}
    )


PG_HELP = (
    ". The suite needs PostgreSQL (trust auth, database 'test') under CI: start it with "
    "`pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start`, or point "
    "JUSTO_TEST_DATABASE_URL at one."
)


def _answering_postgres() -> tuple[Engine | None, str]:
    """An autocommit engine on the first candidate that answers, else why none did."""
    configured = os.environ.get("JUSTO_TEST_DATABASE_URL")
    errors = []
    for url in (configured,) if configured else PG_CANDIDATES:
        engine = _admin_engine(url)
        try:
            with engine.connect():
                return engine, ""
        except OperationalError as exc:
            errors.append(f"{url}: {str(exc.orig).strip().splitlines()[0]}")
            engine.dispose()
    return None, "PostgreSQL unreachable: " + "; ".join(errors)


def pytest_sessionstart(session: pytest.Session) -> None:
    """Under CI, stop before any test runs when PostgreSQL does not answer."""
    if under_ci():
        engine, reason = _answering_postgres()
        if engine is None:
            pytest.exit(reason + PG_HELP, returncode=pytest.ExitCode.USAGE_ERROR)
        engine.dispose()


@pytest.fixture(scope="session")
def pg_admin() -> Iterator[Engine]:
    """An autocommit engine on the test database (to create and drop schemas)."""
    engine, reason = _answering_postgres()
    if engine is None:
        if under_ci():
            pytest.exit(reason + PG_HELP, returncode=pytest.ExitCode.USAGE_ERROR)
        pytest.skip(reason)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def pg_schemas(pg_admin: Engine) -> Iterator[Iterator[str]]:
    """Fresh schema names for this session; any left behind are dropped at the end."""
    session_tag = uuid.uuid4().hex[:8]
    created: list[str] = []

    def names() -> Iterator[str]:
        for n in itertools.count(1):
            name = f"justo_{session_tag}_{n}"
            created.append(name)
            yield name

    yield names()
    with pg_admin.connect() as conn:
        for name in created:
            conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')


@pytest.fixture
def pg_url(pg_admin: Engine, pg_schemas: Iterator[str]) -> Iterator[str]:
    """A URL whose ``search_path`` is a new, empty schema, dropped after the test."""
    schema = next(pg_schemas)
    with pg_admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    url = pg_admin.url.update_query_dict({"options": f"-csearch_path={schema}"})
    yield url.render_as_string(hide_password=False)
    with pg_admin.connect() as conn:
        conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """A URL of a SQLite file that does not exist yet."""
    return f"sqlite:///{tmp_path / 'db' / 'justo.db'}"


@pytest.fixture(params=DATABASES)
def db_url(request: pytest.FixtureRequest) -> str:
    """An empty database: SQLite, then PostgreSQL."""
    fixture = "sqlite_url" if request.param == "sqlite" else "pg_url"
    return str(request.getfixturevalue(fixture))


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    """An engine on an empty database, disposed after the test."""
    built = make_engine(db_url)
    yield built
    built.dispose()


@pytest.fixture
def migrated(engine: Engine) -> Engine:
    """The engine, with the schema migrated to head."""
    upgrade(engine)
    return engine


@pytest.fixture
def sessions(migrated: Engine) -> sessionmaker[Session]:
    """Sessions on a migrated database."""
    return session_factory(migrated)
