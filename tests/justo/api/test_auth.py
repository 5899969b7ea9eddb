"""Admin API authentication (RELIABILITY.md §4 scenarios 18-19): bearer token on every
route but /healthz, identical 401s, query-string tokens refused, 429 after repeated
failures, refuse-to-start rules, constant-time comparison by construction."""

from __future__ import annotations

import base64
import hmac
import logging
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from redis.asyncio import Redis

from engine.errors import ConfigError
from engine.queue.queue import Queue
from engine.runtime.settings import Settings
from justo.api.auth import (
    AdminTokenError,
    FailureLimiter,
    TokenCheck,
    check_token_config,
    parse_bearer,
    query_has_credential,
    token_from_env,
)
from justo.api.metrics import CONTENT_TYPE
from tests.justo.api.helpers import AUTH, TOKEN, api_client

ROUTES: list[tuple[str, str, dict[str, Any]]] = [
    ("GET", "/api/admin/workers", {}),
    ("GET", "/api/admin/workers?action=stats", {}),
    ("GET", "/api/admin/workers?action=health-check", {}),
    ("GET", "/api/admin/workers?action=detailed-stats", {}),
    ("POST", "/api/admin/workers", {"json": {"action": "pause"}}),
    (
        "POST",
        "/api/admin/workers",
        {"json": {"type": "sync-manual", "data": {"workspaceId": "w1"}}},
    ),
    ("DELETE", "/api/admin/workers?force=true", {}),
    ("GET", "/metrics", {}),
    ("GET", "/openapi.json", {}),
    ("GET", "/no/such/route", {}),
    ("PUT", "/api/admin/workers", {}),
]
"""Every route (and an unknown one, and a wrong method): all need the token."""

BAD_HEADERS: list[list[tuple[str, str]]] = [
    [],
    [("Authorization", "")],
    [("Authorization", "Bearer")],
    [("Authorization", "bearer wrong-token")],
    [("Authorization", f"Bearer {TOKEN}x")],
    [("Authorization", f"Bearer {TOKEN[:-1]}")],
    [("Authorization", f"Bearer {TOKEN[:-1]}?")],
    [("Authorization", "Bearer a")],
    [("Authorization", f"Bearer {TOKEN} extra")],
    [("Authorization", f"Token {TOKEN}")],
    [("Authorization", f"Basic {base64.b64encode(f'admin:{TOKEN}'.encode()).decode()}")],
    [("Authorization", TOKEN)],
    [("Authorization", f"Bearer {TOKEN}"), ("Authorization", "Bearer wrong")],
    [("X-Api-Key", TOKEN)],
]
"""Missing, empty, wrong scheme, wrong token, malformed, duplicated headers."""

TOKEN_NAMES = "JUSTO_ADMIN_TOKEN or BULL_BOARD_ACCESS_TOKEN"
"""How refusals and warnings name the token's variables."""

QUERY_TOKENS = ["token", "access_token", "auth", "api_key", "Access-Token", "apikey"]


def _comparable(response: httpx.Response) -> tuple[int, bytes, tuple[tuple[str, str], ...]]:
    headers = tuple(sorted((k, v) for k, v in response.headers.items() if k != "date"))
    return response.status_code, response.content, headers


async def test_every_route_refuses_every_bad_credential_identically(
    redis: Redis, settings: Settings, prefix: str
) -> None:
    queue = Queue(redis, "sync", prefix=prefix)
    await queue.add("manual-sync", {"workspaceId": "keep"})
    seen = set()
    async with api_client(redis, settings, limiter=FailureLimiter(max_failures=10_000)) as api:
        for method, path, kwargs in ROUTES:
            for headers in BAD_HEADERS:
                response = await api.request(method, path, headers=headers, **kwargs)
                seen.add(_comparable(response))
    assert len(seen) == 1, seen
    status, body, answer_headers = seen.pop()
    assert (status, body) == (401, b'{"error":"unauthorized"}')
    assert ("www-authenticate", 'Bearer realm="justo-admin"') in answer_headers
    # nothing changed: not paused, not drained, nothing enqueued
    counts = await queue.counts()
    assert (counts.waiting, counts.paused) == (1, False)


async def test_right_token_opens_every_route(api: httpx.AsyncClient) -> None:
    # In ROUTES order: 503 is the health check of an engine without supervisors, 201 the
    # enqueued job, 404 and 405 the router's own answers past authentication.
    expected = [200, 200, 503, 200, 200, 201, 200, 200, 200, 404, 405]
    codes = []
    for method, path, kwargs in ROUTES:
        response = await api.request(method, path, headers=AUTH, **kwargs)
        codes.append(response.status_code)
    assert codes == expected


async def test_scheme_is_case_insensitive(api: httpx.AsyncClient) -> None:
    response = await api.get("/api/admin/workers", headers={"Authorization": f"bEaReR {TOKEN}"})
    assert response.status_code == 200


