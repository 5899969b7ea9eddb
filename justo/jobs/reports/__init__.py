"""The reports worker: scheduled client reports (HTML + PDF) delivered by e-mail.

See ``justo.jobs.reports.worker`` for the jobs, ``recurrence`` for when schedules run and
``delivery`` for the notification contract::

    reports = ReportsWorker(sessions, output_dir=data_dir / "reports",
                            enqueue_notification=lambda data, job_id: notifications.add(
                                "send-notification", data, job_id=job_id))
    for name in REPORT_JOBS:
        registry.add(name, reports)
"""

from __future__ import annotations

from justo.jobs.reports.content import Branding, ReportContent
from justo.jobs.reports.delivery import NOTIFICATION_TYPE, idempotency_key
from justo.jobs.reports.pdf import PdfFont, find_unicode_font
from justo.jobs.reports.recurrence import (
    Recurrence,
    RecurrenceError,
    next_slot,
    period_key,
    previous_slot,
)
from justo.jobs.reports.worker import (
    REPORT_JOBS,
    SCHEDULED_JOB,
    SINGLE_JOB,
    EnqueueNotification,
    ReportJobError,
    ReportsFailedError,
    ReportsWorker,
    ScheduleNotFoundError,
)

__all__ = [
    "NOTIFICATION_TYPE",
    "REPORT_JOBS",
    "SCHEDULED_JOB",
    "SINGLE_JOB",
    "Branding",
    "EnqueueNotification",
    "PdfFont",
    "Recurrence",
    "RecurrenceError",
    "ReportContent",
    "ReportJobError",
    "ReportsFailedError",
    "ReportsWorker",
    "ScheduleNotFoundError",
    "find_unicode_font",
    "idempotency_key",
    "next_slot",
    "period_key",
    "previous_slot",
]
