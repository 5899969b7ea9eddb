"""The Judit client against a fake Judit behind ``httpx.MockTransport`` (no sockets).

The real-socket test of the Judit client is in ``test_demo.py`` (the demo server speaks
Judit over loopback TCP).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any

import httpx
import pytest

from justo.jobs.lawsuit import (
    InvalidCnjError,
    Lawsuit,
    LawsuitNotFoundError,
    Lawyer,
    Party,
    ProviderAuthError,
    ProviderError,
    TransientProviderError,
)
from justo.jobs.providers import JuditClient, RetryPolicy
from justo.jobs.providers.values import COURT_TZ
from tests.justo.jobs.fakes import (
    CNJ,
    OTHER_CNJ,
    FakeClock,
    FakeJudit,
    json_response,
    judit_item,
    judit_lawsuit,
    mock_http,
)

KEY = "canary-judit-key-123"


async def fetch(
    fake: FakeJudit, cnj: str = CNJ, clock: FakeClock | None = None, **options: Any
) -> Lawsuit:
    clock = clock or FakeClock()
    options.setdefault("poll_interval_s", 2.0)
    async with mock_http(fake) as http:
        client = JuditClient(
            KEY, base_url="https://judit.test", http=http, clock=clock, sleep=clock.sleep, **options
        )
        return await client.fetch(cnj)


async def test_three_step_flow_polls_until_completed_and_maps_the_lawsuit() -> None:
    fake = FakeJudit(pending_polls=2)
    clock = FakeClock()
    lawsuit = await fetch(fake, " 00036951620198260189 ", clock)

    assert fake.paths() == ["POST /requests"] + ["GET /requests/req-1"] * 3 + ["GET /responses"]
    assert all(r.headers["api-key"] == KEY for r in fake.seen)
    assert "authorization" not in fake.seen[0].headers
    assert json.loads(fake.seen[0].content) == {
        "search": {"search_type": "lawsuit_cnj", "search_key": CNJ}
    }
    assert dict(fake.seen[-1].url.params) == {
        "request_id": "req-1",
        "page": "1",
        "page_size": "100",
    }
    assert clock.sleeps == [2.0, 2.0]

    assert (lawsuit.cnj, lawsuit.provider, lawsuit.court, lawsuit.instance) == (
        CNJ,
        "judit",
        "TJSP",
        1,
    )
    assert lawsuit.cover == {
        "class": "Procedimento Comum Cível",
        "subject": "Dano Moral; Dano Material",
        "court_name": "2ª Vara Cível",
        "amount": "15000.50",
        "judge": "Maria Juíza",
        "distribution_date": "2019-03-11T00:00:00.000Z",
        "status": "Ativo",
        "area": "DIREITO CIVIL",
        "phase": "Conhecimento",
        "county": "Mogi",
        "city": "Mogi das Cruzes",
        "state": "SP",
        "name": "A X B",
        "secrecy_level": "0",
    }
    assert lawsuit.parties == (
        Party("Autor da Silva", "active", "12345678909", (Lawyer("Adv Um", "SP123456"),)),
        Party("Ré S.A.", "passive", "12345678000195", (Lawyer("Adv Dois", "RJ654321"),)),
        Party("Perito", "interested"),
        Party("Alguém", "unknown"),
    )
    assert [m.step_id for m in lawsuit.movements] == ["aaa00003", "aaa00002", "aaa00001"]
    newest, middle, oldest = lawsuit.movements
    assert newest.date == datetime(2024, 3, 1, 10, 0, tzinfo=COURT_TZ)
    assert middle.date == datetime(2024, 2, 5, tzinfo=COURT_TZ)
    assert oldest.date == datetime(2024, 1, 10, 13, 0, tzinfo=UTC)
    assert (oldest.content, oldest.step_type) == ("Distribuído", "Distribuição")
    assert Lawsuit.from_json(lawsuit.to_json()) == lawsuit


async def test_reads_every_page_and_prefers_the_fresh_response() -> None:
    cached = judit_lawsuit(
        steps=[{"step_id": "old1", "step_date": "2024-01-01", "content": "cached"}]
    )
    fresh = judit_lawsuit(
        steps=[
            {"step_id": "new1", "step_date": "2024-05-01", "content": "fresh"},
            {"step_id": "old1", "step_date": "2024-01-01", "content": "cached"},
        ]
    )
    related = judit_lawsuit(OTHER_CNJ, steps=[])
    second_instance = judit_lawsuit(instance=2, steps=[])
    fake = FakeJudit(
        [
            judit_item(cached, cached=True, created_at="2026-05-28T10:00:00Z"),
            judit_item(related),
            judit_item(second_instance),
            judit_item(fresh, cached=False, created_at="2026-05-28T10:05:00Z"),
            judit_item({"code": 1, "message": "irrelevant"}, response_type="application_error"),
        ],
        pending_polls=0,
    )
    lawsuit = await fetch(fake, page_size=2)
    pages = [r.url.params["page"] for r in fake.seen if r.url.path == "/responses"]
    assert pages == ["1", "2", "3"]
    assert [m.step_id for m in lawsuit.movements] == ["new1", "old1"]
    assert lawsuit.instance == 1


async def test_cached_only_answer_is_used_when_no_fresh_one_exists() -> None:
    fake = FakeJudit([judit_item(judit_lawsuit(), cached=True)], pending_polls=0)
    assert (await fetch(fake)).movements


async def test_stops_at_max_pages() -> None:
    fake = FakeJudit([judit_item(judit_lawsuit(OTHER_CNJ))] * 10, pending_polls=0)
    with pytest.raises(LawsuitNotFoundError):
        await fetch(fake, page_size=1, max_pages=3)
    assert len([r for r in fake.seen if r.url.path == "/responses"]) == 3


async def test_application_error_means_not_found() -> None:
    fake = FakeJudit(
        [judit_item({"code": 2, "message": "LAWSUIT_NOT_FOUND"}, response_type="application_error")]
    )
    with pytest.raises(LawsuitNotFoundError, match="application error: 2: LAWSUIT_NOT_FOUND"):
        await fetch(fake)


async def test_no_response_at_all_means_not_found() -> None:
    with pytest.raises(LawsuitNotFoundError, match="no response"):
        await fetch(FakeJudit([]))


async def test_failed_request_is_transient() -> None:
    with pytest.raises(TransientProviderError, match="req-1 failed"):
        await fetch(FakeJudit(final_status="failed"))


async def test_polling_is_bounded() -> None:
    clock = FakeClock()
    with pytest.raises(TransientProviderError, match="still pending after 10s"):
        await fetch(FakeJudit(pending_polls=1000), clock=clock, max_poll_s=10.0)
    assert sum(clock.sleeps) <= 10.0
    assert len(clock.sleeps) == 5


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (401, ProviderAuthError),
        (403, ProviderAuthError),
        (404, LawsuitNotFoundError),
        (422, InvalidCnjError),
        (400, ProviderError),
    ],
)
async def test_http_errors_map_onto_the_error_tree(status: int, error: type[Exception]) -> None:
    fake = FakeJudit()
    fake.script.append(json_response(status, {"error": {"name": "E", "message": "m"}}))
    with pytest.raises(error, match=f"HTTP {status} on POST /requests: E: m") as caught:
        await fetch(fake)
    assert type(caught.value) is error
    assert len(fake.seen) == 1


async def test_429_retry_after_seconds_is_honoured() -> None:
    fake = FakeJudit(pending_polls=0)
    fake.script.append(json_response(429, {}, {"Retry-After": "7"}))
    clock = FakeClock()
    lawsuit = await fetch(fake, clock=clock)
    assert lawsuit.movements
    assert clock.sleeps == [7.0]
    assert fake.paths()[:2] == ["POST /requests", "POST /requests"]


async def test_503_retry_after_http_date_is_honoured() -> None:
    clock = FakeClock()
    when = format_datetime(datetime.fromtimestamp(clock.now + 42, UTC), usegmt=True)
    fake = FakeJudit(pending_polls=0)
    fake.script.append(json_response(503, {}, {"Retry-After": when}))
    await fetch(fake, clock=clock)
    assert clock.sleeps == [42.0]


async def test_5xx_without_retry_after_backs_off_exponentially_then_gives_up() -> None:
    fake = FakeJudit()
    fake.script += [json_response(502, {})] * 4
    clock = FakeClock()
    with pytest.raises(
        TransientProviderError, match="HTTP 502 on POST /requests after 4"
    ) as caught:
        await fetch(fake, clock=clock, retry=RetryPolicy(attempts=4, base_delay_s=1.0))
    assert clock.sleeps == [1.0, 2.0, 4.0]
    assert caught.value.retry_after is None


async def test_retry_after_beyond_the_budget_is_raised_at_once() -> None:
    fake = FakeJudit()
    fake.script.append(json_response(429, {}, {"Retry-After": "120"}))
    clock = FakeClock()
    with pytest.raises(TransientProviderError) as caught:
        await fetch(fake, clock=clock, retry=RetryPolicy(max_total_wait_s=60.0))
    assert caught.value.retry_after == 120.0
    assert clock.sleeps == []
    assert len(fake.seen) == 1


@pytest.mark.parametrize(
    "exc", [httpx.ReadTimeout, httpx.ConnectTimeout, httpx.ConnectError, httpx.RemoteProtocolError]
)
async def test_timeouts_and_connection_errors_are_transient(exc: type[Exception]) -> None:
    fake = FakeJudit()
    fake.script += [json_response(200, {"request_id": "req-1"}), exc]
    with pytest.raises(TransientProviderError, match="judit: GET /requests/req-1"):
        await fetch(fake)


@pytest.mark.parametrize(
    "cnj", ["0009999-99.9999.8.26.9999", "not a number", "", "1111111-04.1111.1.11.1111"]
)
async def test_invalid_cnj_never_reaches_the_server(cnj: str) -> None:
    fake = FakeJudit()
    with pytest.raises(InvalidCnjError):
        await fetch(fake, cnj)
    assert fake.seen == []


async def test_the_api_key_never_appears_in_error_messages() -> None:
    echo = {"error": {"name": "UNAUTHORIZED", "message": f"bad api-key {KEY}"}}
    cases: list[list[Any]] = [
        [json_response(401, echo)],
        [json_response(422, echo)],
        [json_response(400, echo)],
        [json_response(500, echo)] * 4,
        [httpx.ReadTimeout],
    ]
    for script in cases:
        fake = FakeJudit()
        fake.script += script
        with pytest.raises(ProviderError) as caught:
            await fetch(fake)
        assert KEY not in str(caught.value), caught.value
        assert "***" in str(caught.value) or isinstance(caught.value, TransientProviderError)


async def test_from_env_reads_key_and_base_url() -> None:
    fake = FakeJudit(pending_polls=0)
    async with mock_http(fake) as http:
        client = JuditClient.from_env(
            {"JUDIT_API_KEY": f" {KEY} ", "JUDIT_BASE_URL": "https://judit.example/"}, http=http
        )
        await client.fetch(CNJ)
        await client.aclose()  # not ours: the shared client stays open
        assert not http.is_closed
    assert fake.seen[0].url.host == "judit.example"
    assert fake.seen[0].headers["api-key"] == KEY
    with pytest.raises(ProviderAuthError, match="JUDIT_API_KEY is not set"):
        JuditClient.from_env({"JUDIT_API_KEY": " "})


async def test_own_http_client_is_closed() -> None:
    async with JuditClient(KEY) as client:
        assert client.base_url == "https://requests.prod.judit.io"
    assert client._transport.http.is_closed


async def test_a_misconfigured_base_url_is_not_transient() -> None:
    async with JuditClient(KEY, base_url="ftp://judit.test") as client:
        with pytest.raises(ProviderError, match="bad URL") as caught:
            await client.fetch(CNJ)
    assert not isinstance(caught.value, TransientProviderError)
