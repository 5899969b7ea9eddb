"""When a report schedule runs: pure functions over wall-clock time in the schedule's zone.

A schedule's *slots* are the instants it is meant to run: a local date chosen by its
frequency, at its local time of day, in its time zone.

- ``DAILY``: every day.
- ``WEEKLY``: every ``day_of_week`` (0 = Sunday … 6 = Saturday).
- ``BIWEEKLY``: every 14 days counted from an *anchor* (the previous run's slot); without
  one, the weekly slots (the first run then anchors the series).
- ``MONTHLY``: every month on ``day_of_month``, clamped to the month's last day (31 is
  28 or 29 February, 30 April, ...).
- ``QUARTERLY`` / ``YEARLY``: like monthly, every 3 / 12 months from the anchor.

Across daylight-saving changes the local time is kept: a time that does not exist that
day (spring forward) moves forward by the gap, a time that occurs twice (fall back) is
its first occurrence. Every returned instant is an aware UTC ``datetime``.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from justo.db.models import ReportFrequency

SPAN_DAYS = {
    ReportFrequency.DAILY: 1,
    ReportFrequency.WEEKLY: 7,
    ReportFrequency.BIWEEKLY: 14,
    ReportFrequency.MONTHLY: 31,
    ReportFrequency.QUARTERLY: 92,
    ReportFrequency.YEARLY: 366,
}
"""The longest gap between two slots of each frequency, in days."""

MONTH_STEP = {ReportFrequency.MONTHLY: 1, ReportFrequency.QUARTERLY: 3, ReportFrequency.YEARLY: 12}
"""Months between two slots of the month-based frequencies."""

BIWEEKLY_DAYS = 14


class RecurrenceError(ValueError):
    """A schedule's recurrence cannot be used (unknown frequency or zone, bad time); a
    retry cannot fix it (``retryable = False``, honoured by the engine)."""

    retryable = False


@dataclass(frozen=True)
class Recurrence:
    """The recurrence rule of a report schedule.

    Attributes:
        frequency: how often.
        at: the local time of day.
        tz: the schedule's time zone.
        day_of_week: 0 = Sunday … 6 = Saturday (weekly and unanchored biweekly).
        day_of_month: 1–31, clamped to each month's length (month-based frequencies).
    """

    frequency: ReportFrequency
    at: time
    tz: ZoneInfo
    day_of_week: int = 0
    day_of_month: int = 1

    @classmethod
    def parse(
        cls,
        frequency: str,
        at: str,
        timezone: str,
        day_of_week: int | None = None,
        day_of_month: int | None = None,
    ) -> Recurrence:
        """A rule from a schedule's columns; missing days default to Sunday and the 1st
        (the original worker's weekly and monthly slots).

        Raises:
            RecurrenceError: unknown frequency or time zone, time not ``HH:MM``, or a day
                out of range.
        """
        try:
            freq = ReportFrequency(frequency)
        except ValueError as exc:
            raise RecurrenceError(f"unknown report frequency {frequency!r}") from exc
        weekday = 0 if day_of_week is None else day_of_week
        monthday = 1 if day_of_month is None else day_of_month
        if not 0 <= weekday <= 6:
            raise RecurrenceError(f"day_of_week must be 0-6, not {weekday}")
        if not 1 <= monthday <= 31:
            raise RecurrenceError(f"day_of_month must be 1-31, not {monthday}")
        return cls(freq, parse_time(at), parse_zone(timezone), weekday, monthday)

    @property
    def iso_weekday(self) -> int:
        """``day_of_week`` as Python's ``date.weekday()`` (Monday = 0)."""
        return (self.day_of_week + 6) % 7


def parse_time(text: str) -> time:
    """``"HH:MM"`` as a ``time``.

    Raises:
        RecurrenceError: not a valid ``HH:MM``.
    """
    hours, sep, minutes = text.partition(":")
    if not (
        sep
        and len(hours) == len(minutes) == 2
        and hours.isdigit()
        and minutes.isdigit()
        and int(hours) < 24
        and int(minutes) < 60
    ):
        raise RecurrenceError(f"time must be HH:MM, not {text!r}")
    return time(int(hours), int(minutes))


def parse_zone(name: str) -> ZoneInfo:
    """The IANA time zone ``name``.

    Raises:
        RecurrenceError: no such zone.
    """
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise RecurrenceError(f"unknown time zone {name!r}") from exc


def localize(day: date, at: time, tz: ZoneInfo) -> datetime:
    """The UTC instant of wall-clock ``at`` on ``day`` in ``tz``.

    A nonexistent local time (spring forward) is moved forward by the gap; an ambiguous one
    (fall back) is the first occurrence (PEP 495 ``fold=0``).
    """
    return datetime.combine(day, at, tzinfo=tz).astimezone(UTC)


def local_date(instant: datetime, tz: ZoneInfo) -> date:
    """The date in ``tz`` at ``instant`` (an aware datetime)."""
    return instant.astimezone(tz).date()


def slot_dates(rule: Recurrence, start: date, anchor: date | None = None) -> Iterator[date]:
    """The local dates of ``rule``'s slots on or after ``start``, ascending, without end.

    Args:
        rule: the recurrence.
        start: the first date that may be returned.
        anchor: the local date of a known slot; phases biweekly, quarterly and yearly.
    """
    frequency = rule.frequency
    if frequency is ReportFrequency.DAILY:
        return _every(start, 1)
    if frequency is ReportFrequency.WEEKLY or (
        frequency is ReportFrequency.BIWEEKLY and anchor is None
    ):
        return _every(start + timedelta(days=(rule.iso_weekday - start.weekday()) % 7), 7)
    if frequency is ReportFrequency.BIWEEKLY:
        assert anchor is not None
        offset = (anchor - start).days % BIWEEKLY_DAYS
        return _every(start + timedelta(days=offset), BIWEEKLY_DAYS)
    step = MONTH_STEP[frequency] if anchor is not None else 1
    return _months(rule.day_of_month, start, step, anchor)


def _every(first: date, days: int) -> Iterator[date]:
    current = first
    while True:
        yield current
        current += timedelta(days=days)


def _months(day_of_month: int, start: date, step: int, anchor: date | None) -> Iterator[date]:
    index = start.year * 12 + start.month - 1
    if anchor is not None:
        index += (anchor.year * 12 + anchor.month - 1 - index) % step
    while True:
        year, month0 = divmod(index, 12)
        day = clamp_day(year, month0 + 1, day_of_month)
        if day >= start:
            yield day
        index += step


def clamp_day(year: int, month: int, day_of_month: int) -> date:
    """``day_of_month`` of that month, or the month's last day when it is shorter."""
    return date(year, month, min(day_of_month, calendar.monthrange(year, month)[1]))


def next_slot(rule: Recurrence, after: datetime, anchor: datetime | None = None) -> datetime:
    """The first slot strictly after ``after``.

    Args:
        rule: the recurrence.
        after: an aware instant.
        anchor: a known slot (the previous run's); biweekly counts 14 days from it,
            quarterly and yearly 3 and 12 months.
    """
    anchor_day = None if anchor is None else local_date(anchor, rule.tz)
    start = local_date(after, rule.tz) - timedelta(days=1)
    for day in slot_dates(rule, start, anchor_day):
        instant = localize(day, rule.at, rule.tz)
        if instant > after:
            return instant
    raise AssertionError("unreachable: slot_dates never ends")  # pragma: no cover


def previous_slot(rule: Recurrence, at: datetime, anchor: datetime | None = None) -> datetime:
    """The latest slot at or before ``at`` (the period a run at ``at`` reports on).

    Args:
        rule: the recurrence.
        at: an aware instant.
        anchor: a known slot, as for ``next_slot`` (it may lie after ``at``).
    """
    anchor_day = None if anchor is None else local_date(anchor, rule.tz)
    start = local_date(at, rule.tz) - timedelta(days=SPAN_DAYS[rule.frequency] + 2)
    latest: datetime | None = None
    for day in slot_dates(rule, start, anchor_day):
        instant = localize(day, rule.at, rule.tz)
        if instant > at:
            break
        latest = instant
    assert latest is not None, "the search starts more than one period back"
    return latest


def period_key(rule: Recurrence, slot: datetime) -> str:
    """The key of the period that ``slot`` closes: its local date, ISO (``2026-04-05``)."""
    return local_date(slot, rule.tz).isoformat()
