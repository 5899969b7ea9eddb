"""The Codilo client: OAuth2 client credentials, request/poll flow, mapping, errors.

Unit tests use ``httpx.MockTransport``; one test runs the same fake over real loopback TCP.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs

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
from justo.jobs.providers import CodiloClient
from justo.jobs.providers.codilo import request_status, side_of
from justo.jobs.providers.values import COURT_TZ
from tests.justo.jobs.fakes import (
    CNJ,
    TRF2_CNJ,
    FakeClock,
    FakeCodilo,
    LoopbackServer,
    json_response,
    mock_http,
)

SECRET = "canary-codilo-secret-456"


def make_client(
    http: httpx.AsyncClient, clock: FakeClock, base: str = "https://codilo.test", **options: Any
) -> CodiloClient:
    options.setdefault("poll_interval_s", 5.0)
    return CodiloClient(
        "cid",
        SECRET,
        base_url=base,
        auth_url=f"{base}/oauth/token",
        http=http,
        clock=clock,
        sleep=clock.sleep,
        **options,
    )


async def fetch(
    fake: FakeCodilo, cnj: str = CNJ, clock: FakeClock | None = None, **options: Any
) -> Lawsuit:
    clock = clock or FakeClock()
    async with mock_http(fake) as http:
        return await make_client(http, clock, **options).fetch(cnj)


def codilo(**options: Any) -> FakeCodilo:
    return FakeCodilo(secret=SECRET, **options)


async def test_oauth_form_fields_request_and_poll() -> None:
    fake = codilo(pending_polls=2)
    clock = FakeClock()
    lawsuit = await fetch(fake, clock=clock)

    assert fake.paths() == ["POST /oauth/token", "POST /v1/request"] + ["GET /v1/request/r-9"] * 3
    token_request = fake.seen[0]
    assert token_request.headers["content-type"] == "application/x-www-form-urlencoded"
    assert parse_qs(token_request.content.decode()) == {
        "grant_type": ["client_credentials"],
        "id": ["cid"],
        "secret": [SECRET],
    }
    assert all(r.headers["authorization"] == "Bearer tok-1" for r in fake.seen[1:])
    assert fake.created == [
        {
            "source": "courts",
            "platform": "esaj",
            "search": "tjsp",
            "query": "principal",
            "param": {"key": "cnj", "value": CNJ},
        }
    ]
    assert clock.sleeps == [5.0, 5.0]
    assert (lawsuit.provider, lawsuit.court, lawsuit.cnj) == ("codilo", "TJSP", CNJ)


async def test_maps_cover_people_and_steps() -> None:
    lawsuit = await fetch(codilo(pending_polls=0))
    assert lawsuit.cover == {
        "class": "Procedimento Comum Cível",
        "subject": "Dano Moral",
        "judge": "Maria Juíza",
        "distribution_date": "11/03/2019",
        "amount": "R$ 15.000,50",
        "court_name": "2ª Vara Cível",
        "Controle": "2019/000123",
    }
    assert lawsuit.parties == (
        Party("Autor da Silva", "active", "", (Lawyer("Adv Um", "SP123456"),)),
        Party("Ré S.A.", "passive"),
        Party("Outro Réu", "passive"),
        Party("Perito", "interested"),
        Party("Misterioso", "unknown"),
    )
    assert [(m.step_id, m.content) for m in lawsuit.movements] == [
        ("13", "Sentença"),
        ("12", "Conclusos"),
        ("11", "Distribuído - Livre"),
        ("14", "Sem data"),
    ]
    dates = [m.date for m in lawsuit.movements]
    assert dates == [
        datetime(2024, 3, 1, 10, 0, tzinfo=COURT_TZ),
        datetime(2024, 2, 5, tzinfo=COURT_TZ),
        datetime(2024, 1, 10, 13, 0, tzinfo=UTC),
        None,
    ]


async def test_court_code_comes_from_the_cnj_and_platform_only_when_known() -> None:
    fake = codilo(pending_polls=0)
    await fetch(fake, TRF2_CNJ)
    assert fake.created == [
        {
            "source": "courts",
            "search": "trf2",
            "query": "principal",
            "param": {"key": "cnj", "value": TRF2_CNJ},
        }
    ]


async def test_token_is_reused_until_shortly_before_it_expires() -> None:
    fake = codilo(pending_polls=0, expires_in=3600)
    clock = FakeClock()
    async with mock_http(fake) as http:
        client = make_client(http, clock, token_margin_s=60.0)
        await client.fetch(CNJ)
        fake.polls = 0
        clock.now += 3000
        await client.fetch(CNJ)
        assert len(fake.token_requests()) == 1
        clock.now += 600  # 3600 s after the token: past expiry - margin
        fake.polls = 0
        await client.fetch(CNJ)
    assert len(fake.token_requests()) == 2
    assert fake.seen[-1].headers["authorization"] == "Bearer tok-2"


async def test_default_lifetime_when_expires_in_is_missing() -> None:
    fake = codilo(pending_polls=0, expires_in=None)
    clock = FakeClock()
    async with mock_http(fake) as http:
        client = make_client(http, clock)
        await client.token()
        clock.now += 21600 - 61
        await client.token()
        assert len(fake.token_requests()) == 1
        clock.now += 2
        await client.token()
    assert len(fake.token_requests()) == 2


async def test_refreshes_the_token_once_on_401() -> None:
    fake = codilo(pending_polls=0)
    clock = FakeClock()
    async with mock_http(fake) as http:
        client = make_client(http, clock)
        await client.token()
        fake.revoked.add("tok-1")  # e.g. revoked server-side before it expired
        lawsuit = await client.fetch(CNJ)
    assert lawsuit.provider == "codilo"
    assert fake.paths() == [
        "POST /oauth/token",
        "POST /v1/request",
        "POST /oauth/token",
        "POST /v1/request",
        "GET /v1/request/r-9",
    ]
    assert fake.seen[-1].headers["authorization"] == "Bearer tok-2"


async def test_401_with_a_fresh_token_is_an_auth_error() -> None:
    fake = codilo()
    fake.script += [
        json_response(200, {"access_token": "a1", "expires_in": 100}),
        json_response(401, {"message": "no"}),
        json_response(200, {"access_token": "a2", "expires_in": 100}),
        json_response(401, {"message": "still no"}),
    ]
    with pytest.raises(ProviderAuthError, match="HTTP 401 on POST /v1/request"):
        await fetch(fake)
    assert len(fake.seen) == 4


async def test_refused_credentials_are_an_auth_error_without_the_secret() -> None:
    fake = FakeCodilo(secret="something-else")
    with pytest.raises(ProviderAuthError, match="token request refused") as caught:
        await fetch(fake)
    assert SECRET not in str(caught.value)
    assert fake.paths() == ["POST /oauth/token"]


async def test_error_messages_never_carry_the_secret_or_token() -> None:
    fake = codilo()
    fake.script += [
        json_response(200, {"access_token": "tok-secret-xyz", "expires_in": 100}),
        json_response(400, {"message": f"bad {SECRET} tok-secret-xyz"}),
    ]
    with pytest.raises(ProviderError) as caught:
        await fetch(fake)
    assert SECRET not in str(caught.value)
    assert "tok-secret-xyz" not in str(caught.value)


async def test_request_ending_in_error_is_transient_or_not_found() -> None:
    fake = codilo(
        pending_polls=0,
        final={
            "success": True,
            "data": [],
            "requested": {"status": "error", "message": "Tribunal indisponível"},
        },
    )
    with pytest.raises(TransientProviderError, match="ended in error: Tribunal indisponível"):
        await fetch(fake)
    fake = codilo(
        pending_polls=0,
        final={
            "success": True,
            "data": [],
            "requested": {"status": "error", "message": "Processo não encontrado"},
        },
    )
    with pytest.raises(LawsuitNotFoundError, match="não encontrado"):
        await fetch(fake)


async def test_success_without_data_is_not_found() -> None:
    fake = codilo(
        pending_polls=0, final={"success": True, "data": [], "requested": {"status": "success"}}
    )
    with pytest.raises(LawsuitNotFoundError, match="returned no data"):
        await fetch(fake)


async def test_polling_is_bounded() -> None:
    clock = FakeClock()
    with pytest.raises(TransientProviderError, match="still pending after 20s"):
        await fetch(codilo(pending_polls=1000), clock=clock, max_poll_s=20.0)
    assert clock.sleeps == [5.0] * 4


async def test_429_retry_after_is_honoured_and_timeouts_are_transient() -> None:
    fake = codilo(pending_polls=0)
    fake.script += [
        json_response(200, {"access_token": "tok-1", "expires_in": 100}),
        json_response(429, {}, {"Retry-After": "3"}),
    ]
    fake.tokens.append("tok-1")
    clock = FakeClock()
    assert (await fetch(fake, clock=clock)).provider == "codilo"
    assert clock.sleeps == [3.0]

    fake = codilo()
    fake.script.append(httpx.ConnectTimeout)
    with pytest.raises(TransientProviderError, match="POST /oauth/token timed out"):
        await fetch(fake)


async def test_invalid_cnj_never_reaches_the_server() -> None:
    fake = codilo()
    with pytest.raises(InvalidCnjError):
        await fetch(fake, "0009999-99.9999.8.26.9999")
    assert fake.seen == []


async def test_from_env() -> None:
    env = {
        "CODILO_CLIENT_ID": "cid",
        "CODILO_CLIENT_SECRET": SECRET,
        "CODILO_BASE_URL": "https://api.codilo.example",
        "CODILO_AUTH_URL": "https://auth.codilo.example/oauth/token",
    }
    fake = codilo(pending_polls=0)
    async with mock_http(fake) as http:
        client = CodiloClient.from_env(env, http=http, sleep=FakeClock().sleep)
        await client.fetch(CNJ)
    assert [r.url.host for r in fake.seen[:2]] == ["auth.codilo.example", "api.codilo.example"]
    with pytest.raises(ProviderAuthError, match="CODILO_CLIENT_SECRET"):
        CodiloClient.from_env({"CODILO_CLIENT_ID": "cid"})
    default = CodiloClient.from_env({"CODILO_CLIENT_ID": "a", "CODILO_CLIENT_SECRET": "b"})
    assert (default.base_url, default.auth_url) == (
        "https://api.capturaweb.com.br",
        "https://auth.codilo.com.br/oauth/token",
    )
    await default.aclose()


async def test_over_real_loopback_http() -> None:
    fake = codilo(pending_polls=1)
    clock = FakeClock()
    async with LoopbackServer(fake).running() as server, httpx.AsyncClient() as http:
        client = make_client(http, clock, base=server.url)
        lawsuit = await client.fetch(CNJ)
        fake.polls = 0
        await client.fetch(CNJ)
    assert lawsuit.provider == "codilo"
    assert len(lawsuit.movements) == 4
    assert len(fake.token_requests()) == 1
    assert json.loads(fake.seen[1].content)["search"] == "tjsp"


def test_status_and_side_helpers() -> None:
    assert request_status({"requested": {"status": "Success"}}) == "success"
    assert request_status({"status": "pending", "data": [{"x": 1}]}) == "pending"
    assert request_status({"data": {"status": "error"}}) == "error"
    assert request_status({"data": [{"cover": []}]}) == "success"
    assert request_status({"data": []}) == "pending"
    assert side_of("Polo Ativo") == "active"
    assert side_of("passive") == "passive"
    assert side_of("", "Executado") == "passive"
    assert side_of("", "Terceiro interessado") == "interested"
    assert side_of("", "") == "unknown"
