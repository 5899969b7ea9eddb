"""Fixtures of the admin API tests: settings under the test's key prefix and a live API."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from redis.asyncio import Redis

from engine.runtime.settings import Settings
from justo import catalog
from justo.api.auth import FailureLimiter
from tests.justo.api.helpers import api_client


@pytest.fixture
def settings(prefix: str, tmp_path: Path) -> Settings:
    """The JustoAI queues under this test's key prefix."""
    return catalog.settings(prefix=prefix, data_dir=tmp_path)


@pytest.fixture
async def api(redis: Redis, settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the live API (admin token ``TOKEN``; failures are not rate-limited)."""
    async with api_client(redis, settings, limiter=FailureLimiter(max_failures=10_000)) as client:
        yield client
