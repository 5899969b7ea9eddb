"""The ``send-notification`` job data, checked and normalised into a ``NotificationRequest``.

Accepted shapes (the original's ``addNotificationJob(type, data)`` wrapped the payload):
the flat form ``{"type": ..., "workspaceId": ..., "to": ..., ...}`` and the wrapped form
``{"type": ..., "data": {...}}``. Aliases kept from the original reports worker:
``phone`` for ``to`` and ``reportPath`` for a single PDF attachment.

Reading attachment files blocks: call ``parse_request`` in a thread.
"""

from __future__ import annotations

import base64
import binascii
import mimetypes
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from justo.db.models import Channel
from justo.jobs.notifications.errors import InvalidNotificationError

KINDS: dict[str, Channel] = {
    "email-alert": Channel.EMAIL,
    "email-report": Channel.EMAIL,
    "whatsapp-alert": Channel.WHATSAPP,
    "whatsapp-report": Channel.WHATSAPP,
}
"""Notification types and their channel."""

DEFAULT_LANGUAGE = "pt_BR"
"""Language of WhatsApp templates unless the job says otherwise."""

DEFAULT_COUNTRY_CODE = "55"
"""Prefixed to a 10- or 11-digit phone written without ``+`` (a Brazilian number without
its country code: area code + 8 or 9 digits). An assumption of this re-implementation."""

MAX_ATTACHMENT_BYTES = 30 * 1024 * 1024
"""Total attachment size accepted (Resend takes 40 MB *after* base64, i.e. ~30 MB raw)."""

_EMAIL = re.compile(r"^[^@\s<>,;\"]+@[^@\s<>,;\"]+\.[^@\s<>,;\"]+$")


@dataclass(frozen=True)
class Attachment:
    """A file to send with the message."""

    filename: str
    content: bytes = field(repr=False)
    content_type: str = "application/octet-stream"


@dataclass(frozen=True)
class WhatsAppTemplate:
    """An approved WhatsApp template and its body parameters, in order."""

    name: str
    language: str = DEFAULT_LANGUAGE
    params: tuple[str, ...] = ()


@dataclass(frozen=True)
class NotificationRequest:
    """One ``send-notification`` job, validated."""

    kind: str
    """``email-alert``, ``email-report``, ``whatsapp-alert`` or ``whatsapp-report``."""
    channel: Channel
    workspace_id: str
    recipients: tuple[str, ...]
    """Deduplicated, in order; phones normalised to ``+<digits>``."""
    idempotency_key: str
    subject: str = ""
    html: str = ""
    text: str = ""
    attachments: tuple[Attachment, ...] = ()
    template: WhatsAppTemplate | None = None
    within_window: bool = False
    """WhatsApp: the user wrote to us in the last 24 h, so free-form messages are allowed."""

    def summary(self) -> dict[str, Any]:
        """What is stored in the notification row's ``payload`` (no bodies, no file bytes)."""
        out: dict[str, Any] = {
            "type": self.kind,
            "recipients": len(self.recipients),
            "attachments": [
                {"filename": a.filename, "contentType": a.content_type, "size": len(a.content)}
                for a in self.attachments
            ],
        }
        if self.channel is Channel.WHATSAPP:
            out["withinWindow"] = self.within_window
            if self.template is not None:
                out["template"] = {
                    "name": self.template.name,
                    "language": self.template.language,
                    "params": list(self.template.params),
                }
        return out


def unwrap(data: Any) -> dict[str, Any]:
    """The flat job data, whether it came flat or as ``{"type": ..., "data": {...}}``."""
    if not isinstance(data, dict):
        raise InvalidNotificationError(f"job data must be an object, not {type(data).__name__}")
    inner = data.get("data")
    if isinstance(inner, dict):
        return {**inner, "type": data.get("type", inner.get("type"))}
    return data


def parse_request(data: Any, job_id: str) -> NotificationRequest:
    """Validate the job data and load its attachments.

    Args:
        data: the job's data, flat or wrapped.
        job_id: the job's id, for the default idempotency key ``notif:<job id>``.

    Raises:
        InvalidNotificationError: the data cannot be delivered as given.
    """
    flat = unwrap(data)
    kind = _required_str(flat, "type")
    if kind not in KINDS:
        raise InvalidNotificationError(
            f"unknown notification type {kind!r}; expected one of {', '.join(KINDS)}"
        )
    channel = KINDS[kind]
    key = flat.get("idempotencyKey")
    request = NotificationRequest(
        kind=kind,
        channel=channel,
        workspace_id=_required_str(flat, "workspaceId"),
        recipients=_recipients(flat, channel),
        idempotency_key=key.strip() if isinstance(key, str) and key.strip() else f"notif:{job_id}",
        subject=" ".join(_optional_str(flat, "subject").split()),  # one line: no injection
        html=_optional_str(flat, "html"),
        text=_optional_str(flat, "text"),
        attachments=_attachments(flat),
        template=_template(flat.get("template")),
        within_window=flat.get("withinWindow") is True,
    )
    _check_content(request)
    return request


