"""Email senders: SMTP (stdlib ``smtplib`` in a thread), Resend and SendGrid v3.

Every sender sends one ``Email`` (one recipient) and returns the provider's message id.
Failures are raised as ``RetryableNotificationError`` (try again later),
``PermanentNotificationError`` (this message will never go through) or
``NotificationConfigError`` (our credentials or sender setup). Keys are kept out of
``repr`` and of every error message.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import smtplib
import ssl
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formatdate, parseaddr
from typing import Any, Literal, Protocol

import httpx

from justo.jobs.notifications.errors import (
    InvalidNotificationError,
    NotificationConfigError,
    NotificationError,
    PermanentNotificationError,
    RetryableNotificationError,
)
from justo.jobs.notifications.http import DEFAULT_TIMEOUT_S, body, clean, new_client, post
from justo.jobs.notifications.request import Attachment

DEFAULT_FROM = "contato@justoai.com.br"
"""Sender unless ``EMAIL_FROM`` says otherwise (the original's default)."""

RESEND_URL = "https://api.resend.com"
SENDGRID_URL = "https://api.sendgrid.com"

SmtpTls = Literal["starttls", "ssl", "none"]
"""``starttls`` upgrades a plain connection (587), ``ssl`` is implicit TLS (465)."""


@dataclass(frozen=True)
class Email:
    """One message to one recipient."""

    to: str
    subject: str
    html: str = ""
    text: str = ""
    attachments: tuple[Attachment, ...] = ()
    idempotency_key: str = ""
    """Sent to providers that deduplicate on it; also seeds the SMTP ``Message-ID``."""


class EmailSender(Protocol):
    """Sends emails through one provider."""

    provider: str
    """"smtp", "resend" or "sendgrid"."""

    async def send(self, email: Email) -> str:
        """Send and return the provider's message id ("" when it gives none)."""
        ...

    async def aclose(self) -> None:
        """Release connections."""
        ...


def message_id_for(key: str, sender: str) -> str:
    """A stable ``Message-ID`` for an idempotency key, so a re-sent message is recognisably
    the same one."""
    domain = parseaddr(sender)[1].rpartition("@")[2] or "justoai.local"
    return f"<{hashlib.sha256(key.encode()).hexdigest()[:32]}@{domain}>"


# --- SMTP ----------------------------------------------------------------------------------


@dataclass
class SmtpSender:
    """SMTP with ``smtplib`` in a worker thread (multipart: text, html, attachments).

    Args:
        host, port: the server.
        sender: the ``From`` (``addr`` or ``Name <addr>``).
        username, password: for ``AUTH`` when given.
        tls: ``starttls``, ``ssl`` (implicit) or ``none``.
        timeout_s: socket timeout.
        ssl_context: for TLS (default: the system's trust store).
    """

    host: str
    port: int = 587
    sender: str = DEFAULT_FROM
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    tls: SmtpTls = "starttls"
    timeout_s: float = DEFAULT_TIMEOUT_S
    ssl_context: ssl.SSLContext | None = field(default=None, repr=False)
    provider: str = field(default="smtp", init=False)

    async def send(self, email: Email) -> str:
        """Deliver through the SMTP server; the message id is our ``Message-ID``."""
        try:
            message = self.build(email)
        except (ValueError, TypeError) as exc:  # e.g. a line break in a header
            raise InvalidNotificationError(
                f"smtp: cannot build the message: {exc}", provider="smtp"
            ) from exc
        try:
            await asyncio.to_thread(self._deliver, message)
        except (smtplib.SMTPException, OSError) as exc:
            raise smtp_error(exc, email.to) from exc
        return str(message["Message-ID"])

    def build(self, email: Email) -> EmailMessage:
        """The MIME message: text and/or html alternatives, then the attachments."""
        message = EmailMessage()
        message["From"] = self.sender
        message["To"] = email.to
        message["Subject"] = email.subject
        message["Date"] = formatdate(localtime=False, usegmt=True)
        message["Message-ID"] = message_id_for(
            email.idempotency_key or email.to + email.subject, self.sender
        )
        message.set_content(email.text or "Veja a versão HTML desta mensagem.")
        if email.html:
            message.add_alternative(email.html, subtype="html")
        for item in email.attachments:
            maintype, _, subtype = item.content_type.partition("/")
            message.add_attachment(
                item.content,
                maintype=maintype or "application",
                subtype=subtype or "octet-stream",
                filename=item.filename,
            )
        return message

    def _deliver(self, message: EmailMessage) -> None:
        context = self.ssl_context or ssl.create_default_context()
        client: smtplib.SMTP
        if self.tls == "ssl":
            client = smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout_s, context=context)
        else:
            client = smtplib.SMTP(self.host, self.port, timeout=self.timeout_s)
        with client:
            if self.tls == "starttls":
                client.starttls(context=context)
            if self.username:
                client.login(self.username, self.password or "")
            client.send_message(message)

    async def aclose(self) -> None:
        """Nothing to release: one connection per message."""


def smtp_error(exc: BaseException, recipient: str) -> NotificationError:
    """Map an ``smtplib``/socket failure: 4xx and network trouble retry, 5xx are permanent,
    authentication and sender refusals are configuration errors."""
    if isinstance(exc, smtplib.SMTPAuthenticationError | smtplib.SMTPNotSupportedError):
        return NotificationConfigError(
            f"smtp: {_smtp_text(exc, recipient)}",
            provider="smtp",
            code=str(getattr(exc, "smtp_code", "")),
        )
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _ in exc.recipients.values()]
        code = codes[0] if codes else 550
        text = f"smtp: recipient refused ({code})"
        if code >= 500:
            return PermanentNotificationError(text, provider="smtp", code=str(code))
        return RetryableNotificationError(text, provider="smtp", code=str(code))
    if isinstance(exc, smtplib.SMTPSenderRefused):
        return NotificationConfigError(
            f"smtp: sender refused ({exc.smtp_code})", provider="smtp", code=str(exc.smtp_code)
        )
    code = getattr(exc, "smtp_code", 0)
    text = f"smtp: {_smtp_text(exc, recipient)}"
    if (
        isinstance(exc, smtplib.SMTPResponseException)
        and 500 <= code < 600
        and not isinstance(exc, smtplib.SMTPConnectError)
    ):
        return PermanentNotificationError(text, provider="smtp", code=str(code))
    return RetryableNotificationError(text, provider="smtp", code=str(code or "network"))


