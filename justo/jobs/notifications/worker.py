"""The ``send-notification`` handler: email (SMTP / Resend / SendGrid) and WhatsApp.

One job may name several recipients; each is a separate *delivery* with its own
notification row, keyed ``<key>`` (one recipient) or ``<key>:<recipient>`` (several), where
``<key>`` is ``data.idempotencyKey`` or ``notif:<job id>``. Deliveries run in order:

- a row already ``sent`` is skipped (a retried job never sends twice what went out);
- a permanent failure (invalid recipient, provider validation error) marks the row
  ``failed`` and the job goes on with the next recipient;
- any other failure (rate limit, 5xx, timeout, configuration) is recorded on the row and
  *raised*, so the engine retries the job with the queue's backoff; the retry skips the
  recipients already served. On the last attempt (``max_attempts``) the row is ``failed``.

Permanent failures are *returned*, not raised: the job completes with
``{"status": "failed", "permanent": true, ...}`` (``"partial"`` when some recipients got
the message), because the engine retries every exception. With ``raise_permanent=True``
the handler raises ``PermanentNotificationError`` instead, once the engine is taught to
fail such errors at once.

Delivery is at least once: a crash after the provider accepted a message but before its
row says ``sent`` sends it again on retry (Resend dedupes on the ``Idempotency-Key``).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from engine.logs import queue_logger
from engine.worker.context import JobContext
from justo.db.models import Channel
from justo.jobs.notifications.errors import (
    InvalidNotificationError,
    NotificationConfigError,
    PermanentNotificationError,
)
from justo.jobs.notifications.mail import Email, EmailSender
from justo.jobs.notifications.masking import mask_in_text, mask_recipient
from justo.jobs.notifications.request import (
    NotificationRequest,
    is_valid_email,
    is_valid_phone,
    parse_request,
    unwrap,
)
from justo.jobs.notifications.store import Attempt, Draft, NotificationStore
from justo.jobs.notifications.whatsapp import Document, WhatsAppClient

NOTIFICATION_JOB = "send-notification"
"""The job name the handler is registered under."""

NOTIFICATION_QUEUE = "notifications"
"""The queue it runs on."""

DEFAULT_MAX_ATTEMPTS = 5
"""The notifications queue's attempts (``engine.runtime.config``); on the last one a failed
delivery's row becomes ``failed`` instead of staying ``pending``."""

MAX_KEY_CHARS = 255
"""The ``idempotency_key`` column's size."""


@dataclass(frozen=True)
class Delivery:
    """What happened to one recipient in this attempt."""

    recipient: str
    status: str
    """``sent`` or ``failed`` (permanent)."""
    attempts: int = 0
    provider_message_id: str | None = None
    already_sent: bool = False
    error: str = ""

    def to_json(self) -> dict[str, Any]:
        """The delivery in the job's result (recipient masked)."""
        out: dict[str, Any] = {
            "recipient": mask_recipient(self.recipient),
            "status": self.status,
            "attempts": self.attempts,
        }
        if self.provider_message_id:
            out["providerMessageId"] = self.provider_message_id
        if self.already_sent:
            out["alreadySent"] = True
        if self.error:
            out["error"] = self.error
        return out


