"""CI cannot pass by accident: it runs the README's command, with every test running (no
skip, PostgreSQL required), on the versions in ``constraints.txt``."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
import uuid
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
CLOSED_PG = "postgresql+psycopg://postgres@127.0.0.1:9/test"
"""A PostgreSQL URL nothing answers (port 9, discard, is closed here)."""


def _readme_command(heading: str) -> str:
    text = (ROOT / "README.md").read_text()
    after = text[text.index(heading) :]
    return re.search(r"```sh\n(.+?)\n```", after, re.S).group(1)  # type: ignore[union-attr]


def test_ci_runs_exactly_the_readme_test_command() -> None:
    command = (ROOT / ".ci" / "run").read_text().strip().splitlines()[-1]
    assert command == _readme_command("Test it")
    assert "CI=true .venv/bin/pytest" in command  # whatever CI is set to outside
    assert "-c constraints.txt" in command
    assert "-c constraints.txt" in _readme_command("Run it")


def _pytest(test: str, **env: str) -> subprocess.CompletedProcess[str]:
    """Run one test file inside ``tests/`` (so the suite's conftest applies) in a fresh
    pytest, with ``env`` over this process's environment."""
    folder = ROOT / "tests" / f"_case_{uuid.uuid4().hex[:8]}"
    folder.mkdir()
    try:
        (folder / "test_case.py").write_text(test)
        return subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(folder)],
            cwd=ROOT,
            env={**os.environ, **env},
            capture_output=True,
            text=True,
            timeout=300,
        )
    finally:
        shutil.rmtree(folder)


PASSING = "def test_ok() -> None:\n    assert True\n"
SKIPPING = "import pytest\n\n\ndef test_skip() -> None:\n    pytest.skip('not here')\n"


def test_without_postgresql_ci_stops_and_says_how_to_start_it() -> None:
    ci = _pytest(PASSING, CI="true", JUSTO_TEST_DATABASE_URL=CLOSED_PG)
    assert ci.returncode == 4, ci.stdout
    assert "PostgreSQL unreachable" in ci.stdout and "pg_ctlcluster" in ci.stdout
    local = _pytest(PASSING, CI="false", JUSTO_TEST_DATABASE_URL=CLOSED_PG)
    assert local.returncode == 0, local.stdout  # CI=false is not CI: a developer's run


def test_under_ci_a_skipped_test_fails_the_run() -> None:
    ci = _pytest(SKIPPING, CI="1")
    assert ci.returncode == 1, ci.stdout
    assert "under CI every test must run" in ci.stdout
    local = _pytest(SKIPPING, CI="")
    assert local.returncode == 0, local.stdout


def test_every_dependency_is_pinned_in_constraints() -> None:
    pins = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        if line and not line.startswith("#"):
            name, version = line.split("==")
            pins[canonicalize_name(name)] = version
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = list(project["dependencies"])
    for extra in ("test", "lint"):
        declared += project["optional-dependencies"][extra]
    for spec in map(Requirement, declared):
        name = canonicalize_name(spec.name)
        assert name in pins, f"{spec.name} is not in constraints.txt"
        assert spec.specifier.contains(pins[name]), f"{spec} excludes the pinned {pins[name]}"
