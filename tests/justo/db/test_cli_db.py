"""``justo-console db upgrade`` and ``db current`` on both databases."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer
from sqlalchemy.engine import make_url
from typer.testing import CliRunner

from justo.cli import db
from justo.cli.common import CliState
from justo.db.migrate import current_revision, head_revision, upgrade

runner = CliRunner()

HEAD = head_revision()
"""The revision the code needs."""


def invoke(env: dict[str, str], *args: str) -> tuple[int, str, str]:
    result = runner.invoke(db.app, list(args), env=env)
    return result.exit_code, result.stdout, result.stderr


def test_current_then_upgrade_then_current(db_url: str, tmp_path: Path) -> None:
    env = {"DATABASE_URL": db_url, "JUSTO_DATA_DIR": str(tmp_path / "data")}
    shown = make_url(db_url).render_as_string(hide_password=True)  # password as ***

    def revisions(current: str) -> str:
        return f"database: {shown}\ncurrent:  {current}\nhead:     {HEAD}\n"

    def behind(current: str) -> str:
        return (
            f"error: database schema is at {current}, code needs {HEAD}: "
            "run `justo-console db upgrade`\n"
        )

    assert invoke(env, "current") == (1, revisions("(none)"), behind("(none)"))

    upgrade(db_url, "0001")  # a database one migration behind
    assert invoke(env, "current") == (1, revisions("0001"), behind("0001"))

    assert invoke(env, "upgrade") == (0, f"{shown}: upgraded from 0001 to {HEAD}\n", "")
    assert invoke(env, "upgrade") == (0, f"{shown}: already at {HEAD}\n", "")
    assert invoke(env, "current") == (0, revisions(HEAD), "")


def test_default_database_is_justo_db_in_the_data_dir(tmp_path: Path) -> None:
    result = invoke({"DATABASE_URL": "", "JUSTO_DATA_DIR": str(tmp_path)}, "upgrade")
    url = f"sqlite:///{tmp_path.resolve()}/justo.db"
    assert result == (0, f"{url}: upgraded from (none) to {HEAD}\n", "")
    assert current_revision(url) == HEAD


def test_the_root_data_dir_option_is_used(tmp_path: Path) -> None:
    # As registered by the lead: the root callback stores a CliState in ctx.obj.
    root = typer.Typer()

    @root.callback()
    def main(ctx: typer.Context) -> None:
        ctx.obj = CliState(data_dir=tmp_path / "root-data")

    root.add_typer(db.app, name="db")
    result = runner.invoke(root, ["db", "upgrade"], env={"DATABASE_URL": ""})
    url = f"sqlite:///{(tmp_path / 'root-data').resolve()}/justo.db"
    assert (result.exit_code, result.stdout) == (0, f"{url}: upgraded from (none) to {HEAD}\n")
    assert current_revision(url) == HEAD


@pytest.mark.parametrize("command", ["upgrade", "current"])
def test_bad_or_unreachable_databases_exit_with_a_message(command: str) -> None:
    code, stdout, stderr = invoke({"DATABASE_URL": "mysql://u:secret@db/x"}, command)
    assert (code, stdout, stderr) == (
        2,
        "",
        "error: DATABASE_URL must be postgresql:// or sqlite:///, not mysql://\n",
    )
    code, stdout, stderr = invoke({"DATABASE_URL": "postgresql://u:secret@127.0.0.1:1/x"}, command)
    # The URL as the driver was given it, password hidden, then libpq's first line.
    prefix = "error: cannot connect to postgresql+psycopg://u:***@127.0.0.1:1/x: "
    assert (code, stdout, stderr[: len(prefix)]) == (1, "", prefix)
    assert stderr.endswith("Connection refused\n") and stderr.count("\n") == 1


def test_no_arguments_shows_help() -> None:
    result = runner.invoke(db.app, [])
    box = result.output.split("─ Commands ─")[1]
    listed = [
        line[2:].split()[0] for line in box.splitlines() if line.startswith("│ ") and line[2] != " "
    ]
    assert listed == ["upgrade", "current"]
