"""Migrations on both databases: upgrade from empty, idempotence, the schema check, and
no drift between the models and the migrated schema."""

from __future__ import annotations

import shutil
import threading
from importlib.resources import as_file, files
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Column, Engine, Integer, MetaData, String, inspect, select, text

from engine.errors import ConfigError
from justo.db import (
    Base,
    SchemaOutdatedError,
    UnknownSchemaError,
    Workspace,
    alembic_config,
    check_schema,
    current_revision,
    head_revision,
    session_factory,
    upgrade,
)
from justo.db import migrate as migrate_module

HEAD = "0002"
"""The newest shipped migration."""

TABLES = {
    "workspaces",
    "clients",
    "monitored_processes",
    "process_movements",
    "process_sync_logs",
    "report_schedules",
    "report_executions",
    "report_customizations",
    "case_documents",
    "case_analyses",
    "ai_cache",
    "notifications",
}

HINT = "run `justo-console db upgrade`"


def table_names(engine: Engine) -> set[str]:
    return set(inspect(engine).get_table_names())


def columns(engine: Engine) -> set[tuple[str, str, str, bool]]:
    inspector = inspect(engine)
    return {
        (table, c["name"], str(c["type"]), c["nullable"])
        for table in TABLES
        for c in inspector.get_columns(table)
    }


def diff(engine: Engine, metadata: MetaData) -> list[Any]:
    """What autogenerate would write to turn the database into ``metadata``."""
    with engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"compare_type": True, "target_metadata": metadata}
        )
        return list(compare_metadata(context, metadata))


def test_the_models_define_exactly_the_expected_tables() -> None:
    assert set(Base.metadata.tables) == TABLES


def test_upgrade_from_empty_creates_every_table(engine: Engine) -> None:
    assert current_revision(engine) is None
    assert table_names(engine) == set()

    assert upgrade(engine) == head_revision() == HEAD

    assert table_names(engine) == TABLES | {"alembic_version"}
    assert current_revision(engine) == HEAD


def test_upgrade_by_url_then_again_is_a_no_op(db_url: str, engine: Engine) -> None:
    assert upgrade(db_url) == HEAD
    with session_factory(engine).begin() as session:
        session.add(Workspace(name="Silva", slug="silva"))
    before = columns(engine)

    assert upgrade(db_url) == HEAD

    assert columns(engine) == before
    with session_factory(engine)() as session:
        assert session.scalars(select(Workspace.slug)).all() == ["silva"]


def test_concurrent_upgrades_both_succeed(engine: Engine) -> None:
    results: list[str] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            results.append(upgrade(engine))
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == [] and results == [HEAD] * 3
    assert table_names(engine) == TABLES | {"alembic_version"}


def test_check_schema_refuses_an_empty_database(engine: Engine) -> None:
    with pytest.raises(SchemaOutdatedError) as caught:
        check_schema(engine)
    assert str(caught.value) == f"database schema is at (none), code needs {HEAD}: {HINT}"
    assert isinstance(caught.value, ConfigError)
    assert (caught.value.current, caught.value.head) == (None, HEAD)


def test_check_schema_passes_after_upgrade(db_url: str) -> None:
    upgrade(db_url)
    assert check_schema(db_url) == HEAD


def test_check_schema_refuses_an_older_revision_until_upgraded(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    upgrade(engine)
    # The code moves on: a copy of the shipped scripts plus a 0003.
    with as_file(files("justo.db") / "migrations") as shipped:
        scripts = shutil.copytree(
            shipped, tmp_path / "migrations", ignore=shutil.ignore_patterns("__pycache__")
        )
    (scripts / "versions" / "0003_test.py").write_text(
        "import sqlalchemy as sa\nfrom alembic import op\n"
        'revision = "0003"\ndown_revision = "0002"\nbranch_labels = None\n'
        "depends_on = None\n\n"
        'def upgrade():\n    op.add_column("workspaces", sa.Column("extra", sa.Integer()))\n\n'
        'def downgrade():\n    op.drop_column("workspaces", "extra")\n'
    )
    monkeypatch.setattr(migrate_module, "SCRIPT_LOCATION", str(scripts))
    assert head_revision() == "0003"

    with pytest.raises(SchemaOutdatedError) as caught:
        check_schema(engine)
    assert str(caught.value) == f"database schema is at {HEAD}, code needs 0003: {HINT}"

    assert upgrade(engine) == "0003"
    assert check_schema(engine) == "0003"
    assert "extra" in {c["name"] for c in inspect(engine).get_columns("workspaces")}


def test_check_schema_refuses_a_revision_it_does_not_know(engine: Engine) -> None:
    upgrade(engine)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    with pytest.raises(UnknownSchemaError, match="at 9999, which this version does not know"):
        check_schema(engine)


def test_downgrade_to_base_drops_every_table(engine: Engine) -> None:
    upgrade(engine)
    with engine.begin() as conn:
        command.downgrade(alembic_config(conn), "base")
    assert table_names(engine) == {"alembic_version"}
    assert current_revision(engine) is None


def test_models_and_migrations_do_not_drift(migrated: Engine) -> None:
    assert diff(migrated, Base.metadata) == []


def test_the_drift_check_does_see_differences(migrated: Engine) -> None:
    # Guard against a comparison that silently compares nothing.
    changed = MetaData(naming_convention=Base.metadata.naming_convention)
    for table in Base.metadata.tables.values():
        table.to_metadata(changed)
    changed.tables["workspaces"].append_column(Column("extra", Integer))
    changed.tables["monitored_processes"].c.process_number.type = String(40)
    # Table-level changes are tuples, column modifications lists of tuples.
    found = {op[0] if isinstance(op, tuple) else op[0][0] for op in diff(migrated, changed)}
    assert found == {"add_column", "modify_type"}
