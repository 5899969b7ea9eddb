"""Enqueue helpers with the original system's meaning (``lib/queues.ts`` of JustoAI V2).

Priorities keep the original's numbers where they were right (lower runs first: sync 5,
report 3, document 7); notifications get 1, which is what the original's "priority 10
(alta prioridade)" meant but, in Bull, did not do.
"""

from __future__ import annotations

from typing import Any

from redis.asyncio import Redis

from engine.queue.queue import Enqueued, Queue
from engine.runtime.config import JUSTO_QUEUES


def _queue(redis: Redis, name: str, prefix: str) -> Queue:
    options = next(c.options for c in JUSTO_QUEUES if c.name == name)
    return Queue(redis, name, prefix=prefix, options=options)


async def add_sync_job(
    redis: Redis,
    workspace_id: str,
    *,
    force_update: bool = False,
    prefix: str = "justo",
    **extra: Any,
) -> Enqueued:
    """A ``manual-sync`` of one workspace's monitored processes (priority 5, 2 attempts)."""
    data = {
        "workspaceId": workspace_id,
        "type": "manual-sync",
        "forceUpdate": force_update,
        **extra,
    }
    return await _queue(redis, "sync", prefix).add("manual-sync", data, priority=5, attempts=2)


async def add_report_job(
    redis: Redis, schedule_id: str, *, priority: int = 3, prefix: str = "justo"
) -> Enqueued:
    """A ``generate-report`` for one report schedule (priority 3, 2 attempts)."""
    return await _queue(redis, "reports", prefix).add(
        "generate-report", {"scheduleId": schedule_id}, priority=priority, attempts=2
    )


async def add_document_processing_job(
    redis: Redis, document_id: str, *, analysis_type: str = "complete", prefix: str = "justo"
) -> Enqueued:
    """A ``process-document`` PDF analysis (priority 7, 3 attempts)."""
    data = {"documentId": document_id, "type": "pdf-analysis", "analysisType": analysis_type}
    return await _queue(redis, "document-processing", prefix).add(
        "process-document", data, priority=7, attempts=3
    )


async def add_notification_job(
    redis: Redis, kind: str, data: Any, *, prefix: str = "justo"
) -> Enqueued:
    """A ``send-notification`` (priority 1 = high, 5 attempts)."""
    return await _queue(redis, "notifications", prefix).add(
        "send-notification", {"type": kind, "data": data}, priority=1, attempts=5
    )
