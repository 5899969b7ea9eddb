"""Loading operators' handler modules into a registry.

A handler module either defines ``register(registry)``, which adds its handlers, or a
``HANDLERS`` dict of job name → function. The current directory is importable, so
``--import my_jobs`` finds ``./my_jobs.py``.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterable
from pathlib import Path

from engine.errors import ConfigError
from engine.worker.registry import Registry


def load_modules(registry: Registry, modules: Iterable[str]) -> list[str]:
    """Import each module and register its handlers; returns the job names added.

    Raises:
        ConfigError: a module cannot be imported or registers nothing.
    """
    cwd = str(Path.cwd())
    if cwd not in sys.path:
        sys.path.insert(0, cwd)
    added: list[str] = []
    for name in modules:
        before = set(registry.names())
        try:
            module = importlib.import_module(name)
        except Exception as exc:
            raise ConfigError(f"cannot import handler module {name!r}: {exc}") from exc
        if callable(getattr(module, "register", None)):
            module.register(registry)
        elif isinstance(getattr(module, "HANDLERS", None), dict):
            for job_name, fn in module.HANDLERS.items():
                registry.add(str(job_name), fn)
        else:
            raise ConfigError(
                f"handler module {name!r} defines neither register(registry) nor a HANDLERS dict"
            )
        added += sorted(set(registry.names()) - before)
    return added
