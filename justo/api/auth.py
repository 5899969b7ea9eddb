"""Bearer-token authentication of the admin API.

* The token comes from ``JUSTO_ADMIN_TOKEN`` or ``BULL_BOARD_ACCESS_TOKEN`` (the original's
  name). ``check_token_config`` refuses to start without one, or with one under 32
  characters, when the server is bound beyond loopback; a placeholder token (the
  original's ``your-admin-token-here`` …) is refused everywhere. On loopback a missing
  token starts the server, but every route except ``/healthz`` answers 401: nothing is
  ever open without a token.
* Comparison is constant-time by construction: ``hmac.compare_digest`` on the SHA-256
  digests of the presented and expected tokens, so neither the position of the first
  wrong byte nor the length is observable, and the comparison runs even when no header
  was sent.
* Every failure (no header, empty, wrong scheme, wrong token, malformed, several headers,
  a token in the query string) gets the same 401 body and headers. A token in the query
  string is refused even when it is right (URLs end up in logs and browser history).
* After ``max_failures`` failures in ``window_s`` seconds from one client IP, that client
  gets 429 with ``Retry-After`` until its failures age out.
* Failures are logged as ``auth failed from <ip>``: the presented value never is.
"""

from __future__ import annotations

import collections
import hashlib
import hmac
import ipaddress
import json
import logging
import math
import secrets
import time
from collections.abc import Callable, Mapping
from urllib.parse import parse_qsl

from starlette.types import ASGIApp, Receive, Scope, Send

from engine.errors import ConfigError

log = logging.getLogger("justo.api")

TOKEN_ENV_VARS = ("JUSTO_ADMIN_TOKEN", "BULL_BOARD_ACCESS_TOKEN")
"""Where the admin token is read from, first set wins."""

MIN_TOKEN_LENGTH = 32
"""Shortest token accepted when the server is reachable beyond loopback."""

PLACEHOLDER_TOKENS = frozenset(
    {
        "your-admin-token-here",
        "changeme",
        "change-me",
        "admin",
        "password",
        "secret",
        "token",
        "test",
    }
)
"""Example values that must never be a real token (compared lower-cased)."""

QUERY_TOKEN_PARAMS = frozenset(
    {
        "token",
        "access_token",
        "accesstoken",
        "auth",
        "authorization",
        "bearer",
        "api_key",
        "apikey",
        "key",
        "jwt",
        "admin_token",
        "password",
    }
)
"""Query parameters that look like a credential: their presence fails authentication."""

OPEN_PATHS = frozenset({"/healthz"})
"""Paths served without a token."""

UNAUTHORIZED_BODY = json.dumps({"error": "unauthorized"}, separators=(",", ":")).encode()
"""The one body of every 401."""

UNAUTHORIZED_HEADERS = [
    (b"content-type", b"application/json"),
    (b"content-length", str(len(UNAUTHORIZED_BODY)).encode()),
    (b"www-authenticate", b'Bearer realm="justo-admin"'),
    (b"cache-control", b"no-store"),
]
"""The one header set of every 401."""


class AdminTokenError(ConfigError):
    """The admin token is missing, too short or a placeholder for where the API listens."""

    title = "Unsafe admin token"


def token_from_env(env: Mapping[str, str]) -> str | None:
    """The configured admin token (``JUSTO_ADMIN_TOKEN``, else ``BULL_BOARD_ACCESS_TOKEN``),
    or ``None`` when neither is set to a non-empty value."""
    for name in TOKEN_ENV_VARS:
        value = env.get(name)
        if value:
            return value
    return None


def is_loopback(host: str) -> bool:
    """Whether ``host`` (an address or ``localhost``) is reachable from this machine only."""
    name = host.strip().strip("[]").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False  # a host name other than localhost may resolve anywhere


def check_token_config(token: str | None, host: str) -> list[str]:
    """Refuse an unsafe token for a server bound to ``host``; return warnings to log.

    Raises:
        AdminTokenError: a placeholder token or one with whitespace or control characters
            (anywhere); no token, or one shorter than ``MIN_TOKEN_LENGTH``, beyond loopback.
    """
    names = " or ".join(TOKEN_ENV_VARS)
    if token is not None:
        if token.strip().lower() in PLACEHOLDER_TOKENS:
            raise AdminTokenError(
                f"{names} is a placeholder value: set a random token, e.g. "
                "python -c 'import secrets; print(secrets.token_hex(32))'"
            )
        if not token.isascii() or not token.isprintable() or any(c.isspace() for c in token):
            raise AdminTokenError(f"{names} must be printable ASCII without spaces")
    if is_loopback(host):
        if not token:
            return [f"no admin token ({names}): every route but /healthz answers 401"]
        if len(token) < MIN_TOKEN_LENGTH:
            return [
                f"admin token is shorter than {MIN_TOKEN_LENGTH} characters "
                "(accepted on loopback only)"
            ]
        return []
    if not token:
        raise AdminTokenError(
            f"the admin API listens on {host}, beyond loopback: set {names} "
            f"(at least {MIN_TOKEN_LENGTH} random characters)"
        )
    if len(token) < MIN_TOKEN_LENGTH:
        raise AdminTokenError(
            f"the admin API listens on {host}, beyond loopback: the admin "
            f"token must be at least {MIN_TOKEN_LENGTH} characters"
        )
    return []


