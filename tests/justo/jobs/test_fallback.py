"""ProviderChain: Judit first, Codilo when Judit fails (but not for an invalid CNJ)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from justo.jobs.lawsuit import (
    InvalidCnjError,
    Lawsuit,
    LawsuitNotFoundError,
    ProviderAuthError,
    ProviderError,
    TransientProviderError,
)
from justo.jobs.providers import CodiloClient, JuditClient, ProviderChain, RetryPolicy
from tests.justo.jobs.fakes import CNJ, FakeClock, FakeCodilo, FakeJudit, json_response, mock_http


class Stub:
    """A provider that raises ``error`` or answers."""

    def __init__(self, name: str, error: ProviderError | None = None) -> None:
        self.name = name
        self.error = error
        self.calls = 0

    async def fetch(self, cnj: str) -> Lawsuit:
        self.calls += 1
        if self.error is not None:
            raise self.error
        return Lawsuit(cnj=cnj, provider=self.name)


async def run_real_chain(judit: FakeJudit, codilo: FakeCodilo, cnj: str = CNJ) -> Lawsuit:
    clock = FakeClock()
    common: dict[str, Any] = {
        "clock": clock,
        "sleep": clock.sleep,
        "retry": RetryPolicy(attempts=2),
    }
    async with mock_http(judit) as jhttp, mock_http(codilo) as chttp:
        chain = ProviderChain(
            [
                JuditClient("judit-key-xyz", http=jhttp, **common),
                CodiloClient(
                    "cid",
                    "csecret",
                    base_url="https://c.test",
                    auth_url="https://c.test/oauth/token",
                    http=chttp,
                    **common,
                ),
            ]
        )
        assert chain.name == "judit+codilo"
        return await chain.fetch(cnj)


async def test_judit_5xx_falls_back_to_codilo() -> None:
    judit = FakeJudit()
    judit.script += [json_response(503, {})] * 2
    codilo = FakeCodilo(pending_polls=0)
    lawsuit = await run_real_chain(judit, codilo)
    assert lawsuit.provider == "codilo"
    assert judit.paths() == ["POST /requests"] * 2


async def test_judit_timeout_falls_back_to_codilo() -> None:
    judit = FakeJudit()
    judit.script.append(httpx.ReadTimeout)
    lawsuit = await run_real_chain(judit, FakeCodilo(pending_polls=0))
    assert lawsuit.provider == "codilo"


async def test_judit_answering_means_codilo_is_not_asked() -> None:
    codilo = FakeCodilo()
    lawsuit = await run_real_chain(FakeJudit(pending_polls=0), codilo)
    assert lawsuit.provider == "judit"
    assert codilo.seen == []


async def test_invalid_cnj_reaches_neither_provider() -> None:
    judit, codilo = FakeJudit(), FakeCodilo()
    with pytest.raises(InvalidCnjError):
        await run_real_chain(judit, codilo, "0009999-99.9999.8.26.9999")
    assert judit.seen == [] and codilo.seen == []


async def test_judit_422_is_not_retried_elsewhere() -> None:
    judit, codilo = FakeJudit(), FakeCodilo()
    judit.script.append(json_response(422, {"error": {"name": "INVALID", "message": "cnj"}}))
    with pytest.raises(InvalidCnjError):
        await run_real_chain(judit, codilo)
    assert codilo.seen == []


@pytest.mark.parametrize(
    "error",
    [
        TransientProviderError("down"),
        ProviderAuthError("no key"),
        LawsuitNotFoundError("nope"),
        ProviderError("odd answer"),
    ],
)
async def test_falls_back_on_every_provider_error_but_invalid_cnj(error: ProviderError) -> None:
    first, second = Stub("judit", error), Stub("codilo")
    assert (await ProviderChain([first, second]).fetch(CNJ)).provider == "codilo"
    assert (first.calls, second.calls) == (1, 1)


async def test_all_failing_raises_the_last_error_chained_to_the_first() -> None:
    first = Stub("judit", TransientProviderError("judit down"))
    second = Stub("codilo", LawsuitNotFoundError("codilo: no such lawsuit"))
    with pytest.raises(LawsuitNotFoundError, match="codilo: no such lawsuit") as caught:
        await ProviderChain([first, second]).fetch(CNJ)
    assert caught.value.__cause__ is first.error


async def test_invalid_cnj_from_the_first_stops_the_chain() -> None:
    first, second = Stub("judit", InvalidCnjError("bad")), Stub("codilo")
    with pytest.raises(InvalidCnjError):
        await ProviderChain([first, second]).fetch(CNJ)
    assert second.calls == 0


def test_needs_a_provider() -> None:
    with pytest.raises(ValueError):
        ProviderChain([])
