"""DEMO SANDBOX: a fake Judit on 127.0.0.1 serving synthetic lawsuits. Never real data.

Use it only when explicitly asked (``--demo`` with no provider keys). ``demo_server()``
starts an HTTP server on an ephemeral loopback port, inside the running event loop, that
speaks the Judit shapes (``POST /requests``, ``GET /requests/{id}``, ``GET /responses``);
``DemoProvider`` is a ``JuditClient`` pointed at it, named "demo".

Every valid CNJ gets a deterministic lawsuit seeded by its digits: parties, cover and
movements. One new movement appears every ``movement_every_s`` (per lawsuit, at a seeded
offset) since ``DEMO_EPOCH``, so repeated syncs see new movements. Every lawsuit says
``cover["source"] == DEMO_LABEL``. A CNJ whose sequential number is ``0000000`` answers
Judit's "not found" application error.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import math
import random
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

from justo.jobs.cnj import UF_BY_TR, Cnj, parse_cnj
from justo.jobs.lawsuit import InvalidCnjError, Lawsuit
from justo.jobs.providers.judit import JuditClient

DEMO_LABEL = "DEMO SANDBOX — synthetic data"
"""Put in every demo lawsuit's ``cover["source"]``."""
DEMO_API_KEY = "demo-sandbox-key"
"""The key ``DemoProvider`` sends (the server only checks one is present)."""
DEMO_EPOCH = datetime(2026, 1, 1, tzinfo=UTC).timestamp()
"""Live movements are counted from here."""

MAX_BODY = 1 << 20
MAX_REQUESTS = 10_000
"""Requests remembered (oldest forgotten first), so a long demo run stays small."""
READ_TIMEOUT_S = 10.0

_FIRST = (
    "Ana",
    "Bruno",
    "Carla",
    "Diego",
    "Elisa",
    "Fábio",
    "Gabriela",
    "Heitor",
    "Isabel",
    "João",
    "Larissa",
    "Marcos",
    "Natália",
    "Otávio",
    "Paula",
    "Rafael",
)
_LAST = (
    "Almeida",
    "Barbosa",
    "Cardoso",
    "Dias",
    "Esteves",
    "Ferreira",
    "Gomes",
    "Lima",
    "Moreira",
    "Nunes",
    "Oliveira",
    "Pereira",
    "Ribeiro",
    "Santos",
    "Teixeira",
)
_COMPANIES = (
    "Alfa Comércio Ltda",
    "Beta Serviços S.A.",
    "Gama Transportes Ltda",
    "Delta Telecom S.A.",
    "Ômega Seguros S.A.",
    "Sigma Construtora Ltda",
)
_CLASSES = (
    ("7", "Procedimento Comum Cível"),
    ("12154", "Execução de Título Extrajudicial"),
    ("436", "Procedimento do Juizado Especial Cível"),
    ("985", "Ação Trabalhista"),
)
_SUBJECTS = (
    ("7780", "Indenização por Dano Moral"),
    ("7779", "Indenização por Dano Material"),
    ("9607", "Contratos Bancários"),
    ("6226", "Rescisão do Contrato de Trabalho"),
    ("7771", "Obrigação de Fazer / Não Fazer"),
)
_AREAS = ("DIREITO CIVIL", "DIREITO DO CONSUMIDOR", "DIREITO DO TRABALHO")
_PHASES = ("Conhecimento", "Instrução", "Sentença", "Recurso", "Execução")
_STEPS = (
    ("Juntada de Petição", "Juntada de petição intermediária"),
    ("Conclusão", "Conclusos para despacho"),
    ("Despacho", "Despacho: manifeste-se a parte autora em 15 dias"),
    ("Publicação", "Disponibilizado no DJe"),
    ("Audiência", "Audiência de conciliação designada"),
    ("Decisão", "Decisão interlocutória proferida"),
    ("Certidão", "Certidão de decurso de prazo"),
    ("Mandado", "Expedição de mandado de citação"),
)
_CITIES = {
    "SP": "São Paulo",
    "RJ": "Rio de Janeiro",
    "MG": "Belo Horizonte",
    "BA": "Salvador",
    "RS": "Porto Alegre",
    "PR": "Curitiba",
    "DF": "Brasília",
}
_REASONS = {
    200: "OK",
    201: "Created",
    400: "Bad Request",
    401: "Unauthorized",
    404: "Not Found",
    405: "Method Not Allowed",
    413: "Payload Too Large",
    422: "Unprocessable Entity",
}

