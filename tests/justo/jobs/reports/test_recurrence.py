"""Recurrence of report schedules: weekly, biweekly, monthly (and daily, quarterly, yearly)
in the schedule's zone, across month ends, leap years and daylight-saving changes."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from justo.db.models import ReportFrequency
from justo.jobs.reports.recurrence import (
    Recurrence,
    RecurrenceError,
    clamp_day,
    localize,
    next_slot,
    period_key,
    previous_slot,
)

SP = "America/Sao_Paulo"
NY = "America/New_York"
LISBON = "Europe/Lisbon"


def rule(
    frequency: str, at: str = "23:00", tz: str = SP, dow: int | None = None, dom: int | None = None
) -> Recurrence:
    return Recurrence.parse(frequency, at, tz, dow, dom)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def local(
    tz: str, year: int, month: int, day: int, hour: int, minute: int, *, fold: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=ZoneInfo(tz), fold=fold)


def series(
    r: Recurrence, after: datetime, count: int, anchor: datetime | None = None
) -> list[datetime]:
    """``count`` consecutive slots after ``after``, each anchoring the next (as the worker
    does: the previous run's slot)."""
    out = []
    for _ in range(count):
        after = next_slot(r, after, anchor)
        anchor = after
        out.append(after)
    return out


def local_strings(slots: list[datetime], tz: str) -> list[str]:
    return [s.astimezone(ZoneInfo(tz)).strftime("%Y-%m-%d %H:%M %Z") for s in slots]


# --- parsing ----------------------------------------------------------------------------


def test_parse_defaults_to_sunday_and_the_first() -> None:
    r = rule("WEEKLY")
    assert (r.frequency, r.at, r.tz.key, r.day_of_week, r.day_of_month) == (
        ReportFrequency.WEEKLY,
        time(23, 0),
        SP,
        0,
        1,
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("HOURLY", "23:00", SP, None, None), "unknown report frequency"),
        (("WEEKLY", "23:00", "Mars/Olympus", None, None), "unknown time zone"),
        (("WEEKLY", "23:00", "../etc/passwd", None, None), "unknown time zone"),
        (("WEEKLY", "24:00", SP, None, None), "HH:MM"),
        (("WEEKLY", "9:30", SP, None, None), "HH:MM"),
        (("WEEKLY", "23:00", SP, 7, None), "day_of_week"),
        (("MONTHLY", "23:00", SP, None, 0), "day_of_month"),
        (("MONTHLY", "23:00", SP, None, 32), "day_of_month"),
    ],
)
def test_parse_rejects_bad_values(
    args: tuple[str, str, str, int | None, int | None], message: str
) -> None:
    with pytest.raises(RecurrenceError, match=message):
        Recurrence.parse(*args)


# --- weekly -----------------------------------------------------------------------------


def test_weekly_is_the_next_sunday_2300_in_sao_paulo() -> None:
    r = rule("WEEKLY")  # Sunday 23:00, UTC-3 all year (no DST since 2019)
    wednesday = local(SP, 2026, 4, 1, 10, 0)
    assert next_slot(r, wednesday) == utc(2026, 4, 6, 2, 0) == local(SP, 2026, 4, 5, 23, 0)


def test_weekly_is_strictly_after_a_slot() -> None:
    r = rule("WEEKLY")
    slot = local(SP, 2026, 4, 5, 23, 0)
    assert next_slot(r, slot) == local(SP, 2026, 4, 12, 23, 0)
    assert next_slot(r, slot - timedelta(microseconds=1)) == slot


@pytest.mark.parametrize(
    ("dow", "expected_day"), [(0, 5), (1, 6), (2, 7), (3, 1), (4, 2), (5, 3), (6, 4)]
)
def test_weekly_day_of_week_zero_is_sunday(dow: int, expected_day: int) -> None:
    # From Wednesday 2026-04-01 00:00: Sun 5th, Mon 6th, ..., Wed 1st 09:00 (later today).
    r = rule("WEEKLY", at="09:00", dow=dow)
    found = next_slot(r, local(SP, 2026, 4, 1, 0, 0)).astimezone(ZoneInfo(SP))
    assert found.day == expected_day and found.hour == 9
    assert (found.isoweekday() % 7) == dow


