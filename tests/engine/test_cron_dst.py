"""Cron across daylight-saving changes (issue 12, class 10): a wall-clock time that happens
twice (autumn) fires once; one that does not happen (spring) fires once at the next valid
time; expressions on every hour keep firing every real hour."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from engine.runtime.cron import CronJob

BERLIN = ZoneInfo("Europe/Berlin")


def ticks(job: CronJob, start: datetime, count: int) -> list[str]:
    out, at = [], start.timestamp()
    for _ in range(count):
        at = job.next_tick(at, BERLIN)
        out.append(datetime.fromtimestamp(at, BERLIN).isoformat())
    return out


def test_a_daily_job_in_the_repeated_hour_fires_once() -> None:
    daily = CronJob("d", "q", "t", "30 2 * * *")
    assert ticks(daily, datetime(2026, 10, 24, 12, tzinfo=BERLIN), 3) == [
        "2026-10-25T02:30:00+02:00",
        "2026-10-26T02:30:00+01:00",
        "2026-10-27T02:30:00+01:00",
    ]


def test_a_daily_job_in_the_skipped_hour_fires_once_at_the_next_valid_time() -> None:
    daily = CronJob("d", "q", "t", "30 2 * * *")
    assert ticks(daily, datetime(2026, 3, 28, 12, tzinfo=BERLIN), 2) == [
        "2026-03-29T03:00:00+02:00",
        "2026-03-30T02:30:00+02:00",
    ]


def test_an_hourly_job_fires_every_real_hour_through_the_change() -> None:
    hourly = CronJob("h", "q", "t", "0 * * * *")
    assert ticks(hourly, datetime(2026, 10, 25, 1, 30, tzinfo=BERLIN), 3) == [
        "2026-10-25T02:00:00+02:00",
        "2026-10-25T02:00:00+01:00",
        "2026-10-25T03:00:00+01:00",
    ]


def test_the_latest_tick_before_the_repeat_is_the_first_occurrence() -> None:
    daily = CronJob("d", "q", "t", "30 2 * * *")
    after_both = datetime(2026, 10, 25, 2, 45, fold=1, tzinfo=BERLIN).timestamp()
    latest = datetime.fromtimestamp(daily.prev_tick(after_both, BERLIN), BERLIN)
    assert latest.isoformat() == "2026-10-25T02:30:00+02:00"
