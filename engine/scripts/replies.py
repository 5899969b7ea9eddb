"""What the scripts take and answer, as typed values: the one place their replies are
parsed (``parse_*``), and the outcome rows ``finish`` reads."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

log = logging.getLogger(__name__)


class OutcomeKind(StrEnum):
    """How one try ended, as ``finish.lua`` reads it (its wire code)."""

    COMPLETED = "c"
    COMPLETED_DELETE = "C"
    """Completed, and the job record deleted at once (``retention=0``)."""
    RETRY = "r"
    FAILED = "f"


@dataclass(frozen=True)
class Enqueued:
    """What ``add`` returns: the job id, and whether this call created it (``False`` when a
    job with the client-chosen id already existed and was left as it was)."""

    id: str
    created: bool


@dataclass(frozen=True)
class QueueCounts:
    """Jobs per state of one queue, and whether it is paused."""

    waiting: int
    delayed: int
    active: int
    completed: int
    failed: int
    paused: bool


@dataclass(frozen=True)
class Leased:
    """A job a worker holds a lease on."""

    id: str
    token: str
    name: str
    raw_data: bytes
    ready_ms: int
    attempts_made: int
    options: dict[str, Any]
    stalls: int


@dataclass(frozen=True)
class FetchResult:
    """What ``fetch`` returns: the leased jobs, whether the queue is paused, when the
    next delayed job is due (epoch ms, or ``None``), and whether a quarantined job (one
    reclaimed from a dead worker) is waiting for a worker that runs nothing else."""

    jobs: list[Leased]
    paused: bool
    next_due_ms: int | None
    held: bool = False


@dataclass(frozen=True)
class Outcome:
    """The result of one try of a leased job (a row of ``finish``'s ARGV[10])."""

    id: str
    token: str
    kind: OutcomeKind
    value: str = ""
    traceback: str = ""
    run_ms: int = 0
    wait_ms: int = 0
    delay_ms: int = 0

    def row(self) -> list[Any]:
        """The 8-element array ``finish.lua`` reads."""
        return [
            self.id,
            self.token,
            self.kind.value,
            self.value,
            self.traceback,
            self.run_ms,
            self.wait_ms,
            self.delay_ms,
        ]


@dataclass(frozen=True)
class ReapResult:
    """Jobs the reaper recovered: put back to waiting, or failed after too many stalls."""

    requeued: int
    failed: int
    ids: list[str]


def parse_enqueued(replies: list[Any]) -> list[Enqueued]:
    """``add`` replies (one per call): pairs of id and created flag."""
    out: list[Enqueued] = []
    for reply in replies:
        for i in range(0, len(reply), 2):
            out.append(Enqueued(reply[i].decode(), bool(reply[i + 1])))
    return out


def parse_counts(reply: list[int]) -> QueueCounts:
    """A ``counts`` reply: waiting, delayed, active, completed, failed, paused."""
    waiting, delayed, active, completed, failed, paused = (int(x) for x in reply)
    return QueueCounts(waiting, delayed, active, completed, failed, bool(paused))


def parse_fetch(reply: list[Any]) -> FetchResult:
    """A ``fetch`` reply: paused, next due, count, held, then 8 fields per leased job."""
    paused, next_due, count, held = (int(x) for x in reply[:4])
    jobs = []
    for i in range(count):
        f = reply[4 + i * 8 : 12 + i * 8]
        jobs.append(
            Leased(
                f[0].decode(),
                str(int(f[1])),
                f[2].decode("utf-8", "replace"),
                f[3],
                int(f[4]),
                int(f[5]),
                _options(f[6], f[0]),
                int(f[7]),
            )
        )
    return FetchResult(jobs, bool(paused), next_due if next_due >= 0 else None, bool(held))


def _options(raw: bytes, job_id: bytes) -> dict[str, Any]:
    """A job's stored options; unreadable ones (not a JSON object) count as none, so the
    queue's defaults apply, and the log says so: the job still runs."""
    if not raw:
        return {}
    try:
        value = json.loads(raw)
    except ValueError:
        value = None
    if isinstance(value, dict):
        return value
    log.warning(
        "job %s: its stored options are not a JSON object; the queue's defaults apply",
        job_id.decode("utf-8", "replace"),
    )
    return {}


def parse_ids(reply: list[bytes]) -> list[str]:
    """A list of job ids (``finish`` and ``renew``: the ids whose lease was lost)."""
    return [r.decode() for r in reply]


def parse_reap(reply: list[Any]) -> ReapResult:
    """A ``reap`` reply: requeued, failed, then the ids."""
    return ReapResult(int(reply[0]), int(reply[1]), parse_ids(reply[2:]))