def test_sao_paulo_has_no_dst_any_more() -> None:
    # Until 2019 Brazil moved clocks in November and February; now it is UTC-3 all year.
    slots = series(rule("WEEKLY"), local(SP, 2026, 10, 20, 0, 0), 20)
    assert {s.astimezone(UTC).time() for s in slots} == {time(2, 0)}


def test_weekly_keeps_local_time_across_new_york_spring_forward() -> None:
    # 2026-03-08 02:00 EST -> 03:00 EDT.
    r = rule("WEEKLY", at="09:00", tz=NY)
    slots = series(r, local(NY, 2026, 2, 25, 0, 0), 3)
    assert local_strings(slots, NY) == [
        "2026-03-01 09:00 EST",
        "2026-03-08 09:00 EDT",
        "2026-03-15 09:00 EDT",
    ]
    assert [s.astimezone(UTC).hour for s in slots] == [14, 13, 13]
    assert slots[1] - slots[0] == timedelta(days=7, hours=-1)


def test_weekly_keeps_local_time_across_lisbon_fall_back() -> None:
    # 2026-10-25 02:00 WEST -> 01:00 WET.
    r = rule("WEEKLY", tz=LISBON)
    slots = series(r, local(LISBON, 2026, 10, 14, 0, 0), 3)
    assert local_strings(slots, LISBON) == [
        "2026-10-18 23:00 WEST",
        "2026-10-25 23:00 WET",
        "2026-11-01 23:00 WET",
    ]
    assert [s.astimezone(UTC).hour for s in slots] == [22, 23, 23]


# --- daily and DST edge times -----------------------------------------------------------


def test_daily_slot_in_the_spring_forward_gap_moves_forward_by_the_gap() -> None:
    # 02:30 does not exist in New York on 2026-03-08: it becomes 03:30 EDT (07:30 UTC).
    r = rule("DAILY", at="02:30", tz=NY)
    slots = series(r, local(NY, 2026, 3, 7, 0, 0), 3)
    assert local_strings(slots, NY) == [
        "2026-03-07 02:30 EST",
        "2026-03-08 03:30 EDT",
        "2026-03-09 02:30 EDT",
    ]
    assert [s.astimezone(UTC).strftime("%H:%M") for s in slots] == ["07:30", "07:30", "06:30"]
    assert period_key(r, slots[1]) == "2026-03-08"


def test_daily_slot_in_the_fall_back_overlap_is_the_first_occurrence() -> None:
    # 01:30 happens twice in New York on 2026-11-01 (EDT, then EST): the first is used.
    r = rule("DAILY", at="01:30", tz=NY)
    slot = next_slot(r, local(NY, 2026, 11, 1, 0, 0))
    assert slot == utc(2026, 11, 1, 5, 30)
    assert local_strings([slot], NY) == ["2026-11-01 01:30 EDT"]
    # The second 01:30 (EST) is after the slot: the next one is the following day.
    second = local(NY, 2026, 11, 1, 1, 30, fold=1)
    assert second.astimezone(UTC) == utc(2026, 11, 1, 6, 30)
    assert next_slot(r, second) == local(NY, 2026, 11, 2, 1, 30)
    assert previous_slot(r, second) == slot


def test_daily_previous_slot_is_today_or_yesterday() -> None:
    r = rule("DAILY", at="08:00")
    assert previous_slot(r, local(SP, 2026, 4, 2, 8, 0)) == local(SP, 2026, 4, 2, 8, 0)
    assert previous_slot(r, local(SP, 2026, 4, 2, 7, 59)) == local(SP, 2026, 4, 1, 8, 0)


# --- monthly ----------------------------------------------------------------------------


def test_monthly_31_clamps_to_each_months_last_day() -> None:
    r = rule("MONTHLY", dom=31)
    slots = series(r, local(SP, 2026, 1, 1, 0, 0), 13)
    assert [s.astimezone(ZoneInfo(SP)).date() for s in slots] == [
        date(2026, 1, 31),
        date(2026, 2, 28),
        date(2026, 3, 31),
        date(2026, 4, 30),
        date(2026, 5, 31),
        date(2026, 6, 30),
        date(2026, 7, 31),
        date(2026, 8, 31),
        date(2026, 9, 30),
        date(2026, 10, 31),
        date(2026, 11, 30),
        date(2026, 12, 31),
        date(2027, 1, 31),
    ]
    assert {s.astimezone(ZoneInfo(SP)).time() for s in slots} == {time(23, 0)}


