"""HTTP plumbing shared by the provider clients: rate limiting, retries, error mapping.

Every request first waits on the shared rate limiter, then is sent; 408/429/5xx answers are
retried here with exponential backoff, honouring ``Retry-After`` (seconds or an HTTP date),
within a bounded number of attempts and total wait. Other answers are mapped onto the
``ProviderError`` tree by ``Transport.check``. Credentials are redacted from every message.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from justo.jobs.lawsuit import (
    InvalidCnjError,
    LawsuitNotFoundError,
    ProviderAuthError,
    ProviderError,
    TransientProviderError,
)
from justo.jobs.providers.ratelimit import Clock, Limiter, Sleep

log = logging.getLogger(__name__)

RETRYABLE = frozenset({408, 429, 500, 502, 503, 504})
"""Statuses retried inside the client (any other 5xx is retried too)."""

DEFAULT_TIMEOUT_S = 30.0
"""Per-request timeout of clients the providers create themselves."""


@dataclass(frozen=True)
class RetryPolicy:
    """How a client retries 408/429/5xx answers before raising ``TransientProviderError``."""

    attempts: int = 4
    """Tries in all, the first included."""
    base_delay_s: float = 1.0
    """Backoff before the 2nd try when the server gives no ``Retry-After``; doubles each time."""
    max_delay_s: float = 30.0
    """Longest backoff chosen by the client itself."""
    max_total_wait_s: float = 60.0
    """Never wait longer than this in all; a longer ``Retry-After`` is raised at once."""

    def backoff(self, retry: int) -> float:
        """The wait before retry number ``retry`` (0-based) when the server said nothing."""
        return float(min(self.max_delay_s, self.base_delay_s * 2**retry))


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta seconds or HTTP date).

    Args:
        value: the header, if any.
        now: the current wall-clock time (epoch seconds), for HTTP dates.

    Returns None when absent or unreadable; never negative.
    """
    raw = (value or "").strip()
    if not raw:
        return None
    try:
        seconds = float(raw)
    except ValueError:
        return _seconds_until(raw, now)
    return max(0.0, seconds) if math.isfinite(seconds) else None


def _seconds_until(http_date: str, now: float) -> float | None:
    try:
        when = parsedate_to_datetime(http_date)
    except (TypeError, ValueError, IndexError):
        return None
    return max(0.0, when.timestamp() - now)


def make_http(timeout_s: float = DEFAULT_TIMEOUT_S) -> httpx.AsyncClient:
    """An ``httpx.AsyncClient`` with the providers' timeouts."""
    return httpx.AsyncClient(timeout=httpx.Timeout(timeout_s, connect=min(10.0, timeout_s)))