Reply = tuple[int, dict[str, Any]]


@dataclass
class _Request:
    cnj: Cnj
    created_at: float
    polls: int = 0


def _iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).isoformat().replace("+00:00", "Z")


def _error(status: int, name: str, message: str) -> Reply:
    return status, {"error": {"name": name, "message": message, "data": []}}


class DemoServer:
    """The sandbox HTTP server (start with ``demo_server()``).

    Args:
        clock: wall-clock seconds; decides how many movements exist (tests inject one).
        movement_every_s: one new movement per lawsuit this often.
        max_movements: answer at most this many (the newest) movements per lawsuit.
        pending_polls: ``GET /requests/{id}`` says "pending" this many times first.
    """

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.time,
        movement_every_s: float = 600.0,
        max_movements: int = 40,
        pending_polls: int = 1,
    ) -> None:
        self.clock = clock
        self.movement_every_s = movement_every_s
        self.max_movements = max_movements
        self.pending_polls = pending_polls
        self.requests: dict[str, _Request] = {}
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self.port = 0

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:41234``."""
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        """Listen on an ephemeral loopback port."""
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        """Stop listening and close open connections."""
        if self._server is None:
            return
        self._server.close()
        for writer in list(self._writers):
            writer.close()
        await self._server.wait_closed()
        self._server = None

    # -- HTTP ------------------------------------------------------------------------

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            status, payload = await asyncio.wait_for(self._read_and_route(reader), READ_TIMEOUT_S)
            body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
            head = (
                f"HTTP/1.1 {status} {_REASONS.get(status, 'OK')}\r\n"
                f"Content-Type: application/json; charset=utf-8\r\n"
                f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
            )
            writer.write(head.encode("ascii") + body)
            await writer.drain()
        except (OSError, TimeoutError, asyncio.IncompleteReadError, ValueError):
            pass
        finally:
            self._writers.discard(writer)
            writer.close()
            with suppress(OSError):
                await writer.wait_closed()

    async def _read_and_route(self, reader: asyncio.StreamReader) -> Reply:
        method, target, _ = (await reader.readline()).decode("latin-1").split(" ", 2)
        headers: dict[str, str] = {}
        for _ in range(100):
            line = (await reader.readline()).decode("latin-1").strip()
            if not line:
                break
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length", "0") or 0)
        if length > MAX_BODY:
            return _error(413, "PAYLOAD_TOO_LARGE", "body too large")
        body = await reader.readexactly(length) if length > 0 else b""
        return self.route(method.upper(), target, headers, body)

    def route(self, method: str, target: str, headers: dict[str, str], body: bytes) -> Reply:
        """Answer one request as Judit would (status, JSON)."""
        if not headers.get("api-key"):
            return _error(401, "UNAUTHORIZED", "api-key header missing")
        parts = urlsplit(target)
        path = parts.path.rstrip("/")
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        if path == "/requests":
            return self._create(body) if method == "POST" else _error(405, "METHOD", method)
        if path.startswith("/requests/") and method == "GET":
            return self._status(path.removeprefix("/requests/"))
        if path == "/responses" and method == "GET":
            return self._responses(query)
        return _error(404, "NOT_FOUND", "no such route")

    # -- Judit endpoints -----------------------------------------------------------------

    def _create(self, body: bytes) -> Reply:
        try:
            search = json.loads(body or b"{}").get("search") or {}
        except (ValueError, AttributeError):
            return _error(400, "BAD_REQUEST", "body is not JSON")
        if not isinstance(search, dict) or search.get("search_type") != "lawsuit_cnj":
            return _error(400, "BAD_REQUEST", "search.search_type must be lawsuit_cnj")
        try:
            cnj = parse_cnj(str(search.get("search_key", "")))
        except InvalidCnjError:
            return _error(422, "UNPROCESSABLE_ENTITY", "INVALID_CNJ")
        request_id = str(uuid.uuid4())
        now = self.clock()
        self.requests[request_id] = _Request(cnj, now)
        while len(self.requests) > MAX_REQUESTS:
            del self.requests[next(iter(self.requests))]
        return 201, {
            "request_id": request_id,
            "status": "pending",
            "origin": "api",
            "search": {
                "search_type": "lawsuit_cnj",
                "search_key": cnj.formatted,
                "response_type": "lawsuit",
            },
            "created_at": _iso(now),
        }

    def _status(self, request_id: str) -> Reply:
        request = self.requests.get(request_id)
        if request is None:
            return _error(404, "NOT_FOUND", "request not found")
        request.polls += 1
        status = "pending" if request.polls <= self.pending_polls else "completed"
        return 200, {
            "request_id": request_id,
            "status": status,
            "search": {"search_type": "lawsuit_cnj", "search_key": request.cnj.formatted},
            "created_at": _iso(request.created_at),
            "updated_at": _iso(self.clock()),
        }

    def _responses(self, query: dict[str, str]) -> Reply:
        request_id = query.get("request_id", "")
        request = self.requests.get(request_id)
        if request is None:
            return _error(404, "NOT_FOUND", "request not found")
        try:
            page = max(1, int(query.get("page", "1")))
            size = max(1, min(1000, int(query.get("page_size", "20"))))
        except ValueError:
            return _error(400, "BAD_REQUEST", "page and page_size must be integers")
        everything = self._items(request_id, request.cnj)
        chunk = everything[(page - 1) * size : page * size]
        return 200, {
            "request_status": "completed",
            "page": page,
            "page_count": len(chunk),
            "all_pages_count": max(1, math.ceil(len(everything) / size)),
            "all_count": len(everything),
            "page_data": chunk,
        }

    def _items(self, request_id: str, cnj: Cnj) -> list[dict[str, Any]]:
        now = self.clock()
        base = {
            "request_id": request_id,
            "origin": "api",
            "user_id": "demo",
            "request_created_at": _iso(self.requests[request_id].created_at),
        }
        if cnj.number == "0000000":
            return [
                {
                    **base,
                    "response_id": str(uuid.uuid4()),
                    "response_type": "application_error",
                    "created_at": _iso(now),
                    "tags": {},
                    "response_data": {"code": 2, "message": "LAWSUIT_NOT_FOUND"},
                }
            ]
        cached_at = now - 3600
        return [
            {
                **base,
                "response_id": str(uuid.uuid4()),
                "response_type": "lawsuit",
                "created_at": _iso(at),
                "tags": {"cached_response": cached},
                "response_data": self.lawsuit_data(cnj, at),
            }
            for at, cached in ((cached_at, True), (now, False))
        ]

    # -- synthetic data ------------------------------------------------------------------

    def lawsuit_data(self, cnj: Cnj, now: float) -> dict[str, Any]:
        """The synthetic Judit lawsuit object for ``cnj`` as it stands at ``now``."""
        rng = random.Random(int(cnj.digits))
        uf = UF_BY_TR.get(cnj.court, "SP") if cnj.segment in "689" else "DF"
        city = _CITIES.get(uf, f"Comarca Demo ({uf})")
        year = min(max(int(cnj.year), 1990), 2025)
        distributed = datetime(year, rng.randint(1, 12), rng.randint(1, 28), tzinfo=UTC).timestamp()
        active, passive = _person(rng), rng.choice(_COMPANIES)
        klass, subject = rng.choice(_CLASSES), rng.choice(_SUBJECTS)
        steps = self._steps(cnj, rng, distributed, now)
        return {
            "code": cnj.formatted,
            "justice": cnj.segment,
            "tribunal": cnj.court,
            "tribunal_acronym": cnj.court_acronym,
            "instance": 1,
            "distribution_date": _iso(distributed),
            "judge": f"Juiz(a) Demo {_person(rng)}",
            "secrecy_level": 0,
            "demo": True,
            "classifications": [{"code": klass[0], "name": klass[1]}],
            "subjects": [{"code": subject[0], "name": subject[1]}],
            "courts": [{"name": f"{rng.randint(1, 9)}ª Vara Cível de {city}"}],
            "parties": [
                _party(active, "Active", "PERSON", uf, rng),
                _party(passive, "Passive", "COMPANY", uf, rng),
            ],
            "steps": steps,
            "last_step": steps[0] if steps else None,
            "county": city,
            "city": city,
            "state": uf,
            "area": rng.choice(_AREAS),
            "amount": round(rng.uniform(1_000, 250_000), 2),
            "phase": rng.choice(_PHASES),
            "status": "Ativo",
            "name": f"{active} X {passive}",
            "justice_description": cnj.segment_name,
            "crawler": {
                "source_name": DEMO_LABEL,
                "crawl_id": "demo",
                "weight": 0,
                "updated_at": _iso(now),
            },
            "created_at": _iso(distributed),
            "updated_at": _iso(now),
        }

    def _steps(
        self, cnj: Cnj, rng: random.Random, distributed: float, now: float
    ) -> list[dict[str, Any]]:
        history = rng.randint(3, 8)
        spacing = (DEMO_EPOCH - distributed) / (history + 1)
        every = self.movement_every_s
        offset = rng.uniform(0, every)
        live = max(0, math.floor((now - DEMO_EPOCH - offset) / every) + 1)
        total = history + live

        def date_of(i: int) -> float:
            return (
                distributed + (i + 1) * spacing
                if i < history
                else DEMO_EPOCH + offset + (i - history) * every
            )

        first = max(0, total - self.max_movements)
        return [_step(cnj, i, date_of(i), total) for i in range(total - 1, first - 1, -1)]


def _person(rng: random.Random) -> str:
    return f"{rng.choice(_FIRST)} {rng.choice(_LAST)}"


def _party(name: str, side: str, kind: str, uf: str, rng: random.Random) -> dict[str, Any]:
    lawyer = f"Dr(a). {_person(rng)}"
    oab = f"{uf}{rng.randint(100000, 999999)}"
    return {
        "name": name,
        "side": side,
        "person_type": kind,
        "main_document": "",
        "documents": [],
        "lawyers": [{"name": lawyer, "documents": [{"document": oab, "document_type": "OAB"}]}],
    }


def _step(cnj: Cnj, index: int, when: float, total: int) -> dict[str, Any]:
    step_type, content = random.Random(int(cnj.digits) * 7919 + index).choice(_STEPS)
    step_id = hashlib.sha1(f"{cnj.digits}:{index}".encode()).hexdigest()[:8]
    return {
        "step_id": step_id,
        "step_date": _iso(when),
        "content": f"{content} [demo]",
        "step_type": step_type,
        "private": False,
        "lawsuit_cnj": cnj.formatted,
        "lawsuit_instance": 1,
        "steps_count": total,
        "tags": {"crawl_id": "demo"},
    }


@asynccontextmanager
async def demo_server(**options: Any) -> AsyncIterator[DemoServer]:
    """Run a ``DemoServer`` (``options`` as its constructor) for the ``with`` block."""
    server = DemoServer(**options)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


class DemoProvider(JuditClient):
    """DEMO SANDBOX provider: a ``JuditClient`` pointed at a ``DemoServer``.

    Returns synthetic lawsuits only, with ``provider == "demo"`` and
    ``cover["source"] == DEMO_LABEL``. ``options`` are ``JuditClient`` arguments; polling
    defaults to 50 ms.
    """

    name = "demo"

    def __init__(self, base_url: str, **options: Any) -> None:
        options.setdefault("poll_interval_s", 0.05)
        options.setdefault("max_poll_s", 10.0)
        super().__init__(DEMO_API_KEY, base_url=base_url, **options)

    async def fetch(self, cnj: str) -> Lawsuit:
        """The synthetic lawsuit for ``cnj``, labelled as demo data."""
        lawsuit = await super().fetch(cnj)
        return replace(lawsuit, cover={**lawsuit.cover, "source": DEMO_LABEL})


@asynccontextmanager
async def demo_provider(**server_options: Any) -> AsyncIterator[DemoProvider]:
    """A started ``DemoServer`` and a ``DemoProvider`` on it, both closed afterwards."""
    async with demo_server(**server_options) as server:
        provider = DemoProvider(server.url)
        try:
            yield provider
        finally:
            await provider.aclose()
