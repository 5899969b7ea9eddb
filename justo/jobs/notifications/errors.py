"""Errors of the notifications worker, all under ``NotificationError`` (an ``EngineError``).

The worker decides what each one means for the job:

- ``PermanentNotificationError``: retrying cannot help (invalid recipient, a provider's
  400/422 validation error, invalid job data). The delivery is marked ``failed``; with
  ``raise_permanent`` (how the supervisor runs it) the error is raised and, being
  ``retryable = False``, fails the job at once so it lands in the failed list; otherwise the
  handler returns ``{"status": "failed", "permanent": true, ...}``.
- ``RetryableNotificationError``: rate limits (HTTP 429, WhatsApp 130429 / 131056), 5xx,
  timeouts, connection errors. The handler raises it and the engine retries with the
  queue's backoff; ``retry_after_s`` carries the provider's ``Retry-After`` when it gave one.
- ``NotificationConfigError``: the channel is not configured, or the provider refused our
  credentials or sender setup (401, 403, WhatsApp 190, SMTP 535). Raised too, so the job is
  retried and then lands in the failed list, where an operator sees it and can retry it once
  the configuration is fixed.
"""

from __future__ import annotations

from engine.errors import EngineError


class NotificationError(EngineError):
    """Base of every notification delivery error."""

    title = "Notification error"

    def __init__(self, message: str, *, provider: str = "", code: str = "") -> None:
        super().__init__(message)
        self.provider = provider
        """Who answered: "smtp", "resend", "sendgrid", "whatsapp" (or "" for our checks)."""
        self.code = code
        """The provider's status or error code, as text (e.g. "429", "131026")."""


class PermanentNotificationError(NotificationError):
    """Sending again would fail the same way: fail the delivery at once."""

    title = "Notification failed permanently"
    retryable = False
    """The engine fails the job at once instead of retrying."""


class InvalidNotificationError(PermanentNotificationError):
    """The job's data cannot be delivered as given (missing fields, bad recipient, ...)."""

    title = "Invalid notification"


class RetryableNotificationError(NotificationError):
    """A transient failure: the engine should try again later.

    Args:
        message: what happened (recipients masked, no credentials).
        retry_after_s: seconds the provider asked us to wait (``Retry-After``), if any.
    """

    title = "Notification will be retried"

    def __init__(
        self,
        message: str,
        *,
        provider: str = "",
        code: str = "",
        retry_after_s: float | None = None,
    ) -> None:
        super().__init__(message, provider=provider, code=code)
        self.retry_after_s = retry_after_s


class NotificationConfigError(NotificationError):
    """The channel is not configured, or the provider refused our credentials or sender."""

    title = "Notification channel misconfigured"