def _smtp_text(exc: BaseException, recipient: str) -> str:
    if isinstance(exc, smtplib.SMTPResponseException):
        raw = exc.smtp_error
        said = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
        return clean(f"{type(exc).__name__} {exc.smtp_code} {said}", [recipient])
    return clean(f"{type(exc).__name__}: {exc}", [recipient])


# --- Resend --------------------------------------------------------------------------------


class ResendSender:
    """Resend's ``POST /emails`` (Bearer key; attachments as base64 ``content``;
    ``Idempotency-Key`` header, 24 h dedupe on Resend's side).

    Args:
        api_key: ``re_...``.
        sender: the ``from``.
        base_url: ``https://api.resend.com`` unless overridden (tests).
        http: a client to use (not closed by ``aclose``); one is created otherwise.
    """

    provider = "resend"

    def __init__(
        self,
        api_key: str,
        *,
        sender: str = DEFAULT_FROM,
        base_url: str = RESEND_URL,
        http: httpx.AsyncClient | None = None,
        timeout_s: float = DEFAULT_TIMEOUT_S,
    ) -> None:
        self._key = api_key
        self.sender = sender
        self.base_url = base_url.rstrip("/")
        self._owned = http is None
        self.http = http or new_client(timeout_s)

    def __repr__(self) -> str:
        return f"ResendSender(base_url={self.base_url!r}, sender={self.sender!r})"

    def payload(self, email: Email) -> dict[str, Any]:
        """The JSON body of ``POST /emails``."""
        out: dict[str, Any] = {"from": self.sender, "to": [email.to], "subject": email.subject}
        if email.html:
            out["html"] = email.html
        if email.text:
            out["text"] = email.text
        if email.attachments:
            out["attachments"] = [
                {"filename": a.filename, "content": _b64(a.content)} for a in email.attachments
            ]
        return out

    async def send(self, email: Email) -> str:
        """Send; returns Resend's email id."""
        headers = {"Authorization": f"Bearer {self._key}"}
        if email.idempotency_key:
            headers["Idempotency-Key"] = email.idempotency_key[:256]
        response = await post(
            self.http,
            self.provider,
            f"{self.base_url}/emails",
            recipients=[email.to],
            json=self.payload(email),
            headers=headers,
        )
        data = body(response)  # accepted even if the answer is unreadable: never resend
        return str(data.get("id", "")) if isinstance(data, dict) else ""

    async def aclose(self) -> None:
        """Close the HTTP client if this sender created it."""
        if self._owned:
            await self.http.aclose()


# --- SendGrid ------------------------------------------------------------------------------


class SendGridSender:
    """SendGrid v3 ``POST /v3/mail/send`` (202 Accepted; the id is ``X-Message-Id``).

    Args:
        api_key: ``SG....``.
        sender: the ``from`` (``addr`` or ``Name <addr>``).
        base_url: ``https://api.sendgrid.com`` unless overridden (EU: api.eu.sendgrid.com).
        http: a client to use (not closed by ``aclose``); one is created otherwise.
    """

    provider = "sendgrid"

    def __init__(
        self,
        api_key: str,
        *,
        sender: str = DEFAULT_FROM,
        base_url: str = SENDGRID_URL,
        http: httpx.AsyncClient | None = None,
        timeout_s: float = DEFAULT_TIMEOUT_S,
    ) -> None:
        self._key = api_key
        self.sender = sender
        self.base_url = base_url.rstrip("/")
        self._owned = http is None
        self.http = http or new_client(timeout_s)

    def __repr__(self) -> str:
        return f"SendGridSender(base_url={self.base_url!r}, sender={self.sender!r})"

    def payload(self, email: Email) -> dict[str, Any]:
        """The JSON body of ``POST /v3/mail/send`` (text/plain must precede text/html)."""
        name, address = parseaddr(self.sender)
        sender: dict[str, str] = {"email": address or self.sender}
        if name:
            sender["name"] = name
        content = [{"type": "text/plain", "value": email.text}] if email.text else []
        if email.html:
            content.append({"type": "text/html", "value": email.html})
        out: dict[str, Any] = {
            "personalizations": [{"to": [{"email": email.to}]}],
            "from": sender,
            "subject": email.subject,
            "content": content,
        }
        if email.attachments:
            out["attachments"] = [
                {
                    "content": _b64(a.content),
                    "filename": a.filename,
                    "type": a.content_type,
                    "disposition": "attachment",
                }
                for a in email.attachments
            ]
        return out

    async def send(self, email: Email) -> str:
        """Send; returns the ``X-Message-Id`` header ("" if absent)."""
        response = await post(
            self.http,
            self.provider,
            f"{self.base_url}/v3/mail/send",
            recipients=[email.to],
            json=self.payload(email),
            headers={"Authorization": f"Bearer {self._key}"},
        )
        return str(response.headers.get("x-message-id", ""))

    async def aclose(self) -> None:
        """Close the HTTP client if this sender created it."""
        if self._owned:
            await self.http.aclose()


def _b64(content: bytes) -> str:
    return base64.b64encode(content).decode("ascii")
