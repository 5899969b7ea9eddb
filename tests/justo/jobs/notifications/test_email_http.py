"""Resend and SendGrid against local HTTP servers speaking their documented shapes."""

from __future__ import annotations

import base64

import pytest

from justo.jobs.notifications import (
    Attachment,
    Email,
    EmailSender,
    NotificationConfigError,
    PermanentNotificationError,
    ResendSender,
    RetryableNotificationError,
    SendGridSender,
)
from tests.justo.jobs.fakes import LoopbackServer, json_response
from tests.justo.jobs.notifications.fakes import (
    PDF,
    RESEND_KEY,
    SENDGRID_KEY,
    FakeResend,
    FakeSendGrid,
    SilentServer,
)
from tests.support import closed_port

REPORT = Email(
    to="cliente@example.com",
    subject="Relatório",
    html="<p>Olá</p>",
    text="Olá",
    attachments=(Attachment("relatorio.pdf", PDF, "application/pdf"),),
    idempotency_key="report:exec-1",
)
B64_PDF = base64.b64encode(PDF).decode()


async def test_resend_request_shape_and_id() -> None:
    fake = FakeResend()
    async with LoopbackServer(fake).running() as server:
        sender = ResendSender(
            RESEND_KEY, sender="JustoAI <contato@justoai.com.br>", base_url=server.url
        )
        message_id = await sender.send(REPORT)
        await sender.aclose()
    assert message_id == "re-1"
    [request] = fake.seen
    assert (request.method, request.url.path) == ("POST", "/emails")
    assert request.headers["authorization"] == f"Bearer {RESEND_KEY}"
    assert request.headers["idempotency-key"] == "report:exec-1"
    assert fake.bodies() == [
        {
            "from": "JustoAI <contato@justoai.com.br>",
            "to": ["cliente@example.com"],
            "subject": "Relatório",
            "html": "<p>Olá</p>",
            "text": "Olá",
            "attachments": [{"filename": "relatorio.pdf", "content": B64_PDF}],
        }
    ]


async def test_sendgrid_request_shape_and_message_id_header() -> None:
    fake = FakeSendGrid()
    async with LoopbackServer(fake).running() as server:
        sender = SendGridSender(
            SENDGRID_KEY, sender="JustoAI <contato@justoai.com.br>", base_url=server.url
        )
        message_id = await sender.send(REPORT)
        await sender.aclose()
    assert message_id == "sg-1"
    [request] = fake.seen
    assert (request.method, request.url.path) == ("POST", "/v3/mail/send")
    assert request.headers["authorization"] == f"Bearer {SENDGRID_KEY}"
    assert fake.bodies() == [
        {
            "personalizations": [{"to": [{"email": "cliente@example.com"}]}],
            "from": {"email": "contato@justoai.com.br", "name": "JustoAI"},
            "subject": "Relatório",
            "content": [
                {"type": "text/plain", "value": "Olá"},
                {"type": "text/html", "value": "<p>Olá</p>"},
            ],
            "attachments": [
                {
                    "content": B64_PDF,
                    "filename": "relatorio.pdf",
                    "type": "application/pdf",
                    "disposition": "attachment",
                }
            ],
        }
    ]


async def test_429_with_retry_after_is_retryable_and_carries_the_wait() -> None:
    fake = FakeResend()
    fake.script.append(
        json_response(
            429,
            {"statusCode": 429, "name": "rate_limit_exceeded", "message": "Too many requests"},
            {"retry-after": "2", "ratelimit-remaining": "0"},
        )
    )
    async with LoopbackServer(fake).running() as server:
        sender = ResendSender(RESEND_KEY, base_url=server.url)
        with pytest.raises(RetryableNotificationError) as caught:
            await sender.send(REPORT)
        assert await sender.send(REPORT) == "re-2"  # the retry goes through
        await sender.aclose()
    error = caught.value
    assert (error.provider, error.code, error.retry_after_s) == ("resend", "429", 2.0)
    assert str(error) == (
        "resend HTTP 429: rate_limit_exceeded: Too many requests (retry after 2s)"
    )


@pytest.mark.parametrize("status", [500, 502, 503])
async def test_5xx_is_retryable(status: int) -> None:
    fake = FakeSendGrid()
    fake.script.append(json_response(status, {"errors": [{"message": "upstream"}]}))
    async with LoopbackServer(fake).running() as server:
        sender = SendGridSender(SENDGRID_KEY, base_url=server.url)
        with pytest.raises(RetryableNotificationError) as caught:
            await sender.send(REPORT)
        await sender.aclose()
    assert caught.value.code == str(status) and caught.value.retry_after_s is None


async def test_invalid_recipient_is_permanent_and_masked() -> None:
    bad = Email(to="ninguem@invalid.test", subject="s", text="t")
    resend, sendgrid = FakeResend(), FakeSendGrid()
    async with LoopbackServer(resend).running() as r, LoopbackServer(sendgrid).running() as s:
        senders: list[EmailSender] = [
            ResendSender(RESEND_KEY, base_url=r.url),
            SendGridSender(SENDGRID_KEY, base_url=s.url),
        ]
        errors = []
        for sender in senders:
            with pytest.raises(PermanentNotificationError) as caught:
                await sender.send(bad)
            errors.append(caught.value)
            await sender.aclose()
    assert [e.code for e in errors] == ["422", "400"]
    assert [str(e) for e in errors] == [  # the address masked
        "resend HTTP 422: validation_error: Invalid `to` field: n***@invalid.test",
        "sendgrid HTTP 400: personalizations.0.to.0.email: Does not contain a valid address.",
    ]


async def test_400_validation_error_is_permanent() -> None:
    fake = FakeResend()
    fake.script.append(
        json_response(
            400,
            {
                "statusCode": 400,
                "name": "validation_error",
                "message": "The `from` field is invalid.",
            },
        )
    )
    async with LoopbackServer(fake).running() as server:
        sender = ResendSender(RESEND_KEY, base_url=server.url)
        with pytest.raises(PermanentNotificationError, match="400: validation_error"):
            await sender.send(REPORT)
        await sender.aclose()


async def test_bad_key_is_a_config_error_without_the_key() -> None:
    async with LoopbackServer(FakeResend()).running() as server:
        sender = ResendSender("re_wrong_key_000", base_url=server.url)
        with pytest.raises(NotificationConfigError) as caught:
            await sender.send(REPORT)
        await sender.aclose()
    assert caught.value.code == "401" and "re_wrong_key_000" not in str(caught.value)


async def test_timeout_and_refused_connection_are_retryable() -> None:
    async with SilentServer().running() as silent:
        sender = ResendSender(RESEND_KEY, base_url=silent.url, timeout_s=0.2)
        with pytest.raises(RetryableNotificationError, match="timed out") as caught:
            await sender.send(REPORT)
        await sender.aclose()
    assert caught.value.code == "timeout"
    with closed_port() as port:
        sender = ResendSender(RESEND_KEY, base_url=f"http://127.0.0.1:{port}")
        with pytest.raises(RetryableNotificationError, match="connection failed"):
            await sender.send(REPORT)
        await sender.aclose()
