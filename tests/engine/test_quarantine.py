"""Quarantine at script level (README "Quarantine"; ``fetch.lua`` ARGV[9]).

A job reclaimed from a dead worker (its lease expired and ``reap`` put it back) is only
leased alone, to a caller running nothing (``alone_ok``, ARGV[9] = "1"). Every call is
built by the engine's own builders (``Queue.lua.fetch_call`` / ``Queue.lua.reap``) and run
against the real Redis with explicit times, so nothing sleeps.
"""

from __future__ import annotations

from redis.asyncio import Redis

from engine.queue.queue import Queue
from engine.scripts.replies import FetchResult, OutcomeKind, parse_fetch
from tests.conftest import QueueFactory
from tests.engine.script_helpers import T0, Row, add, finish_one, items, lease_one, text_fields

URGENT = 0
"""Priority of the innocent jobs that run before the poison job's priority level."""

NORMAL = 10
"""Priority of the poison job (and the jobs queued behind it)."""


async def fetch(q: Queue, now: int, limit: int, worker: str, *, alone_ok: bool) -> FetchResult:
    """One ``fetch`` built by the engine's own call builder, with ``alone_ok`` explicit."""
    reply = await q.scripts.call(*q.lua.fetch_call(now, limit, worker, alone_ok=alone_ok))
    return parse_fetch(reply)


async def reclaim_poison(redis: Redis, q: Queue) -> int:
    """Lease ``poison`` to a worker that then dies; reap it once its lease expired.

    Returns the time (ms) just after the reap.
    """
    await add(q, T0, Row(id="poison", prio=NORMAL))
    leased = await lease_one(q, T0, worker="dead-worker")
    assert leased.id == "poison" and leased.stalls == 0
    after_expiry = T0 + q.options.lease_ms + 1
    reaped = await q.lua.reap(after_expiry, 100)
    assert (reaped.requeued, reaped.failed, reaped.ids) == (1, 0, ["poison"])
    job = await text_fields(redis, q.keys.job("poison"))
    assert (job["state"], job["stl"], job["lost"]) == ("waiting", "1", "dead-worker")
    return after_expiry


async def test_reclaimed_job_is_leased_only_alone_to_a_caller_running_nothing(
    redis: Redis, make_queue: QueueFactory
) -> None:
    """Promise: after ``reap``, a busy caller (``alone_ok=False``) gets the other jobs but
    never the quarantined one, which it reports as ``held``; an idle caller
    (``alone_ok=True``) asking for 5 gets the quarantined job and nothing else."""
    q = make_queue()
    now = await reclaim_poison(redis, q)
    await add(q, now, Row(id="a", prio=URGENT), Row(id="b", prio=URGENT))
    await add(q, now, Row(id="c", prio=NORMAL), Row(id="d", prio=NORMAL))
    assert await items(redis, q.keys.wait(NORMAL)) == ["poison", "c", "d"]

    # A caller running something asks for 5: it gets the innocent jobs before the poison
    # job, and the script reports that a quarantined job is waiting for an idle worker.
    busy = await fetch(q, now + 1, 5, "busy-worker", alone_ok=False)
    assert [j.id for j in busy.jobs] == ["a", "b"]
    assert busy.held
    assert await items(redis, q.keys.wait(NORMAL)) == ["poison", "c", "d"]

    # The poison job now heads the queue: a busy caller gets nothing at all (not even the
    # jobs behind it), and is told why.
    blocked = await fetch(q, now + 2, 5, "busy-worker", alone_ok=False)
    assert blocked.jobs == [] and blocked.held
    assert (await text_fields(redis, q.keys.job("poison")))["state"] == "waiting"

    # A caller running nothing asks for 5 and gets the quarantined job alone.
    idle = await fetch(q, now + 3, 5, "idle-worker", alone_ok=True)
    assert [(j.id, j.stalls, j.attempts_made) for j in idle.jobs] == [("poison", 1, 2)]
    assert await items(redis, q.keys.wait(NORMAL)) == ["c", "d"]
    job = await text_fields(redis, q.keys.job("poison"))
    assert (job["state"], job["wk"]) == ("active", "idle-worker")

    # Once it is done, the jobs behind it are leased together again as usual.
    assert await finish_one(q, now + 4, idle.jobs[0], OutcomeKind.COMPLETED) == []
    rest = await fetch(q, now + 5, 5, "busy-worker", alone_ok=False)
    assert [j.id for j in rest.jobs] == ["c", "d"] and not rest.held


async def test_idle_caller_never_gets_the_quarantined_job_beside_another(
    redis: Redis, make_queue: QueueFactory
) -> None:
    """Promise: "only leased alone" holds within one fetch too: an idle caller whose fetch
    already took an innocent job does not get the quarantined job in the same batch."""
    q = make_queue()
    now = await reclaim_poison(redis, q)
    await add(q, now, Row(id="a", prio=URGENT))

    first = await fetch(q, now + 1, 5, "idle-worker", alone_ok=True)
    assert [j.id for j in first.jobs] == ["a"]
    assert first.held
    assert await items(redis, q.keys.wait(NORMAL)) == ["poison"]
