"""Fakes for provider tests: a clock, Judit and Codilo servers as httpx handlers, and a
loopback HTTP server that serves any such handler over real TCP on 127.0.0.1.

The fake servers are plain ``httpx.Request -> httpx.Response`` callables, so the same fake
runs behind ``httpx.MockTransport`` (unit tests) or ``LoopbackServer`` (real sockets).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, suppress
from typing import Any
from urllib.parse import parse_qs

import httpx

from justo.jobs.cnj import check_digits, parse_cnj
from tests.support import FakeClock as FakeClock  # the one clock, re-exported here

T0 = 1_780_000_000.0
"""A fixed wall-clock start (2026-05-28)."""

CNJ = "0003695-16.2019.8.26.0189"
"""A valid TJSP number (Judit step sample)."""
OTHER_CNJ = "0058967-77.2016.8.19.0000"
"""A valid TJRJ number."""
TRF2_CNJ = "5074025-50.2025.4.02.5101"

Handler = Callable[[httpx.Request], httpx.Response]
Scripted = httpx.Response | type[Exception]


def cnj_with_number(number: str, rest: str = "2020.8.26.0100") -> str:
    """A valid CNJ with sequential number ``number`` (check digits computed)."""
    year, seg, court, origin = rest.split(".")
    return f"{number}-{check_digits(number, year, seg, court, origin)}.{rest}"


def json_response(status: int, body: Any, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(status, json=body, headers=headers)


class ScriptedServer:
    """Base of the fakes: records requests; serves scripted answers first (FIFO).

    A scripted exception class is raised as ``cls("scripted", request=request)`` (httpx
    transport errors need the request).
    """

    def __init__(self) -> None:
        self.seen: list[httpx.Request] = []
        self.script: list[Scripted] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.seen.append(request)
        if self.script:
            item = self.script.pop(0)
            if isinstance(item, httpx.Response):
                return item
            raise item("scripted", request=request)  # type: ignore[call-arg]
        return self.route(request)

    def route(self, request: httpx.Request) -> httpx.Response:
        raise NotImplementedError

    def paths(self) -> list[str]:
        return [f"{r.method} {r.url.path}" for r in self.seen]


# -- Judit -------------------------------------------------------------------------------


def judit_lawsuit(
    cnj: str = CNJ, *, instance: int = 1, steps: list[dict[str, Any]] | None = None, **extra: Any
) -> dict[str, Any]:
    """A Judit lawsuit object (``response_data``) with every mapped field."""
    parsed = parse_cnj(cnj)
    data: dict[str, Any] = {
        "code": parsed.formatted,
        "justice": parsed.segment,
        "tribunal": parsed.court,
        "tribunal_acronym": parsed.court_acronym,
        "instance": instance,
        "distribution_date": "2019-03-11T00:00:00.000Z",
        "judge": "Maria Juíza",
        "secrecy_level": 0,
        "subjects": [
            {"code": "7780", "name": "Dano Moral"},
            {"code": "7779", "name": "Dano Material"},
        ],
        "classifications": [{"code": "7", "name": "Procedimento Comum Cível"}],
        "courts": [{"name": "2ª Vara Cível"}],
        "parties": [
            {
                "name": "Autor da Silva",
                "side": "Active",
                "person_type": "Autor",
                "main_document": "123.456.789-09",
                "lawyers": [
                    {
                        "name": "Adv Um",
                        "documents": [{"document": "SP123456", "document_type": "OAB"}],
                    }
                ],
            },
            {
                "name": "Ré S.A.",
                "side": "Passive",
                "main_document": "12.345.678/0001-95",
                "lawyers": [{"name": "Adv Dois", "main_document": "RJ654321"}],
            },
            {"name": "Perito", "side": "Interested"},
            {"name": "Alguém", "side": "Weird"},
        ],
        "steps": steps
        if steps is not None
        else [
            {
                "step_id": "aaa00001",
                "step_date": "2024-01-10T13:00:00.000Z",
                "content": "Distribuído",
                "step_type": "Distribuição",
            },
            {"step_id": "aaa00003", "step_date": "2024-03-01T10:00:00", "content": "Sentença"},
            {"step_id": "aaa00002", "step_date": "2024-02-05", "content": "Conclusos"},
        ],
        "county": "Mogi",
        "city": "Mogi das Cruzes",
        "state": "SP",
        "area": "DIREITO CIVIL",
        "amount": 15000.5,
        "phase": "Conhecimento",
        "status": "Ativo",
        "name": "A X B",
    }
    data.update(extra)
    return data


def judit_item(
    data: dict[str, Any],
    *,
    cached: bool = False,
    created_at: str = "2026-05-28T10:00:00Z",
    response_type: str = "lawsuit",
) -> dict[str, Any]:
    """One ``page_data`` item."""
    return {
        "request_id": "req-1",
        "response_id": f"resp-{len(json.dumps(data))}",
        "origin": "api",
        "response_type": response_type,
        "response_data": data,
        "created_at": created_at,
        "tags": {"cached_response": cached},
    }


class FakeJudit(ScriptedServer):
    """Judit's three endpoints; ``items`` is what ``GET /responses`` pages through."""

    def __init__(
        self,
        items: list[dict[str, Any]] | None = None,
        *,
        pending_polls: int = 1,
        final_status: str = "completed",
    ) -> None:
        super().__init__()
        self.items = items if items is not None else [judit_item(judit_lawsuit())]
        self.pending_polls = pending_polls
        self.final_status = final_status
        self.polls = 0

    def route(self, request: httpx.Request) -> httpx.Response:
        if not request.headers.get("api-key"):
            return json_response(401, {"error": {"name": "UNAUTHORIZED", "message": "no key"}})
        path = request.url.path
        if request.method == "POST" and path == "/requests":
            search = json.loads(request.content)["search"]
            return json_response(
                201, {"request_id": "req-1", "status": "pending", "search": search}
            )
        if request.method == "GET" and path == "/requests/req-1":
            self.polls += 1
            status = "pending" if self.polls <= self.pending_polls else self.final_status
            return json_response(200, {"request_id": "req-1", "status": status})
        if request.method == "GET" and path == "/responses":
            return self._page(request)
        return json_response(404, {"error": {"name": "NOT_FOUND", "message": path}})

    def _page(self, request: httpx.Request) -> httpx.Response:
        page = int(request.url.params["page"])
        size = int(request.url.params["page_size"])
        chunk = self.items[(page - 1) * size : page * size]
        pages = max(1, -(-len(self.items) // size))
        return json_response(
            200,
            {
                "page": page,
                "page_count": len(chunk),
                "all_pages_count": pages,
                "all_count": len(self.items),
                "page_data": chunk,
            },
        )


# -- Codilo ------------------------------------------------------------------------------


def codilo_result(steps: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """One ``data[]`` item of ``GET /v1/request/{id}``."""
    return {
        "cover": [
            {"id": 1, "description": "Classe", "value": "Procedimento Comum Cível"},
            {"id": 2, "description": "Assunto", "value": "Dano Moral"},
            {"id": 3, "description": "Juiz", "value": "Maria Juíza"},
            {"id": 4, "description": "Distribuição", "value": "11/03/2019"},
            {"id": 5, "description": "Valor da ação", "value": "R$ 15.000,50"},
            {"id": 6, "description": "Serventia", "value": "2ª Vara Cível"},
            {"id": 7, "description": "Controle", "value": "2019/000123"},
            {"id": 8, "description": "Classe", "value": "duplicate ignored"},
        ],
        "people": [
            {
                "id": 1,
                "pole": "ATIVO",
                "description": "Reqte",
                "name": "Autor da Silva",
                "lawyers": [{"name": "Adv Um", "oab": "123456", "uf": "SP"}],
            },
            {"id": 2, "pole": "", "description": "Reqda", "name": "Ré S.A.", "lawyers": []},
            {"id": 3, "pole": "PASSIVO", "description": "Réu", "name": "Outro Réu"},
            {"id": 4, "pole": "OUTROS", "description": "Perito", "name": "Perito"},
            {"id": 5, "description": "?", "name": "Misterioso"},
        ],
        "steps": steps
        if steps is not None
        else [
            {"id": 11, "title": "Distribuído", "description": "Livre", "timestamp": 1704891600000},
            {"id": 13, "title": "Sentença", "date": "01/03/2024 10:00"},
            {"id": 12, "title": "Conclusos", "description": "", "data": "2024-02-05"},
            {"id": 14, "title": "Sem data"},
        ],
    }


class FakeCodilo(ScriptedServer):
    """Codilo's token endpoint and Consulta API (``/v1/request``)."""

    def __init__(
        self,
        *,
        client_id: str = "cid",
        secret: str = "csecret",
        pending_polls: int = 1,
        final: dict[str, Any] | None = None,
        expires_in: int | None = 21600,
    ) -> None:
        super().__init__()
        self.client_id = client_id
        self.secret = secret
        self.pending_polls = pending_polls
        self.final = (
            final
            if final is not None
            else {
                "success": True,
                "requested": {"id": "r-9", "status": "success"},
                "data": [codilo_result()],
            }
        )
        self.expires_in = expires_in
        self.tokens: list[str] = []
        self.revoked: set[str] = set()
        self.created: list[dict[str, Any]] = []
        self.polls = 0

    def route(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/oauth/token":
            return self._token(request)
        token = request.headers.get("authorization", "").removeprefix("Bearer ")
        if token not in self.tokens or token in self.revoked:
            return json_response(401, {"message": "invalid token"})
        if request.method == "POST" and request.url.path == "/v1/request":
            self.created.append(json.loads(request.content))
            return json_response(200, {"success": True, "data": {"id": "r-9", "status": "pending"}})
        if request.method == "GET" and request.url.path == "/v1/request/r-9":
            self.polls += 1
            if self.polls <= self.pending_polls:
                return json_response(
                    200,
                    {"success": True, "data": [], "requested": {"id": "r-9", "status": "pending"}},
                )
            return json_response(200, self.final)
        return json_response(404, {"message": "no route"})

    def _token(self, request: httpx.Request) -> httpx.Response:
        form = parse_qs(request.content.decode())
        expected = {
            "grant_type": ["client_credentials"],
            "id": [self.client_id],
            "secret": [self.secret],
        }
        if form != expected:
            return json_response(401, {"message": f"bad credentials {form}"})
        token = f"tok-{len(self.tokens) + 1}"
        self.tokens.append(token)
        body: dict[str, Any] = {"access_token": token, "token_type": "Bearer"}
        if self.expires_in is not None:
            body["expires_in"] = self.expires_in
        return json_response(200, body)

    def token_requests(self) -> list[httpx.Request]:
        return [r for r in self.seen if r.url.path == "/oauth/token"]


def mock_http(handler: Handler) -> httpx.AsyncClient:
    """An ``httpx.AsyncClient`` served by ``handler`` (no sockets)."""
    return httpx.AsyncClient(transport=httpx.MockTransport(handler))


# -- a real loopback HTTP server for any handler -------------------------------------------


class LoopbackServer:
    """Serves a ``Handler`` over real TCP on 127.0.0.1 (HTTP/1.1, one request per connection)."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.port = 0
        self._server: asyncio.Server | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            method, target, _ = (await reader.readline()).decode().split(" ", 2)
            headers: list[tuple[str, str]] = []
            while line := (await reader.readline()).decode().strip():
                name, _, value = line.partition(":")
                headers.append((name.strip(), value.strip()))
            length = int(dict((k.lower(), v) for k, v in headers).get("content-length", "0"))
            body = await reader.readexactly(length) if length else b""
            request = httpx.Request(method, self.url + target, headers=headers, content=body)
            response = self.handler(request)
            payload = response.content
            head = [f"HTTP/1.1 {response.status_code} {response.reason_phrase}"]
            head += [
                f"{k}: {v}"
                for k, v in response.headers.items()
                if k.lower() not in ("content-length", "connection")
            ]
            head += [f"Content-Length: {len(payload)}", "Connection: close", "", ""]
            writer.write("\r\n".join(head).encode() + payload)
            await writer.drain()
        finally:
            writer.close()
            with suppress(OSError):
                await writer.wait_closed()

    @asynccontextmanager
    async def running(self) -> AsyncIterator[LoopbackServer]:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        try:
            yield self
        finally:
            self._server.close()
            await self._server.wait_closed()
