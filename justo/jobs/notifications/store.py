"""The notification rows: one per (job, recipient), keyed by its idempotency key.

A delivery's row is created on the job's first attempt and updated on every attempt
(``attempts + 1``, then ``status``, ``error``, ``provider_message_id``, ``sent_at``). A row
already ``sent`` is never sent again. Sync SQLAlchemy: call from a thread.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from justo.db.models import Channel, Notification, NotificationStatus
from justo.db.types import utcnow
from justo.jobs.notifications.errors import InvalidNotificationError

MAX_ERROR_CHARS = 2000
"""Longest error kept on a row."""

MAX_SUBJECT_CHARS = 300
"""The ``subject`` column's size."""


@dataclass(frozen=True)
class Draft:
    """What a delivery's row holds before it is sent."""

    idempotency_key: str
    workspace_id: str
    channel: Channel
    recipient: str
    template: str
    """The notification type (``email-alert``, ...)."""
    subject: str | None = None
    payload: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Attempt:
    """A delivery's row at the start of an attempt."""

    id: str
    attempts: int
    """Attempts made, this one included (unchanged when ``already_sent``)."""
    already_sent: bool = False
    provider_message_id: str | None = None


class NotificationStore:
    """Notification rows on SQLAlchemy sessions.

    Args:
        sessions: a session factory (``justo.db.session_factory``).
    """

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.sessions = sessions

    def start(self, draft: Draft) -> Attempt:
        """Create the row (first attempt) or count one more attempt on it.

        Raises:
            InvalidNotificationError: the key belongs to another workspace, or the
                workspace does not exist.
        """
        try:
            return self._start(draft)
        except IntegrityError:
            pass  # a concurrent job inserted the same key first: its row is there now
        try:
            return self._start(draft)
        except IntegrityError as exc:
            raise InvalidNotificationError(
                f"cannot record the notification: unknown workspace {draft.workspace_id!r}"
            ) from exc

    def _start(self, draft: Draft) -> Attempt:
        with self.sessions.begin() as session:
            row = session.scalars(
                select(Notification)
                .where(Notification.idempotency_key == draft.idempotency_key)
                .with_for_update()
            ).one_or_none()
            if row is None:
                row = _new_row(draft)
                session.add(row)
                session.flush()
            elif row.workspace_id != draft.workspace_id:
                raise InvalidNotificationError("idempotency key already used by another workspace")
            if row.status == NotificationStatus.SENT:
                return Attempt(row.id, row.attempts, True, row.provider_message_id)
            row.attempts += 1
            row.status = NotificationStatus.PENDING
            return Attempt(row.id, row.attempts)

    def mark_sent(self, notification_id: str, provider_message_id: str) -> None:
        """The provider accepted the message."""
        with self.sessions.begin() as session:
            row = session.get_one(Notification, notification_id)
            row.status = NotificationStatus.SENT
            row.provider_message_id = provider_message_id or None
            row.error = None
            row.sent_at = utcnow()

    def mark_failed(self, notification_id: str, error: str, *, final: bool) -> None:
        """The attempt failed: ``final`` marks the row ``failed``; otherwise it stays
        ``pending`` (a retry is coming) with the error recorded."""
        with self.sessions.begin() as session:
            row = session.get_one(Notification, notification_id)
            row.status = NotificationStatus.FAILED if final else NotificationStatus.PENDING
            row.error = error[:MAX_ERROR_CHARS]


def _new_row(draft: Draft) -> Notification:
    return Notification(
        workspace_id=draft.workspace_id,
        channel=draft.channel,
        recipient=draft.recipient[:320],
        template=draft.template[:100],
        subject=draft.subject[:MAX_SUBJECT_CHARS] if draft.subject else None,
        payload=draft.payload,
        status=NotificationStatus.PENDING,
        attempts=0,
        idempotency_key=draft.idempotency_key,
    )
