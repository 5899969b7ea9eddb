"""The Redis sliding-window limiter, on the suite's real Redis, with injected time."""

from __future__ import annotations

import pytest
from redis.asyncio import Redis

from justo.jobs.lawsuit import TransientProviderError
from justo.jobs.providers import JuditClient, RateLimiter, RetryPolicy, rate_limit_key
from tests.justo.jobs.fakes import CNJ, FakeClock, FakeJudit, mock_http


def limiters(
    redis: Redis,
    prefix: str,
    clock: FakeClock,
    limit: int = 3,
    window_s: float = 10.0,
    max_wait_s: float = 60.0,
) -> tuple[RateLimiter, RateLimiter]:
    """Two limiters on one key, as two supervisors sharing a Judit key would have."""
    key = rate_limit_key("judit", prefix)
    return tuple(
        RateLimiter(
            redis, key, limit, window_s, max_wait_s=max_wait_s, clock=clock, sleep=clock.sleep
        )
        for _ in range(2)
    )  # type: ignore[return-value]


def test_key_is_under_its_own_hash_tag() -> None:
    assert rate_limit_key("judit", "justo") == "justo:{ratelimit:judit}"


async def test_two_instances_share_one_window(redis: Redis, prefix: str) -> None:
    clock = FakeClock()
    a, b = limiters(redis, prefix, clock)
    assert [await a.try_acquire(), await b.try_acquire(), await a.try_acquire()] == [0, 0, 0]
    clock.now += 4
    assert await b.try_acquire() == pytest.approx(6.0)  # first admission leaves at T0+10
    assert await a.try_acquire() == pytest.approx(6.0)  # refusals are not recorded
    clock.now += 6  # the three T0 admissions leave
    assert [await b.try_acquire(), await a.try_acquire(), await b.try_acquire()] == [0, 0, 0]
    clock.now += 1
    assert await a.try_acquire() == pytest.approx(9.0)
    ttl = await redis.pttl(rate_limit_key("judit", prefix))
    assert 0 < ttl <= 10_000


async def test_at_most_n_per_sliding_window_across_two_limiters(redis: Redis, prefix: str) -> None:
    clock = FakeClock()
    a, b = limiters(redis, prefix, clock, limit=5, window_s=10.0)
    admitted: list[float] = []
    for i in range(23):
        await (a if i % 2 else b).acquire()
        admitted.append(clock.now)
        clock.now += 0.5
    for start in admitted:
        in_window = [t for t in admitted if start <= t < start + 10.0]
        assert len(in_window) <= 5
    assert clock.sleeps, "the limiter should have made callers wait"
    assert sum(clock.sleeps) == pytest.approx(admitted[-1] - admitted[0] - 0.5 * 22)


async def test_gives_up_after_max_wait(redis: Redis, prefix: str) -> None:
    clock = FakeClock()
    a, b = limiters(redis, prefix, clock, limit=1, window_s=60.0, max_wait_s=5.0)
    await a.acquire()
    with pytest.raises(TransientProviderError, match="rate limit 1/60s") as caught:
        await b.acquire()
    assert caught.value.retry_after == pytest.approx(60.0)
    assert clock.sleeps == []


async def test_every_client_request_goes_through_the_limiter(redis: Redis, prefix: str) -> None:
    """A Judit fetch is POST + 2 polls + 1 page = 4 requests. With 2/min, POST and the first
    poll pass at T0; after the 1 s poll interval the second poll waits 59 s, until both T0
    admissions leave the window, and the page request then passes at once."""
    clock = FakeClock()
    limiter = RateLimiter(
        redis,
        rate_limit_key("judit", prefix),
        limit=2,
        window_s=60.0,
        max_wait_s=300.0,
        clock=clock,
        sleep=clock.sleep,
    )
    fake = FakeJudit()
    async with mock_http(fake) as http:
        client = JuditClient(
            "k" * 8,
            http=http,
            limiter=limiter,
            poll_interval_s=1.0,
            retry=RetryPolicy(),
            clock=clock,
            sleep=clock.sleep,
        )
        lawsuit = await client.fetch(CNJ)
    assert lawsuit.cnj == CNJ
    assert len(fake.seen) == 4
    assert clock.sleeps == [1.0, pytest.approx(59.0)]


def test_limit_must_be_positive(redis: Redis) -> None:
    with pytest.raises(ValueError):
        RateLimiter(redis, "k", limit=0)
