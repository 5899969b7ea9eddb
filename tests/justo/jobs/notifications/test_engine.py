"""Through the real engine (Redis queue + worker): a rate-limited send is retried with
backoff and sent once; a permanent failure completes at once, with no retry."""

from __future__ import annotations

import asyncio

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from engine.job import JobState
from engine.options import Backoff
from engine.worker.registry import Registry
from engine.worker.worker import Worker
from justo.db.models import Notification, NotificationStatus
from justo.jobs.notifications import NOTIFICATION_JOB, NotificationWorker, ResendSender
from tests.conftest import QueueFactory
from tests.justo.jobs.fakes import LoopbackServer, json_response
from tests.justo.jobs.notifications.fakes import RESEND_KEY, FakeResend, seed_workspace


async def test_retry_then_send_once_and_permanent_failure_without_retry(
    sessions: sessionmaker[Session], make_queue: QueueFactory
) -> None:
    ws = seed_workspace(sessions)
    queue = make_queue("notifications", attempts=5, backoff=Backoff("fixed", 20))
    fake = FakeResend()
    fake.script.append(
        json_response(
            429,
            {"statusCode": 429, "name": "rate_limit_exceeded", "message": "Too many requests"},
            {"retry-after": "1"},
        )
    )
    base = {"workspaceId": ws, "subject": "Prazo", "text": "Prazo amanhã"}
    async with LoopbackServer(fake).running() as server:
        sender = ResendSender(RESEND_KEY, base_url=server.url)
        registry = Registry()
        registry.add(NOTIFICATION_JOB, NotificationWorker(sessions, email=sender, whatsapp=None))
        limited = await queue.add(
            NOTIFICATION_JOB, {"type": "email-alert", "data": {**base, "to": ["ok@example.com"]}}
        )
        await asyncio.wait_for(Worker(queue, registry, concurrency=1).run(burst=True), 20)
        invalid = await queue.add(
            NOTIFICATION_JOB, {"type": "email-alert", "data": {**base, "to": ["gone@invalid.test"]}}
        )
        await asyncio.wait_for(Worker(queue, registry, concurrency=1).run(burst=True), 20)
        await sender.aclose()

    retried = await queue.get_job(limited.id)
    assert retried is not None
    assert (retried.state, retried.attempts_made) == (JobState.COMPLETED, 2)
    assert retried.result == {
        "status": "sent",
        "permanent": False,
        "type": "email-alert",
        "channel": "email",
        "idempotencyKey": f"notif:{limited.id}",
        "sent": 1,
        "failed": 0,
        "deliveries": [
            {
                "recipient": "o***@example.com",
                "status": "sent",
                "attempts": 2,
                "providerMessageId": "re-2",
            }
        ],
    }
    failed = await queue.get_job(invalid.id)
    assert failed is not None
    assert (failed.state, failed.attempts_made) == (JobState.COMPLETED, 1)
    assert failed.result == {
        "status": "failed",
        "permanent": True,
        "type": "email-alert",
        "channel": "email",
        "idempotencyKey": f"notif:{invalid.id}",
        "sent": 0,
        "failed": 1,
        "deliveries": [
            {
                "recipient": "g***@invalid.test",
                "status": "failed",
                "attempts": 1,
                "error": "resend HTTP 422: validation_error: Invalid `to` field: g***@invalid.test",
            }
        ],
    }
    assert [b["to"] for b in fake.bodies()] == [
        ["ok@example.com"],
        ["ok@example.com"],
        ["gone@invalid.test"],
    ]
    with sessions() as s:
        statuses = {n.recipient: (n.status, n.attempts) for n in s.scalars(select(Notification))}
    assert statuses == {
        "ok@example.com": (NotificationStatus.SENT, 2),
        "gone@invalid.test": (NotificationStatus.FAILED, 1),
    }
