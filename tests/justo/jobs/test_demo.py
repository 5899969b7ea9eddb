"""The demo sandbox: a real loopback HTTP server speaking Judit, with synthetic lawsuits.

These are also the real-socket tests of ``JuditClient``.
"""

from __future__ import annotations

import httpx
import pytest

from justo.jobs.lawsuit import InvalidCnjError, LawsuitNotFoundError
from justo.jobs.providers import (
    DEMO_LABEL,
    DemoProvider,
    JuditClient,
    demo_provider,
    demo_server,
)
from justo.jobs.providers.demo import DEMO_EPOCH
from tests.justo.jobs.fakes import CNJ, OTHER_CNJ, TRF2_CNJ, FakeClock, cnj_with_number

EVERY = 600.0


async def test_repeated_syncs_see_new_movements() -> None:
    server_clock = FakeClock(DEMO_EPOCH + 86_400)
    client_clock = FakeClock()
    async with demo_server(clock=server_clock, movement_every_s=EVERY, max_movements=500) as server:
        provider = DemoProvider(server.url, clock=client_clock, sleep=client_clock.sleep)
        first = await provider.fetch(CNJ)
        server_clock.now += 3 * EVERY
        later = await provider.fetch(CNJ)
        again = await provider.fetch(CNJ)
        await provider.aclose()

    assert (first.provider, first.court, first.cover["source"]) == ("demo", "TJSP", DEMO_LABEL)
    assert len(later.movements) == len(first.movements) + 3
    assert later.movements[3:] == first.movements
    assert again == later
    dates = [m.date for m in later.movements if m.date is not None and m.date.tzinfo]
    assert len(dates) == len(later.movements)
    assert dates == sorted(dates, reverse=True)
    assert client_clock.sleeps == [0.05] * 3  # one "pending" poll per fetch


async def test_lawsuits_are_deterministic_per_cnj_and_differ_between_cnjs() -> None:
    clock = FakeClock(DEMO_EPOCH + 10 * 86_400)
    async with (
        demo_server(clock=clock, pending_polls=0) as first_server,
        demo_server(clock=clock, pending_polls=0) as second_server,
    ):
        one = DemoProvider(first_server.url)
        two = DemoProvider(second_server.url)
        a, b = await one.fetch(CNJ), await two.fetch(CNJ)
        c = await one.fetch(OTHER_CNJ)
        d = await one.fetch(TRF2_CNJ)
        await one.aclose()
        await two.aclose()
    assert a == b
    assert c.court == "TJRJ" and c.parties != a.parties
    assert d.court == "TRF2"
    assert len(a.movements) == 40  # capped at max_movements (the newest)
    assert {p.side for p in a.parties} == {"active", "passive"}
    assert all(p.lawyers and p.lawyers[0].oab for p in a.parties)
    assert {
        "class",
        "subject",
        "judge",
        "distribution_date",
        "status",
        "area",
        "amount",
        "phase",
        "county",
        "city",
        "state",
    } <= set(a.cover)


async def test_fresh_response_wins_over_the_cached_one() -> None:
    """The server answers a cached copy (an hour old) and a fresh one; the fresh one has the
    6 movements of the last hour."""
    clock = FakeClock(DEMO_EPOCH + 86_400)
    async with demo_provider(clock=clock, movement_every_s=EVERY, max_movements=1000) as p:
        lawsuit = await p.fetch(CNJ)
        server_data = None
        async with httpx.AsyncClient(base_url=p.base_url, headers={"api-key": "x"}) as raw:
            created = (
                await raw.post(
                    "/requests", json={"search": {"search_type": "lawsuit_cnj", "search_key": CNJ}}
                )
            ).json()
            page = (
                await raw.get(
                    "/responses",
                    params={"request_id": created["request_id"], "page": 1, "page_size": 10},
                )
            ).json()
            server_data = page["page_data"]
    cached, fresh = server_data
    assert cached["tags"]["cached_response"] is True
    assert len(fresh["response_data"]["steps"]) == len(cached["response_data"]["steps"]) + 6
    assert len(lawsuit.movements) == len(fresh["response_data"]["steps"])


async def test_plain_judit_client_against_the_demo_server() -> None:
    async with demo_server(pending_polls=2) as server:
        clock = FakeClock()
        async with JuditClient(
            "any-key", base_url=server.url, page_size=1, clock=clock, sleep=clock.sleep
        ) as client:
            lawsuit = await client.fetch(CNJ)
    assert lawsuit.provider == "judit"
    assert lawsuit.cover["source"] == DEMO_LABEL
    assert clock.sleeps == [3.0, 3.0]


async def test_not_found_and_server_side_validation() -> None:
    async with demo_provider(pending_polls=0) as provider:
        with pytest.raises(LawsuitNotFoundError, match="LAWSUIT_NOT_FOUND"):
            await provider.fetch(cnj_with_number("0000000"))
        async with httpx.AsyncClient(base_url=provider.base_url) as raw:
            no_key = await raw.post("/requests", json={})
            bad_cnj = await raw.post(
                "/requests",
                headers={"api-key": "x"},
                json={
                    "search": {
                        "search_type": "lawsuit_cnj",
                        "search_key": "0009999-99.9999.8.26.9999",
                    }
                },
            )
            unknown = await raw.get("/requests/nope", headers={"api-key": "x"})
            garbage = await raw.post("/requests", headers={"api-key": "x"}, content=b"{{")
    assert (no_key.status_code, bad_cnj.status_code, unknown.status_code, garbage.status_code) == (
        401,
        422,
        404,
        400,
    )
    assert bad_cnj.json()["error"]["message"] == "INVALID_CNJ"


async def test_invalid_cnj_is_refused_before_the_request() -> None:
    async with demo_server() as server:
        provider = DemoProvider(server.url)
        with pytest.raises(InvalidCnjError):
            await provider.fetch("1234")
        await provider.aclose()
        assert server.requests == {}
