"""The WhatsApp Cloud API client against a local Graph API fake."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest

from justo.jobs.notifications import (
    Attachment,
    Document,
    NotificationConfigError,
    PermanentNotificationError,
    RetryableNotificationError,
    WhatsAppClient,
    WhatsAppTemplate,
)
from tests.justo.jobs.fakes import LoopbackServer, json_response
from tests.justo.jobs.notifications.fakes import (
    API_VERSION,
    PDF,
    PHONE_ID,
    WA_TOKEN,
    FakeWhatsApp,
    graph_error,
)

TO = "+5511999998888"


@asynccontextmanager
async def client_for(fake: FakeWhatsApp, token: str = WA_TOKEN) -> AsyncIterator[WhatsAppClient]:
    async with LoopbackServer(fake).running() as server:
        client = WhatsAppClient(token, PHONE_ID, api_version=API_VERSION, base_url=server.url)
        try:
            yield client
        finally:
            await client.aclose()


async def test_text_message_shape() -> None:
    fake = FakeWhatsApp()
    async with client_for(fake) as client:
        assert await client.send_text(TO, "Nova movimentação no processo") == "wamid.1"
    [request] = fake.seen
    assert request.url.path == f"/{API_VERSION}/{PHONE_ID}/messages"
    assert request.headers["authorization"] == f"Bearer {WA_TOKEN}"
    assert fake.messages() == [
        {
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": "5511999998888",
            "type": "text",
            "text": {"preview_url": False, "body": "Nova movimentação no processo"},
        }
    ]


async def test_template_with_body_params_and_document_header() -> None:
    fake = FakeWhatsApp()
    template = WhatsAppTemplate("relatorio_semanal", "pt_BR", ("Cliente X", "12"))
    async with client_for(fake) as client:
        await client.send_template(TO, template)
        await client.send_template(TO, template, Document("media-9", "r.pdf"))
    plain, with_doc = (m["template"] for m in fake.messages())
    body = {
        "type": "body",
        "parameters": [{"type": "text", "text": "Cliente X"}, {"type": "text", "text": "12"}],
    }
    assert plain == {
        "name": "relatorio_semanal",
        "language": {"code": "pt_BR"},
        "components": [body],
    }
    assert with_doc["components"] == [
        {
            "type": "header",
            "parameters": [
                {"type": "document", "document": {"id": "media-9", "filename": "r.pdf"}}
            ],
        },
        body,
    ]


async def test_upload_then_document_message() -> None:
    fake = FakeWhatsApp()
    async with client_for(fake) as client:
        document = await client.upload(Attachment("relatorio.pdf", PDF, "application/pdf"))
        await client.send_document(TO, document, "Seu relatório semanal")
    assert document == Document("media-1", "relatorio.pdf")
    [upload] = fake.uploads
    assert upload["messaging_product"] == (None, b"whatsapp")
    assert upload["type"] == (None, b"application/pdf")
    assert upload["file"] == ("relatorio.pdf", PDF)
    assert fake.messages()[0]["document"] == {
        "id": "media-1",
        "filename": "relatorio.pdf",
        "caption": "Seu relatório semanal",
    }


@pytest.mark.parametrize(
    ("response", "code", "after"),
    [
        (
            graph_error(
                429,
                130429,
                "Rate limit hit",
                "Cloud API message throughput has been reached.",
                {"retry-after": "1"},
            ),
            "130429",
            1.0,
        ),
        (
            graph_error(400, 131056, "(Business Account, Consumer Account) pair rate limit hit"),
            "131056",
            None,
        ),
        (graph_error(500, 131000, "Something went wrong"), "131000", None),
        (graph_error(503, 2, "Service temporarily unavailable"), "2", None),
        (json_response(502, {"oops": True}), "502", None),
    ],
)
async def test_rate_limits_and_server_errors_are_retryable(
    response: object, code: str, after: float | None
) -> None:
    fake = FakeWhatsApp()
    fake.script.append(response)  # type: ignore[arg-type]
    async with client_for(fake) as client:
        with pytest.raises(RetryableNotificationError) as caught:
            await client.send_text(TO, "oi")
    assert (caught.value.code, caught.value.retry_after_s) == (code, after)


async def test_undeliverable_recipient_is_permanent_and_masked() -> None:
    fake = FakeWhatsApp()
    fake.undeliverable.add("5511999998888")
    async with client_for(fake) as client:
        with pytest.raises(PermanentNotificationError) as caught:
            await client.send_text(TO, "oi")
    assert caught.value.code == "131026"
    assert str(caught.value) == (  # the number masked
        "whatsapp error 131026 (HTTP 400): Message undeliverable: "
        "Unable to deliver message to 55119****8888"
    )


@pytest.mark.parametrize("code", [100, 131009, 131047, 132001])
async def test_invalid_parameter_and_template_errors_are_permanent(code: int) -> None:
    fake = FakeWhatsApp()
    fake.script.append(graph_error(400, code, "Invalid parameter"))
    async with client_for(fake) as client:
        with pytest.raises(PermanentNotificationError) as caught:
            await client.send_text(TO, "oi")
    assert caught.value.code == str(code)
    assert str(caught.value) == f"whatsapp error {code} (HTTP 400): Invalid parameter"


async def test_bad_token_is_a_config_error_without_the_token() -> None:
    async with client_for(FakeWhatsApp(), token="EAAG_wrong_token") as client:
        with pytest.raises(NotificationConfigError) as caught:
            await client.send_text(TO, "oi")
    assert caught.value.code == "190"
    assert str(caught.value) == "whatsapp error 190 (HTTP 401): Error validating access token"
