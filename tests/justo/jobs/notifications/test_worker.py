"""The ``send-notification`` handler on SQLite and PostgreSQL: rows, idempotency, retry
versus permanent failure, WhatsApp paths, and masked logs."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from justo.db.models import Channel, Notification, NotificationStatus
from justo.db.types import utcnow
from justo.jobs.notifications import (
    NotificationConfigError,
    NotificationWorker,
    PermanentNotificationError,
    ResendSender,
    RetryableNotificationError,
    SmtpSender,
    WhatsAppClient,
)
from justo.jobs.notifications.worker import delivery_key
from tests.justo.jobs.fakes import LoopbackServer, json_response
from tests.justo.jobs.notifications.fakes import (
    API_VERSION,
    PDF,
    PHONE_ID,
    RESEND_KEY,
    WA_TOKEN,
    FakeResend,
    FakeWhatsApp,
    Job,
    SmtpRecorder,
    graph_error,
    seed_workspace,
    smtp_server,
)

WORKSPACE_REQUIRED = "workspaceId is required (a non-empty string)"

PHONE = "+5511999998888"
OTHER_PHONE = "+5521988887777"


def rows(sessions: sessionmaker[Session]) -> list[Notification]:
    with sessions() as s:
        return list(s.scalars(select(Notification).order_by(Notification.idempotency_key)))


def email_job(workspace_id: str, **extra: Any) -> dict[str, Any]:
    return {
        "type": "email-alert",
        "workspaceId": workspace_id,
        "to": ["cliente@example.com"],
        "subject": "Nova movimentação",
        "html": "<p>Sentença publicada</p>",
        "text": "Sentença publicada",
        **extra,
    }


@asynccontextmanager
async def resend_worker(
    sessions: sessionmaker[Session], fake: FakeResend
) -> AsyncIterator[NotificationWorker]:
    async with LoopbackServer(fake).running() as server:
        sender = ResendSender(RESEND_KEY, base_url=server.url)
        try:
            yield NotificationWorker(sessions, email=sender, whatsapp=None)
        finally:
            await sender.aclose()


@asynccontextmanager
async def whatsapp_worker(
    sessions: sessionmaker[Session], fake: FakeWhatsApp
) -> AsyncIterator[NotificationWorker]:
    async with LoopbackServer(fake).running() as server:
        client = WhatsAppClient(WA_TOKEN, PHONE_ID, api_version=API_VERSION, base_url=server.url)
        try:
            yield NotificationWorker(sessions, email=None, whatsapp=client)
        finally:
            await client.aclose()


# --- email -----------------------------------------------------------------------------------


async def test_smtp_report_with_pdf_is_recorded_and_a_retry_does_not_resend(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    ws = seed_workspace(sessions)
    pdf = tmp_path / "relatorio-semanal.pdf"
    pdf.write_bytes(PDF)
    recorder = SmtpRecorder()
    job = Job(
        email_job(
            ws,
            type="email-report",
            subject="Relatório semanal",
            attachments=[{"path": str(pdf), "contentType": "application/pdf"}],
        ),
        job_id="77",
    )
    with smtp_server(recorder) as port:
        worker = NotificationWorker(
            sessions, email=SmtpSender("127.0.0.1", port, tls="none", timeout_s=5), whatsapp=None
        )
        before = utcnow()
        first = await worker(job.ctx)
        after = utcnow()
        again = await worker(job.retry().ctx)

    [received] = recorder.received
    [attachment] = list(received.message.iter_attachments())
    assert attachment.get_filename() == "relatorio-semanal.pdf"
    assert attachment.get_payload(decode=True) == PDF
    [row] = rows(sessions)
    assert (
        row.idempotency_key,
        row.workspace_id,
        row.channel,
        row.recipient,
        row.template,
        row.subject,
        row.status,
        row.attempts,
    ) == (
        "notif:77",
        ws,
        Channel.EMAIL,
        "cliente@example.com",
        "email-report",
        "Relatório semanal",
        NotificationStatus.SENT,
        1,
    )
    assert row.provider_message_id == received.message["Message-ID"]
    sent_at = row.sent_at  # when the server accepted it, not when the retry ran
    assert sent_at is not None and before <= sent_at <= after and row.error is None
    assert row.payload["attachments"] == [
        {"filename": "relatorio-semanal.pdf", "contentType": "application/pdf", "size": len(PDF)}
    ]
    assert first["status"] == "sent" and first["permanent"] is False
    assert first["deliveries"] == [
        {
            "recipient": "c***@example.com",
            "status": "sent",
            "attempts": 1,
            "providerMessageId": row.provider_message_id,
        }
    ]
    # The retry reached the SMTP server not at all: it still holds the one message.
    assert len(recorder.received) == 1
    assert again == {
        **first,
        "deliveries": [
            {
                "recipient": "c***@example.com",
                "status": "sent",
                "attempts": 1,
                "providerMessageId": row.provider_message_id,
                "alreadySent": True,
            }
        ],
    }


async def test_rate_limited_send_is_retried_with_retry_after_then_sent_once(
    sessions: sessionmaker[Session],
) -> None:
    ws = seed_workspace(sessions)
    fake = FakeResend()
    fake.script.append(
        json_response(
            429,
            {"statusCode": 429, "name": "rate_limit_exceeded", "message": "Too many requests"},
            {"retry-after": "1"},
        )
    )
    job = Job(email_job(ws, idempotencyKey="alert:proc-1:mov-9"))
    async with resend_worker(sessions, fake) as worker:
        with pytest.raises(RetryableNotificationError) as caught:
            await worker(job.ctx)
        [pending] = rows(sessions)
        second = await worker(job.retry().ctx)
        third = await worker(job.retry().retry().ctx)

    assert caught.value.retry_after_s == 1.0
    assert (pending.status, pending.attempts) == (NotificationStatus.PENDING, 1)
    assert pending.error == (
        "RetryableNotificationError: resend HTTP 429: rate_limit_exceeded: "
        "Too many requests (retry after 1s)"
    )
    assert [r.headers["idempotency-key"] for r in fake.seen] == ["alert:proc-1:mov-9"] * 2
    [row] = rows(sessions)
    assert (row.status, row.attempts, row.provider_message_id, row.error) == (
        NotificationStatus.SENT,
        2,
        "re-2",
        None,
    )
    assert second["status"] == "sent"
    assert third["deliveries"] == [
        {
            "recipient": "c***@example.com",
            "status": "sent",
            "attempts": 2,
            "providerMessageId": "re-2",
            "alreadySent": True,
        }
    ]
    assert len(fake.seen) == 2  # the refused try and the accepted one; the third sent nothing


async def test_a_repeated_job_reaches_the_provider_once(
    sessions: sessionmaker[Session],
) -> None:
    # Our rows stop the repeats, not the provider: the fake Resend records every request
    # it receives and dedupes nothing (the real one would also dedupe on Idempotency-Key).
    ws = seed_workspace(sessions)
    fake = FakeResend()
    key = "report:s1:2026-04-05"
    data = email_job(ws, to=["cliente@example.com", " cliente@example.com"], idempotencyKey=key)
    async with resend_worker(sessions, fake) as worker:
        first = await worker(Job(data, job_id=key).ctx)
        # The queue hands the same job out again (its worker died before the ack) ...
        again = await worker(Job(data, job_id=key).ctx)
        # ... and a producer enqueued the same notification as a second job.
        duplicate = await worker(Job(data, job_id="another-job").ctx)

    [request] = fake.seen
    assert request.headers["idempotency-key"] == key
    assert json.loads(request.content)["to"] == ["cliente@example.com"]  # listed twice, sent once
    [row] = rows(sessions)
    assert (row.idempotency_key, row.status, row.attempts, row.provider_message_id) == (
        key,
        NotificationStatus.SENT,
        1,
        "re-1",
    )
    delivery = {
        "recipient": "c***@example.com",
        "status": "sent",
        "attempts": 1,
        "providerMessageId": "re-1",
    }
    assert first["deliveries"] == [delivery]
    assert again["deliveries"] == duplicate["deliveries"] == [{**delivery, "alreadySent": True}]
    assert (again["sent"], duplicate["sent"]) == (1, 1)


async def test_5xx_is_retried_and_the_last_attempt_marks_the_row_failed(
    sessions: sessionmaker[Session],
) -> None:
    ws = seed_workspace(sessions)
    fake = FakeResend()
    fake.script.extend(json_response(503, {"message": "down"}) for _ in range(2))
    job = Job(email_job(ws), attempt=4)
    async with resend_worker(sessions, fake) as worker:
        with pytest.raises(RetryableNotificationError):
            await worker(job.ctx)
        assert rows(sessions)[0].status == NotificationStatus.PENDING
        with pytest.raises(RetryableNotificationError):
            await worker(job.retry().ctx)  # attempt 5 of 5
    [row] = rows(sessions)
    assert (row.status, row.attempts) == (NotificationStatus.FAILED, 2)
    assert row.error == "RetryableNotificationError: resend HTTP 503: down"
    assert len(fake.seen) == 2


async def test_invalid_recipient_fails_at_once_without_raising(
    sessions: sessionmaker[Session], caplog: pytest.LogCaptureFixture
) -> None:
    ws = seed_workspace(sessions)
    fake = FakeResend()
    job = Job(email_job(ws, to=["ninguem@invalid.test"]))
    caplog.set_level(logging.INFO, "justo.queue.notifications")
    async with resend_worker(sessions, fake) as worker:
        result = await worker(job.ctx)
    assert result["status"] == "failed" and result["permanent"] is True
    assert result["deliveries"][0]["recipient"] == "n***@invalid.test"
    [row] = rows(sessions)
    assert (row.status, row.attempts) == (NotificationStatus.FAILED, 1)
    assert row.error == ("resend HTTP 422: validation_error: Invalid `to` field: n***@invalid.test")
    assert len(fake.seen) == 1
    logged = caplog.text + "\n".join(job.logs)
    assert "n***@invalid.test" in logged and "ninguem@" not in logged
    assert RESEND_KEY not in logged


async def test_malformed_address_fails_without_calling_the_provider(
    sessions: sessionmaker[Session],
) -> None:
    ws = seed_workspace(sessions)
    fake = FakeResend()
    async with resend_worker(sessions, fake) as worker:
        result = await worker(Job(email_job(ws, to="not-an-address")).ctx)
    assert result["status"] == "failed" and fake.seen == []
    assert rows(sessions)[0].error == "invalid email address"


async def test_several_recipients_each_get_a_row_and_a_retry_skips_those_served(
    sessions: sessionmaker[Session],
) -> None:
    ws = seed_workspace(sessions)
    fake = FakeResend()
    data = {
        "type": "email-alert",
        "data": {
            "workspaceId": ws,
            "to": ["a@example.com", "b@example.com"],
            "subject": "Prazo",
            "text": "Prazo amanhã",
            "idempotencyKey": "k1",
        },
    }
    job = Job(data)
    async with resend_worker(sessions, fake) as worker:
        fake.script.extend(
            [json_response(200, {"id": "re-a"}), json_response(500, {"message": "boom"})]
        )
        with pytest.raises(RetryableNotificationError):
            await worker(job.ctx)
        result = await worker(job.retry().ctx)

    sent_to = [r for body in fake.bodies() for r in body["to"]]
    assert sent_to == ["a@example.com", "b@example.com", "b@example.com"]
    a, b = rows(sessions)
    assert (a.idempotency_key, a.status, a.attempts, a.provider_message_id) == (
        "k1:a@example.com",
        NotificationStatus.SENT,
        1,
        "re-a",
    )
    assert (b.idempotency_key, b.status, b.attempts) == (
        "k1:b@example.com",
        NotificationStatus.SENT,
        2,
    )
    assert [r.headers["idempotency-key"] for r in fake.seen] == [
        "k1:a@example.com",
        "k1:b@example.com",
        "k1:b@example.com",
    ]
    assert result["sent"] == 2 and result["deliveries"][0]["alreadySent"] is True


async def test_partial_permanent_failure_is_reported_not_raised(
    sessions: sessionmaker[Session],
) -> None:
    ws = seed_workspace(sessions)
    fake = FakeResend()
    async with resend_worker(sessions, fake) as worker:
        result = await worker(Job(email_job(ws, to=["x@invalid.test", "ok@example.com"])).ctx)
    assert (result["status"], result["permanent"], result["sent"], result["failed"]) == (
        "partial",
        True,
        1,
        1,
    )
    assert sorted(r.status for r in rows(sessions)) == [
        NotificationStatus.FAILED,
        NotificationStatus.SENT,
    ]


async def test_raise_permanent_option_raises_after_recording(
    sessions: sessionmaker[Session],
) -> None:
    ws = seed_workspace(sessions)
    async with LoopbackServer(FakeResend()).running() as server:
        sender = ResendSender(RESEND_KEY, base_url=server.url)
        worker = NotificationWorker(sessions, email=sender, whatsapp=None, raise_permanent=True)
        with pytest.raises(PermanentNotificationError):
            await worker(Job(email_job(ws, to="x@invalid.test")).ctx)
        with pytest.raises(PermanentNotificationError, match="workspaceId"):
            await worker(Job({"type": "email-alert"}).ctx)
        await sender.aclose()
    assert rows(sessions)[0].status == NotificationStatus.FAILED


async def test_invalid_job_data_completes_as_a_permanent_failure(
    sessions: sessionmaker[Session],
) -> None:
    worker = NotificationWorker(sessions, email=None, whatsapp=None)
    job = Job({"type": "email-alert", "data": {"to": "a@b.com"}})
    result = await worker(job.ctx)
    assert result["status"] == "failed" and result["permanent"] is True
    assert result["type"] == "email-alert" and result["error"] == WORKSPACE_REQUIRED
    assert rows(sessions) == [] and job.logs == [f"invalid notification: {WORKSPACE_REQUIRED}"]


async def test_unconfigured_channel_raises_a_config_error(sessions: sessionmaker[Session]) -> None:
    ws = seed_workspace(sessions)
    worker = NotificationWorker(sessions, email=None, whatsapp=None)
    with pytest.raises(NotificationConfigError, match="email channel is not configured"):
        await worker(Job(email_job(ws)).ctx)
    assert rows(sessions) == []


async def test_key_of_another_workspace_or_unknown_workspace_is_not_sent(
    sessions: sessionmaker[Session],
) -> None:
    a, b = seed_workspace(sessions, "a"), seed_workspace(sessions, "b")
    fake = FakeResend()
    async with resend_worker(sessions, fake) as worker:
        await worker(Job(email_job(a, idempotencyKey="shared")).ctx)
        stolen = await worker(Job(email_job(b, idempotencyKey="shared")).ctx)
        unknown = await worker(Job(email_job("no-such-workspace")).ctx)
    assert len(fake.seen) == 1
    assert stolen["status"] == "failed"
    assert stolen["deliveries"] == [
        {
            "recipient": "c***@example.com",
            "status": "failed",
            "attempts": 0,
            "error": "idempotency key already used by another workspace",
        }
    ]
    assert unknown["deliveries"] == [
        {
            "recipient": "c***@example.com",
            "status": "failed",
            "attempts": 0,
            "error": "cannot record the notification: unknown workspace 'no-such-workspace'",
        }
    ]
    [row] = rows(sessions)
    assert row.workspace_id == a


# --- WhatsApp ----------------------------------------------------------------------------------


async def test_whatsapp_alert_text_inside_window_template_outside(
    sessions: sessionmaker[Session],
) -> None:
    ws = seed_workspace(sessions)
    fake = FakeWhatsApp()
    async with whatsapp_worker(sessions, fake) as worker:
        inside = await worker(
            Job(
                {
                    "type": "whatsapp-alert",
                    "workspaceId": ws,
                    "to": PHONE,
                    "text": "Nova movimentação",
                    "withinWindow": True,
                },
                job_id="1",
            ).ctx
        )
        outside = await worker(
            Job(
                {
                    "type": "whatsapp-alert",
                    "workspaceId": ws,
                    "to": [PHONE],
                    "text": "ignored outside the window",
                    "template": {
                        "name": "alerta_movimentacao",
                        "language": "pt_BR",
                        "params": ["0001234-56.2024.8.26.0100"],
                    },
                },
                job_id="2",
            ).ctx
        )
    text, template = fake.messages()
    assert (text["type"], text["text"]["body"]) == ("text", "Nova movimentação")
    assert template["type"] == "template"
    assert template["template"]["name"] == "alerta_movimentacao"
    assert inside["status"] == outside["status"] == "sent"
    assert [r.provider_message_id for r in rows(sessions)] == ["wamid.1", "wamid.2"]
    assert all(r.channel == Channel.WHATSAPP and r.recipient == PHONE for r in rows(sessions))


async def test_whatsapp_report_uploads_once_then_document_or_template_header(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    ws = seed_workspace(sessions)
    pdf = tmp_path / "relatorio.pdf"
    pdf.write_bytes(PDF)
    fake = FakeWhatsApp()
    report = {
        "type": "whatsapp-report",
        "workspaceId": ws,
        "to": [PHONE, OTHER_PHONE],
        "text": "Seu relatório",
        "attachments": [{"path": str(pdf)}],
    }
    async with whatsapp_worker(sessions, fake) as worker:
        await worker(Job({**report, "withinWindow": True}, job_id="in").ctx)
        await worker(
            Job(
                {**report, "template": {"name": "relatorio_semanal", "params": ["Cliente X"]}},
                job_id="out",
            ).ctx
        )
    assert [u["file"] for u in fake.uploads] == [("relatorio.pdf", PDF)] * 2  # one per job
    doc1, doc2, tpl1, tpl2 = fake.messages()
    assert doc1["document"] == {
        "id": "media-1",
        "filename": "relatorio.pdf",
        "caption": "Seu relatório",
    }
    assert (doc1["to"], doc2["to"]) == ("5511999998888", "5521988887777")
    assert tpl1["template"]["components"][0] == {
        "type": "header",
        "parameters": [
            {"type": "document", "document": {"id": "media-2", "filename": "relatorio.pdf"}}
        ],
    }
    assert tpl2["to"] == "5521988887777"
    assert [r.status for r in rows(sessions)] == [NotificationStatus.SENT] * 4


@pytest.mark.parametrize(("code", "status"), [(130429, 429), (131056, 400)])
async def test_whatsapp_rate_limits_are_retried(
    sessions: sessionmaker[Session], code: int, status: int
) -> None:
    ws = seed_workspace(sessions)
    fake = FakeWhatsApp()
    fake.script.append(graph_error(status, code, "rate limit hit"))
    job = Job(
        {
            "type": "whatsapp-alert",
            "workspaceId": ws,
            "to": PHONE,
            "text": "oi",
            "withinWindow": True,
        }
    )
    async with whatsapp_worker(sessions, fake) as worker:
        with pytest.raises(RetryableNotificationError) as caught:
            await worker(job.ctx)
        result = await worker(job.retry().ctx)
    assert caught.value.code == str(code)
    assert result["status"] == "sent"
    [row] = rows(sessions)
    assert (row.status, row.attempts) == (NotificationStatus.SENT, 2)


async def test_whatsapp_invalid_recipient_fails_permanently_and_logs_masked(
    sessions: sessionmaker[Session], caplog: pytest.LogCaptureFixture
) -> None:
    ws = seed_workspace(sessions)
    fake = FakeWhatsApp()
    fake.undeliverable.add("5511999998888")
    caplog.set_level(logging.INFO, "justo.queue.notifications")
    job = Job(
        {
            "type": "whatsapp-alert",
            "workspaceId": ws,
            "to": [PHONE, OTHER_PHONE],
            "template": {"name": "alerta"},
        }
    )
    async with whatsapp_worker(sessions, fake) as worker:
        result = await worker(job.ctx)
    assert (result["status"], result["permanent"]) == ("partial", True)
    assert [d["recipient"] for d in result["deliveries"]] == ["+55119****8888", "+55219****7777"]
    failed = next(r for r in rows(sessions) if r.recipient == PHONE)
    assert failed.status == NotificationStatus.FAILED
    assert failed.error == (
        "whatsapp error 131026 (HTTP 400): Message undeliverable: "
        "Unable to deliver message to 55119****8888"
    )
    logged = caplog.text + "\n".join(job.logs)
    assert "+55119****8888" in logged and "+55219****7777" in logged
    assert "5511999998888" not in logged and "5521988887777" not in logged
    assert WA_TOKEN not in logged


async def test_bad_phone_number_fails_without_calling_the_api(
    sessions: sessionmaker[Session],
) -> None:
    ws = seed_workspace(sessions)
    fake = FakeWhatsApp()
    async with whatsapp_worker(sessions, fake) as worker:
        result = await worker(
            Job(
                {
                    "type": "whatsapp-alert",
                    "workspaceId": ws,
                    "to": "+0012",
                    "template": {"name": "alerta"},
                }
            ).ctx
        )
    assert result["status"] == "failed" and fake.seen == []


def test_delivery_keys_fit_the_column() -> None:
    assert delivery_key("k", "a@b.com", 1) == "k"
    assert delivery_key("k", "a@b.com", 2) == "k:a@b.com"
    long = delivery_key("x" * 300, "a@b.com", 1)
    assert len(long) == 255 and long != delivery_key("x" * 301, "a@b.com", 1)
