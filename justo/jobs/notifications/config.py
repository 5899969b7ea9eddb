"""Building the senders from the environment.

Email (``EMAIL_PROVIDER`` = ``smtp`` | ``resend`` | ``sendgrid``; unset = the first that is
configured of ``RESEND_API_KEY``, ``SMTP_PASSWORD`` without ``SMTP_HOST`` (the original
kept its Resend key there), ``SENDGRID_API_KEY``, ``SMTP_HOST``):

- ``EMAIL_FROM`` (default ``contato@justoai.com.br``; ``Name <addr>`` allowed);
- Resend: ``RESEND_API_KEY`` (alias ``SMTP_PASSWORD``), ``RESEND_BASE_URL``;
- SendGrid: ``SENDGRID_API_KEY``, ``SENDGRID_BASE_URL``;
- SMTP: ``SMTP_HOST``, ``SMTP_PORT`` (587), ``SMTP_USER``, ``SMTP_PASSWORD``, ``SMTP_TLS``
  (``starttls`` | ``ssl`` | ``none``; also true/false; default ``ssl`` on port 465,
  ``starttls`` on 587, else ``none``).

WhatsApp: ``WHATSAPP_TOKEN`` and ``WHATSAPP_PHONE_NUMBER_ID`` (both, or no WhatsApp),
``WHATSAPP_API_VERSION`` (``v21.0``), ``WHATSAPP_BASE_URL`` (``https://graph.facebook.com``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from engine.errors import ConfigError
from justo.jobs.notifications.mail import (
    DEFAULT_FROM,
    RESEND_URL,
    SENDGRID_URL,
    EmailSender,
    ResendSender,
    SendGridSender,
    SmtpSender,
    SmtpTls,
)
from justo.jobs.notifications.whatsapp import DEFAULT_API_VERSION, GRAPH_URL, WhatsAppClient

EMAIL_PROVIDERS = ("smtp", "resend", "sendgrid")


@dataclass
class Senders:
    """The configured channels (``None``: not configured)."""

    email: EmailSender | None
    whatsapp: WhatsAppClient | None

    async def aclose(self) -> None:
        """Close the senders' HTTP clients."""
        if self.email is not None:
            await self.email.aclose()
        if self.whatsapp is not None:
            await self.whatsapp.aclose()


def senders_from_env(env: Mapping[str, str] | None = None) -> Senders:
    """The email sender and WhatsApp client the environment configures.

    Raises:
        ConfigError: ``EMAIL_PROVIDER`` is unknown or lacks its settings, ``SMTP_PORT`` or
            ``SMTP_TLS`` is invalid, or only one of the two WhatsApp settings is set.
    """
    env = os.environ if env is None else env
    return Senders(email_sender_from_env(env), whatsapp_from_env(env))


def email_provider(env: Mapping[str, str]) -> str | None:
    """Which email provider to use (``None``: email is not configured)."""
    chosen = _get(env, "EMAIL_PROVIDER").lower()
    if chosen:
        if chosen not in EMAIL_PROVIDERS:
            raise ConfigError(
                f"EMAIL_PROVIDER must be one of {', '.join(EMAIL_PROVIDERS)}, not {chosen!r}"
            )
        return chosen
    if _get(env, "RESEND_API_KEY"):
        return "resend"
    if _get(env, "SMTP_PASSWORD") and not _get(env, "SMTP_HOST"):
        return "resend"
    if _get(env, "SENDGRID_API_KEY"):
        return "sendgrid"
    if _get(env, "SMTP_HOST"):
        return "smtp"
    return None


def email_sender_from_env(env: Mapping[str, str]) -> EmailSender | None:
    """The email sender, or ``None`` when no provider is configured."""
    provider = email_provider(env)
    sender = _get(env, "EMAIL_FROM") or DEFAULT_FROM
    if provider == "resend":
        key = _get(env, "RESEND_API_KEY") or _get(env, "SMTP_PASSWORD")
        return ResendSender(
            _require(key, "RESEND_API_KEY (or SMTP_PASSWORD)"),
            sender=sender,
            base_url=_get(env, "RESEND_BASE_URL") or RESEND_URL,
        )
    if provider == "sendgrid":
        return SendGridSender(
            _require(_get(env, "SENDGRID_API_KEY"), "SENDGRID_API_KEY"),
            sender=sender,
            base_url=_get(env, "SENDGRID_BASE_URL") or SENDGRID_URL,
        )
    if provider == "smtp":
        return _smtp(env, sender)
    return None


def _smtp(env: Mapping[str, str], sender: str) -> SmtpSender:
    host = _require(_get(env, "SMTP_HOST"), "SMTP_HOST")
    raw_port = _get(env, "SMTP_PORT") or "587"
    if not raw_port.isdigit() or not 0 < int(raw_port) < 65536:
        raise ConfigError(f"SMTP_PORT must be a port number, not {raw_port!r}")
    port = int(raw_port)
    return SmtpSender(
        host,
        port,
        sender=sender,
        username=_get(env, "SMTP_USER") or None,
        password=_get(env, "SMTP_PASSWORD") or None,
        tls=smtp_tls(_get(env, "SMTP_TLS"), port),
    )


def smtp_tls(value: str, port: int) -> SmtpTls:
    """``SMTP_TLS`` as a mode; unset picks by port (465 ssl, 587 starttls, else none)."""
    lowered = value.strip().lower()
    if lowered in ("starttls", "ssl", "none"):
        return lowered  # type: ignore[return-value]
    if lowered in ("tls", "implicit"):
        return "ssl"
    if lowered in ("", "true", "1", "yes", "on"):
        if port == 465:
            return "ssl"
        return "starttls" if lowered or port == 587 else "none"
    if lowered in ("false", "0", "no", "off"):
        return "none"
    raise ConfigError(f"SMTP_TLS must be starttls, ssl or none, not {value!r}")


def whatsapp_from_env(env: Mapping[str, str]) -> WhatsAppClient | None:
    """The WhatsApp client, or ``None`` when neither setting is present."""
    token, phone_id = _get(env, "WHATSAPP_TOKEN"), _get(env, "WHATSAPP_PHONE_NUMBER_ID")
    if not token and not phone_id:
        return None
    return WhatsAppClient(
        _require(token, "WHATSAPP_TOKEN"),
        _require(phone_id, "WHATSAPP_PHONE_NUMBER_ID"),
        api_version=_get(env, "WHATSAPP_API_VERSION") or DEFAULT_API_VERSION,
        base_url=_get(env, "WHATSAPP_BASE_URL") or GRAPH_URL,
    )


def _get(env: Mapping[str, str], name: str) -> str:
    return env.get(name, "").strip()


def _require(value: str, name: str) -> str:
    if not value:
        raise ConfigError(f"{name} is required for the configured notification channel")
    return value
