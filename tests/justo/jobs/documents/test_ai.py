"""The AI client against a local OpenAI-compatible server (real TCP on 127.0.0.1), plus
``httpx.MockTransport`` for status codes."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from engine.errors import ConfigError
from justo.jobs.documents.ai import (
    PROMPT_VERSION,
    SYSTEM_PROMPT,
    AiClient,
    cache_key,
    parse_completion,
)
from justo.jobs.documents.errors import (
    AiAuthError,
    AiError,
    AiMalformedResponseError,
    AiRequestError,
    AiTimeoutError,
    AiTruncatedResponseError,
    AiUnavailableError,
)
from tests.justo.jobs.documents.openai_stub import ANALYSIS, OpenAiStub, Reply

KEY = "sk-test-SECRET-0123456789"


async def test_success_over_http() -> None:
    async with OpenAiStub().running() as stub:
        client = AiClient(stub.base_url + "/", KEY, "gpt-test", timeout_s=5)
        try:
            answer = await client.analyze("Autor: Fulano", "complete", "CNJ numbers X")
        finally:
            await client.aclose()
    assert answer.result == ANALYSIS and answer.model == "gpt-test" and answer.tokens == 123
    (request,) = stub.requests
    assert (request.method, request.path) == ("POST", "/v1/chat/completions")
    assert request.headers["authorization"] == f"Bearer {KEY}"
    body = request.body
    assert body["model"] == "gpt-test"
    assert body["response_format"] == {"type": "json_object"}
    system, user = body["messages"]
    assert system == {"role": "system", "content": SYSTEM_PROMPT}
    for key in ("summary", "parties", "keyDates", "amounts", "risks", "nextSteps"):
        assert f'"{key}"' in system["content"]
    assert user["role"] == "user"
    assert "Analysis type: complete" in user["content"]
    assert "CNJ numbers X" in user["content"] and "Autor: Fulano" in user["content"]


async def test_malformed_json_is_a_named_retryable_error() -> None:
    async with OpenAiStub([Reply(content="Claro! Aqui está: {summary: ...")]).running() as stub:
        client = AiClient(stub.base_url, KEY, "gpt-test", timeout_s=5)
        with pytest.raises(AiMalformedResponseError, match="not a JSON object") as caught:
            await client.analyze("texto", "complete")
        await client.aclose()
    assert caught.value.retryable
    assert not isinstance(caught.value, AiTruncatedResponseError)


async def test_timeout_is_retryable() -> None:
    async with OpenAiStub([Reply(delay_s=0.5)]).running() as stub:
        client = AiClient(stub.base_url, KEY, "gpt-test", timeout_s=0.1)
        with pytest.raises(AiTimeoutError, match=r"within 0.1s") as caught:
            await client.analyze("texto", "complete")
        await client.aclose()
    assert caught.value.retryable and len(stub.requests) == 1


async def test_connection_refused_is_retryable() -> None:
    async with OpenAiStub().running() as stub:
        url = stub.base_url
    client = AiClient(url, KEY, "gpt-test", timeout_s=2)
    with pytest.raises(AiUnavailableError, match="cannot reach") as caught:
        await client.analyze("texto", "complete")
    await client.aclose()
    assert caught.value.retryable


@pytest.mark.parametrize(
    ("reply", "error", "retryable"),
    [
        (
            Reply(content='{"summary": "cortado', finish_reason="length"),
            AiTruncatedResponseError,
            False,
        ),
        (Reply(content="[1, 2]"), AiMalformedResponseError, True),
        (Reply(raw_body=b"<html>gateway</html>"), AiMalformedResponseError, True),
        (Reply(raw_body=b'{"choices": []}'), AiMalformedResponseError, True),
        (Reply(status=429, content="slow down"), AiUnavailableError, True),
        (Reply(status=503, content="overloaded"), AiUnavailableError, True),
        (Reply(status=400, content="unknown model"), AiRequestError, False),
        (Reply(status=401, content=f"Incorrect API key provided: {KEY}"), AiAuthError, False),
    ],
)
async def test_error_answers(reply: Reply, error: type[AiError], retryable: bool) -> None:
    async with OpenAiStub([reply]).running() as stub:
        client = AiClient(stub.base_url, KEY, "gpt-test", timeout_s=5)
        with pytest.raises(error) as caught:
            await client.analyze("texto", "complete")
        await client.aclose()
    assert type(caught.value) is error and caught.value.retryable is retryable
    assert KEY not in str(caught.value)


async def test_api_key_is_redacted_from_quoted_error_bodies() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(400, text=f"bad request for key {KEY}")

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
        client = AiClient("https://ai.example/v1", KEY, "m", http=http)
        with pytest.raises(AiRequestError) as caught:
            await client.analyze("texto", "complete")
    assert "***" in str(caught.value) and KEY not in str(caught.value)
    assert KEY not in repr(client)


async def test_code_fenced_json_and_keyless_server() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(
            200, json={"choices": [{"message": {"content": '```json\n{"summary": "ok"}\n```'}}]}
        )

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
        answer = await AiClient("http://localhost:11434/v1", "", "llama", http=http).analyze(
            "texto", "summary"
        )
    assert answer.result == {"summary": "ok"} and answer.model == "llama" and answer.tokens == 0
    assert "authorization" not in seen[0].headers


def test_parse_completion_needs_content() -> None:
    payloads: list[Any] = [{}, {"choices": [{}]}, {"choices": [{"message": {"content": None}}]}, []]
    for payload in payloads:
        with pytest.raises(AiMalformedResponseError):
            parse_completion(payload, "m")


async def test_from_env() -> None:
    assert AiClient.from_env({}) is None
    assert AiClient.from_env({"AI_BASE_URL": "https://x/v1", "AI_API_KEY": KEY}) is None
    client = AiClient.from_env(
        {
            "AI_BASE_URL": "https://x/v1/",
            "AI_API_KEY": KEY,
            "AI_MODEL": "gpt-4o-mini",
            "AI_TIMEOUT_S": "30",
        }
    )
    assert client is not None
    assert (client.endpoint, client.model, client.timeout_s) == (
        "https://x/v1/chat/completions",
        "gpt-4o-mini",
        30.0,
    )
    assert KEY not in repr(client)
    await client.aclose()
    with pytest.raises(ConfigError, match="AI_TIMEOUT_S"):
        AiClient.from_env({"AI_BASE_URL": "https://x", "AI_MODEL": "m", "AI_TIMEOUT_S": "x"})
    with pytest.raises(ConfigError, match="http"):
        AiClient.from_env({"AI_BASE_URL": "x.example", "AI_MODEL": "m"})


def test_cache_key_depends_on_text_model_and_type() -> None:
    base = cache_key("texto", "m", "complete")
    assert base.startswith("ai:analysis:") and len(base) == len("ai:analysis:") + 64
    assert base == cache_key("texto", "m", "complete")
    others = {
        cache_key("texto2", "m", "complete"),
        cache_key("texto", "m2", "complete"),
        cache_key("texto", "m", "risks"),
        cache_key("textom", "", "complete"),
    }
    assert base not in others and len(others) == 4
    assert PROMPT_VERSION


async def test_request_body_is_json_serialisable() -> None:
    client = AiClient("https://x", KEY, "m")
    body: dict[str, Any] = client.request_body("á", "complete")
    assert json.loads(json.dumps(body)) == body
    await client.aclose()
