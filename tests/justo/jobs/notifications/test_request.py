"""The job data contract: flat and wrapped forms, aliases, attachments, validation."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest

from justo.db.models import Channel
from justo.jobs.notifications import (
    Attachment,
    InvalidNotificationError,
    WhatsAppTemplate,
    parse_request,
)
from justo.jobs.notifications.request import is_valid_email, is_valid_phone, normalise_phone
from tests.justo.jobs.notifications.fakes import PDF

EMAIL: dict[str, Any] = {
    "type": "email-alert",
    "workspaceId": "ws1",
    "to": ["a@b.com"],
    "subject": "Nova movimentação",
    "text": "Olá",
}


def test_flat_and_wrapped_forms_parse_alike() -> None:
    flat = parse_request(EMAIL, "42")
    wrapped = parse_request(
        {"type": "email-alert", "data": {k: v for k, v in EMAIL.items() if k != "type"}}, "42"
    )
    assert flat == wrapped
    assert (flat.kind, flat.channel, flat.recipients) == (
        "email-alert",
        Channel.EMAIL,
        ("a@b.com",),
    )
    assert flat.idempotency_key == "notif:42"


def test_explicit_key_recipient_dedupe_and_single_string() -> None:
    request = parse_request(
        {**EMAIL, "to": [" a@b.com", "c@d.com", "a@b.com"], "idempotencyKey": "alert:p1:m9"}, "1"
    )
    assert request.recipients == ("a@b.com", "c@d.com")
    assert request.idempotency_key == "alert:p1:m9"
    assert parse_request({**EMAIL, "to": "x@y.com"}, "1").recipients == ("x@y.com",)


def test_attachments_from_path_and_base64(tmp_path: Path) -> None:
    pdf = tmp_path / "relatorio.pdf"
    pdf.write_bytes(PDF)
    request = parse_request(
        {
            **EMAIL,
            "type": "email-report",
            "attachments": [
                {"path": str(pdf)},
                {
                    "filename": "b.txt",
                    "contentBase64": base64.b64encode(b"hi").decode(),
                    "contentType": "text/plain",
                },
            ],
        },
        "1",
    )
    assert request.attachments == (
        Attachment("relatorio.pdf", PDF, "application/pdf"),
        Attachment("b.txt", b"hi", "text/plain"),
    )
    report = parse_request({**EMAIL, "type": "email-report", "reportPath": str(pdf)}, "1")
    assert report.attachments == (Attachment("relatorio.pdf", PDF, "application/pdf"),)


def test_whatsapp_phone_alias_template_and_normalisation() -> None:
    request = parse_request(
        {
            "type": "whatsapp-alert",
            "workspaceId": "ws1",
            "phone": "(11) 99999-8888",
            "template": {"name": "alerta_processo", "params": ["0001", 2]},
        },
        "1",
    )
    assert request.recipients == ("+5511999998888",)
    assert request.template == WhatsAppTemplate("alerta_processo", "pt_BR", ("0001", "2"))
    assert request.within_window is False
    assert request.summary()["template"]["name"] == "alerta_processo"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ("nope", "must be an object"),
        ({**EMAIL, "type": "fax-alert"}, "unknown notification type"),
        ({**EMAIL, "workspaceId": ""}, "workspaceId is required"),
        ({**EMAIL, "to": []}, "to must be"),
        ({**EMAIL, "to": ["  "]}, "to has no recipient"),
        ({**EMAIL, "subject": None}, "needs a subject"),
        ({**EMAIL, "text": None}, "needs html or text"),
        ({**EMAIL, "attachments": [{"path": "relative.pdf"}]}, "must be absolute"),
        ({**EMAIL, "attachments": [{"path": "/nonexistent/x.pdf"}]}, "unreadable"),
        ({**EMAIL, "attachments": [{"contentBase64": "***"}]}, "not valid base64"),
        ({**EMAIL, "attachments": [{"filename": "x"}]}, "needs path or contentBase64"),
        (
            {"type": "whatsapp-alert", "workspaceId": "w", "to": "+5511999998888", "text": "oi"},
            "approved templates",
        ),
        (
            {
                "type": "whatsapp-alert",
                "workspaceId": "w",
                "to": "+5511999998888",
                "withinWindow": True,
            },
            "needs text",
        ),
        (
            {
                "type": "whatsapp-report",
                "workspaceId": "w",
                "to": "+5511999998888",
                "withinWindow": True,
            },
            "exactly one attachment",
        ),
        ({**EMAIL, "template": {"params": []}}, "template must be"),
    ],
)
def test_invalid_data_is_refused(data: Any, message: str) -> None:
    with pytest.raises(InvalidNotificationError, match=message):
        parse_request(data, "1")


def test_recipient_checks() -> None:
    assert (
        is_valid_email("a@b.com")
        and not is_valid_email("a@b")
        and not is_valid_email("A <a@b.com>")
    )
    assert normalise_phone("+55 11 99999-8888") == "+5511999998888"
    assert normalise_phone("5511999998888") == "+5511999998888"
    assert normalise_phone("not a phone") == "not a phone"
    assert (
        is_valid_phone("+5511999998888")
        and not is_valid_phone("+0123")
        and not is_valid_phone("not a phone")
    )


def test_subject_is_one_line() -> None:
    request = parse_request({**EMAIL, "subject": "Relatório\r\nBcc: x@y.com  semanal"}, "1")
    assert request.subject == "Relatório Bcc: x@y.com semanal"
