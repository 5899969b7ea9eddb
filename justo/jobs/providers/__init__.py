"""Court-data providers: Judit, Codilo (fallback) and the demo sandbox.

Each client implements ``justo.jobs.lawsuit.LawsuitProvider`` (``name``, ``async
fetch(cnj) -> Lawsuit``), validates the CNJ before any request, waits on a shared Redis
rate limiter before every request, retries 408/429/5xx itself and raises only the
``ProviderError`` tree. ``ProviderChain`` tries them in order.

``providers_from_env`` builds the configured real providers; the demo sandbox
(``demo.DemoProvider``) is never built from the environment: wire it explicitly.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from redis.asyncio import Redis

from engine.keys import DEFAULT_PREFIX, rate_limit_key
from justo.jobs.lawsuit import LawsuitProvider
from justo.jobs.providers.codilo import CodiloClient
from justo.jobs.providers.demo import (
    DEMO_LABEL,
    DemoProvider,
    DemoServer,
    demo_provider,
    demo_server,
)
from justo.jobs.providers.fallback import ProviderChain
from justo.jobs.providers.judit import JuditClient
from justo.jobs.providers.ratelimit import Limiter, RateLimiter
from justo.jobs.providers.transport import RetryPolicy, parse_retry_after

__all__ = [
    "DEMO_LABEL",
    "CodiloClient",
    "DemoProvider",
    "DemoServer",
    "JuditClient",
    "Limiter",
    "ProviderChain",
    "RateLimiter",
    "RetryPolicy",
    "demo_provider",
    "demo_server",
    "parse_retry_after",
    "providers_from_env",
    "rate_limit_key",
]


def providers_from_env(
    env: Mapping[str, str],
    *,
    redis: Redis | None = None,
    prefix: str = DEFAULT_PREFIX,
    **options: Any,
) -> list[LawsuitProvider]:
    """The real providers configured in ``env``, Judit first: [] when none is.

    Judit needs ``JUDIT_API_KEY``; Codilo needs ``CODILO_CLIENT_ID`` and
    ``CODILO_CLIENT_SECRET``. With ``redis``, each gets a ``RateLimiter`` on
    ``rate_limit_key(<name>, prefix)`` (180 requests / 60 s). ``options`` go to both
    constructors (http, retry, clock, sleep, …).
    """
    found: list[LawsuitProvider] = []
    if env.get("JUDIT_API_KEY", "").strip():
        found.append(JuditClient.from_env(env, limiter=_limiter(redis, "judit", prefix), **options))
    if env.get("CODILO_CLIENT_ID", "").strip() and env.get("CODILO_CLIENT_SECRET", "").strip():
        found.append(
            CodiloClient.from_env(env, limiter=_limiter(redis, "codilo", prefix), **options)
        )
    return found


def _limiter(redis: Redis | None, name: str, prefix: str) -> RateLimiter | None:
    return RateLimiter(redis, rate_limit_key(name, prefix)) if redis is not None else None
