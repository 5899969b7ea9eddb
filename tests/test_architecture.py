"""The layout keeps its promises: three packages whose doors import-linter checks, no
import cycle, no JustoAI name in the engine, and a wheel that ships only the three."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("engine", "justo", "console")
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")

JUSTO_QUEUES = ("sync", "reports", "cache-cleanup", "document-processing", "notifications")
"""The five JustoAI queues: in the engine only as quoted names would they be domain."""

JUSTO_WORDS = (
    "justoai",
    "judit",
    "codilo",
    "lawsuit",
    "cnj",
    "court",
    "workspace",
    "report",
    "reports",
    "document",
    "documents",
    "pdf",
    "notification",
    "notifications",
    "email",
    "smtp",
    "whatsapp",
    "resend",
    "sendgrid",
    "full-sync",
    "manual-sync",
)
"""The provider, report, document and notification vocabulary of the application."""


def _copy_packages(to: Path) -> None:
    for name in PACKAGES:
        shutil.copytree(ROOT / name, to / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", to / "pyproject.toml")


def _lint_imports(where: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT_IMPORTS), "--config", str(where / "pyproject.toml"), "--no-cache"],
        cwd=where,
        env={"PYTHONPATH": str(where), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_forbidden_import_breaks_the_contracts(tmp_path: Path) -> None:
    _copy_packages(tmp_path)
    clean = _lint_imports(tmp_path)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    keys = tmp_path / "engine" / "keys.py"
    keys.write_text(keys.read_text() + "\nimport justo.catalog  # noqa: E402\n")
    broken = _lint_imports(tmp_path)
    assert broken.returncode == 1
    assert "engine is a generic library" in broken.stdout
    assert "engine.keys -> justo.catalog" in broken.stdout


def _cycles(graph: grimp.ImportGraph) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan's algorithm)."""
    modules = set(graph.modules)
    edges = {m: sorted(graph.find_modules_directly_imported_by(m) & modules) for m in modules}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for child in edges[node]:
            if child not in index:
                visit(child)
                low[node] = min(low[node], low[child])
            elif child in stack:
                low[node] = min(low[node], index[child])
        if low[node] == index[node]:
            component = stack[stack.index(node) :]
            del stack[stack.index(node) :]
            if len(component) > 1:
                found.append(sorted(component))

    for module in sorted(modules):
        if module not in index:
            visit(module)
    return found


def test_no_import_cycle_between_modules() -> None:
    # Imports under TYPE_CHECKING count too: a cycle hidden there is still a cycle.
    graph = grimp.build_graph(*PACKAGES, cache_dir=None)
    assert _cycles(graph) == []


def test_the_cycle_finder_finds_a_cycle(tmp_path: Path) -> None:
    package = tmp_path / "loop"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("from loop import b\n")
    (package / "b.py").write_text("from loop import c\n")
    (package / "c.py").write_text("import typing\nif typing.TYPE_CHECKING:\n    import loop.a\n")
    sys.path.insert(0, str(tmp_path))
    try:
        assert _cycles(grimp.build_graph("loop", cache_dir=None)) == [
            ["loop.a", "loop.b", "loop.c"]
        ]
    finally:
        sys.path.remove(str(tmp_path))


def _engine_sources() -> Iterator[tuple[Path, str]]:
    for path in sorted((ROOT / "engine").rglob("*")):
        if path.suffix in (".py", ".lua") and "__pycache__" not in path.parts:
            yield path, path.read_text(encoding="utf-8")


def test_engine_knows_no_justoai_name() -> None:
    quoted = re.compile(r"""["'`]({})["'`]""".format("|".join(map(re.escape, JUSTO_QUEUES))))
    word = re.compile(r"(?<![\w-])({})(?![\w-])".format("|".join(JUSTO_WORDS)), re.IGNORECASE)
    found = []
    for path, text in _engine_sources():
        for number, line in enumerate(text.splitlines(), 1):
            for match in [*quoted.finditer(line), *word.finditer(line)]:
                found.append(f"{path.relative_to(ROOT)}:{number}: {match.group(0)}")
    assert found == []


def test_the_vocabulary_check_would_see_a_justoai_name() -> None:
    word = re.compile(r"(?<![\w-])({})(?![\w-])".format("|".join(JUSTO_WORDS)), re.IGNORECASE)
    assert word.search("fetch the Judit lawsuit") is not None
    assert word.search("a handler records progress") is None
    assert word.search("_report(job_id)") is None


@pytest.mark.timeout(300)
def test_the_wheel_ships_only_engine_justo_and_console(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(ROOT)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (wheel,) = tmp_path.glob("justo_console-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    top = {name.split("/")[0] for name in names if not name.split("/")[0].endswith(".dist-info")}
    assert top == set(PACKAGES)
    for data in (
        "engine/scripts/fetch.lua",
        "engine/py.typed",
        "justo/db/migrations/versions/0001_initial.py",
        "justo/db/migrations/script.py.mako",
        "justo/jobs/reports/templates/base.html.j2",
        "console/app.tcss",
        "justo/jobs/reports/fonts/DejaVuSans.ttf",
        "justo/jobs/reports/fonts/LICENSE",
    ):
        assert data in names