async def test_healthz_needs_no_token_and_tells_nothing(api: httpx.AsyncClient) -> None:
    response = await api.get("/healthz")
    assert (response.status_code, response.text) == (200, "ok")
    wrong = await api.get("/healthz", headers={"Authorization": "Bearer wrong"})
    assert (wrong.status_code, wrong.text) == (200, "ok")


@pytest.mark.parametrize("name", QUERY_TOKENS)
async def test_token_in_query_string_is_refused_even_when_right(
    api: httpx.AsyncClient, name: str
) -> None:
    reference = await api.get("/api/admin/workers")
    alone = await api.get(f"/api/admin/workers?{name}={TOKEN}")
    both = await api.get(f"/api/admin/workers?action=stats&{name}={TOKEN}", headers=AUTH)
    assert _comparable(alone) == _comparable(both) == _comparable(reference)
    assert both.status_code == 401


async def test_429_after_repeated_failures_then_recovers(redis: Redis, settings: Settings) -> None:
    now = [1000.0]
    limiter = FailureLimiter(max_failures=3, window_s=60, clock=lambda: now[0])
    async with api_client(redis, settings, limiter=limiter) as api:
        for _ in range(3):
            assert (
                await api.get("/metrics", headers={"Authorization": "Bearer x"})
            ).status_code == 401
        blocked = await api.get("/api/admin/workers", headers=AUTH)  # even the right token
        assert blocked.status_code == 429
        assert blocked.headers["retry-after"] == "60"
        assert blocked.json() == {"error": "too many failed attempts"}
        assert (await api.get("/healthz")).status_code == 200
        now[0] += 30
        assert (await api.get("/metrics", headers=AUTH)).headers["retry-after"] == "30"
        now[0] += 30
        assert (await api.get("/api/admin/workers", headers=AUTH)).status_code == 200


async def test_default_limit_is_ten_failures_per_minute(redis: Redis, settings: Settings) -> None:
    async with api_client(redis, settings) as api:
        codes = [
            (await api.get("/metrics", headers={"Authorization": "Bearer no"})).status_code
            for _ in range(11)
        ]
    assert codes == [401] * 10 + [429]


