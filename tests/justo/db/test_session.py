"""Finding and connecting to the database: URLs, redaction, engine settings, outages."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.pool import QueuePool

from engine.errors import ConfigError
from justo.db import (
    DatabaseUnavailableError,
    Workspace,
    check_schema,
    current_revision,
    database_url,
    make_engine,
    redact,
    session_factory,
    upgrade,
)


def test_default_is_a_sqlite_file_in_the_data_dir(tmp_path: Path) -> None:
    assert database_url({}, tmp_path) == f"sqlite:///{tmp_path.resolve()}/justo.db"
    assert database_url({"DATABASE_URL": "  "}, tmp_path).startswith("sqlite:///")


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("postgres://u:p@db:5432/justo", "postgresql+psycopg://u:p@db:5432/justo"),
        (
            "postgresql://u:p@db/justo?sslmode=require",
            "postgresql+psycopg://u:p@db/justo?sslmode=require",
        ),
        ("postgresql+psycopg://u@db/justo", "postgresql+psycopg://u@db/justo"),
        ("sqlite:////var/lib/justo/justo.db", "sqlite:////var/lib/justo/justo.db"),
    ],
)
def test_database_url_maps_postgres_schemes_to_psycopg3(given: str, expected: str) -> None:
    assert database_url({"DATABASE_URL": given}, Path("unused")) == expected


@pytest.mark.parametrize(
    "given", ["mysql://u:secret@db/justo", "not a url", "postgresql+psycopg2://u:secret@db/justo"]
)
def test_unsupported_database_urls_are_config_errors(given: str) -> None:
    with pytest.raises(ConfigError) as caught:
        database_url({"DATABASE_URL": given}, Path("unused"))
    assert "secret" not in str(caught.value)


def test_redact_hides_the_password() -> None:
    assert redact("postgresql+psycopg://justo:s3cr%40t@db:5432/justo") == (
        "postgresql+psycopg://justo:***@db:5432/justo"
    )
    assert redact("sqlite:///data/justo.db") == "sqlite:///data/justo.db"
    assert "s3cr" not in redact("garbage://justo:s3cr@t@db")


def test_sqlite_engine_enforces_foreign_keys_and_uses_wal(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'new' / 'dir' / 'justo.db'}")
    try:
        with engine.connect() as conn:
            assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
            assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert (tmp_path / "new" / "dir" / "justo.db").exists()
    finally:
        engine.dispose()


def test_savepoints_work(migrated: Engine) -> None:
    sessions = session_factory(migrated)
    with sessions.begin() as session:
        session.add(Workspace(name="A", slug="a"))
        nested = session.begin_nested()
        session.add(Workspace(name="B", slug="b"))
        nested.rollback()
    with sessions() as session:
        assert [w.slug for w in session.query(Workspace)] == ["a"]


def test_postgres_engine_has_a_bounded_pre_pinged_pool() -> None:
    engine = make_engine("postgresql+psycopg://u:p@db/justo")
    assert isinstance(engine.pool, QueuePool) and engine.pool.size() == 5
    assert engine.pool._pre_ping  # no public accessor
    engine.dispose()


def test_an_unreachable_database_is_a_named_error_without_the_password() -> None:
    url = "postgresql+psycopg://justo:hunter2@127.0.0.1:1/justo"
    for call in (check_schema, current_revision, upgrade):
        with pytest.raises(DatabaseUnavailableError) as caught:
            call(url)
        assert "127.0.0.1" in str(caught.value) and "hunter2" not in str(caught.value)


def test_looking_at_a_missing_sqlite_file_does_not_create_it(tmp_path: Path) -> None:
    path = tmp_path / "justo.db"
    assert current_revision(f"sqlite:///{path}") is None
    assert not path.exists()
