"""State-changing scripts are safe to run twice (issue 12, class 7).

When a connection drops after Redis ran a script, the client cannot tell whether it ran and
sends it again (redis-py retries connection errors; the worker retries its round trip).
Each call carries a request id; a second run with the same id answers what the first did
and writes nothing: one ``add`` creates its jobs once, one ``fetch`` leases its jobs once,
and a repeated ``finish`` is not mistaken for a lost lease.
"""

from __future__ import annotations

from redis.asyncio import Redis

from engine.scripts.replies import OutcomeKind, parse_enqueued, parse_fetch
from engine.worker import leases
from tests.conftest import QueueFactory
from tests.engine.script_helpers import T0, Row, counts, finish_one, lease


def _rows(*rows: Row) -> list[tuple[str, str, str, int, int, str]]:
    return [(r.id, r.name, r.data, r.prio, r.delay, r.opts) for r in rows]


async def test_a_replayed_add_creates_its_jobs_once(make_queue: QueueFactory) -> None:
    q = make_queue()
    call = q.lua.add_call(_rows(Row(name="a"), Row(name="b", delay=5000)), T0, request_id="r1")
    first = parse_enqueued([await q.scripts.call(*call)])
    again = parse_enqueued([await q.scripts.call(*call)])
    assert again == first
    assert all(e.created for e in first)
    assert await counts(q) == [1, 1, 0, 0, 0, 0]


async def test_a_replayed_add_of_a_claimed_cron_tick_still_answers_created(
    make_queue: QueueFactory,
) -> None:
    """The claimer's replay must not read as "another supervisor claimed it"."""
    q = make_queue()
    call = q.lua.add_call(_rows(Row(name="tick")), T0, ("cron:x:1", 60, "me"), request_id="r2")
    first = parse_enqueued([await q.scripts.call(*call)])
    again = parse_enqueued([await q.scripts.call(*call)])
    assert again == first and len(first) == 1
    assert await counts(q) == [1, 0, 0, 0, 0, 0]


async def test_a_different_request_still_adds(make_queue: QueueFactory) -> None:
    q = make_queue()
    for request_id in ("r1", "r2"):
        await q.scripts.call(*q.lua.add_call(_rows(Row(name="a")), T0, request_id=request_id))
    assert (await counts(q))[0] == 2


async def test_a_replayed_fetch_answers_the_same_leases_and_leases_no_more(
    make_queue: QueueFactory,
) -> None:
    q = make_queue()
    await q.lua.add(_rows(*(Row(name=f"j{i}") for i in range(5))), T0)
    call = leases.fetch_call(q, T0, 2, "w1", request_id="f1")
    first = parse_fetch(await q.scripts.call(*call))
    again = parse_fetch(await q.scripts.call(*call))
    assert [(j.id, j.token, j.attempts_made) for j in again.jobs] == [
        (j.id, j.token, j.attempts_made) for j in first.jobs
    ]
    assert len(first.jobs) == 2
    assert await counts(q) == [3, 0, 2, 0, 0, 0]


async def test_a_replayed_fetch_leaves_out_jobs_no_longer_held(make_queue: QueueFactory) -> None:
    """Between the lost reply and the retry the lease may have been taken back (reaped):
    the replay answers only what the caller still holds."""
    q = make_queue(lease_ms=1000)
    await q.lua.add(_rows(Row(name="a"), Row(name="b")), T0)
    call = leases.fetch_call(q, T0, 2, "w1", request_id="f2")
    first = parse_fetch(await q.scripts.call(*call))
    reaped = await leases.reap(q, T0 + 5000)
    assert sorted(reaped.ids) == sorted(j.id for j in first.jobs)
    again = parse_fetch(await q.scripts.call(*call))
    assert again.jobs == []


async def test_a_replayed_finish_is_not_a_lost_lease(make_queue: QueueFactory) -> None:
    q = make_queue()
    await q.lua.add(_rows(Row(name="a")), T0)
    (job,) = await lease(q, T0)
    assert await finish_one(q, T0 + 1, job, OutcomeKind.COMPLETED) == []
    assert await finish_one(q, T0 + 1, job, OutcomeKind.COMPLETED) == []
    assert await counts(q) == [0, 0, 0, 1, 0, 0]


async def test_a_stale_worker_finish_is_still_rejected(make_queue: QueueFactory) -> None:
    """The replay rule does not let an older lease's outcome through."""
    q = make_queue(lease_ms=1000)
    await q.lua.add(_rows(Row(name="a")), T0)
    (old,) = await lease(q, T0)
    await leases.reap(q, T0 + 5000)
    (new,) = await lease(q, T0 + 5001, worker="w2")
    assert await finish_one(q, T0 + 5002, new, OutcomeKind.COMPLETED) == []
    assert await finish_one(q, T0 + 5003, old, OutcomeKind.FAILED, "late") == [old.id]
    assert await counts(q) == [0, 0, 0, 1, 0, 0]


async def test_replay_records_expire(redis: Redis, make_queue: QueueFactory) -> None:
    """The records that make replays safe are temporary: they never pile up."""
    q = make_queue()
    await q.scripts.call(*q.lua.add_call(_rows(Row(name="a")), T0, request_id="r9"))
    ttl_ms = await redis.pttl(q.keys.replay("r9"))
    assert ttl_ms > 0  # expires: never kept for good