def _check_content(request: NotificationRequest) -> None:
    if request.channel is Channel.EMAIL:
        if not request.subject:
            raise InvalidNotificationError("an email needs a subject")
        if not (request.html or request.text):
            raise InvalidNotificationError("an email needs html or text")
        return
    if request.kind == "whatsapp-report" and len(request.attachments) != 1:
        raise InvalidNotificationError("a whatsapp-report needs exactly one attachment")
    if not request.within_window and request.template is None:
        raise InvalidNotificationError(
            "outside the 24 h customer-service window WhatsApp only delivers approved "
            "templates: give data.template (or withinWindow: true)"
        )
    if (
        request.within_window
        and request.kind == "whatsapp-alert"
        and not (request.text or request.template)
    ):
        raise InvalidNotificationError("a whatsapp-alert needs text (or a template)")


def _required_str(data: dict[str, Any], name: str) -> str:
    value = data.get(name)
    if not isinstance(value, str) or not value.strip():
        raise InvalidNotificationError(f"{name} is required (a non-empty string)")
    return value.strip()


def _optional_str(data: dict[str, Any], name: str) -> str:
    value = data.get(name)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InvalidNotificationError(f"{name} must be a string")
    return value


def _recipients(data: dict[str, Any], channel: Channel) -> tuple[str, ...]:
    raw = data.get("to")
    if raw is None and channel is Channel.WHATSAPP:
        raw = data.get("phone")
    values = [raw] if isinstance(raw, str) else raw
    if not isinstance(values, list) or not values or not all(isinstance(v, str) for v in values):
        raise InvalidNotificationError("to must be a recipient or a non-empty list of them")
    normalise = normalise_email if channel is Channel.EMAIL else normalise_phone
    unique = dict.fromkeys(normalise(v) for v in values if v.strip())
    if not unique:
        raise InvalidNotificationError("to has no recipient")
    return tuple(unique)


def normalise_email(address: str) -> str:
    """The address trimmed (validity is checked per delivery by ``is_valid_email``)."""
    return address.strip()


def is_valid_email(address: str) -> bool:
    """A plain ``local@domain.tld`` address (no display name, no list)."""
    return bool(_EMAIL.match(address)) and len(address) <= 320


def normalise_phone(number: str) -> str:
    """``+<digits>``; a 10/11-digit number without ``+`` gets ``DEFAULT_COUNTRY_CODE``.
    Anything without digits is returned trimmed (and fails ``is_valid_phone``)."""
    stripped = number.strip()
    digits = "".join(c for c in stripped if c.isdigit())
    if not digits or any(c.isalpha() for c in stripped):
        return stripped
    if not stripped.startswith("+") and len(digits) in (10, 11):
        digits = DEFAULT_COUNTRY_CODE + digits
    return "+" + digits


def is_valid_phone(number: str) -> bool:
    """E.164: ``+`` and 8 to 15 digits, not starting with 0."""
    return bool(re.fullmatch(r"\+[1-9]\d{7,14}", number))


def _template(raw: Any) -> WhatsAppTemplate | None:
    if raw is None:
        return None
    if not isinstance(raw, dict) or not isinstance(raw.get("name"), str) or not raw["name"]:
        raise InvalidNotificationError("template must be {name, language?, params?}")
    params = raw.get("params") or []
    if not isinstance(params, list):
        raise InvalidNotificationError("template.params must be a list")
    language = raw.get("language") or DEFAULT_LANGUAGE
    if not isinstance(language, str):
        raise InvalidNotificationError("template.language must be a string")
    return WhatsAppTemplate(raw["name"], language, tuple(str(p) for p in params))


def _attachments(data: dict[str, Any]) -> tuple[Attachment, ...]:
    raw = data.get("attachments")
    if raw is None:
        raw = []
    if not isinstance(raw, list) or not all(isinstance(a, dict) for a in raw):
        raise InvalidNotificationError("attachments must be a list of objects")
    report = data.get("reportPath")
    if isinstance(report, str) and report and not raw:
        raw = [{"path": report, "contentType": "application/pdf"}]
    loaded = tuple(_attachment(a) for a in raw)
    if sum(len(a.content) for a in loaded) > MAX_ATTACHMENT_BYTES:
        raise InvalidNotificationError(
            f"attachments exceed {MAX_ATTACHMENT_BYTES // (1024 * 1024)} MB in all"
        )
    return loaded


def _attachment(raw: dict[str, Any]) -> Attachment:
    path, encoded = raw.get("path"), raw.get("contentBase64")
    if isinstance(path, str) and path:
        content = _read_file(path)
        default_name = Path(path).name
    elif isinstance(encoded, str):
        content = _decode(encoded)
        default_name = "attachment"
    else:
        raise InvalidNotificationError("an attachment needs path or contentBase64")
    filename = raw.get("filename") or default_name
    if not isinstance(filename, str):
        raise InvalidNotificationError("attachment filename must be a string")
    content_type = raw.get("contentType") or mimetypes.guess_type(filename)[0]
    return Attachment(filename, content, str(content_type or "application/octet-stream"))


def _read_file(path: str) -> bytes:
    file = Path(path)
    if not file.is_absolute():
        raise InvalidNotificationError(f"attachment path must be absolute: {path}")
    try:
        if file.stat().st_size > MAX_ATTACHMENT_BYTES:
            raise InvalidNotificationError(f"attachment too large: {path}")
        return file.read_bytes()
    except OSError as exc:
        raise InvalidNotificationError(
            f"attachment unreadable: {path} ({exc.strerror or exc})"
        ) from exc


def _decode(encoded: str) -> bytes:
    try:
        return base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidNotificationError("attachment contentBase64 is not valid base64") from exc
