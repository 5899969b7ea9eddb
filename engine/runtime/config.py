"""A queue as the supervisor runs it, and where local state and keys live.

The queues themselves are the application's: it passes them to ``load_settings``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from engine.options import QueueOptions


@dataclass(frozen=True)
class QueueConfig:
    """One queue the supervisor runs: its name, worker concurrency and job defaults."""

    name: str
    concurrency: int
    options: QueueOptions = field(default_factory=QueueOptions)


def data_dir(env: Mapping[str, str] | None = None) -> Path:
    """Where local state lives (embedded Redis, logs, pids): ``JUSTO_DATA_DIR`` or ``./data``."""
    env = os.environ if env is None else env
    return Path(env.get("JUSTO_DATA_DIR", "data")).resolve()


def key_prefix(env: Mapping[str, str] | None = None) -> str:
    """The Redis key prefix: ``JUSTO_PREFIX`` or ``justo``."""
    env = os.environ if env is None else env
    return env.get("JUSTO_PREFIX", "justo")