def _digest(value: bytes) -> bytes:
    return hashlib.sha256(value).digest()


def parse_bearer(header: bytes | None) -> bytes | None:
    """The credential of an ``Authorization: Bearer <token>`` value, or ``None`` when the
    header is missing, empty, of another scheme or malformed."""
    if not header:
        return None
    scheme, _, credential = header.partition(b" ")
    credential = credential.lstrip(b" ")
    if scheme.lower() != b"bearer" or not credential or any(c in credential for c in b" \t"):
        return None
    return credential


class TokenCheck:
    """Compares presented credentials with the expected token in constant time.

    Args:
        token: the expected token; ``None`` or empty: nothing ever matches.
    """

    def __init__(self, token: str | None) -> None:
        self.configured = bool(token)
        expected = token.encode() if token else secrets.token_bytes(32)
        self._expected = _digest(expected)

    def verify(self, header: bytes | None) -> bool:
        """Whether an ``Authorization`` header value carries the expected token.

        The digest comparison runs whatever the header holds, missing included.
        """
        presented = parse_bearer(header)
        match = hmac.compare_digest(_digest(presented or b""), self._expected)
        return match and presented is not None and self.configured


class FailureLimiter:
    """Counts authentication failures per client, in memory, over a sliding window.

    Args:
        max_failures: failures within ``window_s`` after which the client is refused.
        window_s: how long a failure counts.
        clock: monotonic seconds (injectable for tests).
        max_clients: clients tracked at most (the least recently failing are forgotten).
    """

    def __init__(
        self,
        max_failures: int = 10,
        window_s: float = 60.0,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_clients: int = 10_000,
    ) -> None:
        self.max_failures = max_failures
        self.window_s = window_s
        self.clock = clock
        self.max_clients = max_clients
        self._failures: collections.OrderedDict[str, collections.deque[float]] = (
            collections.OrderedDict()
        )

    def _recent(self, client: str, now: float) -> collections.deque[float]:
        times = self._failures.get(client)
        if times is None:
            return collections.deque()
        while times and now - times[0] >= self.window_s:
            times.popleft()
        if not times:
            del self._failures[client]
        return times

    def retry_after(self, client: str) -> float:
        """Seconds until ``client`` may try again (0 when it may now)."""
        now = self.clock()
        times = self._recent(client, now)
        if len(times) < self.max_failures:
            return 0.0
        return max(0.0, self.window_s - (now - times[-self.max_failures]))

    def record(self, client: str) -> None:
        """Count one failure of ``client``."""
        now = self.clock()
        times = self._recent(client, now)
        times.append(now)
        self._failures[client] = times
        self._failures.move_to_end(client)
        while len(self._failures) > self.max_clients:
            self._failures.popitem(last=False)


def query_has_credential(query_string: bytes) -> bool:
    """Whether the query string carries a parameter named like a credential."""
    text = query_string.decode("latin-1")
    return any(
        name.lower().replace("-", "_") in QUERY_TOKEN_PARAMS
        for name, _ in parse_qsl(text, keep_blank_values=True)
    )


class AuthMiddleware:
    """ASGI middleware: every HTTP request but ``OPEN_PATHS`` needs the bearer token.

    Args:
        app: the application to protect.
        check: the token comparison.
        limiter: per-client failure counting.
    """

    def __init__(self, app: ASGIApp, check: TokenCheck, limiter: FailureLimiter) -> None:
        self.app = app
        self.check = check
        self.limiter = limiter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in OPEN_PATHS:
            await self.app(scope, receive, send)
            return
        client = scope["client"][0] if scope.get("client") else "unknown"
        wait = self.limiter.retry_after(client)
        if wait > 0:
            await _too_many(send, wait)
            return
        if not self._authorized(scope):
            self.limiter.record(client)
            log.warning("auth failed from %s", client)
            await send(
                {"type": "http.response.start", "status": 401, "headers": UNAUTHORIZED_HEADERS}
            )
            await send({"type": "http.response.body", "body": UNAUTHORIZED_BODY})
            return
        await self.app(scope, receive, send)

    def _authorized(self, scope: Scope) -> bool:
        headers = [value for name, value in scope["headers"] if name.lower() == b"authorization"]
        header = headers[0] if len(headers) == 1 else None
        ok = self.check.verify(header)  # always compared, even when refused below
        return ok and not query_has_credential(scope.get("query_string", b""))


async def _too_many(send: Send, wait: float) -> None:
    body = json.dumps({"error": "too many failed attempts"}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 429,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"retry-after", str(max(1, math.ceil(wait))).encode()),
                (b"cache-control", b"no-store"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