@pytest.mark.parametrize(
    ("year", "dom", "expected"),
    [
        (2024, 31, 29),
        (2024, 30, 29),
        (2024, 29, 29),
        (2025, 29, 28),
        (2100, 29, 28),
        (2000, 30, 29),
    ],
)
def test_monthly_february_in_leap_and_common_years(year: int, dom: int, expected: int) -> None:
    r = rule("MONTHLY", dom=dom)
    slot = next_slot(r, local(SP, year, 2, 1, 0, 0))
    assert slot == local(SP, year, 2, expected, 23, 0)


def test_monthly_after_a_clamped_slot_goes_back_to_the_day() -> None:
    r = rule("MONTHLY", dom=30)
    feb = local(SP, 2026, 2, 28, 23, 0)
    assert next_slot(r, feb, anchor=feb) == local(SP, 2026, 3, 30, 23, 0)


def test_monthly_slot_at_2300_belongs_to_its_local_day_not_the_utc_day() -> None:
    r = rule("MONTHLY", dom=31)
    slot = next_slot(r, local(SP, 2026, 1, 15, 0, 0))
    assert slot == utc(2026, 2, 1, 2, 0)  # already February in UTC
    assert period_key(r, slot) == "2026-01-31"


def test_monthly_over_the_year_end() -> None:
    r = rule("MONTHLY", at="00:00", dom=1)
    assert next_slot(r, local(SP, 2026, 12, 1, 0, 0)) == local(SP, 2027, 1, 1, 0, 0)
    assert previous_slot(r, local(SP, 2027, 1, 1, 0, 0) - timedelta(seconds=1)) == local(
        SP, 2026, 12, 1, 0, 0
    )


def test_monthly_keeps_local_time_across_dst() -> None:
    r = rule("MONTHLY", at="10:00", tz=NY, dom=15)
    slots = series(r, local(NY, 2026, 2, 1, 0, 0), 2)
    assert local_strings(slots, NY) == ["2026-02-15 10:00 EST", "2026-03-15 10:00 EDT"]
    assert [s.astimezone(UTC).hour for s in slots] == [15, 14]


def test_monthly_previous_slot_on_the_first_of_march_is_the_last_of_february() -> None:
    r = rule("MONTHLY", dom=31)
    assert previous_slot(r, local(SP, 2026, 3, 1, 12, 0)) == local(SP, 2026, 2, 28, 23, 0)
    assert previous_slot(r, local(SP, 2024, 3, 1, 12, 0)) == local(SP, 2024, 2, 29, 23, 0)


# --- biweekly ---------------------------------------------------------------------------


def test_biweekly_is_fourteen_days_after_the_previous_slot() -> None:
    r = rule("BIWEEKLY")
    anchor = local(SP, 2026, 4, 5, 23, 0)
    assert next_slot(r, anchor, anchor) == local(SP, 2026, 4, 19, 23, 0)
    # Not the Sunday in between.
    assert next_slot(r, local(SP, 2026, 4, 10, 0, 0), anchor) == local(SP, 2026, 4, 19, 23, 0)


def test_biweekly_without_anchor_starts_on_the_weekday() -> None:
    r = rule("BIWEEKLY", dow=3)  # Wednesday
    assert next_slot(r, local(SP, 2026, 4, 2, 0, 0)) == local(SP, 2026, 4, 8, 23, 0)


def test_biweekly_keeps_its_phase_when_runs_were_missed() -> None:
    r = rule("BIWEEKLY")
    anchor = local(SP, 2026, 4, 5, 23, 0)
    # The worker was down for a month: the next slot is the first of the series after now.
    assert next_slot(r, local(SP, 2026, 5, 6, 0, 0), anchor) == local(SP, 2026, 5, 17, 23, 0)
    # ... and the current period is the latest slot of the series.
    assert previous_slot(r, local(SP, 2026, 5, 6, 0, 0), anchor) == local(SP, 2026, 5, 3, 23, 0)


