"""SMTP delivery against a real local SMTP server (aiosmtpd on 127.0.0.1)."""

from __future__ import annotations

import pytest

from justo.jobs.notifications import (
    Attachment,
    Email,
    NotificationConfigError,
    PermanentNotificationError,
    RetryableNotificationError,
    SmtpSender,
)
from tests.justo.jobs.notifications.fakes import PASSWORD, PDF, USER, SmtpRecorder, smtp_server
from tests.support import closed_port

REPORT = Email(
    to="cliente@example.com",
    subject="Relatório semanal",
    html="<p>Olá</p>",
    text="Olá",
    attachments=(Attachment("relatorio.pdf", PDF, "application/pdf"),),
    idempotency_key="report:exec-1",
)


async def test_message_with_pdf_attachment_arrives_byte_exact() -> None:
    recorder = SmtpRecorder()
    with smtp_server(recorder) as port:
        sender = SmtpSender(
            "127.0.0.1", port, sender="JustoAI <contato@justoai.com.br>", tls="none", timeout_s=5
        )
        message_id = await sender.send(REPORT)

    [got] = recorder.received
    assert (got.mail_from, got.rcpt_tos) == ("contato@justoai.com.br", ["cliente@example.com"])
    message = got.message
    assert message["Subject"] == "Relatório semanal"
    assert message["From"] == "JustoAI <contato@justoai.com.br>"
    assert message["Message-ID"] == message_id and message_id.endswith("@justoai.com.br>")
    assert message.get_content_type() == "multipart/mixed"
    body = message.get_body(("html",))
    assert body is not None and body.get_content() == "<p>Olá</p>\r\n"
    plain = message.get_body(("plain",))
    assert plain is not None and plain.get_content() == "Olá\r\n"
    [attachment] = list(message.iter_attachments())
    assert attachment.get_filename() == "relatorio.pdf"
    assert attachment.get_content_type() == "application/pdf"
    assert attachment.get_payload(decode=True) == PDF


async def test_same_key_gives_the_same_message_id() -> None:
    recorder = SmtpRecorder()
    with smtp_server(recorder) as port:
        sender = SmtpSender("127.0.0.1", port, tls="none", timeout_s=5)
        first, second = await sender.send(REPORT), await sender.send(REPORT)
    assert first == second and len(recorder.received) == 2


async def test_login_is_used_and_a_wrong_password_is_a_config_error() -> None:
    recorder = SmtpRecorder()
    with smtp_server(recorder, auth=True) as port:
        good = SmtpSender(
            "127.0.0.1", port, username=USER, password=PASSWORD, tls="none", timeout_s=5
        )
        await good.send(REPORT)
        bad = SmtpSender(
            "127.0.0.1", port, username=USER, password="wrong", tls="none", timeout_s=5
        )
        with pytest.raises(NotificationConfigError) as caught:
            await bad.send(REPORT)
    assert len(recorder.received) == 1
    assert caught.value.code == "535" and PASSWORD not in str(caught.value)


async def test_refused_recipient_5xx_is_permanent_4xx_is_retryable() -> None:
    recorder = SmtpRecorder(
        refuse={
            "gone@example.com": "550 5.1.1 User unknown",
            "busy@example.com": "451 4.3.0 Try again later",
        }
    )
    with smtp_server(recorder) as port:
        sender = SmtpSender("127.0.0.1", port, tls="none", timeout_s=5)
        with pytest.raises(PermanentNotificationError, match="recipient refused"):
            await sender.send(Email(to="gone@example.com", subject="s", text="t"))
        with pytest.raises(RetryableNotificationError, match="recipient refused"):
            await sender.send(Email(to="busy@example.com", subject="s", text="t"))
    assert recorder.received == []


async def test_unreachable_server_is_retryable() -> None:
    with closed_port() as port:
        sender = SmtpSender("127.0.0.1", port, tls="none", timeout_s=2)
        with pytest.raises(RetryableNotificationError, match="ConnectionRefusedError"):
            await sender.send(REPORT)


async def test_unbuildable_message_is_permanent() -> None:
    sender = SmtpSender("127.0.0.1", 1, tls="none", timeout_s=1)
    with pytest.raises(PermanentNotificationError, match="cannot build"):
        await sender.send(Email(to="a@b.com", subject="line\nbreak", text="t"))
