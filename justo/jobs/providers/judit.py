"""Judit (judit.io) client: asynchronous lawsuit search by CNJ, mapped to ``Lawsuit``.

The flow (docs.judit.io, DOMAIN.md §2): ``POST /requests`` (search_type ``lawsuit_cnj``) →
poll ``GET /requests/{id}`` until ``completed`` → ``GET /responses?request_id=…`` (every
page). Authentication is the ``api-key`` header. Judit may answer from its cache first
(``tags.cached_response: true``) and add a fresh response later; the fresh one wins.
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
    items,
    join_names,
    mapping,
    newest_first,
    parse_datetime,
    text,
)

DEFAULT_BASE_URL = "https://requests.prod.judit.io"
"""Host of the asynchronous requests API."""

FAILED_STATUSES = frozenset({"failed", "error", "cancelled", "canceled"})
"""Request statuses that end the wait without a result."""

SIDES = {"active": "active", "passive": "passive", "interested": "interested"}
"""Judit party ``side`` (lower-cased) → ``Party.side``; anything else is "unknown"."""

_COVER_TEXT = (
    "judge",
    "distribution_date",
    "status",
    "area",
    "phase",
    "county",
    "city",
    "state",
    "name",
    "justice_description",
    "secrecy_level",
)


class JuditClient:
    """A ``LawsuitProvider`` backed by the Judit asynchronous requests API.

    Args:
        api_key: the Judit API key (sent as the ``api-key`` header, never logged).
        base_url: requests host (``JUDIT_BASE_URL``).
        http: a shared ``httpx.AsyncClient``; one is created (and closed by ``aclose``) if
            None.
        limiter: the shared rate limiter every request waits on (None: no limit).
        retry: retries of 408/429/5xx answers.
        poll_interval_s: wait between two ``GET /requests/{id}``.
        max_poll_s: give up (``TransientProviderError``) if still pending after this.
        page_size: items per ``GET /responses`` page (Judit allows up to 1000).
        max_pages: read at most this many pages.
        cache_ttl_in_days: accept Judit's cached copy up to this age (None: Judit default).
        timeout_s: per-request timeout of a client created here.
        clock: wall-clock seconds; sleep: how to wait (tests inject both).
    """

    name = "judit"

    def __init__(
        self,
        api_key: str,
        *,
        base_url: str = DEFAULT_BASE_URL,
        http: httpx.AsyncClient | None = None,
        limiter: Limiter | None = None,
        retry: RetryPolicy | None = None,
        poll_interval_s: float = 3.0,
        max_poll_s: float = 180.0,
        page_size: int = 100,
        max_pages: int = 20,
        cache_ttl_in_days: int | None = None,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        clock: Clock = time.time,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        if not api_key:
            raise ProviderAuthError(f"{self.name}: no API key configured")
        self._api_key = api_key
        self.base_url = base_url.rstrip("/")
        self._owns_http = http is None
        self.poll_interval_s = poll_interval_s
        self.max_poll_s = max_poll_s
        self.page_size = page_size
        self.max_pages = max_pages
        self.cache_ttl_in_days = cache_ttl_in_days
        self._clock = clock
        self._sleep = sleep
        self._transport = Transport(
            self.name,
            http or make_http(timeout_s),
            limiter=limiter,
            retry=retry or RetryPolicy(),
            clock=clock,
            sleep=sleep,
            secrets=lambda: (self._api_key,),
        )

    @classmethod
    def from_env(cls, env: Mapping[str, str], **options: Any) -> JuditClient:
        """Build from ``JUDIT_API_KEY`` and optional ``JUDIT_BASE_URL``.

        ``options`` are the other constructor arguments (http, limiter, …).

        Raises:
            ProviderAuthError: ``JUDIT_API_KEY`` is missing or empty.
        """
        key = env.get("JUDIT_API_KEY", "").strip()
        if not key:
            raise ProviderAuthError("judit: JUDIT_API_KEY is not set")
        base = env.get("JUDIT_BASE_URL", "").strip() or DEFAULT_BASE_URL
        return cls(key, base_url=base, **options)

    async def aclose(self) -> None:
        """Close the HTTP client if this object created it."""
        if self._owns_http:
            await self._transport.http.aclose()

    async def __aenter__(self) -> JuditClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def fetch(self, cnj: str) -> Lawsuit:
        """The lawsuit with CNJ number ``cnj`` (any accepted spelling).

        Raises:
            InvalidCnjError: before any request if ``cnj`` is invalid; or on HTTP 422.
            ProviderAuthError: 401/403.
            LawsuitNotFoundError: 404, or Judit answered ``application_error``/nothing.
            TransientProviderError: 429/5xx after retries, timeouts, a failed or
                still-pending request.
            ProviderError: any other unexpected answer.
        """
        number = parse_cnj(cnj)
        request_id = await self._create(number)
        await self._wait(request_id)
        responses = await self._responses(request_id)
        return lawsuit_from_responses(responses, number, provider=self.name)

    def _headers(self) -> dict[str, str]:
        return {"api-key": self._api_key, "accept": "application/json"}

    async def _get(self, path: str, params: Mapping[str, Any] | None = None) -> Mapping[str, Any]:
        response = await self._transport.send(
            "GET", self.base_url + path, headers=self._headers(), params=params
        )
        return self._transport.json(response)

    async def _create(self, number: Cnj) -> str:
        search: dict[str, Any] = {"search_type": "lawsuit_cnj", "search_key": number.formatted}
        if self.cache_ttl_in_days is not None:
            search["cache_ttl_in_days"] = self.cache_ttl_in_days
        response = await self._transport.send(
            "POST", self.base_url + "/requests", headers=self._headers(), json={"search": search}
        )
        request_id = text(self._transport.json(response).get("request_id"))
        if not request_id:
            raise ProviderError(f"{self.name}: POST /requests answered without a request_id")
        return request_id

    async def _wait(self, request_id: str) -> None:
        deadline = self._clock() + self.max_poll_s
        while True:
            body = await self._get(f"/requests/{request_id}")
            status = text(body.get("status")).lower()
            if status == "completed":
                return
            if status in FAILED_STATUSES:
                raise TransientProviderError(f"{self.name}: request {request_id} {status}")
            if self._clock() + self.poll_interval_s > deadline:
                raise TransientProviderError(
                    f"{self.name}: request {request_id} still {status or 'pending'} after "
                    f"{self.max_poll_s:g}s"
                )
            await self._sleep(self.poll_interval_s)

    async def _responses(self, request_id: str) -> list[Mapping[str, Any]]:
        collected: list[Mapping[str, Any]] = []
        page = 1
        while page <= self.max_pages:
            body = await self._get(
                "/responses", {"request_id": request_id, "page": page, "page_size": self.page_size}
            )
            collected.extend(items(body.get("page_data")))
            if page >= int(digits(body.get("all_pages_count")) or 1):
                break
            page += 1
        return collected


def lawsuit_from_responses(
    responses: list[Mapping[str, Any]], number: Cnj, *, provider: str = "judit"
) -> Lawsuit:
    """Pick the best ``page_data`` item for ``number`` and map it to a ``Lawsuit``.

    Only ``lawsuit`` items whose ``code`` is this CNJ count (related lawsuits are skipped).
    The lowest instance wins (a stable choice between syncs), then a fresh answer over a
    cached one, then the latest ``created_at``.

    Raises:
        LawsuitNotFoundError: no such item; the message carries Judit's application error.
    """
    lawsuits = [
        r
        for r in responses
        if text(r.get("response_type")) == "lawsuit"
        and digits(mapping(r.get("response_data")).get("code")) in ("", number.digits)
    ]
    if not lawsuits:
        raise LawsuitNotFoundError(
            f"{provider}: no lawsuit {number.formatted}{_application_error(responses)}"
        )
    best = max(lawsuits, key=_preference)
    return lawsuit_from_judit(mapping(best.get("response_data")), number, provider=provider)


def _preference(response: Mapping[str, Any]) -> tuple[int, bool, str]:
    data = mapping(response.get("response_data"))
    instance = digits(data.get("instance"))
    cached = mapping(response.get("tags")).get("cached_response") is True
    return (-int(instance) if instance else -99, not cached, text(response.get("created_at")))


def _application_error(responses: list[Mapping[str, Any]]) -> str:
    for response in responses:
        if text(response.get("response_type")) == "application_error":
            data = mapping(response.get("response_data"))
            detail = ": ".join(t for t in (text(data.get("code")), text(data.get("message"))) if t)
            return f" (application error{': ' + detail if detail else ''})"
    return " (no response)"


def lawsuit_from_judit(data: Mapping[str, Any], number: Cnj, *, provider: str = "judit") -> Lawsuit:
    """Map a Judit lawsuit object (``response_data``; also webhook payloads) to ``Lawsuit``."""
    instance = digits(data.get("instance"))
    return Lawsuit(
        cnj=number.formatted,
        provider=provider,
        court=text(data.get("tribunal_acronym")) or number.court_acronym,
        instance=int(instance) if instance else None,
        cover=_cover(data),
        parties=tuple(_party(p) for p in items(data.get("parties"))),
        movements=newest_first(_movement(s) for s in items(data.get("steps"))),
    )


def _cover(data: Mapping[str, Any]) -> dict[str, str]:
    cover = {
        "class": join_names(data.get("classifications")),
        "subject": join_names(data.get("subjects")),
        "court_name": join_names(data.get("courts")),
        "amount": _amount(data.get("amount")),
        "source": text(mapping(data.get("crawler")).get("source_name")),
    }
    cover.update({key: text(data.get(key)) for key in _COVER_TEXT})
    return {key: value for key, value in cover.items() if value}


def _amount(value: Any) -> str:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return f"{value:.2f}"
    return text(value)


def _party(data: Mapping[str, Any]) -> Party:
    return Party(
        name=text(data.get("name")),
        side=SIDES.get(text(data.get("side")).lower(), "unknown"),
        document=digits(data.get("main_document")),
        lawyers=tuple(_lawyer(lw) for lw in items(data.get("lawyers"))),
    )


def _lawyer(data: Mapping[str, Any]) -> Lawyer:
    oab = next(
        (
            text(d.get("document"))
            for d in items(data.get("documents"))
            if "oab" in text(d.get("document_type")).lower()
        ),
        "",
    )
    main = text(data.get("main_document"))
    if not oab and any(c.isalpha() for c in main):
        oab = main
    return Lawyer(name=text(data.get("name")), oab=oab.replace(" ", ""))


def _movement(data: Mapping[str, Any]) -> Movement:
    content = text(data.get("content"))
    step_id = text(data.get("step_id")) or fallback_id(data.get("step_date"), content)
    return Movement(
        step_id=step_id,
        date=parse_datetime(data.get("step_date")),
        content=content,
        step_type=text(data.get("step_type")),
    )
