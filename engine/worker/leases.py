"""The worker side of a queue: fetch, finish, renew, release and reap leased jobs.

Thin typed entry points over the queue's lease scripts (``Queue.lua``). The ``*_call``
builders return script calls a worker can batch, so its acks, progress updates and next
fetch share one round trip.
"""

from __future__ import annotations

from collections.abc import Sequence

from engine.queue.queue import Queue
from engine.scripts import Call
from engine.scripts.queue_scripts import MAX_PROMOTE
from engine.scripts.replies import (
    FetchResult,
    Leased,
    Outcome,
    OutcomeKind,
    ReapResult,
    parse_fetch,
    parse_ids,
)

__all__ = [
    "MAX_PROMOTE",
    "FetchResult",
    "Leased",
    "Outcome",
    "OutcomeKind",
    "ReapResult",
    "fetch",
    "fetch_call",
    "finish",
    "finish_call",
    "parse_fetch",
    "parse_ids",
    "reap",
    "release",
    "renew",
    "update_call",
]


def fetch_call(
    queue: Queue,
    now: int,
    limit: int,
    worker_id: str,
    alone_ok: bool = True,
    request_id: str | None = None,
) -> Call:
    """The ``fetch`` script call: lease up to ``limit`` jobs (parse with ``parse_fetch``).

    ``alone_ok``: the caller runs nothing now, so it may take a quarantined job (alone).
    ``request_id``: reuse it to retry a fetch whose reply was lost (see ``fetch.lua``).
    """
    return queue.lua.fetch_call(now, limit, worker_id, alone_ok, request_id=request_id)


def finish_call(queue: Queue, now: int, outcomes: Sequence[Outcome]) -> Call:
    """The ``finish`` script call; its reply lists the ids whose lease was lost."""
    return queue.lua.finish_call(now, outcomes)


def update_call(queue: Queue, job_id: str, token: str, kind: str, value: str) -> Call:
    """The ``update_job`` call: progress (``kind="progress"``) or a log line (``"log"``)."""
    return queue.lua.update_job_call(job_id, token, kind, value)


async def fetch(
    queue: Queue, now: int, limit: int, worker_id: str, request_id: str | None = None
) -> FetchResult:
    """Lease up to ``limit`` jobs; a retry with the same ``request_id`` leases no more."""
    return await queue.lua.fetch(now, limit, worker_id, request_id)


async def finish(queue: Queue, now: int, outcomes: Sequence[Outcome]) -> list[str]:
    """Record outcomes; returns the ids whose lease was lost."""
    return await queue.lua.finish(now, outcomes)


async def renew(queue: Queue, now: int, held: Sequence[tuple[str, str]]) -> list[str]:
    """Extend the leases in ``held`` (id, token). Returns the ids whose lease was lost."""
    if not held:
        return []
    return await queue.lua.renew(now + queue.options.lease_ms, held)


async def release(queue: Queue, held: Sequence[tuple[str, str]]) -> int:
    """Give leased jobs back to the head of their waiting list. Returns how many."""
    return await queue.lua.release(held) if held else 0


async def reap(queue: Queue, now: int, limit: int = 1000) -> ReapResult:
    """Recover jobs whose lease expired before ``now``."""
    return await queue.lua.reap(now, limit)
