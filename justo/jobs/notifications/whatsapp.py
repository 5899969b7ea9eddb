"""WhatsApp Cloud API (Meta Graph) client: text, template, media upload, document.

``POST {base}/{version}/{phone_number_id}/messages`` with a Bearer token. Free-form messages
(text, document) are only delivered inside the 24 h customer-service window; outside it an
approved template is required. A report's PDF is uploaded once through
``POST /{phone_number_id}/media`` and then referenced by its media id, either in a
``document`` message (inside the window) or as the ``document`` header parameter of a
template (outside it).

Errors: HTTP 429 / 5xx and codes 130429 (throughput), 131056 (pair rate limit), 131000
(unknown), 4 and 80007 (app / account rate limits) are retryable; 190 (token), 10
(permission) and 401/403 are configuration errors; anything else (131026 undeliverable,
131009 / 100 invalid parameter, 131047 outside the window, 132xxx template errors, ...) is
permanent.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from justo.jobs.notifications.errors import (
    NotificationConfigError,
    NotificationError,
    PermanentNotificationError,
    RetryableNotificationError,
)
from justo.jobs.notifications.http import (
    DEFAULT_TIMEOUT_S,
    body,
    clean,
    new_client,
    post,
    retryable,
    status_error,
)
from justo.jobs.notifications.request import Attachment, WhatsAppTemplate

GRAPH_URL = "https://graph.facebook.com"
DEFAULT_API_VERSION = "v21.0"

RETRYABLE_CODES = frozenset({130429, 131056, 131000, 4, 80007})
"""Rate limits and transient failures: try again later."""

CONFIG_CODES = frozenset({190, 10})
"""Expired/invalid token, missing permission."""

MAX_TEXT_CHARS = 4096
"""Longest text message body."""

MAX_CAPTION_CHARS = 1024
"""Longest document caption."""


@dataclass(frozen=True)
class Document:
    """An uploaded document: its media id and the file name shown to the user."""

    media_id: str
    filename: str


class WhatsAppClient:
    """The Cloud API calls the notifications worker needs.

    Args:
        token: a (system-user) access token.
        phone_number_id: the business phone number's id.
        api_version: Graph API version, e.g. ``v21.0``.
        base_url: ``https://graph.facebook.com`` unless overridden (tests).
        http: a client to use (not closed by ``aclose``); one is created otherwise.
    """

    provider = "whatsapp"

    def __init__(
        self,
        token: str,
        phone_number_id: str,
        *,
        api_version: str = DEFAULT_API_VERSION,
        base_url: str = GRAPH_URL,
        http: httpx.AsyncClient | None = None,
        timeout_s: float = DEFAULT_TIMEOUT_S,
    ) -> None:
        self._token = token
        self.phone_number_id = phone_number_id
        self.api_version = api_version.strip("/")
        self.base_url = base_url.rstrip("/")
        self._owned = http is None
        self.http = http or new_client(timeout_s)

    def __repr__(self) -> str:
        return (
            f"WhatsAppClient(base_url={self.base_url!r}, api_version={self.api_version!r}, "
            f"phone_number_id={self.phone_number_id!r})"
        )

    @property
    def _endpoint(self) -> str:
        return f"{self.base_url}/{self.api_version}/{self.phone_number_id}"

    async def send_text(self, to: str, text: str) -> str:
        """A free-form text (inside the 24 h window); returns the ``wamid``."""
        return await self._message(
            to, "text", {"preview_url": False, "body": text[:MAX_TEXT_CHARS]}
        )

    async def send_document(self, to: str, document: Document, caption: str = "") -> str:
        """A document message (inside the 24 h window); returns the ``wamid``."""
        payload: dict[str, Any] = {"id": document.media_id, "filename": document.filename}
        if caption:
            payload["caption"] = caption[:MAX_CAPTION_CHARS]
        return await self._message(to, "document", payload)

    async def send_template(
        self, to: str, template: WhatsAppTemplate, document: Document | None = None
    ) -> str:
        """An approved template, with the body parameters in order and, for a report, the
        document as header parameter; returns the ``wamid``."""
        return await self._message(to, "template", template_payload(template, document))

    async def upload(self, attachment: Attachment) -> Document:
        """Upload a file to ``/media``; returns its media id."""
        response = await self._post(
            f"{self._endpoint}/media",
            (),
            data={"messaging_product": "whatsapp", "type": attachment.content_type},
            files={"file": (attachment.filename, attachment.content, attachment.content_type)},
        )
        data = body(response)
        media_id = data.get("id") if isinstance(data, dict) else None
        if not isinstance(media_id, str) or not media_id:
            raise RetryableNotificationError(
                "whatsapp: media upload returned no id", provider=self.provider, code="media"
            )
        return Document(media_id, attachment.filename)

    async def _message(self, to: str, kind: str, content: dict[str, Any]) -> str:
        payload = {
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": wa_number(to),
            "type": kind,
            kind: content,
        }
        response = await self._post(f"{self._endpoint}/messages", (to,), json=payload)
        data = body(response)
        messages = data.get("messages") if isinstance(data, dict) else None
        if isinstance(messages, list) and messages and isinstance(messages[0], dict):
            return str(messages[0].get("id", ""))
        return ""

    async def _post(self, url: str, recipients: tuple[str, ...], **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self._token}"}
        return await post(
            self.http,
            self.provider,
            url,
            recipients=recipients,
            headers=headers,
            on_error=classify,
            **kwargs,
        )

    async def aclose(self) -> None:
        """Close the HTTP client if this client created it."""
        if self._owned:
            await self.http.aclose()


def wa_number(phone: str) -> str:
    """The ``to`` the API wants: digits only, with the country code."""
    return "".join(c for c in phone if c.isdigit())


def template_payload(template: WhatsAppTemplate, document: Document | None) -> dict[str, Any]:
    """The ``template`` object: name, language and components (header, then body)."""
    components: list[dict[str, Any]] = []
    if document is not None:
        components.append(
            {
                "type": "header",
                "parameters": [
                    {
                        "type": "document",
                        "document": {"id": document.media_id, "filename": document.filename},
                    }
                ],
            }
        )
    if template.params:
        components.append(
            {"type": "body", "parameters": [{"type": "text", "text": p} for p in template.params]}
        )
    payload: dict[str, Any] = {"name": template.name, "language": {"code": template.language}}
    if components:
        payload["components"] = components
    return payload


def classify(
    provider: str, response: httpx.Response, recipients: tuple[str, ...] = ()
) -> NotificationError:
    """The error for a failed Graph answer, by ``error.code`` first (131056 may come back
    as HTTP 400 yet is a rate limit), then by HTTP status."""
    error = body(response)
    error = error.get("error") if isinstance(error, dict) else None
    if not isinstance(error, dict) or not isinstance(error.get("code"), int):
        return status_error(provider, response, _message_of(error, response), recipients)
    code: int = error["code"]
    text = f"whatsapp error {code} (HTTP {response.status_code}): " + clean(
        _message_of(error, response), recipients
    )
    if code in RETRYABLE_CODES:
        return retryable("whatsapp", str(code), text, response)
    if code in CONFIG_CODES or response.status_code in (401, 403):
        return NotificationConfigError(text, provider="whatsapp", code=str(code))
    if response.status_code == 429 or response.status_code >= 500:
        return retryable("whatsapp", str(code), text, response)
    return PermanentNotificationError(text, provider="whatsapp", code=str(code))


def _message_of(error: Any, response: httpx.Response) -> str:
    if not isinstance(error, dict):
        return response.reason_phrase or "error"
    message = str(error.get("message", ""))
    details = error.get("error_data", {})
    if isinstance(details, dict) and details.get("details"):
        message = f"{message}: {details['details']}"
    return message or (response.reason_phrase or "error")
