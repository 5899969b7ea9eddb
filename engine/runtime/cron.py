"""Recurring job definitions and their ticks (croniter, explicit time zone).

Five-field expressions are classic cron (minute first). Six fields add seconds **first**,
as in Bull/BullMQ's cron-parser: ``*/5 * * * * *`` is every five seconds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from croniter import croniter

from engine.errors import ConfigError


@dataclass(frozen=True)
class CronJob:
    """A job enqueued on a schedule.

    Args:
        name: the schedule's name (unique; part of each tick's job id).
        queue: the queue the job goes to.
        job: the job name (selects the handler).
        cron: 5-field cron, or 6 fields with seconds first.
        data: the job data (JSON).
    """

    name: str
    queue: str
    job: str
    cron: str
    data: Any = field(default=None, hash=False, compare=False)

    def __post_init__(self) -> None:
        if not self.name or ":" in self.name:
            raise ConfigError(f"recurring job name must be non-empty without ':': {self.name!r}")
        fields = len(self.cron.split())
        if fields not in (5, 6) or not croniter.is_valid(
            self.cron, second_at_beginning=fields == 6
        ):
            raise ConfigError(f"recurring job {self.name!r}: invalid cron {self.cron!r}")

    @property
    def has_seconds(self) -> bool:
        """Whether the expression has a seconds field."""
        return len(self.cron.split()) == 6

    def _iter(self, at: float, zone: ZoneInfo) -> croniter:
        return croniter(
            self.cron, datetime.fromtimestamp(at, zone), second_at_beginning=self.has_seconds
        )

    @property
    def every_hour(self) -> bool:
        """Whether the hour field is a wildcard (``*``, ``*/2``): such a job follows real
        hours, so both passes through a repeated wall-clock hour are ticks."""
        return self.cron.split()[2 if self.has_seconds else 1].startswith("*")

    def _repeat(self, tick: float, zone: ZoneInfo) -> bool:
        """A tick on the second pass through a repeated wall-clock hour (autumn DST) of a
        job pinned to an hour: its wall-clock time already fired an hour earlier."""
        return datetime.fromtimestamp(tick, zone).fold == 1 and not self.every_hour

    def next_tick(self, after: float, zone: ZoneInfo) -> float:
        """The first tick strictly after ``after`` (epoch seconds). A wall-clock time that
        happens twice fires once; one that never happens (spring DST) fires once at the
        next valid time, as croniter gives it."""
        ticks = self._iter(after, zone)
        tick = float(ticks.get_next(float))
        while self._repeat(tick, zone):
            tick = float(ticks.get_next(float))
        return tick

    def prev_tick(self, at: float, zone: ZoneInfo) -> float:
        """The latest tick at or before ``at`` (epoch seconds)."""
        if self.next_tick(at - 1e-3, zone) <= at:
            return self.next_tick(at - 1e-3, zone)
        ticks = self._iter(at, zone)
        tick = float(ticks.get_prev(float))
        while self._repeat(tick, zone):
            tick = float(ticks.get_prev(float))
        return tick

    def period_s(self, zone: ZoneInfo, at: float) -> float:
        """Seconds between the two ticks after ``at`` (for claim TTLs)."""
        first = self.next_tick(at, zone)
        return self.next_tick(first, zone) - first

    def job_id(self, tick: float) -> str:
        """The deterministic id of the job for one tick."""
        return f"cron:{self.name}:{int(tick)}"
