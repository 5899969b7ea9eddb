"""The engine never imports the console or Textual (but for the CLI's one lazy import)."""

from __future__ import annotations

import ast
from pathlib import Path

ENGINE = Path(__file__).resolve().parent.parent / "engine"
ALLOWED = {("engine/cli/__init__.py", "justo.cli.console")}


def test_engine_does_not_import_console_or_textual() -> None:
    offending = []
    for path in ENGINE.rglob("*.py"):
        rel = path.relative_to(ENGINE.parent).as_posix()
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                root = name.split(".")[0]
                if root in ("console", "textual") and (rel, name) not in ALLOWED:
                    offending.append(f"{rel}: {name}")
    assert offending == []
