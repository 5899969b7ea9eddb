"""Notifications worker: the ``send-notification`` job on the ``notifications`` queue.

Email through SMTP, Resend or SendGrid, and WhatsApp through Meta's Cloud API, with a
notification row per delivery (idempotent on its key), provider errors mapped to retry or
permanent failure, and recipients masked in logs. Wiring::

    senders = senders_from_env(os.environ)
    registry.add(NOTIFICATION_JOB, NotificationWorker(sessions, email=senders.email,
                                                      whatsapp=senders.whatsapp))
    ...
    await senders.aclose()
"""

from __future__ import annotations

from justo.jobs.notifications.config import Senders, email_provider, senders_from_env
from justo.jobs.notifications.errors import (
    InvalidNotificationError,
    NotificationConfigError,
    NotificationError,
    PermanentNotificationError,
    RetryableNotificationError,
)
from justo.jobs.notifications.mail import (
    DEFAULT_FROM,
    Email,
    EmailSender,
    ResendSender,
    SendGridSender,
    SmtpSender,
)
from justo.jobs.notifications.masking import mask_email, mask_phone, mask_recipient
from justo.jobs.notifications.request import (
    KINDS,
    Attachment,
    NotificationRequest,
    WhatsAppTemplate,
    parse_request,
)
from justo.jobs.notifications.store import NotificationStore
from justo.jobs.notifications.whatsapp import Document, WhatsAppClient
from justo.jobs.notifications.worker import (
    NOTIFICATION_JOB,
    NOTIFICATION_QUEUE,
    NotificationWorker,
)

__all__ = [
    "DEFAULT_FROM",
    "KINDS",
    "NOTIFICATION_JOB",
    "NOTIFICATION_QUEUE",
    "Attachment",
    "Document",
    "Email",
    "EmailSender",
    "InvalidNotificationError",
    "NotificationConfigError",
    "NotificationError",
    "NotificationRequest",
    "NotificationStore",
    "NotificationWorker",
    "PermanentNotificationError",
    "ResendSender",
    "RetryableNotificationError",
    "SendGridSender",
    "Senders",
    "SmtpSender",
    "WhatsAppClient",
    "WhatsAppTemplate",
    "email_provider",
    "mask_email",
    "mask_phone",
    "mask_recipient",
    "parse_request",
    "senders_from_env",
]
