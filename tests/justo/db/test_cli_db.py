"""``justo-console db upgrade`` and ``db current`` on both databases."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from justo.cli import db
from justo.cli.common import CliState

runner = CliRunner()


def invoke(env: dict[str, str], *args: str) -> tuple[int, str, str]:
    result = runner.invoke(db.app, list(args), env=env)
    return result.exit_code, result.stdout, result.stderr


def test_current_then_upgrade_then_current(db_url: str, tmp_path: Path) -> None:
    env = {"DATABASE_URL": db_url, "JUSTO_DATA_DIR": str(tmp_path / "data")}

    code, stdout, stderr = invoke(env, "current")
    assert code == 1
    assert "current:  (none)" in stdout and "head:     0002" in stdout
    assert "database schema is at (none), code needs 0002: run `justo-console db upgrade`" in (
        stderr.replace("\n", " ")
    )

    code, stdout, _ = invoke(env, "upgrade")
    assert code == 0 and "upgraded from (none) to 0002" in stdout

    code, stdout, _ = invoke(env, "upgrade")
    assert code == 0 and "already at 0002" in stdout

    code, stdout, _ = invoke(env, "current")
    assert code == 0 and "current:  0002" in stdout


def test_default_database_is_justo_db_in_the_data_dir(tmp_path: Path) -> None:
    code, stdout, _ = invoke({"DATABASE_URL": "", "JUSTO_DATA_DIR": str(tmp_path)}, "upgrade")
    assert code == 0 and f"sqlite:///{tmp_path.resolve()}/justo.db" in stdout
    assert (tmp_path / "justo.db").exists()


def test_the_root_data_dir_option_is_used(tmp_path: Path) -> None:
    # As registered by the lead: the root callback stores a CliState in ctx.obj.
    root = typer.Typer()

    @root.callback()
    def main(ctx: typer.Context) -> None:
        ctx.obj = CliState(data_dir=tmp_path / "root-data")

    root.add_typer(db.app, name="db")
    result = runner.invoke(root, ["db", "upgrade"], env={"DATABASE_URL": ""})
    assert result.exit_code == 0, result.output
    assert (tmp_path / "root-data" / "justo.db").exists()


@pytest.mark.parametrize("command", ["upgrade", "current"])
def test_bad_or_unreachable_databases_exit_with_a_message(command: str) -> None:
    code, _, stderr = invoke({"DATABASE_URL": "mysql://u:secret@db/x"}, command)
    assert code == 2 and "DATABASE_URL must be postgresql://" in stderr
    code, _, stderr = invoke({"DATABASE_URL": "postgresql://u:secret@127.0.0.1:1/x"}, command)
    assert code == 1 and "cannot connect to" in stderr and "secret" not in stderr


def test_no_arguments_shows_help() -> None:
    result = runner.invoke(db.app, [])
    assert "upgrade" in result.output and "current" in result.output
