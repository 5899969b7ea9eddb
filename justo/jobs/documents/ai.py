"""A minimal client of an OpenAI-compatible chat-completions endpoint for document analysis.

``POST {base_url}/chat/completions`` with ``response_format: {"type": "json_object"}``, a
system prompt asking for one JSON object (summary, parties, key dates, amounts, risks,
next steps) and the document's text; the assistant message's content is parsed as JSON.
Works with OpenAI, Azure-style gateways, OpenRouter, vLLM, Ollama and the like.

The API key only ever travels in the ``Authorization`` header: it is not in ``repr``, in
error messages (endpoint answers are redacted and omitted on 401/403) or in any log.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from engine.errors import ConfigError
from justo.jobs.documents.errors import (
    AiAuthError,
    AiMalformedResponseError,
    AiRequestError,
    AiTimeoutError,
    AiTruncatedResponseError,
    AiUnavailableError,
)

PROMPT_VERSION = "doc-analysis-v1"
"""Changes whenever the prompt does, so cached answers to an old prompt are not reused."""

DEFAULT_TIMEOUT_S = 120.0
"""Seconds for the whole call, unless ``AI_TIMEOUT_S`` says otherwise."""

SYSTEM_PROMPT = """\
You analyse Brazilian legal documents (petições, decisões, sentenças, contratos).
Answer with ONE JSON object and nothing else, with exactly these keys:
- "summary": string, 3-6 sentences;
- "parties": list of {"name": string, "role": string, "document": CPF/CNPJ string or null};
- "keyDates": list of {"date": "YYYY-MM-DD", "description": string};
- "amounts": list of {"value": decimal string like "1234.56", "description": string};
- "risks": list of {"description": string, "level": "provável" | "possível" | "remoto"};
- "nextSteps": list of strings (deadlines, hearings, actions for the lawyer).
Write every text value in Brazilian Portuguese. Use only what the document says: an empty
list or null when it says nothing, never invented names, numbers or dates."""

ANALYSIS_FOCUS: dict[str, str] = {
    "complete": "Fill every key as thoroughly as the document allows.",
    "summary": "Focus on the summary; keep the other lists short.",
    "risks": "Focus on risks and next steps; keep the summary short.",
}
"""Extra instruction per analysis type; other types get the ``complete`` one."""

ERROR_EXCERPT = 200
"""Characters of an endpoint's error body quoted in error messages."""


@dataclass(frozen=True)
class AiAnswer:
    """A parsed answer."""

    result: dict[str, Any]
    """The assistant's JSON object."""
    model: str
    """The model that answered (the endpoint's ``model``, else the configured one)."""
    tokens: int = 0
    """``usage.total_tokens`` when the endpoint reports it."""


def cache_key(text: str, model: str, analysis_type: str) -> str:
    """``ai:analysis:<sha256>`` of the prompt version, model, analysis type and text.

    The parts are NUL-separated, so no two different inputs hash the same string.
    """
    digest = hashlib.sha256()
    for part in (PROMPT_VERSION, model, analysis_type, text):
        digest.update(part.encode("utf-8", "surrogatepass"))
        digest.update(b"\x00")
    return f"ai:analysis:{digest.hexdigest()}"


def user_prompt(text: str, analysis_type: str, hints: str = "") -> str:
    """The user message: the analysis type, the regex findings as hints, the text."""
    focus = ANALYSIS_FOCUS.get(analysis_type, ANALYSIS_FOCUS["complete"])
    parts = [f"Analysis type: {analysis_type}. {focus}"]
    if hints:
        parts.append(f"Found by pattern matching (may be incomplete): {hints}")
    parts.append(f"Document text:\n<<<\n{text}\n>>>")
    return "\n\n".join(parts)


