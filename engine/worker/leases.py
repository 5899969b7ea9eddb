"""The worker side of a queue: fetch, finish, renew, release and reap leased jobs.

These wrap the lease scripts with typed arguments. The ``*_call`` builders return script
calls a worker can batch, so its acks, progress updates and next fetch share one round trip.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

from engine.queue.queue import Queue
from engine.scripts import Call

OutcomeKind = Literal["c", "C", "r", "f"]
"""``c`` completed, ``C`` completed and deleted at once, ``r`` retry later, ``f`` failed."""

MAX_PROMOTE = 1000
"""Delayed jobs promoted per fetch call at most."""


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
    """The result of one try of a leased job."""

    id: str
    token: str
    kind: OutcomeKind
    value: str = ""
    traceback: str = ""
    run_ms: int = 0
    wait_ms: int = 0
    delay_ms: int = 0


@dataclass(frozen=True)
class ReapResult:
    """Jobs the reaper recovered: put back to waiting, or failed after too many stalls."""

    requeued: int
    failed: int
    ids: list[str]


def fetch_call(queue: Queue, now: int, limit: int, worker_id: str, alone_ok: bool = True) -> Call:
    """The ``fetch`` script call: lease up to ``limit`` jobs (parse with ``parse_fetch``).

    ``alone_ok``: the caller runs nothing now, so it may take a quarantined job (alone).
    """
    k = queue.keys
    keys = [
        k.priorities,
        k.delayed,
        k.active,
        k.paused,
        k.fence,
        k.notify,
        k.failed,
        k.id_counter,
        k.events,
    ]
    args = [
        k.job_prefix,
        k.wait_prefix,
        now,
        limit,
        queue.options.lease_ms,
        worker_id,
        MAX_PROMOTE,
        queue.options.events_max,
        "1" if alone_ok else "0",
    ]
    return ("fetch", keys, args)


def parse_fetch(reply: list[Any]) -> FetchResult:
    """Map a ``fetch`` script reply to a ``FetchResult``."""
    paused, next_due, count, held = (int(x) for x in reply[:4])
    jobs = []
    for i in range(count):
        f = reply[4 + i * 8 : 12 + i * 8]
        opts = _options(f[6])
        jobs.append(
            Leased(
                f[0].decode(),
                str(int(f[1])),
                f[2].decode("utf-8", "replace"),
                f[3],
                int(f[4]),
                int(f[5]),
                opts,
                int(f[7]),
            )
        )
    return FetchResult(jobs, bool(paused), next_due if next_due >= 0 else None, bool(held))


def _options(raw: bytes) -> dict[str, Any]:
    if not raw:
        return {}
    try:
        value = json.loads(raw)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def finish_call(queue: Queue, now: int, outcomes: list[Outcome]) -> Call:
    """The ``finish`` script call; its reply lists the ids whose lease was lost."""
    k, o = queue.keys, queue.options
    packed = json.dumps(
        [
            [
                out.id,
                out.token,
                out.kind,
                out.value,
                out.traceback,
                out.run_ms,
                out.wait_ms,
                out.delay_ms,
            ]
            for out in outcomes
        ],
        ensure_ascii=False,
        separators=(",", ":"),
    )
    args: list[Any] = [
        k.job_prefix,
        k.wait_prefix,
        k.log_prefix,
        k.metrics_prefix,
        now,
        o.keep_completed,
        o.keep_failed,
        o.metrics_horizon_s,
        o.events_max,
        packed,
    ]
    keys = [k.active, k.completed, k.failed, k.delayed, k.priorities, k.notify, k.events]
    return ("finish", keys, args)


def update_call(queue: Queue, job_id: str, token: str, kind: str, value: str) -> Call:
    """The ``update_job`` call: progress (``kind="progress"``) or a log line (``"log"``)."""
    k = queue.keys
    return (
        "update_job",
        [k.job(job_id), k.job_logs(job_id)],
        [token, kind, value, queue.options.max_log_lines],
    )


async def fetch(queue: Queue, now: int, limit: int, worker_id: str) -> FetchResult:
    """Lease up to ``limit`` jobs."""
    return parse_fetch(await queue.scripts.call(*fetch_call(queue, now, limit, worker_id)))


async def finish(queue: Queue, now: int, outcomes: list[Outcome]) -> list[str]:
    """Record outcomes; returns the ids whose lease was lost."""
    reply = await queue.scripts.call(*finish_call(queue, now, outcomes))
    return [r.decode() for r in reply]


async def renew(queue: Queue, now: int, held: list[tuple[str, str]]) -> list[str]:
    """Extend the leases in ``held`` (id, token). Returns the ids whose lease was lost."""
    if not held:
        return []
    args: list[Any] = [queue.keys.job_prefix, now + queue.options.lease_ms]
    for job_id, token in held:
        args += [job_id, token]
    reply = await queue.scripts.call("renew", [queue.keys.active], args)
    return [r.decode() for r in reply]


async def release(queue: Queue, held: list[tuple[str, str]]) -> int:
    """Give leased jobs back to the head of their waiting list. Returns how many."""
    if not held:
        return 0
    k = queue.keys
    args: list[Any] = [k.job_prefix, k.wait_prefix]
    for job_id, token in held:
        args += [job_id, token]
    return int(await queue.scripts.call("release", [k.active, k.priorities, k.notify], args))


async def reap(queue: Queue, now: int, limit: int = 1000) -> ReapResult:
    """Recover jobs whose lease expired before ``now``."""
    k, o = queue.keys, queue.options
    reply = await queue.scripts.call(
        "reap",
        [k.active, k.failed, k.priorities, k.notify, k.events],
        [k.job_prefix, k.wait_prefix, now, o.max_stalls, limit, o.events_max],
    )
    return ReapResult(int(reply[0]), int(reply[1]), [r.decode() for r in reply[2:]])
