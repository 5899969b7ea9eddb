"""The cron scheduler on an injected clock: ticks, claims, misfire grace both ways."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from redis.asyncio import Redis

from engine.errors import ConfigError
from engine.runtime.cron import CronJob
from engine.runtime.scheduler import CronScheduler, read_schedules
from tests.conftest import QueueFactory
from tests.support import FakeClock

SP = ZoneInfo("America/Sao_Paulo")
EVERY_MINUTE = CronJob("every-minute", "q", "tick", "* * * * *", {"k": 1})


def at(text: str) -> float:
    """Epoch seconds of a São Paulo wall-clock time."""
    return datetime.fromisoformat(text).replace(tzinfo=SP).timestamp()


def scheduler(
    redis: Redis,
    make_queue: QueueFactory,
    prefix: str,
    clock: FakeClock,
    *,
    grace: float = 60.0,
    owner: str = "a",
    jobs: tuple[CronJob, ...] = (EVERY_MINUTE,),
) -> CronScheduler:
    return CronScheduler(
        redis,
        {"q": make_queue("q")},
        jobs,
        zone=SP,
        prefix=prefix,
        owner=owner,
        misfire_grace_s=grace,
        clock=clock.read,
    )


def test_ticks_follow_the_time_zone() -> None:
    weekly = CronJob("weekly", "q", "t", "0 23 * * 0")
    # Sunday 2026-11-29 23:00 in São Paulo is 02:00 UTC on Monday.
    assert weekly.next_tick(at("2026-11-29T12:00:00"), SP) == at("2026-11-29T23:00:00")
    assert EVERY_MINUTE.prev_tick(at("2026-11-29T10:00:00"), SP) == at("2026-11-29T10:00:00")
    assert EVERY_MINUTE.prev_tick(at("2026-11-29T10:00:59"), SP) == at("2026-11-29T10:00:00")
    seconds = CronJob("s", "q", "t", "*/15 * * * * *")
    assert seconds.next_tick(at("2026-11-29T10:00:01"), SP) == at("2026-11-29T10:00:15")
    assert seconds.job_id(at("2026-11-29T10:00:15")) == f"cron:s:{int(at('2026-11-29T10:00:15'))}"


def test_invalid_cron_is_refused() -> None:
    with pytest.raises(ConfigError, match="invalid cron"):
        CronJob("bad", "q", "t", "61 * * * *")
    with pytest.raises(ConfigError, match="invalid cron"):
        CronJob("bad", "q", "t", "* * *")


async def test_each_tick_enqueued_once_across_schedulers(
    redis: Redis, make_queue: QueueFactory, prefix: str
) -> None:
    clock = FakeClock(at("2026-11-29T10:00:00"))
    a = scheduler(redis, make_queue, prefix, clock, owner="a")
    b = scheduler(redis, make_queue, prefix, clock, owner="b")
    await a.start()
    await b.start()
    for second in (0.0, 0.5, 30.0, 60.0, 61.0, 120.2):
        clock.now = at("2026-11-29T10:00:00") + second
        await a.process(clock.now)
        await b.process(clock.now)
    fired = a.fired + b.fired
    assert sorted(fired) == sorted(
        EVERY_MINUTE.job_id(at("2026-11-29T10:00:00") + s) for s in (0, 60, 120)
    )
    assert (await make_queue("q").counts()).waiting == 3
    [status] = await read_schedules(redis, prefix)
    assert status.last_outcome == "enqueued"
    assert status.last_tick == at("2026-11-29T10:02:00")
    assert status.next_tick == at("2026-11-29T10:03:00")


async def test_missed_tick_within_grace_runs_once(
    redis: Redis, make_queue: QueueFactory, prefix: str
) -> None:
    clock = FakeClock(at("2026-11-29T10:00:00"))
    first = scheduler(redis, make_queue, prefix, clock)
    await first.start()
    await first.process(clock.now)
    # Down from 10:00:10 to 10:05:30: ticks 10:01 … 10:05 passed; 10:05 is 30 s old.
    clock.now = at("2026-11-29T10:05:30")
    second = scheduler(redis, make_queue, prefix, clock, owner="b")
    await second.start()
    await second.process(clock.now)
    await second.process(clock.now + 1)
    assert second.fired == [EVERY_MINUTE.job_id(at("2026-11-29T10:05:00"))]
    assert (await make_queue("q").counts()).waiting == 2


async def test_missed_tick_beyond_grace_is_recorded_not_run(
    redis: Redis, make_queue: QueueFactory, prefix: str
) -> None:
    clock = FakeClock(at("2026-11-29T10:00:00"))
    first = scheduler(redis, make_queue, prefix, clock)
    await first.start()
    await first.process(clock.now)
    clock.now = at("2026-11-29T10:05:30")
    strict = scheduler(redis, make_queue, prefix, clock, grace=10, owner="b")
    await strict.start()
    await strict.process(clock.now)
    assert strict.fired == []
    [status] = await read_schedules(redis, prefix)
    assert (status.last_outcome, status.missed) == ("missed", 1)
    assert status.last_tick == at("2026-11-29T10:05:00")
    # The next tick runs normally.
    clock.now = at("2026-11-29T10:06:00.5")
    await strict.process(clock.now)
    assert strict.fired == [EVERY_MINUTE.job_id(at("2026-11-29T10:06:00"))]


async def test_grace_zero_never_catches_up(
    redis: Redis, make_queue: QueueFactory, prefix: str
) -> None:
    clock = FakeClock(at("2026-11-29T10:00:00"))
    first = scheduler(redis, make_queue, prefix, clock, grace=0)
    await first.start()
    await first.process(clock.now)
    clock.now = at("2026-11-29T10:03:01")
    await first.process(clock.now)
    assert first.fired == [EVERY_MINUTE.job_id(at("2026-11-29T10:00:00"))]


async def test_first_start_does_not_run_old_ticks(
    redis: Redis, make_queue: QueueFactory, prefix: str
) -> None:
    clock = FakeClock(at("2026-11-29T10:00:45"))
    fresh = scheduler(redis, make_queue, prefix, clock, grace=10)
    await fresh.start()
    await fresh.process(clock.now)
    assert fresh.fired == []
    [status] = await read_schedules(redis, prefix)
    assert status.last_outcome == "" and status.next_tick == at("2026-11-29T10:01:00")


async def test_backward_clock_step_does_not_refire(
    redis: Redis, make_queue: QueueFactory, prefix: str
) -> None:
    clock = FakeClock(at("2026-11-29T10:00:00"))
    s = scheduler(redis, make_queue, prefix, clock)
    await s.start()
    await s.process(clock.now)
    await s.process(at("2026-11-29T09:00:00"))
    await s.process(at("2026-11-29T10:00:30"))
    assert s.fired == [EVERY_MINUTE.job_id(at("2026-11-29T10:00:00"))]
