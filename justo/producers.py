"""Enqueue helpers with the original system's meaning (``lib/queues.ts`` of JustoAI V2).

Each helper is one job type of ``justo.catalog``: the same queue, job name, data shape,
priority and attempts the admin API and the CLI use.
"""

from __future__ import annotations

from typing import Any

from redis.asyncio import Redis

from engine.queue.queue import Queue
from engine.scripts.replies import Enqueued
from justo.catalog import job_type, queue_config


async def enqueue(
    redis: Redis, type_name: str, data: dict[str, Any], *, prefix: str = "justo", **options: Any
) -> Enqueued:
    """Enqueue a job of the catalog's type ``type_name`` (its defaults, then ``options``).

    Raises:
        InvalidJobError: unknown type, or data the type cannot use.
    """
    spec = job_type(type_name)
    queue = Queue(redis, spec.queue, prefix=prefix, options=queue_config(spec.queue).options)
    options = {"priority": spec.priority, "attempts": spec.attempts, **options}
    return await queue.add(spec.job, spec.build(data), **options)


async def add_sync_job(
    redis: Redis,
    workspace_id: str,
    *,
    force_update: bool = False,
    prefix: str = "justo",
    **extra: Any,
) -> Enqueued:
    """A ``manual-sync`` of one workspace's monitored processes (priority 5, 2 attempts)."""
    data = {"workspaceId": workspace_id, "forceUpdate": force_update, **extra}
    return await enqueue(redis, "sync-manual", data, prefix=prefix)


async def add_report_job(
    redis: Redis, schedule_id: str, *, priority: int = 3, prefix: str = "justo"
) -> Enqueued:
    """A ``generate-report`` for one report schedule (priority 3, 2 attempts)."""
    data = {"scheduleId": schedule_id}
    return await enqueue(redis, "generate-report", data, prefix=prefix, priority=priority)


async def add_document_processing_job(
    redis: Redis, document_id: str, *, analysis_type: str = "complete", prefix: str = "justo"
) -> Enqueued:
    """A ``process-document`` PDF analysis (priority 7, 3 attempts)."""
    data = {"documentId": document_id, "analysisType": analysis_type}
    return await enqueue(redis, "process-document", data, prefix=prefix)


async def add_notification_job(
    redis: Redis, kind: str, data: Any, *, prefix: str = "justo"
) -> Enqueued:
    """A ``send-notification`` (priority 1 = high, 5 attempts)."""
    return await enqueue(redis, "send-notification", {"type": kind, "data": data}, prefix=prefix)
