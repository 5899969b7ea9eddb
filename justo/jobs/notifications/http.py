"""HTTP plumbing shared by the Resend, SendGrid and WhatsApp clients: one POST, and the
mapping of failures onto retryable / permanent / configuration errors.

No retries happen here: a retryable error is raised so the engine retries the job with the
queue's backoff (``Retry-After`` travels on the error). Messages never carry headers, keys
or unmasked recipients.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from typing import Any

import httpx

from engine.logs import redact
from justo.jobs.notifications.errors import (
    NotificationConfigError,
    NotificationError,
    PermanentNotificationError,
    RetryableNotificationError,
)
from justo.jobs.notifications.masking import mask_in_text
from justo.jobs.providers.transport import parse_retry_after

DEFAULT_TIMEOUT_S = 20.0
"""Per-request timeout of the clients the senders create (the queue's job timeout is 60 s)."""

RETRYABLE_STATUSES = frozenset({408, 409, 425, 429})
"""4xx answers that mean "later" (409: Resend's concurrent idempotent request); every 5xx
is retryable too."""

AUTH_STATUSES = frozenset({401, 403})
"""Answers that mean our key or sender setup is wrong."""

MAX_DETAIL_CHARS = 300
"""Longest provider message quoted in an error."""


ErrorMapper = Callable[[str, httpx.Response, tuple[str, ...]], NotificationError]
"""Turns a non-2xx answer into an error: ``(provider, response, recipients)``."""


def new_client(timeout_s: float = DEFAULT_TIMEOUT_S) -> httpx.AsyncClient:
    """An HTTP client for one provider."""
    return httpx.AsyncClient(timeout=timeout_s)


async def post(
    http: httpx.AsyncClient,
    provider: str,
    url: str,
    *,
    recipients: Iterable[str] = (),
    on_error: ErrorMapper | None = None,
    **kwargs: Any,
) -> httpx.Response:
    """POST and return a 2xx response.

    Args:
        http, provider, url: who to ask, and the name used in messages.
        recipients: masked wherever they appear in error messages.
        on_error: maps a non-2xx answer (default: ``http_error``, by status).
        **kwargs: passed to ``httpx.AsyncClient.post``.

    Raises:
        RetryableNotificationError: timeout, connection error, 408/409/429 or 5xx.
        NotificationConfigError: 401/403.
        PermanentNotificationError: any other answer.
    """
    who = tuple(recipients)
    try:
        response = await http.post(url, **kwargs)
    except httpx.TimeoutException as exc:
        raise RetryableNotificationError(
            f"{provider}: request timed out ({type(exc).__name__})",
            provider=provider,
            code="timeout",
        ) from exc
    except httpx.HTTPError as exc:  # connection, protocol, decoding trouble
        raise RetryableNotificationError(
            f"{provider}: connection failed ({type(exc).__name__}: {clean(str(exc), who)})",
            provider=provider,
            code="transport",
        ) from exc
    if response.is_success:
        return response
    raise (on_error or http_error)(provider, response, who)


def http_error(
    provider: str, response: httpx.Response, recipients: tuple[str, ...]
) -> NotificationError:
    """The error for a non-2xx answer of Resend or SendGrid (by status)."""
    return status_error(provider, response, detail(response), recipients)


def status_error(
    provider: str, response: httpx.Response, message: str, recipients: Iterable[str] = ()
) -> NotificationError:
    """The error for a non-2xx answer, by HTTP status alone."""
    status = response.status_code
    text = f"{provider} HTTP {status}: {clean(message, recipients)}"
    if status in RETRYABLE_STATUSES or status >= 500:
        return retryable(provider, str(status), text, response)
    if status in AUTH_STATUSES:
        return NotificationConfigError(text, provider=provider, code=str(status))
    return PermanentNotificationError(text, provider=provider, code=str(status))


def retryable(
    provider: str, code: str, text: str, response: httpx.Response
) -> RetryableNotificationError:
    """A retryable error carrying the answer's ``Retry-After`` (seconds), if any."""
    after = parse_retry_after(response.headers.get("retry-after"), time.time())
    if after is not None:
        text = f"{text} (retry after {after:g}s)"
    return RetryableNotificationError(text, provider=provider, code=code, retry_after_s=after)


def body(response: httpx.Response) -> Any:
    """The JSON body, or ``None`` when there is none or it is not JSON."""
    try:
        return json.loads(response.content) if response.content else None
    except ValueError:
        return None


def detail(response: httpx.Response) -> str:
    """A short human reason from an error answer (Resend ``message``, SendGrid
    ``errors[].message``, Graph ``error.message``), else the reason phrase."""
    data = body(response)
    if isinstance(data, dict):
        if isinstance(data.get("message"), str):
            name = data.get("name")
            return f"{name}: {data['message']}" if isinstance(name, str) else data["message"]
        errors = data.get("errors")
        if isinstance(errors, list) and errors:
            return "; ".join(_sendgrid_error(e) for e in errors[:5])
        error = data.get("error")
        if isinstance(error, dict) and isinstance(error.get("message"), str):
            return str(error["message"])
    return response.reason_phrase or "error"


def _sendgrid_error(error: Any) -> str:
    if not isinstance(error, dict):
        return str(error)
    field = error.get("field")
    message = str(error.get("message", ""))
    return f"{field}: {message}" if field else message


def clean(text: str, recipients: Iterable[str] = ()) -> str:
    """``text`` shortened, with credentials redacted and recipients masked."""
    return mask_in_text(redact(text), recipients)[:MAX_DETAIL_CHARS]