class Transport:
    """Sends one provider's requests: limiter, retries, error mapping, redaction.

    Args:
        provider: provider name for messages ("judit").
        http: the client requests go through.
        limiter: waited on before every request (also retries); None: no limit.
        retry: retry policy for 408/429/5xx.
        clock: wall-clock seconds (``Retry-After`` dates, budgets).
        sleep: how to wait between retries.
        secrets: returns the strings to hide from every message (keys, tokens).
    """

    def __init__(
        self,
        provider: str,
        http: httpx.AsyncClient,
        *,
        limiter: Limiter | None,
        retry: RetryPolicy,
        clock: Clock,
        sleep: Sleep,
        secrets: Callable[[], Iterable[str]],
    ) -> None:
        self.provider = provider
        self.http = http
        self.limiter = limiter
        self.retry = retry
        self.clock = clock
        self.sleep = sleep
        self._secrets = secrets

    def redact(self, message: str) -> str:
        """``message`` with every secret replaced by ``***``."""
        for secret in self._secrets():
            if secret and len(secret) >= 4:
                message = message.replace(secret, "***")
        return message

    async def send(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        """Send a request, retrying 408/429/5xx; any other answer is returned as is.

        ``kwargs`` go to ``httpx.AsyncClient.request`` (headers, json, params, data).

        Raises:
            TransientProviderError: timeouts, connection errors, or still 408/429/5xx after
                the retry budget (``retry_after`` is the server's ``Retry-After``, if any).
        """
        waited = 0.0
        attempt = 0
        while True:
            attempt += 1
            response = await self._send_once(method, url, **kwargs)
            status = response.status_code
            if status not in RETRYABLE and status < 500:
                return response
            hinted = parse_retry_after(response.headers.get("retry-after"), self.clock())
            delay = hinted if hinted is not None else self.retry.backoff(attempt - 1)
            if attempt >= self.retry.attempts or waited + delay > self.retry.max_total_wait_s:
                raise TransientProviderError(
                    self.redact(
                        f"{self.provider}: HTTP {status} on {method} {_path(url)} "
                        f"after {attempt} attempt(s)"
                    ),
                    retry_after=hinted,
                )
            log.info(
                "%s: HTTP %s on %s %s, retrying in %.1fs",
                self.provider,
                status,
                method,
                _path(url),
                delay,
            )
            await self.sleep(delay)
            waited += delay

    async def _send_once(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        if self.limiter is not None:
            await self.limiter.acquire()
        try:
            return await self.http.request(method, url, **kwargs)
        except httpx.TimeoutException as exc:
            raise TransientProviderError(
                self.redact(
                    f"{self.provider}: {method} {_path(url)} timed out ({type(exc).__name__})"
                )
            ) from exc
        except (httpx.UnsupportedProtocol, httpx.InvalidURL) as exc:
            raise ProviderError(
                self.redact(f"{self.provider}: bad URL for {method} {_path(url)}: {exc}")
            ) from exc
        except httpx.TransportError as exc:
            raise TransientProviderError(
                self.redact(
                    f"{self.provider}: {method} {_path(url)} failed: {type(exc).__name__}: {exc}"
                )
            ) from exc

    def check(self, response: httpx.Response) -> None:
        """Raise the ``ProviderError`` a non-2xx answer stands for.

        422 → ``InvalidCnjError``; 401/403 → ``ProviderAuthError``; 404 →
        ``LawsuitNotFoundError``; any other → ``ProviderError``.
        """
        status = response.status_code
        if 200 <= status < 300:
            return
        where = f"{response.request.method} {_path(str(response.request.url))}"
        detail = self.redact(_error_detail(response))
        suffix = f": {detail}" if detail else ""
        if status == 422:
            raise InvalidCnjError(
                f"{self.provider}: CNJ number rejected, HTTP 422 on {where}{suffix}"
            )
        if status in (401, 403):
            raise ProviderAuthError(
                f"{self.provider}: credentials rejected, HTTP {status} on {where}{suffix}"
            )
        if status == 404:
            raise LawsuitNotFoundError(f"{self.provider}: not found, HTTP 404 on {where}{suffix}")
        raise ProviderError(f"{self.provider}: unexpected HTTP {status} on {where}{suffix}")

    def json(self, response: httpx.Response) -> Mapping[str, Any]:
        """The JSON object of a 2xx answer (after ``check``).

        Raises:
            ProviderError: the body is not a JSON object.
        """
        self.check(response)
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, Mapping):
            raise ProviderError(
                f"{self.provider}: malformed answer to {response.request.method} "
                f"{_path(str(response.request.url))} (not a JSON object)"
            )
        return body


def _path(url: str) -> str:
    try:
        return httpx.URL(url).path
    except httpx.InvalidURL:
        return "(invalid URL)"


def _error_detail(response: httpx.Response) -> str:
    """``name: message`` from ``{"error": {...}}`` or ``{"message": ...}``, shortened."""
    try:
        body = response.json()
    except ValueError:
        return ""
    if not isinstance(body, Mapping):
        return ""
    error = body.get("error")
    source = error if isinstance(error, Mapping) else body
    if isinstance(error, str):
        source = {"message": error}
    parts = [str(source[k]) for k in ("name", "message") if isinstance(source.get(k), str | int)]
    return ": ".join(parts)[:200]
