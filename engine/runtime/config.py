"""The JustoAI queues and their defaults, from the original system.

``docs/BACKGROUND_JOBS.md`` of JustoAI V2: attempts 3, exponential backoff from 2 s, keep
the last 100 completed and 50 failed jobs; notifications get 5 attempts and high priority.
Concurrency per queue as the original's workers: sync 5, reports 3, cache-cleanup 1,
document-processing 2, notifications 10.
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


JUSTO_QUEUES: tuple[QueueConfig, ...] = (
    QueueConfig("sync", 5, QueueOptions(timeout_s=1800)),
    QueueConfig("reports", 3, QueueOptions(timeout_s=1800)),
    QueueConfig("cache-cleanup", 1, QueueOptions(timeout_s=600)),
    QueueConfig("document-processing", 2, QueueOptions(timeout_s=900)),
    QueueConfig("notifications", 10, QueueOptions(attempts=5, priority=1, timeout_s=60)),
)
"""The five JustoAI queues with the original's defaults."""


def data_dir(env: Mapping[str, str] | None = None) -> Path:
    """Where local state lives (embedded Redis, logs, pids): ``JUSTO_DATA_DIR`` or ``./data``."""
    env = os.environ if env is None else env
    return Path(env.get("JUSTO_DATA_DIR", "data")).resolve()


def key_prefix(env: Mapping[str, str] | None = None) -> str:
    """The Redis key prefix: ``JUSTO_PREFIX`` or ``justo``."""
    env = os.environ if env is None else env
    return env.get("JUSTO_PREFIX", "justo")
