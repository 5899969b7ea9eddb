"""The notification a finished report is delivered by (the notifications worker's contract).

``enqueue_notification(data, job_id)`` receives::

    {"type": "email-report", "workspaceId": str, "to": [str, ...], "subject": str,
     "html": str, "text": str,
     "attachments": [{"filename": "relatorio-<period>.pdf", "path": "<absolute path>",
                      "contentType": "application/pdf"}],
     "idempotencyKey": "report:<scheduleId>:<periodKey>"}

and ``job_id`` is the idempotency key, so the queue drops a second enqueue of the same
report while the first job exists, and the notifications worker can drop it after that.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from justo.jobs.reports.rendering import render_email

NOTIFICATION_TYPE = "email-report"
PDF_CONTENT_TYPE = "application/pdf"
MAX_SUBJECT = 200

_EMAIL = re.compile(r"[^@\s<>\"',;]+@[^@\s<>\"',;]+\.[^@\s<>\"',;]+")


def idempotency_key(schedule_id: str, period_key: str) -> str:
    """The key of one schedule's report for one period (also the notification's job id)."""
    return f"report:{schedule_id}:{period_key}"


def attachment_name(period_key: str) -> str:
    """The PDF's file name in the e-mail."""
    return f"relatorio-{period_key}.pdf"


def email_recipients(recipients: Iterable[Any]) -> list[str]:
    """The distinct, well-formed addresses among a schedule's recipients, in order.

    Entries are addresses, or objects with an ``email``; anything else is ignored.
    """
    found: list[str] = []
    for entry in recipients:
        value = entry.get("email") if isinstance(entry, dict) else entry
        if isinstance(value, str):
            address = value.strip()
            if _EMAIL.fullmatch(address) and address.lower() not in {a.lower() for a in found}:
                found.append(address)
    return found


def subject_line(title: str, period_label: str) -> str:
    """The e-mail subject: one line (no header injection), at most ``MAX_SUBJECT`` chars."""
    text = " ".join(f"Relatório {title} — {period_label}".split())
    return text if len(text) <= MAX_SUBJECT else text[: MAX_SUBJECT - 1] + "…"


@dataclass(frozen=True)
class ReportEmail:
    """What the e-mail is about (read back from the execution's summary on a retry)."""

    schedule_id: str
    workspace_id: str
    workspace_name: str
    title: str
    period_key: str
    period_label: str
    pdf_path: str
    process_count: int
    movement_count: int
    deadline_count: int
    primary_color: str


def notification(report: ReportEmail, to: list[str]) -> dict[str, Any]:
    """The ``email-report`` notification data (see the module's docstring)."""
    subject = subject_line(report.title, report.period_label)
    filename = attachment_name(report.period_key)
    body = render_email(
        subject=subject,
        title=report.title,
        workspace_name=report.workspace_name,
        period_label=report.period_label,
        process_count=report.process_count,
        movement_count=report.movement_count,
        deadline_count=report.deadline_count,
        filename=filename,
        primary_color=report.primary_color,
    )
    return {
        "type": NOTIFICATION_TYPE,
        "workspaceId": report.workspace_id,
        "to": list(to),
        "subject": subject,
        "html": body.html,
        "text": body.text,
        "attachments": [
            {"filename": filename, "path": report.pdf_path, "contentType": PDF_CONTENT_TYPE}
        ],
        "idempotencyKey": idempotency_key(report.schedule_id, report.period_key),
    }
