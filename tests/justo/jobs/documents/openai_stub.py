"""A tiny OpenAI-compatible chat-completions server on 127.0.0.1 (asyncio streams).

Answers ``POST /v1/chat/completions`` with scripted replies (FIFO, the last one repeats)
and records every request, so tests see real HTTP over TCP: headers, JSON bodies,
timeouts.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from typing import Any

ANALYSIS: dict[str, Any] = {
    "summary": "Ação de cobrança contra o Banco Exemplo.",
    "parties": [{"name": "João da Silva", "role": "autor", "document": "123.456.789-09"}],
    "keyDates": [{"date": "2024-03-12", "description": "distribuição"}],
    "amounts": [{"value": "1234567.89", "description": "valor da causa"}],
    "risks": [{"description": "prescrição", "level": "possível"}],
    "nextSteps": ["acompanhar a audiência de 05/06/2024"],
}
"""A well-formed analysis answer."""


@dataclass
class Reply:
    """One scripted answer."""

    content: str = json.dumps(ANALYSIS)
    """The assistant message's content."""
    status: int = 200
    delay_s: float = 0.0
    finish_reason: str = "stop"
    raw_body: bytes | None = None
    """Sent as is instead of a chat-completions body."""

    def body(self, model: str) -> bytes:
        if self.raw_body is not None:
            return self.raw_body
        if self.status != 200:
            return json.dumps({"error": {"message": self.content}}).encode()
        return json.dumps(
            {
                "id": "chatcmpl-test",
                "object": "chat.completion",
                "model": model,
                "choices": [
                    {
                        "index": 0,
                        "finish_reason": self.finish_reason,
                        "message": {"role": "assistant", "content": self.content},
                    }
                ],
                "usage": {"prompt_tokens": 100, "completion_tokens": 23, "total_tokens": 123},
            }
        ).encode()


@dataclass
class Request:
    """A request the stub received."""

    method: str
    path: str
    headers: dict[str, str]
    body: Any


@dataclass
class OpenAiStub:
    """The server; use ``async with OpenAiStub().running() as stub``."""

    replies: list[Reply] = field(default_factory=lambda: [Reply()])
    requests: list[Request] = field(default_factory=list)
    port: int = 0
    _tasks: set[asyncio.Task[Any]] = field(default_factory=set)

    @property
    def base_url(self) -> str:
        """What ``AI_BASE_URL`` would be."""
        return f"http://127.0.0.1:{self.port}/v1"

    def next_reply(self) -> Reply:
        return self.replies.pop(0) if len(self.replies) > 1 else self.replies[0]

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            request = await _read_request(reader)
            self.requests.append(request)
            reply = self.next_reply()
            if reply.delay_s:
                await asyncio.sleep(reply.delay_s)
            model = str(request.body.get("model", "")) if isinstance(request.body, dict) else ""
            _write_response(writer, reply.status, reply.body(model))
            await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            self._tasks.discard(task)
            writer.close()
            with suppress(OSError):
                await writer.wait_closed()

    @asynccontextmanager
    async def running(self) -> AsyncIterator[OpenAiStub]:
        server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = server.sockets[0].getsockname()[1]
        try:
            yield self
        finally:
            server.close()
            for task in list(self._tasks):
                task.cancel()
            with suppress(asyncio.CancelledError):
                await asyncio.gather(*self._tasks, return_exceptions=True)
            await server.wait_closed()


async def _read_request(reader: asyncio.StreamReader) -> Request:
    method, path, _ = (await reader.readline()).decode().split(" ", 2)
    headers: dict[str, str] = {}
    while line := (await reader.readline()).decode().strip():
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0"))
    raw = await reader.readexactly(length) if length else b""
    return Request(method, path, headers, json.loads(raw) if raw else None)


def _write_response(writer: asyncio.StreamWriter, status: int, body: bytes) -> None:
    head = (
        f"HTTP/1.1 {status} X\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    writer.write(head.encode() + body)
