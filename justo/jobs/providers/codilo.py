"""Codilo (codilo.com.br, "Consulta" API) client: on-demand lawsuit request by CNJ.

Authentication (DOMAIN.md §3): OAuth2 client credentials at ``POST {auth_url}``, form fields
``grant_type=client_credentials&id=…&secret=…`` (``id``/``secret``, not ``client_id``); the
``access_token`` is cached until shortly before ``expires_in`` (default 21600 s) and renewed
once when the API answers 401. A request is ``POST /v1/request`` (source ``courts``, search =
the court in lower case, query ``principal``, param ``{key: "cnj", value}``) then
``GET /v1/request/{id}`` until it succeeds or fails; the result is ``data[0]`` with
``cover``/``people``/``steps``.

Codilo's status field and step date field are not documented (DOMAIN.md §3): the status is
read from ``requested.status``, ``status`` or ``data.status``, and the step date from the
first of ``timestamp``, ``date``, ``data``, ``createdAt``, ``created_at``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from typing import Any

import httpx

from justo.jobs.cnj import Cnj, parse_cnj
from justo.jobs.lawsuit import (
    Lawsuit,
    LawsuitNotFoundError,
    Lawyer,
    Movement,
    Party,
    ProviderAuthError,
    ProviderError,
    TransientProviderError,
)
from justo.jobs.providers.ratelimit import Clock, Limiter, Sleep
from justo.jobs.providers.transport import DEFAULT_TIMEOUT_S, RetryPolicy, Transport, make_http
from justo.jobs.providers.values import (
    digits,
    fallback_id,
    fold,
    items,
    mapping,
    newest_first,
    parse_datetime,
    text,
)

DEFAULT_BASE_URL = "https://api.capturaweb.com.br"
"""Host of the Consulta API."""
DEFAULT_AUTH_URL = "https://auth.codilo.com.br/oauth/token"
"""The central OAuth2 token endpoint."""
DEFAULT_EXPIRES_IN_S = 21600
"""Token lifetime assumed when the token answer has no ``expires_in``."""

DEFAULT_PLATFORMS: dict[str, str] = {"tjsp": "esaj"}
"""Court search code → Codilo ``platform``, sent when known (only the documented example)."""

PENDING = frozenset({"", "pending", "processing", "running", "queued", "waiting", "created"})
DONE = frozenset({"success", "done", "completed", "finished", "warning"})

COVER_LABELS: dict[str, str] = {
    "classe": "class",
    "classe judicial": "class",
    "classe processual": "class",
    "assunto": "subject",
    "assuntos": "subject",
    "assunto principal": "subject",
    "juiz": "judge",
    "juiz(a)": "judge",
    "magistrado": "judge",
    "relator": "judge",
    "distribuicao": "distribution_date",
    "data de distribuicao": "distribution_date",
    "data da distribuicao": "distribution_date",
    "status": "status",
    "situacao": "status",
    "area": "area",
    "valor da acao": "amount",
    "valor da causa": "amount",
    "fase": "phase",
    "comarca": "county",
    "foro": "county",
    "cidade": "city",
    "municipio": "city",
    "uf": "state",
    "estado": "state",
    "serventia": "court_name",
    "vara": "court_name",
    "orgao julgador": "court_name",
}
"""Folded Codilo cover labels → ``Lawsuit.cover`` keys; other labels are kept as given."""

_ACTIVE = (
    "ativ",
    "activ",
    "autor",
    "requerente",
    "reqte",
    "exequente",
    "apelante",
    "impetrante",
    "reclamante",
    "agravante",
    "embargante",
    "recorrente",
)
_PASSIVE = (
    "passiv",
    "reu",
    "requerid",
    "reqd",
    "executad",
    "apelad",
    "impetrad",
    "reclamad",
    "agravad",
    "embargad",
    "recorrid",
)
_INTERESTED = ("interess", "terceir", "outr", "assistente", "perito", "fiscal")
_STEP_DATES = ("timestamp", "date", "data", "createdAt", "created_at")


class CodiloClient:
    """A ``LawsuitProvider`` backed by Codilo's Consulta API.

    Args:
        client_id: Codilo key id (form field ``id``).
        client_secret: Codilo secret (form field ``secret``; never logged).
        base_url: API host (``CODILO_BASE_URL``).
        auth_url: token endpoint (``CODILO_AUTH_URL``).
        http: a shared ``httpx.AsyncClient``; one is created (and closed by ``aclose``) if
            None.
        limiter: the shared rate limiter every request waits on (None: no limit).
        retry: retries of 408/429/5xx answers.
        poll_interval_s: wait between two ``GET /v1/request/{id}``.
        max_poll_s: give up (``TransientProviderError``) if still pending after this.
        token_margin_s: renew the token this long before it expires.
        platforms: court search code → ``platform`` to send (omitted when unknown).
        timeout_s: per-request timeout of a client created here.
        clock: wall-clock seconds; sleep: how to wait (tests inject both).
    """

    name = "codilo"

    def __init__(
        self,
        client_id: str,
        client_secret: str,
        *,
        base_url: str = DEFAULT_BASE_URL,
        auth_url: str = DEFAULT_AUTH_URL,
        http: httpx.AsyncClient | None = None,
        limiter: Limiter | None = None,
        retry: RetryPolicy | None = None,
        poll_interval_s: float = 5.0,
        max_poll_s: float = 180.0,
        token_margin_s: float = 60.0,
        platforms: Mapping[str, str] = DEFAULT_PLATFORMS,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        clock: Clock = time.time,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        if not client_id or not client_secret:
            raise ProviderAuthError(f"{self.name}: no client id/secret configured")
        self._client_id = client_id
        self._client_secret = client_secret
        self.base_url = base_url.rstrip("/")
        self.auth_url = auth_url
        self._owns_http = http is None
        self.poll_interval_s = poll_interval_s
        self.max_poll_s = max_poll_s
        self.token_margin_s = token_margin_s
        self.platforms = dict(platforms)
        self._clock = clock
        self._sleep = sleep
        self._token = ""
        self._token_expires_at = 0.0
        self._token_lock = asyncio.Lock()
        self._transport = Transport(
            self.name,
            http or make_http(timeout_s),
            limiter=limiter,
            retry=retry or RetryPolicy(),
            clock=clock,
            sleep=sleep,
            secrets=self._secrets,
        )

    @classmethod
    def from_env(cls, env: Mapping[str, str], **options: Any) -> CodiloClient:
        """Build from ``CODILO_CLIENT_ID``, ``CODILO_CLIENT_SECRET`` and the optional
        ``CODILO_BASE_URL``, ``CODILO_AUTH_URL``.

        ``options`` are the other constructor arguments (http, limiter, …).

        Raises:
            ProviderAuthError: the id or secret is missing.
        """
        client_id = env.get("CODILO_CLIENT_ID", "").strip()
        secret = env.get("CODILO_CLIENT_SECRET", "").strip()
        if not client_id or not secret:
            raise ProviderAuthError(
                "codilo: CODILO_CLIENT_ID and CODILO_CLIENT_SECRET are required"
            )
        return cls(
            client_id,
            secret,
            base_url=env.get("CODILO_BASE_URL", "").strip() or DEFAULT_BASE_URL,
            auth_url=env.get("CODILO_AUTH_URL", "").strip() or DEFAULT_AUTH_URL,
            **options,
        )

    async def aclose(self) -> None:
        """Close the HTTP client if this object created it."""
        if self._owns_http:
            await self._transport.http.aclose()

    async def __aenter__(self) -> CodiloClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def fetch(self, cnj: str) -> Lawsuit:
        """The lawsuit with CNJ number ``cnj`` (any accepted spelling).

        Raises:
            InvalidCnjError: before any request if ``cnj`` is invalid; or on HTTP 422.
            ProviderAuthError: token request refused (any non-2xx but 408/429/5xx), or
                401/403 even with a fresh token.
            LawsuitNotFoundError: 404, no court code for the CNJ, or an empty result.
            TransientProviderError: 429/5xx after retries, timeouts, a request that ended
                in error or is still pending.
            ProviderError: any other unexpected answer.
        """
        number = parse_cnj(cnj)
        court = number.court_acronym.lower()
        if not court:
            raise LawsuitNotFoundError(f"{self.name}: no court code for {number.formatted}")
        request_id = await self._create(number, court)
        body = await self._wait(request_id)
        results = items(body.get("data"))
        if not results:
            raise LawsuitNotFoundError(
                f"{self.name}: no lawsuit {number.formatted} "
                f"(request {request_id} returned no data)"
            )
        return lawsuit_from_codilo(results[0], number, provider=self.name)

    def _secrets(self) -> tuple[str, ...]:
        return (self._client_secret, self._client_id, self._token)

    async def token(self) -> str:
        """A valid access token, fetched or renewed when needed."""
        async with self._token_lock:
            if self._token and self._clock() < self._token_expires_at:
                return self._token
            return await self._new_token()

    async def _new_token(self) -> str:
        form = {
            "grant_type": "client_credentials",
            "id": self._client_id,
            "secret": self._client_secret,
        }
        response = await self._transport.send(
            "POST", self.auth_url, data=form, headers={"accept": "application/json"}
        )
        if not 200 <= response.status_code < 300:
            raise ProviderAuthError(
                f"{self.name}: token request refused (HTTP {response.status_code})"
            )
        body = self._transport.json(response)
        token = text(body.get("access_token"))
        if not token:
            raise ProviderAuthError(f"{self.name}: token answer without access_token")
        lifetime = body.get("expires_in")
        if not isinstance(lifetime, int | float) or isinstance(lifetime, bool) or lifetime <= 0:
            lifetime = DEFAULT_EXPIRES_IN_S
        self._token = token
        self._token_expires_at = self._clock() + max(lifetime - self.token_margin_s, lifetime / 2)
        return token

    async def _forget(self, token: str) -> None:
        async with self._token_lock:
            if self._token == token:
                self._token = ""
                self._token_expires_at = 0.0

    async def _call(self, method: str, path: str, **kwargs: Any) -> Mapping[str, Any]:
        """Send with the bearer token; on 401 renew the token and send once more."""
        for renewed in (False, True):
            token = await self.token()
            headers = {"authorization": f"Bearer {token}", "accept": "application/json"}
            response = await self._transport.send(
                method, self.base_url + path, headers=headers, **kwargs
            )
            if response.status_code != 401 or renewed:
                return self._transport.json(response)
            await self._forget(token)
        raise AssertionError("unreachable")

    async def _create(self, number: Cnj, court: str) -> str:
        payload: dict[str, Any] = {
            "source": "courts",
            "search": court,
            "query": "principal",
            "param": {"key": "cnj", "value": number.formatted},
        }
        if court in self.platforms:
            payload["platform"] = self.platforms[court]
        body = await self._call("POST", "/v1/request", json=payload)
        if body.get("success") is False:
            raise ProviderError(f"{self.name}: request refused: {_message(body)}")
        request_id = text(mapping(body.get("data")).get("id")) or text(body.get("id"))
        if not request_id:
            raise ProviderError(f"{self.name}: POST /v1/request answered without an id")
        return request_id

    async def _wait(self, request_id: str) -> Mapping[str, Any]:
        deadline = self._clock() + self.max_poll_s
        while True:
            body = await self._call("GET", f"/v1/request/{request_id}")
            status = request_status(body)
            if status in DONE:
                return body
            if status not in PENDING:
                raise _ended_in_error(self.name, request_id, status, body)
            if self._clock() + self.poll_interval_s > deadline:
                raise TransientProviderError(
                    f"{self.name}: request {request_id} still pending after {self.max_poll_s:g}s"
                )
            await self._sleep(self.poll_interval_s)


def request_status(body: Mapping[str, Any]) -> str:
    """The lower-cased status of a ``GET /v1/request/{id}`` answer.

    Read from ``requested.status``, else ``status``, else ``data.status``; with none of
    them, "success" when ``data`` holds results and "pending" otherwise.
    """
    for holder in (mapping(body.get("requested")), body, mapping(body.get("data"))):
        status = text(holder.get("status")).lower()
        if status:
            return status
    return "success" if items(body.get("data")) else "pending"


def _ended_in_error(
    provider: str, request_id: str, status: str, body: Mapping[str, Any]
) -> ProviderError:
    message = _message(body)
    folded = fold(message)
    if "nao encontrad" in folded or "not found" in folded:
        return LawsuitNotFoundError(f"{provider}: request {request_id}: {message}")
    detail = f": {message}" if message else ""
    return TransientProviderError(f"{provider}: request {request_id} ended in {status}{detail}")


def _message(body: Mapping[str, Any]) -> str:
    for holder in (
        body,
        mapping(body.get("requested")),
        mapping(body.get("info")),
        mapping(body.get("error")),
    ):
        for key in ("message", "error", "info"):
            value = text(holder.get(key))
            if value:
                return value[:200]
    return ""


def lawsuit_from_codilo(
    data: Mapping[str, Any], number: Cnj, *, provider: str = "codilo"
) -> Lawsuit:
    """Map one Codilo result (``data[i]`` with ``cover``/``people``/``steps``) to ``Lawsuit``."""
    return Lawsuit(
        cnj=number.formatted,
        provider=provider,
        court=number.court_acronym,
        cover=_cover(data.get("cover")),
        parties=tuple(_party(p) for p in items(data.get("people"))),
        movements=newest_first(_movement(s) for s in items(data.get("steps"))),
    )


def _cover(entries: Any) -> dict[str, str]:
    cover: dict[str, str] = {}
    for entry in items(entries):
        label, value = text(entry.get("description")), text(entry.get("value"))
        if label and value:
            cover.setdefault(COVER_LABELS.get(fold(label), label), value)
    return cover


def side_of(pole: str, description: str = "") -> str:
    """``Party.side`` from Codilo's ``pole`` (or, failing that, the role ``description``)."""
    for raw in (pole, description):
        folded = fold(raw)
        if not folded:
            continue
        for side, stems in (
            ("active", _ACTIVE),
            ("passive", _PASSIVE),
            ("interested", _INTERESTED),
        ):
            if any(folded.startswith(stem) or f" {stem}" in folded for stem in stems):
                return side
    return "unknown"


def _party(data: Mapping[str, Any]) -> Party:
    document = next(
        (digits(data.get(k)) for k in ("document", "doc", "cpf", "cnpj") if digits(data.get(k))), ""
    )
    return Party(
        name=text(data.get("name")),
        side=side_of(text(data.get("pole")), text(data.get("description"))),
        document=document,
        lawyers=tuple(_lawyer(lw) for lw in items(data.get("lawyers"))),
    )


def _lawyer(data: Mapping[str, Any]) -> Lawyer:
    oab = text(data.get("oab")).replace(" ", "").upper()
    uf = text(data.get("uf")).upper()
    if oab and uf and not oab.startswith(uf):
        oab = uf + oab
    return Lawyer(name=text(data.get("name")), oab=oab)


def _movement(data: Mapping[str, Any]) -> Movement:
    raw_date = next((data[k] for k in _STEP_DATES if data.get(k) not in (None, "")), None)
    content = " - ".join(t for t in (text(data.get("title")), text(data.get("description"))) if t)
    step_id = text(data.get("id")) or fallback_id(raw_date, content)
    return Movement(step_id=step_id, date=parse_datetime(raw_date), content=content)