async def test_failures_are_logged_without_the_presented_value(
    api: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    canary = "CANARY-presented-token-7f3a9c"
    with caplog.at_level(logging.DEBUG):
        await api.get("/metrics", headers={"Authorization": f"Bearer {canary}"})
        await api.get(f"/metrics?token={canary}")
        await api.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    server_side = [
        r.getMessage() for r in caplog.records if not r.name.startswith(("httpx", "httpcore"))
    ]
    # One line per failure (the two refused requests), none for the right token.
    assert server_side == ["auth failed from 127.0.0.1"] * 2


async def test_without_a_token_on_loopback_everything_but_healthz_is_closed(
    redis: Redis, settings: Settings
) -> None:
    async with api_client(redis, settings, token=None) as api:
        reference = await api.get("/api/admin/workers")
        assert (reference.status_code, reference.content) == (401, b'{"error":"unauthorized"}')
        for header in ("Bearer", "Bearer None", "Bearer null", f"Bearer {TOKEN}"):
            response = await api.get("/api/admin/workers", headers={"Authorization": header})
            assert _comparable(response) == _comparable(reference), header
        healthz = await api.get("/healthz")
        assert (healthz.status_code, healthz.text) == (200, "ok")


# ------------------------------------------------------------------- unit


def test_comparison_is_constant_time_by_construction(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    check = TokenCheck(TOKEN)
    presented = [
        None,
        b"",
        b"Basic abc",
        b"Bearer x",
        b"Bearer " + b"y" * 5000,
        f"Bearer {TOKEN[:-1]}!".encode(),
        f"Bearer {TOKEN}".encode(),
    ]
    results = [check.verify(header) for header in presented]
    assert results == [False] * 6 + [True]
    assert len(calls) == len(presented)
    assert all(
        isinstance(a, bytes) and isinstance(b, bytes) and len(a) == len(b) == 32 for a, b in calls
    )


async def test_http_path_uses_the_digest_comparison(
    api: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    sizes: list[tuple[int, int]] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        sizes.append((len(a), len(b)))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    short = await api.get("/metrics", headers={"Authorization": "Bearer short"})
    long = await api.get("/metrics", headers={"Authorization": "Bearer " + "z" * 300})
    missing = await api.get("/metrics")
    right = await api.get("/metrics", headers=AUTH)
    assert sizes == [(32, 32)] * 4
    # Whatever the length presented (or none), the same refusal; the right token passes.
    for refused in (short, long, missing):
        assert _comparable(refused) == (
            401,
            b'{"error":"unauthorized"}',
            (
                ("cache-control", "no-store"),
                ("content-length", "24"),
                ("content-type", "application/json"),
                ("www-authenticate", 'Bearer realm="justo-admin"'),
            ),
        )
    assert (right.status_code, right.headers["content-type"]) == (200, CONTENT_TYPE)
    families = {f.name: f for f in text_string_to_metric_families(right.text)}
    assert [s.value for s in families["justo_supervisors_live"].samples] == [0.0]


@pytest.mark.parametrize(
    "header,expected",
    [
        (b"Bearer abc", b"abc"),
        (b"bearer  abc", b"abc"),
        (b"BEARER abc", b"abc"),
        (b"Bearer", None),
        (b"Bearer ", None),
        (b"Bearer a b", None),
        (b"Basic abc", None),
        (b"abc", None),
        (b"", None),
        (None, None),
        (b"Bearer a\tb", None),
    ],
)
def test_parse_bearer(header: bytes | None, expected: bytes | None) -> None:
    assert parse_bearer(header) == expected


def test_query_credential_names() -> None:
    assert query_has_credential(b"action=stats&token=x")
    assert query_has_credential(b"ACCESS_TOKEN=")
    assert query_has_credential(b"access-token=1")
    assert query_has_credential(b"auth")
    assert not query_has_credential(b"action=stats&force=true")
    assert not query_has_credential(b"")


def test_limiter_forgets_old_failures_and_bounds_clients() -> None:
    now = [0.0]
    limiter = FailureLimiter(max_failures=2, window_s=10, clock=lambda: now[0], max_clients=2)
    limiter.record("a")
    now[0] = 5
    limiter.record("a")
    assert limiter.retry_after("a") == 10 - 5 + 0  # until the first failure ages out
    now[0] = 10
    assert limiter.retry_after("a") == 0
    limiter.record("b")
    limiter.record("b")
    limiter.record("c")
    limiter.record("c")
    assert limiter.retry_after("b") == limiter.retry_after("c") == 10  # a full window
    assert limiter.retry_after("a") == 0  # evicted: at most 2 clients are tracked


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.10", "::", "example.com", "10.0.0.1"])
def test_beyond_loopback_needs_a_long_token(host: str) -> None:
    beyond = f"the admin API listens on {host}, beyond loopback"
    for token, message in [
        (None, f"{beyond}: set {TOKEN_NAMES} (at least 32 random characters)"),
        ("", f"{beyond}: set {TOKEN_NAMES} (at least 32 random characters)"),
        ("a" * 31, f"{beyond}: the admin token must be at least 32 characters"),
    ]:
        with pytest.raises(AdminTokenError) as info:
            check_token_config(token, host)
        assert isinstance(info.value, ConfigError)
        assert str(info.value) == message  # the token itself never shown
    assert check_token_config("a" * 32, host) == []


@pytest.mark.parametrize("host", ["127.0.0.1", "127.8.9.10", "::1", "[::1]", "localhost"])
def test_loopback_starts_without_a_token_but_warns(host: str) -> None:
    assert check_token_config(None, host) == [
        f"no admin token ({TOKEN_NAMES}): every route but /healthz answers 401"
    ]
    assert check_token_config("short", host) == [
        "admin token is shorter than 32 characters (accepted on loopback only)"
    ]
    assert check_token_config(TOKEN, host) == []


PLACEHOLDER = (
    f"{TOKEN_NAMES} is a placeholder value: set a random token, e.g. "
    "python -c 'import secrets; print(secrets.token_hex(32))'"
)
UNPRINTABLE = f"{TOKEN_NAMES} must be printable ASCII without spaces"


@pytest.mark.parametrize(
    ("token", "message"),
    [
        ("your-admin-token-here", PLACEHOLDER),
        ("CHANGEME", PLACEHOLDER),
        ("with space " + "a" * 40, UNPRINTABLE),
        ("tab\t" + "a" * 40, UNPRINTABLE),
        ("é" * 40, UNPRINTABLE),
    ],
)
def test_placeholder_and_unprintable_tokens_are_refused_everywhere(
    token: str, message: str
) -> None:
    for host in ("127.0.0.1", "0.0.0.0"):
        with pytest.raises(AdminTokenError) as info:
            check_token_config(token, host)
        assert str(info.value) == message


def test_token_from_env_prefers_justo_name() -> None:
    assert token_from_env({"JUSTO_ADMIN_TOKEN": "a", "BULL_BOARD_ACCESS_TOKEN": "b"}) == "a"
    assert token_from_env({"JUSTO_ADMIN_TOKEN": "", "BULL_BOARD_ACCESS_TOKEN": "b"}) == "b"
    assert token_from_env({}) is None


async def test_huge_header_is_refused_without_effect(
    api: httpx.AsyncClient, redis: Redis, settings: Settings
) -> None:
    queue = Queue(redis, "sync", prefix=settings.prefix)
    try:
        response = await api.post(
            "/api/admin/workers",
            json={"action": "pause"},
            headers={"Authorization": f"Bearer {TOKEN}{'a' * 1_000_000}"},
        )
    except httpx.TransportError:
        pass  # the server may close the connection on a header over its 16 KiB limit
    else:
        assert 400 <= response.status_code < 500
    assert not await queue.is_paused()
    assert (await api.get("/api/admin/workers", headers=AUTH)).status_code == 200