class AiClient:
    """Analyses document text through an OpenAI-compatible chat-completions endpoint.

    Args:
        base_url: e.g. ``https://api.openai.com/v1`` (``/chat/completions`` is appended).
        api_key: sent as ``Authorization: Bearer``; empty for keyless local servers.
        model: the model name sent with every request.
        http: a shared client; by default one is created (and closed by ``aclose``).
        timeout_s: limit for the whole call (connect, send, wait, read).
    """

    def __init__(
        self,
        base_url: str,
        api_key: str,
        model: str,
        *,
        http: httpx.AsyncClient | None = None,
        timeout_s: float = DEFAULT_TIMEOUT_S,
    ) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise ConfigError(f"AI base URL must start with http:// or https://: {base_url!r}")
        if not model:
            raise ConfigError("AI model is empty")
        if timeout_s <= 0:
            raise ConfigError("AI timeout must be positive")
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.timeout_s = timeout_s
        self._api_key = api_key
        self._owns_http = http is None
        self._http = http if http is not None else httpx.AsyncClient(timeout=timeout_s)

    @classmethod
    def from_env(
        cls, env: Mapping[str, str], *, http: httpx.AsyncClient | None = None
    ) -> AiClient | None:
        """A client from ``AI_BASE_URL``, ``AI_API_KEY``, ``AI_MODEL`` (and optional
        ``AI_TIMEOUT_S``); ``None`` when ``AI_BASE_URL`` or ``AI_MODEL`` is unset or empty.

        Raises:
            ConfigError: a set but invalid value.
        """
        base_url = env.get("AI_BASE_URL", "").strip()
        model = env.get("AI_MODEL", "").strip()
        if not base_url or not model:
            return None
        raw_timeout = env.get("AI_TIMEOUT_S", "").strip()
        try:
            timeout_s = float(raw_timeout) if raw_timeout else DEFAULT_TIMEOUT_S
        except ValueError:
            raise ConfigError(f"AI_TIMEOUT_S is not a number: {raw_timeout!r}") from None
        return cls(
            base_url, env.get("AI_API_KEY", "").strip(), model, http=http, timeout_s=timeout_s
        )

    def __repr__(self) -> str:
        return f"AiClient(base_url={self.base_url!r}, model={self.model!r})"

    @property
    def endpoint(self) -> str:
        """The URL requests are posted to."""
        return f"{self.base_url}/chat/completions"

    def request_body(self, text: str, analysis_type: str, hints: str = "") -> dict[str, Any]:
        """The JSON body of the chat-completions request."""
        return {
            "model": self.model,
            "messages": [
                {"role": "system", "content": SYSTEM_PROMPT},
                {"role": "user", "content": user_prompt(text, analysis_type, hints)},
            ],
            "response_format": {"type": "json_object"},
            "temperature": 0.1,
        }

    async def analyze(self, text: str, analysis_type: str, hints: str = "") -> AiAnswer:
        """Ask for the analysis of ``text`` and parse the JSON answer.

        Raises:
            AiTimeoutError, AiUnavailableError: retryable.
            AiMalformedResponseError: retryable (see its docstring);
                AiTruncatedResponseError (a subclass) is not.
            AiAuthError, AiRequestError: not retryable.
        """
        response = await self._post(self.request_body(text, analysis_type, hints))
        self._check_status(response)
        try:
            payload = response.json()
        except ValueError:
            raise AiMalformedResponseError(
                f"{self.endpoint} answered HTTP {response.status_code} with a body that is not JSON"
            ) from None
        return parse_completion(payload, self.model)

    async def aclose(self) -> None:
        """Close the HTTP client if this object created it."""
        if self._owns_http:
            await self._http.aclose()

    async def _post(self, body: dict[str, Any]) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self._api_key}"} if self._api_key else {}
        try:
            async with asyncio.timeout(self.timeout_s):
                return await self._http.post(
                    self.endpoint, json=body, headers=headers, timeout=self.timeout_s
                )
        except (TimeoutError, httpx.TimeoutException):
            raise AiTimeoutError(
                f"no answer from {self.endpoint} within {self.timeout_s:g}s"
            ) from None
        except httpx.HTTPError as exc:
            raise AiUnavailableError(
                f"cannot reach {self.endpoint}: {type(exc).__name__}: {self._redact(str(exc))}"
            ) from None

    def _check_status(self, response: httpx.Response) -> None:
        status = response.status_code
        if status < 400:
            return
        where = f"{self.endpoint} answered HTTP {status}"
        if status in (401, 403):
            raise AiAuthError(f"{where} (check AI_API_KEY)")
        excerpt = self._redact(response.text[:ERROR_EXCERPT])
        if status in (408, 409, 429) or status >= 500:
            raise AiUnavailableError(f"{where}: {excerpt}")
        raise AiRequestError(f"{where}: {excerpt}")

    def _redact(self, text: str) -> str:
        return text.replace(self._api_key, "***") if self._api_key else text


def parse_completion(payload: Any, fallback_model: str) -> AiAnswer:
    """The ``AiAnswer`` in a chat-completions response body.

    Tolerates a Markdown code fence around the JSON (some gateways add one).

    Raises:
        AiMalformedResponseError: no ``choices[0].message.content`` string, or it is not
            a JSON object; ``AiTruncatedResponseError`` when ``finish_reason`` is
            ``length``.
    """
    try:
        choice = payload["choices"][0]
        content = choice["message"]["content"]
    except (KeyError, IndexError, TypeError):
        raise AiMalformedResponseError("answer has no choices[0].message.content") from None
    if not isinstance(content, str):
        raise AiMalformedResponseError("choices[0].message.content is not a string")
    result = _json_object(content)
    if result is None:
        if isinstance(choice, dict) and choice.get("finish_reason") == "length":
            raise AiTruncatedResponseError(
                "the JSON answer was cut off at the model's output limit (finish_reason=length)"
            )
        raise AiMalformedResponseError(f"assistant content is not a JSON object: {content[:80]!r}")
    model = payload.get("model") if isinstance(payload, dict) else None
    return AiAnswer(
        result, model if isinstance(model, str) and model else fallback_model, _tokens(payload)
    )


def _json_object(content: str) -> dict[str, Any] | None:
    stripped = content.strip()
    if stripped.startswith("```"):
        stripped = stripped.removeprefix("```json").removeprefix("```").removesuffix("```")
    try:
        value = json.loads(stripped)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _tokens(payload: Any) -> int:
    usage = payload.get("usage") if isinstance(payload, dict) else None
    total = usage.get("total_tokens") if isinstance(usage, dict) else None
    return total if isinstance(total, int) and total >= 0 else 0
