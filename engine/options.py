"""Job and queue options: attempts, backoff, timeouts, retention and limits."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from typing import Any, Literal

from engine.errors import InvalidJobError

DEFAULT_ATTEMPTS = 3
"""Attempts per job, as the original's default job options."""

DEFAULT_BACKOFF_MS = 2000
"""Base backoff delay, as the original's exponential 2000 ms."""

DEFAULT_PRIORITY = 10
"""Priority of a job that names none. Lower numbers run first; 0 is the most urgent."""

MAX_PRIORITY = 1_000_000
"""Largest accepted priority number."""

DEFAULT_MAX_PAYLOAD = 1024 * 1024
"""Largest accepted serialized job data, in bytes (1 MiB)."""

MAX_JOB_ID = 256
"""Longest client-chosen job id."""

DEFAULT_LEASE_MS = 30_000
"""Lease a worker holds on a job; renewed every third of it."""


@dataclass(frozen=True)
class Backoff:
    """Delay before a failed attempt is retried.

    ``fixed`` waits ``delay_ms`` every time. ``exponential`` waits
    ``delay_ms * 2**(attempt-1)`` with "equal jitter": half of it fixed, half random, so
    retries of many jobs that failed together spread out instead of hammering a
    recovering service at the same instant.
    """

    kind: Literal["fixed", "exponential"] = "exponential"
    delay_ms: int = DEFAULT_BACKOFF_MS
    max_delay_ms: int = 3_600_000

    def __post_init__(self) -> None:
        # Checked here, once, so a backoff a retry could not compute never reaches Redis.
        if self.kind not in ("fixed", "exponential"):
            raise InvalidJobError(f"backoff kind must be fixed or exponential, not {self.kind!r}")
        for name in ("delay_ms", "max_delay_ms"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise InvalidJobError(f"backoff {name} must be a whole number >= 0: {value!r}")

    def delay_for(self, attempt: int, rng: random.Random | None = None) -> int:
        """Milliseconds to wait before retrying after failed attempt number ``attempt``."""
        if self.kind == "fixed":
            return self.delay_ms
        full = min(self.max_delay_ms, self.delay_ms * 2 ** max(0, attempt - 1))
        r = (rng or random).random()
        return int(full / 2 + r * full / 2)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {"kind": self.kind, "delay_ms": self.delay_ms, "max_delay_ms": self.max_delay_ms}

    @classmethod
    def from_json(cls, raw: Any) -> Backoff:
        """Parse what ``to_json`` wrote (or a bare number of ms, meaning fixed)."""
        try:
            if isinstance(raw, int | float) and not isinstance(raw, bool):
                return cls("fixed", _whole_ms(raw))
            if not isinstance(raw, dict):
                raise InvalidJobError(f"invalid backoff: {raw!r}")
            return cls(
                raw.get("kind"),  # type: ignore[arg-type]  # checked by __post_init__
                _whole_ms(raw.get("delay_ms", DEFAULT_BACKOFF_MS)),
                _whole_ms(raw.get("max_delay_ms", 3_600_000)),
            )
        except (TypeError, ValueError, OverflowError) as exc:
            raise InvalidJobError(f"invalid backoff: {raw!r}") from exc


@dataclass(frozen=True)
class QueueOptions:
    """Defaults for every job of one queue, and the queue's limits.

    Jobs may override ``attempts``, ``backoff``, ``timeout_s`` and ``priority``.
    """

    attempts: int = DEFAULT_ATTEMPTS
    backoff: Backoff = field(default_factory=Backoff)
    timeout_s: float | None = 300.0
    priority: int = DEFAULT_PRIORITY
    keep_completed: int = 100
    """Completed jobs kept per queue (-1 keeps all); older ones are deleted."""
    keep_failed: int = 50
    """Failed jobs kept per queue (-1 keeps all)."""
    max_payload: int = DEFAULT_MAX_PAYLOAD
    lease_ms: int = DEFAULT_LEASE_MS
    max_stalls: int = 3
    """A job whose lease expires this many times goes to failed instead of waiting."""
    max_log_lines: int = 200
    """Log lines kept per job."""
    metrics_horizon_s: int = 24 * 3600 + 120
    """How long per-minute metric buckets live."""
    events_max: int = 10_000
    """Approximate length cap of the events stream."""

    def __post_init__(self) -> None:
        check_attempts(self.attempts)
        check_priority(self.priority)


def check_priority(priority: int) -> int:
    """Return ``priority`` if it is an int in [0, MAX_PRIORITY], else raise InvalidJobError."""
    if isinstance(priority, bool) or not isinstance(priority, int):
        raise InvalidJobError(f"priority must be an integer, not {priority!r}")
    if not 0 <= priority <= MAX_PRIORITY:
        raise InvalidJobError(f"priority must be between 0 and {MAX_PRIORITY}, not {priority}")
    return priority


def check_attempts(attempts: int) -> int:
    """Return ``attempts`` if it is an int of at least 1, else raise InvalidJobError."""
    if isinstance(attempts, bool) or not isinstance(attempts, int) or attempts < 1:
        raise InvalidJobError(f"attempts must be at least 1 (a whole number), not {attempts!r}")
    return attempts


def check_seconds(name: str, value: float, *, positive: bool = False) -> float:
    """Return ``value`` if it is a finite number of seconds (> 0 with ``positive``, else
    >= 0), else raise InvalidJobError: NaN would turn a timeout off, infinity would
    overflow a delay."""
    if not _finite(value):
        raise InvalidJobError(f"{name} must be a finite number of seconds, not {value!r}")
    if positive and value <= 0:
        raise InvalidJobError(f"{name} must be positive")
    if value < 0:
        raise InvalidJobError(f"{name} must not be negative")
    return float(value)


def _finite(value: Any) -> bool:
    """A real number (not a bool), neither NaN nor infinite."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _whole_ms(value: Any) -> int:
    if not _finite(value):
        raise ValueError(f"not a number of milliseconds: {value!r}")
    return int(value)


def check_job_id(job_id: str | None) -> str:
    """A client-chosen job id (``""`` for none), or InvalidJobError."""
    if job_id is None:
        return ""
    if not isinstance(job_id, str) or not 1 <= len(job_id) <= MAX_JOB_ID:
        raise InvalidJobError(
            f"job id must be a string of 1 to {MAX_JOB_ID} characters: {job_id!r}"
        )
    if job_id.isdecimal():
        # Generated ids are whole numbers: a client id of that form could name a job the
        # generator made, and be taken for a duplicate of it (BullMQ refuses them too).
        raise InvalidJobError(
            f"job id {job_id!r} is a whole number, the form of generated ids; "
            "add a prefix (e.g. 'order-42')"
        )
    return job_id