def test_biweekly_previous_slot_with_an_anchor_in_the_future_steps_back() -> None:
    r = rule("BIWEEKLY")
    upcoming = local(SP, 2026, 4, 19, 23, 0)
    assert previous_slot(r, local(SP, 2026, 4, 12, 23, 30), upcoming) == local(
        SP, 2026, 4, 5, 23, 0
    )


def test_biweekly_keeps_local_time_across_lisbon_spring_forward() -> None:
    # 2026-03-29 01:00 WET -> 02:00 WEST.
    r = rule("BIWEEKLY", tz=LISBON)
    anchor = local(LISBON, 2026, 3, 22, 23, 0)
    slots = series(r, anchor, 2, anchor)
    assert local_strings(slots, LISBON) == ["2026-04-05 23:00 WEST", "2026-04-19 23:00 WEST"]
    assert slots[0] - anchor == timedelta(days=14, hours=-1)


# --- quarterly and yearly ---------------------------------------------------------------


def test_quarterly_and_yearly_step_months_from_the_anchor() -> None:
    quarterly = rule("QUARTERLY", dom=31)
    anchor = local(SP, 2025, 11, 30, 23, 0)  # 31 clamped to 30 November
    assert series(quarterly, anchor, 3, anchor) == [
        local(SP, 2026, 2, 28, 23, 0),
        local(SP, 2026, 5, 31, 23, 0),
        local(SP, 2026, 8, 31, 23, 0),
    ]
    yearly = rule("YEARLY", dom=29)
    leap = local(SP, 2024, 2, 29, 23, 0)
    assert series(yearly, leap, 2, leap) == [
        local(SP, 2025, 2, 28, 23, 0),
        local(SP, 2026, 2, 28, 23, 0),
    ]


# --- helpers and invariants -------------------------------------------------------------


def test_clamp_day() -> None:
    assert clamp_day(2026, 4, 31) == date(2026, 4, 30)
    assert clamp_day(2026, 12, 31) == date(2026, 12, 31)


def test_localize_returns_utc() -> None:
    assert localize(date(2026, 4, 5), time(23, 0), ZoneInfo(SP)) == utc(2026, 4, 6, 2, 0)
    assert localize(date(2026, 4, 5), time(23, 0), ZoneInfo(SP)).tzinfo is UTC


def test_period_key_is_the_local_date_of_the_slot() -> None:
    r = rule("WEEKLY")
    assert period_key(r, utc(2026, 4, 6, 2, 0)) == "2026-04-05"


RULES = [
    rule("DAILY", "02:30", NY),
    rule("DAILY", "01:30", NY),
    rule("WEEKLY", "23:00", SP),
    rule("WEEKLY", "01:30", LISBON, dow=0),
    rule("BIWEEKLY", "09:00", NY, dow=6),
    rule("MONTHLY", "23:00", SP, dom=31),
    rule("MONTHLY", "02:30", NY, dom=8),
    rule("QUARTERLY", "12:00", LISBON, dom=31),
    rule("YEARLY", "00:00", SP, dom=29),
]


@pytest.mark.parametrize("r", RULES, ids=lambda r: f"{r.frequency}-{r.tz.key}-{r.at}")
def test_previous_and_next_slots_bracket_any_instant(r: Recurrence) -> None:
    rng = random.Random(f"{r}")
    start = utc(2023, 1, 1).timestamp()
    for _ in range(300):
        at = datetime.fromtimestamp(start + rng.uniform(0, 5 * 365 * 86400), UTC)
        anchor = previous_slot(r, at)  # a slot of the series, as the worker keeps it
        prev = previous_slot(r, at, anchor)
        nxt = next_slot(r, at, anchor)
        assert prev <= at < nxt
        assert next_slot(r, prev, anchor) == nxt  # nothing in between
        assert previous_slot(r, nxt, anchor) == nxt
        assert prev.astimezone(r.tz).time() == r.at or _in_gap(r, prev)


def _in_gap(r: Recurrence, slot: datetime) -> bool:
    """A nonexistent local time moved forward by the DST gap (an hour here)."""
    local_time = slot.astimezone(r.tz)
    return (local_time - timedelta(hours=1)).time() == r.at
