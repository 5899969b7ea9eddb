"""Choosing and building the senders from the environment."""

from __future__ import annotations

import pytest

from engine.errors import ConfigError
from justo.jobs.notifications import (
    ResendSender,
    SendGridSender,
    SmtpSender,
    WhatsAppClient,
    email_provider,
    senders_from_env,
)


@pytest.mark.parametrize(
    ("env", "provider"),
    [
        ({}, None),
        ({"RESEND_API_KEY": "re_x"}, "resend"),
        ({"SMTP_PASSWORD": "re_x"}, "resend"),  # the original kept its Resend key there
        ({"SENDGRID_API_KEY": "SG.x"}, "sendgrid"),
        ({"SMTP_HOST": "mail", "SMTP_PASSWORD": "pw"}, "smtp"),
        ({"RESEND_API_KEY": "re_x", "SENDGRID_API_KEY": "SG.x", "SMTP_HOST": "m"}, "resend"),
        ({"SENDGRID_API_KEY": "SG.x", "SMTP_HOST": "m"}, "sendgrid"),
        ({"EMAIL_PROVIDER": "SMTP", "RESEND_API_KEY": "re_x", "SMTP_HOST": "m"}, "smtp"),
    ],
)
def test_email_provider_choice(env: dict[str, str], provider: str | None) -> None:
    assert email_provider(env) == provider


async def test_resend_from_env_with_alias_and_overrides() -> None:
    senders = senders_from_env(
        {
            "EMAIL_PROVIDER": "resend",
            "SMTP_PASSWORD": "re_secret_1",
            "RESEND_BASE_URL": "http://127.0.0.1:9/",
            "EMAIL_FROM": "JustoAI <alertas@justoai.com.br>",
        }
    )
    email = senders.email
    assert isinstance(email, ResendSender)
    assert (email.base_url, email.sender) == (
        "http://127.0.0.1:9",
        "JustoAI <alertas@justoai.com.br>",
    )
    assert "re_secret_1" not in repr(email)
    assert senders.whatsapp is None
    await senders.aclose()


async def test_sendgrid_and_whatsapp_from_env() -> None:
    senders = senders_from_env(
        {
            "SENDGRID_API_KEY": "SG.secret",
            "WHATSAPP_TOKEN": "EAAG-secret",
            "WHATSAPP_PHONE_NUMBER_ID": "123",
            "WHATSAPP_API_VERSION": "v23.0",
            "WHATSAPP_BASE_URL": "http://127.0.0.1:9",
        }
    )
    assert isinstance(senders.email, SendGridSender)
    assert senders.email.sender == "contato@justoai.com.br"
    wa = senders.whatsapp
    assert isinstance(wa, WhatsAppClient)
    assert (wa.base_url, wa.api_version, wa.phone_number_id) == (
        "http://127.0.0.1:9",
        "v23.0",
        "123",
    )
    assert "EAAG-secret" not in repr(wa) and "SG.secret" not in repr(senders)
    await senders.aclose()


@pytest.mark.parametrize(
    ("port", "tls", "expected"),
    [
        ("587", "", "starttls"),
        ("465", "", "ssl"),
        ("25", "", "none"),
        ("2525", "true", "starttls"),
        ("465", "true", "ssl"),
        ("587", "false", "none"),
        ("587", "SSL", "ssl"),
        ("2587", "starttls", "starttls"),
    ],
)
def test_smtp_from_env(port: str, tls: str, expected: str) -> None:
    env = {
        "SMTP_HOST": "smtp.example.com",
        "SMTP_PORT": port,
        "SMTP_USER": "u",
        "SMTP_PASSWORD": "pw-secret-1",
        "SMTP_TLS": tls,
    }
    email = senders_from_env(env).email
    assert isinstance(email, SmtpSender)
    assert (email.host, email.port, email.username, email.tls) == (
        "smtp.example.com",
        int(port),
        "u",
        expected,
    )
    assert "pw-secret-1" not in repr(email)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"EMAIL_PROVIDER": "pigeon"}, "EMAIL_PROVIDER must be"),
        ({"EMAIL_PROVIDER": "sendgrid"}, "SENDGRID_API_KEY is required"),
        ({"EMAIL_PROVIDER": "resend"}, "RESEND_API_KEY"),
        ({"EMAIL_PROVIDER": "smtp"}, "SMTP_HOST is required"),
        ({"SMTP_HOST": "m", "SMTP_PORT": "x"}, "SMTP_PORT"),
        ({"SMTP_HOST": "m", "SMTP_TLS": "maybe"}, "SMTP_TLS"),
        ({"WHATSAPP_TOKEN": "t"}, "WHATSAPP_PHONE_NUMBER_ID"),
    ],
)
def test_bad_configuration_is_refused(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        senders_from_env(env)
