"""The one catalog of JustoAI's background work: five queues, four recurring jobs and the
job types producers, the CLI and the admin API enqueue.

From the original system (``lib/queues.ts`` and ``docs/BACKGROUND_JOBS.md`` of JustoAI V2):
attempts 3, exponential backoff from 2 s, keep the last 100 completed and 50 failed jobs;
concurrency sync 5, reports 3, cache-cleanup 1, document-processing 2, notifications 10.
Priorities keep the original's numbers where they were right (lower runs first: sync 5,
report 3, document 7); notifications get 1, which is what the original's "priority 10 (alta
prioridade)" meant but, in Bull, did not do. Recurring jobs run in America/Sao_Paulo time.

Everything here is data for the engine: ``settings`` builds the engine's ``Settings`` with
these queues and crons as its defaults (a TOML file and the environment still override).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.errors import ConfigError, InvalidJobError
from engine.options import QueueOptions
from engine.runtime.config import QueueConfig
from engine.runtime.cron import CronJob
from engine.runtime.settings import Settings, load_settings

SYNC = "sync"
REPORTS = "reports"
CACHE_CLEANUP = "cache-cleanup"
DOCUMENTS = "document-processing"
NOTIFICATIONS = "notifications"

QUEUES: tuple[QueueConfig, ...] = (
    QueueConfig(SYNC, 5, QueueOptions(timeout_s=1800)),
    QueueConfig(REPORTS, 3, QueueOptions(timeout_s=1800)),
    QueueConfig(CACHE_CLEANUP, 1, QueueOptions(timeout_s=600)),
    QueueConfig(DOCUMENTS, 2, QueueOptions(timeout_s=900)),
    QueueConfig(NOTIFICATIONS, 10, QueueOptions(attempts=5, priority=1, timeout_s=60)),
)
"""The five JustoAI queues with the original's defaults."""

RECURRING: tuple[CronJob, ...] = (
    CronJob("sync-apis", SYNC, "full-sync", "0 */6 * * *", {"type": "full-sync"}),
    CronJob(
        "weekly-reports",
        REPORTS,
        "generate-scheduled-reports",
        "0 23 * * 0",
        {"type": "weekly-reports"},
    ),
    CronJob(
        "cache-cleanup",
        CACHE_CLEANUP,
        "cleanup-expired-cache",
        "0 2 * * *",
        {"type": "daily-cleanup"},
    ),
    CronJob(
        "ai-cache-cleanup",
        CACHE_CLEANUP,
        "cleanup-ai-cache",
        "0 3 * * *",
        {"type": "ai-cache-cleanup"},
    ),
)
"""The original's four recurring jobs, in America/Sao_Paulo time."""


def queue_config(name: str) -> QueueConfig:
    """The catalog's queue ``name``.

    Raises:
        ConfigError: no such queue in the catalog.
    """
    for config in QUEUES:
        if config.name == name:
            return config
    raise ConfigError(f"unknown queue {name!r}")


def settings(**overrides: Any) -> Settings:
    """Engine settings with the catalog's queues and crons (tests and benchmarks)."""
    values: dict[str, Any] = {"queues": QUEUES, "recurring": RECURRING, **overrides}
    return Settings(**values)


def load(
    env: Mapping[str, str] | None = None,
    config_path: Path | None = None,
    extra_imports: tuple[str, ...] = (),
) -> Settings:
    """The engine's ``load_settings`` with the catalog as defaults.

    Raises:
        ConfigError: the file cannot be read or holds an invalid value.
    """
    return load_settings(env, config_path, extra_imports, queues=QUEUES, recurring=RECURRING)


# --- job types ------------------------------------------------------------------------


@dataclass(frozen=True)
class JobType:
    """How one kind of JustoAI job is enqueued: queue, job name, defaults, data shape."""

    queue: str
    job: str
    priority: int
    attempts: int
    build: Callable[[Mapping[str, Any]], Any]
    """Given data (a JSON object) → the job's data as the worker reads it.

    Raises ``InvalidJobError`` naming the field when the data is not usable."""


def _required_text(data: Mapping[str, Any], key: str) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value:
        raise InvalidJobError(f"data.{key} is required (a non-empty string)")
    return value


def _sync_data(data: Mapping[str, Any]) -> dict[str, Any]:
    workspace = _required_text(data, "workspaceId")
    force = data.get("forceUpdate", False)
    if not isinstance(force, bool):
        raise InvalidJobError("data.forceUpdate must be a boolean")
    extra = {k: v for k, v in data.items() if k not in ("workspaceId", "forceUpdate", "type")}
    return {"workspaceId": workspace, "type": "manual-sync", "forceUpdate": force, **extra}


def _report_data(data: Mapping[str, Any]) -> dict[str, Any]:
    return {**data, "scheduleId": _required_text(data, "scheduleId")}


def _document_data(data: Mapping[str, Any]) -> dict[str, Any]:
    document = _required_text(data, "documentId")
    analysis = data.get("analysisType", "complete")
    if not isinstance(analysis, str) or not analysis:
        raise InvalidJobError("data.analysisType must be a non-empty string")
    return {"documentId": document, "type": "pdf-analysis", "analysisType": analysis}


def _notification_data(data: Mapping[str, Any]) -> dict[str, Any]:
    return {"type": _required_text(data, "type"), "data": data.get("data")}


JOB_TYPES: dict[str, JobType] = {
    "sync-manual": JobType(SYNC, "manual-sync", 5, 2, _sync_data),
    "generate-report": JobType(REPORTS, "generate-report", 3, 2, _report_data),
    "process-document": JobType(DOCUMENTS, "process-document", 7, 3, _document_data),
    "send-notification": JobType(NOTIFICATIONS, "send-notification", 1, 5, _notification_data),
}
"""The job types of the admin API's ``POST {"type": ...}`` and of ``justo.producers``."""


def job_type(name: str) -> JobType:
    """The job type ``name``.

    Raises:
        InvalidJobError: no such job type.
    """
    try:
        return JOB_TYPES[name]
    except KeyError:
        raise InvalidJobError(f"unknown type {name!r} (known: {', '.join(JOB_TYPES)})") from None