class NotificationWorker:
    """Handles ``send-notification`` jobs.

    Args:
        sessions: a session factory on the application database.
        email: the email sender, or ``None`` when email is not configured.
        whatsapp: the WhatsApp client, or ``None`` when WhatsApp is not configured.
        max_attempts: the queue's attempts, to know the last one.
        raise_permanent: raise ``PermanentNotificationError`` for permanent failures
            instead of returning a failed result (needs an engine that fails it at once).
    """

    def __init__(
        self,
        sessions: sessionmaker[Session],
        *,
        email: EmailSender | None,
        whatsapp: WhatsAppClient | None,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
        raise_permanent: bool = False,
    ) -> None:
        self.store = NotificationStore(sessions)
        self.email = email
        self.whatsapp = whatsapp
        self.max_attempts = max_attempts
        self.raise_permanent = raise_permanent

    async def __call__(self, job: JobContext) -> dict[str, Any]:
        """Deliver the job's notification to each recipient; see the module docstring."""
        log = queue_logger(job.queue or NOTIFICATION_QUEUE)
        try:
            request = await asyncio.to_thread(parse_request, job.data, job.id)
        except InvalidNotificationError as exc:
            return self._invalid(job, log, exc)
        self._check_channel(request)
        media: dict[str, Document] = {}
        deliveries = [
            await self._deliver(job, log, request, recipient, media)
            for recipient in request.recipients
        ]
        result = _result(request, deliveries)
        if self.raise_permanent and result["permanent"]:
            raise PermanentNotificationError(
                f"{request.kind}: {result['failed']} delivery(ies) failed permanently"
            )
        return result

    def _invalid(
        self, job: JobContext, log: logging.Logger, exc: InvalidNotificationError
    ) -> dict[str, Any]:
        kind = _kind_of(job.data)
        log.error("job %s (%s): invalid notification, not sent: %s", job.id, kind, exc)
        job.log(f"invalid notification: {exc}")
        if self.raise_permanent:
            raise exc
        return {
            "status": "failed",
            "permanent": True,
            "type": kind,
            "error": str(exc),
            "sent": 0,
            "failed": 0,
            "deliveries": [],
        }

    def _check_channel(self, request: NotificationRequest) -> None:
        configured = self.email if request.channel is Channel.EMAIL else self.whatsapp
        if configured is None:
            raise NotificationConfigError(
                f"{request.kind}: the {request.channel.value} channel is not configured"
            )

    async def _deliver(
        self,
        job: JobContext,
        log: logging.Logger,
        request: NotificationRequest,
        recipient: str,
        media: dict[str, Document],
    ) -> Delivery:
        who = mask_recipient(recipient)
        try:
            attempt = await asyncio.to_thread(self.store.start, _draft(request, recipient))
        except InvalidNotificationError as exc:
            log.error("job %s: %s to %s not recorded: %s", job.id, request.kind, who, exc)
            return Delivery(recipient, "failed", error=str(exc))
        if attempt.already_sent:
            log.info(
                "job %s: %s to %s already sent (%s); not sending again",
                job.id,
                request.kind,
                who,
                attempt.provider_message_id or "no id",
            )
            return Delivery(
                recipient, "sent", attempt.attempts, attempt.provider_message_id, already_sent=True
            )
        return await self._attempt(job, log, request, recipient, attempt, media)

    async def _attempt(
        self,
        job: JobContext,
        log: logging.Logger,
        request: NotificationRequest,
        recipient: str,
        attempt: Attempt,
        media: dict[str, Document],
    ) -> Delivery:
        who = mask_recipient(recipient)
        try:
            message_id = await self._send(request, recipient, media)
        except PermanentNotificationError as exc:
            error = mask_in_text(str(exc), [recipient])
            await asyncio.to_thread(self.store.mark_failed, attempt.id, error, final=True)
            log.warning("job %s: %s to %s failed permanently: %s", job.id, request.kind, who, error)
            job.log(f"{who}: failed permanently: {error}")
            return Delivery(recipient, "failed", attempt.attempts, error=error)
        except Exception as exc:
            final = job.attempt >= self.max_attempts
            error = mask_in_text(f"{type(exc).__name__}: {exc}", [recipient])
            await asyncio.to_thread(self.store.mark_failed, attempt.id, error, final=final)
            log.warning(
                "job %s: %s to %s failed (attempt %d/%d%s): %s",
                job.id,
                request.kind,
                who,
                job.attempt,
                self.max_attempts,
                ", giving up" if final else "",
                error,
            )
            job.log(f"{who}: attempt {job.attempt} failed: {error}")
            raise
        await asyncio.to_thread(self.store.mark_sent, attempt.id, message_id)
        log.info("job %s: %s sent to %s (%s)", job.id, request.kind, who, message_id or "no id")
        job.log(f"{who}: sent ({message_id or 'no id'})")
        return Delivery(recipient, "sent", attempt.attempts, message_id or None)

    async def _send(
        self, request: NotificationRequest, recipient: str, media: dict[str, Document]
    ) -> str:
        if request.channel is Channel.EMAIL:
            return await self._send_email(request, recipient)
        return await self._send_whatsapp(request, recipient, media)

    async def _send_email(self, request: NotificationRequest, recipient: str) -> str:
        if not is_valid_email(recipient):
            raise InvalidNotificationError("invalid email address")
        assert self.email is not None  # checked by _check_channel
        return await self.email.send(
            Email(
                to=recipient,
                subject=request.subject,
                html=request.html,
                text=request.text,
                attachments=request.attachments,
                idempotency_key=delivery_key(
                    request.idempotency_key, recipient, len(request.recipients)
                ),
            )
        )

    async def _send_whatsapp(
        self, request: NotificationRequest, recipient: str, media: dict[str, Document]
    ) -> str:
        if not is_valid_phone(recipient):
            raise InvalidNotificationError("invalid phone number (E.164 expected)")
        client = self.whatsapp
        assert client is not None  # checked by _check_channel
        document = None
        if request.kind == "whatsapp-report":
            attachment = request.attachments[0]
            if attachment.filename not in media:  # one upload per attempt, not per recipient
                media[attachment.filename] = await client.upload(attachment)
            document = media[attachment.filename]
        if request.within_window and (document is not None or request.text):
            if document is not None:
                return await client.send_document(recipient, document, request.text)
            return await client.send_text(recipient, request.text)
        assert request.template is not None  # parse_request demands one otherwise
        return await client.send_template(recipient, request.template, document)


def delivery_key(key: str, recipient: str, recipients: int) -> str:
    """The row's idempotency key: the job's key for a single recipient, else
    ``<key>:<recipient>``; hashed to fit the column when too long."""
    full = key if recipients == 1 else f"{key}:{recipient}"
    if len(full) <= MAX_KEY_CHARS:
        return full
    digest = hashlib.sha256(full.encode()).hexdigest()
    return f"{full[: MAX_KEY_CHARS - len(digest) - 1]}#{digest}"


def _draft(request: NotificationRequest, recipient: str) -> Draft:
    return Draft(
        idempotency_key=delivery_key(request.idempotency_key, recipient, len(request.recipients)),
        workspace_id=request.workspace_id,
        channel=request.channel,
        recipient=recipient,
        template=request.kind,
        subject=request.subject or None,
        payload=request.summary(),
    )


def _result(request: NotificationRequest, deliveries: list[Delivery]) -> dict[str, Any]:
    sent = sum(d.status == "sent" for d in deliveries)
    failed = len(deliveries) - sent
    status = "sent" if not failed else "failed" if not sent else "partial"
    return {
        "status": status,
        "permanent": bool(failed),
        "type": request.kind,
        "channel": request.channel.value,
        "idempotencyKey": request.idempotency_key,
        "sent": sent,
        "failed": failed,
        "deliveries": [d.to_json() for d in deliveries],
    }


def _kind_of(data: Any) -> str:
    try:
        kind = unwrap(data).get("type")
    except InvalidNotificationError:
        return "unknown"
    return kind if isinstance(kind, str) else "unknown"
