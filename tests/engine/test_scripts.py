"""Direct tests of each Lua script against the real Redis: effects on keys, replies, and
atomicity (no other client ever observes an intermediate state).

Time is simulated: every call passes its own ``now`` (epoch ms), no test sleeps.
"""

from __future__ import annotations

import asyncio
import math
from collections import Counter

from redis.asyncio import Redis

from engine.client import make_client
from engine.queue.queue import JobSpec, Queue
from engine.scripts.replies import OutcomeKind
from engine.worker import leases
from engine.worker.leases import Outcome
from tests.conftest import QueueFactory
from tests.engine.script_helpers import (
    T0,
    Row,
    add,
    clean,
    counts,
    drain,
    events,
    fields,
    finish_one,
    hdel,
    hget,
    hset,
    items,
    lease,
    lease_one,
    llen,
    lpush,
    remove,
    retry_failed,
    rpush,
    scores,
    set_paused,
    text_fields,
    update,
)

# ====================================================================== add


async def test_add_generates_ids_and_writes_waiting_jobs(
    redis: Redis, make_queue: QueueFactory
) -> None:
    q = make_queue()
    k = q.keys
    reply = await add(
        q, T0, Row(name="a", data='{"x":1}'), Row(name="b", data="[1]", opts='{"attempts":5}')
    )
    assert reply == [("1", 1), ("2", 1)]
    assert await redis.get(k.id_counter) == b"2"
    first = await text_fields(redis, k.job("1"))
    assert first == {
        "name": "a",
        "data": '{"x":1}',
        "ts": str(T0),
        "state": "waiting",
        "prio": "10",
        "rt": str(T0),
    }  # no "opts" field when opts is ""
    assert (await text_fields(redis, k.job("2")))["opts"] == '{"attempts":5}'
    assert await items(redis, k.wait(10)) == ["1", "2"]
    assert await scores(redis, k.priorities) == {"10": 10.0}
    assert await redis.zcard(k.delayed) == 0


async def test_add_existing_client_id_is_a_noop_returning_0(
    redis: Redis, make_queue: QueueFactory
) -> None:
    q = make_queue()
    k = q.keys
    assert await add(q, T0, Row(id="ws-7", data='{"v":1}')) == [("ws-7", 1)]
    before = await fields(redis, k.job("ws-7"))
    await redis.delete(k.notify)  # a worker took the wake-up token
    # Again later, with other data, priority and a delay; and twice within one call.
    reply = await add(
        q,
        T0 + 5,
        Row(id="ws-7", data='{"v":2}', prio=0, delay=1000),
        Row(id="ws-7", data='{"v":3}'),
    )
    assert reply == [("ws-7", 0), ("ws-7", 0)]
    assert await fields(redis, k.job("ws-7")) == before
    assert await items(redis, k.wait(10)) == ["ws-7"]
    assert not await redis.exists(k.wait(0))
    assert await redis.zcard(k.delayed) == 0
    assert not await redis.exists(k.id_counter)
    assert await llen(redis, k.notify) == 0  # nothing created, nobody woken


async def test_add_same_client_id_twice_in_one_call_creates_once(
    redis: Redis, make_queue: QueueFactory
) -> None:
    q = make_queue()
    reply = await add(q, T0, Row(id="x", data='"first"'), Row(id="x", data='"second"'))
    assert reply == [("x", 1), ("x", 0)]
    assert await hget(redis, q.keys.job("x"), "data") == b'"first"'
    assert await items(redis, q.keys.wait(10)) == ["x"]


async def test_add_generated_id_skips_taken_numeric_client_ids(
    redis: Redis, make_queue: QueueFactory
) -> None:
    q = make_queue()
    k = q.keys
    assert await add(
        q, T0, Row(id="1", data='"c1"'), Row(id="2", data='"c2"'), Row(id="4", data='"c4"')
    ) == [("1", 1), ("2", 1), ("4", 1)]
    assert await add(q, T0, Row(), Row()) == [("3", 1), ("5", 1)]
    assert await redis.get(k.id_counter) == b"5"
    # The client jobs were not touched.
    for job_id in ("1", "2", "4"):
        assert await hget(redis, k.job(job_id), "data") == f'"c{job_id}"'.encode()
    assert await items(redis, k.wait(10)) == ["1", "2", "4", "3", "5"]


async def test_add_delayed_vs_waiting_placement(redis: Redis, make_queue: QueueFactory) -> None:
    q = make_queue()
    k = q.keys
    [(later, _), (now_id, _)] = await add(q, T0, Row(delay=5000, prio=3), Row(delay=0, prio=3))
    job = await text_fields(redis, k.job(later))
    assert (job["state"], job["rt"], job["ts"], job["prio"]) == (
        "delayed",
        str(T0 + 5000),
        str(T0),
        "3",
    )
    assert await scores(redis, k.delayed) == {later: T0 + 5000}
    assert await items(redis, k.wait(3)) == [now_id]  # the delayed job is in no list
    assert (await text_fields(redis, k.job(now_id)))["state"] == "waiting"
    # A delayed job alone still wakes workers (so they shorten their block to its due time).
    q2 = make_queue("q2")
    await add(q2, T0, Row(delay=10))
    assert await llen(redis, q2.keys.notify) == 1
    assert not await redis.exists(q2.keys.priorities)


async def test_add_priority_lists_and_prios_zset(redis: Redis, make_queue: QueueFactory) -> None:
    q = make_queue()
    k = q.keys
    reply = await add(q, T0, Row(prio=5), Row(prio=0), Row(prio=5), Row(prio=100))
    ids = [i for i, _ in reply]
    assert await items(redis, k.wait(5)) == [ids[0], ids[2]]
    assert await items(redis, k.wait(0)) == [ids[1]]
    assert await items(redis, k.wait(100)) == [ids[3]]
    assert await scores(redis, k.priorities) == {"0": 0.0, "5": 5.0, "100": 100.0}


async def test_add_notify_token_capped_at_one(redis: Redis, make_queue: QueueFactory) -> None:
    q = make_queue()
    for i in range(5):
        await add(q, T0 + i, Row(), Row(delay=100))
    assert await items(redis, q.keys.notify) == ["1"]


# ==================================================================== fetch


async def test_fetch_promotes_due_delayed_jobs_and_returns_next_due(
    redis: Redis, make_queue: QueueFactory
) -> None:
    q = make_queue()
    k = q.keys
    [(soon, _), (late, _)] = await add(q, T0, Row(delay=1000, prio=3), Row(delay=5000))
    early = await leases.fetch(q, T0 + 999, 10, "w1")
    assert (early.jobs, early.paused, early.next_due_ms) == ([], False, T0 + 1000)
    assert await scores(redis, k.delayed) == {soon: T0 + 1000, late: T0 + 5000}

    res = await leases.fetch(q, T0 + 1000, 10, "w1")
    assert [j.id for j in res.jobs] == [soon]
    assert res.jobs[0].ready_ms == T0 + 1000
    assert res.next_due_ms == T0 + 5000
    assert await scores(redis, k.delayed) == {late: T0 + 5000}
    assert (await text_fields(redis, k.job(soon)))["state"] == "active"

    last = await leases.fetch(q, T0 + 10_000, 10, "w1")
    assert [j.id for j in last.jobs] == [late]
    assert last.next_due_ms is None  # -1 on the wire


async def test_fetch_promotes_at_most_max_promote(redis: Redis, make_queue: QueueFactory) -> None:
    q = make_queue()
    k = q.keys
    await add(q, T0, *[Row(delay=10 + i) for i in range(5)])
    reply = await q.scripts.call(*q.lua.fetch_call(T0 + 100, 0, "w1", max_promote=2))
    assert reply[:3] == [0, T0 + 12, 0]  # lease nothing, promote only the 2 oldest
    assert await items(redis, k.wait(10)) == ["1", "2"]
    assert await redis.zcard(k.delayed) == 3


async def test_fetch_respects_pause_but_still_promotes(
    redis: Redis, make_queue: QueueFactory
) -> None:
    q = make_queue()
    k = q.keys
    await add(q, T0, Row(), Row(delay=10), Row(delay=50))
    assert await set_paused(q, True, T0) == 1
    res = await leases.fetch(q, T0 + 10, 10, "w1")
    assert (res.jobs, res.paused, res.next_due_ms) == ([], True, T0 + 50)
    assert await items(redis, k.wait(10)) == ["1", "2"]
    assert (await text_fields(redis, k.job("2")))["state"] == "waiting"
    assert await redis.zcard(k.active) == 0
    assert not await redis.exists(k.fence)
    assert await set_paused(q, False, T0 + 20) == 1
    assert [j.id for j in (await leases.fetch(q, T0 + 20, 10, "w1")).jobs] == ["1", "2"]


async def test_fetch_lowest_priority_number_first(redis: Redis, make_queue: QueueFactory) -> None:
    q = make_queue()
    k = q.keys
    await add(
        q,
        T0,
        Row(id="p10", prio=10),
        Row(id="p0a", prio=0),
        Row(id="p5", prio=5),
        Row(id="p0b", prio=0),
        Row(id="p1000", prio=1000),
    )
    first = await lease(q, T0, 3)
    assert [j.id for j in first] == ["p0a", "p0b", "p5"]
    # Emptied lists are dropped from the priorities zset.
    assert await scores(redis, k.priorities) == {"10": 10.0, "1000": 1000.0}
    assert [j.id for j in await lease(q, T0, 3)] == ["p10", "p1000"]
    assert not await redis.exists(k.priorities)


async def test_fetch_leases_with_tokens_attempts_and_deadline(
    redis: Redis, make_queue: QueueFactory
) -> None:
    q = make_queue(lease_ms=7000)
    k = q.keys
    await add(
        q,
        T0 - 50,
        Row(name="a", data='{"n":1}', opts='{"attempts":4}'),
        Row(name="b"),
        Row(name="c"),
    )
    batch = await lease(q, T0, 2, "worker-A")
    single = await lease(q, T0 + 1, 1, "worker-B")
    tokens = [int(j.token) for j in batch + single]
    assert tokens == sorted(tokens) and len(set(tokens)) == 3
    assert await redis.get(k.fence) == str(tokens[-1]).encode()

    a = batch[0]
    assert (a.id, a.name, a.raw_data, a.ready_ms, a.attempts_made, a.options, a.stalls) == (
        "1",
        "a",
        b'{"n":1}',
        T0 - 50,
        1,
        {"attempts": 4},
        0,
    )
    job = await text_fields(redis, k.job("1"))
    assert (job["state"], job["tok"], job["wk"], job["pt"], job["att"]) == (
        "active",
        a.token,
        "worker-A",
        str(T0),
        "1",
    )
    assert await scores(redis, k.active) == {"1": T0 + 7000, "2": T0 + 7000, "3": T0 + 7001}
    assert (await text_fields(redis, k.job("3")))["wk"] == "worker-B"

    # A later lease of the same job bumps att again and gets a fresh, larger token.
    await hdel(redis, k.job("1"), "tok")  # pretend it was reaped
    await redis.zrem(k.active, "1")
    await rpush(redis, k.wait(10), "1")
    await redis.zadd(k.priorities, {"10": 10})
    again = await lease_one(q, T0 + 2)
    assert (again.id, again.attempts_made) == ("1", 2)
    assert int(again.token) > tokens[-1]


async def test_fetch_raw_list_entry_becomes_failed_record(
    redis: Redis, make_queue: QueueFactory
) -> None:
    q = make_queue()
    k = q.keys
    raw = b"\xff\x00not a job id \xc3"
    await add(q, T0, Row(id="good"))
    await lpush(redis, k.wait(10), raw)
    res = await leases.fetch(q, T0 + 3, 10, "w1")
    assert [j.id for j in res.jobs] == ["good"]  # the raw entry is not returned
    failed = await scores(redis, k.failed)
    assert len(failed) == 1
    [(rec, score)] = failed.items()
    assert score == T0 + 3
    assert rec != "good"
    job = await fields(redis, k.job(rec))
    assert job["raw"] == raw
    assert job["state"] == b"failed"
    assert job["err"].startswith(b"MalformedJobError")
    assert (job["ft"], job["att"]) == (str(T0 + 3).encode(), b"0")
    assert {"ev": "malformed", "id": rec} in await events(redis, q)
    assert not await redis.exists(k.job_prefix.encode() + raw)
    assert await redis.zcard(k.active) == 1


async def test_fetch_malformed_record_never_overwrites_a_client_job(
    redis: Redis, make_queue: QueueFactory
) -> None:
    """The failed record of a raw entry takes its id from the id counter. A client id may
    look like a generated one ("1"); ``add`` skips such ids, the record must too."""
    q = make_queue()
    k = q.keys
    await add(q, T0, Row(id="1", name="client", data='"mine"', prio=10))
    await rpush(redis, k.wait(0), b"garbage")
    await redis.zadd(k.priorities, {"0": 0})
    res = await leases.fetch(q, T0, 1, "w1")  # pops only the raw entry (priority 0)
    assert res.jobs == []
    [rec] = (await scores(redis, k.failed)).keys()
    assert rec != "1"
    client = await text_fields(redis, k.job("1"))
    assert (client["name"], client["data"], client["state"]) == ("client", '"mine"', "waiting")
    assert "raw" not in client


async def test_fetch_passes_wakeup_on_only_while_work_remains(
    redis: Redis, make_queue: QueueFactory
) -> None:
    q = make_queue()
    k = q.keys
    await add(q, T0, Row(), Row(), Row())
    await redis.delete(k.notify)  # the blocked worker consumed the token
    await lease(q, T0, 1)
    assert await items(redis, k.notify) == ["1"]
    await lease(q, T0, 1)  # already there: stays capped at one
    assert await items(redis, k.notify) == ["1"]
    await redis.delete(k.notify)
    await lease(q, T0, 5)  # took the last one: nothing left to wake anyone for
    assert await llen(redis, k.notify) == 0
    empty = await leases.fetch(q, T0, 5, "w1")
    assert (empty.jobs, empty.next_due_ms) == ([], None)
    assert await llen(redis, k.notify) == 0


# =================================================================== finish


async def test_finish_complete_records_result(redis: Redis, make_queue: QueueFactory) -> None:
    q = make_queue()
    k = q.keys
    await add(q, T0, Row())
    job = await lease_one(q, T0)
    rejected = await leases.finish(
        q,
        T0 + 40,
        [Outcome(job.id, job.token, OutcomeKind.COMPLETED, '{"ok":1}', run_ms=30, wait_ms=10)],
    )
    assert rejected == []
    rec = await text_fields(redis, k.job(job.id))
    assert (rec["state"], rec["ft"], rec["rms"], rec["res"]) == (
        "completed",
        str(T0 + 40),
        "30",
        '{"ok":1}',
    )
    assert rec["tok"] == "f" + job.token  # finished: no live lease matches it any more
    assert await redis.zcard(k.active) == 0
    assert await scores(redis, k.completed) == {job.id: T0 + 40}
    # Completing with an empty value writes no "res" field.
    await add(q, T0, Row(id="n"))
    other = await lease_one(q, T0)
    assert await finish_one(q, T0 + 50, other, OutcomeKind.COMPLETED) == []
    assert "res" not in await fields(redis, k.job("n"))


async def test_finish_complete_and_delete(redis: Redis, make_queue: QueueFactory) -> None:
    q = make_queue()
    k = q.keys
    await add(q, T0, Row())
    job = await lease_one(q, T0)
    assert await update(q, job.id, job.token, "log", "line") == 1
    assert await finish_one(q, T0 + 1, job, OutcomeKind.COMPLETED_DELETE) == []
    assert not await redis.exists(k.job(job.id), k.job_logs(job.id))
    assert await redis.zcard(k.completed) == 0
    assert await redis.zcard(k.active) == 0
    minute = await text_fields(redis, k.metrics((T0 + 1) // 60000))
    assert minute["c"] == "1"


async def test_finish_retry_with_and_without_delay(redis: Redis, make_queue: QueueFactory) -> None:
    q = make_queue()
    k = q.keys
    await add(q, T0, Row(id="later", prio=4), Row(id="now", prio=4), Row(id="other", prio=4))
    later, now = await lease(q, T0, 2)
    await redis.delete(k.notify)
    tb = "Traceback: boom"
    rejected = await leases.finish(
        q,
        T0 + 100,
        [
            Outcome(
                later.id, later.token, OutcomeKind.RETRY, "E: slow", tb, run_ms=5, delay_ms=2000
            ),
            Outcome(
                now.id, now.token, OutcomeKind.RETRY, "E: " + "x" * 600, tb, run_ms=6, delay_ms=0
            ),
        ],
    )
    assert rejected == []
    rec = await text_fields(redis, k.job("later"))
    assert (rec["state"], rec["err"], rec["tb"], rec["rt"], rec["rms"], rec["att"]) == (
        "delayed",
        "E: slow",
        tb,
        str(T0 + 2100),
        "5",
        "1",
    )
    assert rec["tok"] == "f" + later.token  # finished: no live lease matches it any more
    assert await scores(redis, k.delayed) == {"later": T0 + 2100}
    # delay 0: straight back to the tail of its priority list.
    assert (await text_fields(redis, k.job("now")))["state"] == "waiting"
    assert await items(redis, k.wait(4)) == ["other", "now"]
    assert await scores(redis, k.priorities) == {"4": 4.0}
    assert await redis.zcard(k.active) == 0
    assert await items(redis, k.notify) == ["1"]
    evs = await events(redis, q)
    assert evs[0] == {"ev": "retrying", "id": "later", "err": "E: slow"}
    assert evs[1]["ev"] == "retrying" and evs[1]["id"] == "now"
    assert len(evs[1]["err"]) == 500  # the error in the stream is capped


async def test_finish_fail(redis: Redis, make_queue: QueueFactory) -> None:
    q = make_queue()
    k = q.keys
    await add(q, T0, Row())
    job = await lease_one(q, T0)
    assert (
        await leases.finish(
            q,
            T0 + 9,
            [Outcome(job.id, job.token, OutcomeKind.FAILED, "ValueError: x", "tb", run_ms=8)],
        )
        == []
    )
    rec = await text_fields(redis, k.job(job.id))
    assert (rec["state"], rec["ft"], rec["err"], rec["tb"], rec["rms"]) == (
        "failed",
        str(T0 + 9),
        "ValueError: x",
        "tb",
        "8",
    )
    assert rec["tok"] == "f" + job.token  # finished: no live lease matches it any more
    assert await scores(redis, k.failed) == {job.id: T0 + 9}
    assert await redis.zcard(k.active) == 0
    assert await events(redis, q) == [{"ev": "failed", "id": job.id, "err": "ValueError: x"}]


async def test_finish_token_mismatch_is_rejected_and_job_untouched(
    redis: Redis, make_queue: QueueFactory
) -> None:
    q = make_queue()
    k = q.keys
    await add(q, T0, Row(), Row())
    a, b = await lease(q, T0, 2)
    before = await fields(redis, k.job(a.id))
    active_before = await scores(redis, k.active)
    for kind in OutcomeKind:
        rejected = await leases.finish(
            q, T0 + 1, [Outcome(a.id, str(int(a.token) + 100), kind, "v", delay_ms=0)]
        )
        assert rejected == [a.id]
    assert await leases.finish(q, T0 + 1, [Outcome("nope", "1", OutcomeKind.COMPLETED)]) == ["nope"]
    assert await fields(redis, k.job(a.id)) == before
    assert await scores(redis, k.active) == active_before
    for key in (k.completed, k.failed, k.delayed, k.events):
        assert not await redis.exists(key)
    assert await llen(redis, k.wait(10)) == 0
    assert not await redis.exists(k.metrics((T0 + 1) // 60000))  # nothing was counted

    # The right token but no longer in the active set: rejected as well.
    await redis.zrem(k.active, b.id)
    assert await finish_one(q, T0 + 2, b, OutcomeKind.COMPLETED) == [b.id]
    assert (await text_fields(redis, k.job(b.id)))["state"] == "active"

    # In a mixed batch only the stale outcome is rejected.
    assert await leases.finish(
        q,
        T0 + 3,
        [
            Outcome(b.id, b.token, OutcomeKind.COMPLETED),
            Outcome(a.id, a.token, OutcomeKind.COMPLETED),
        ],
    ) == [b.id]
    assert await scores(redis, k.completed) == {a.id: T0 + 3}


async def test_finish_trims_completed_and_failed_with_their_logs(
    redis: Redis, make_queue: QueueFactory
) -> None:
    q = make_queue(keep_completed=2, keep_failed=1)
    k = q.keys
    await add(q, T0, *[Row(id=f"c{i}") for i in range(4)], *[Row(id=f"f{i}") for i in range(3)])
    leased = await lease(q, T0, 7)
    for job in leased:
        assert await update(q, job.id, job.token, "log", f"log of {job.id}") == 1
    for i, job in enumerate(leased):
        kind: leases.OutcomeKind = (
            OutcomeKind.COMPLETED if job.id.startswith("c") else OutcomeKind.FAILED
        )
        assert await finish_one(q, T0 + 10 + i, job, kind) == []
    assert list(await scores(redis, k.completed)) == ["c2", "c3"]
    assert list(await scores(redis, k.failed)) == ["f2"]
    for gone in ("c0", "c1", "f0", "f1"):
        assert not await redis.exists(k.job(gone), k.job_logs(gone)), gone
    for kept in ("c2", "c3", "f2"):
        assert await items(redis, k.job_logs(kept)) == [f"log of {kept}"]
        assert await redis.exists(k.job(kept))


async def test_finish_keep_minus_one_keeps_everything(
    redis: Redis, make_queue: QueueFactory
) -> None:
    q = make_queue(keep_completed=-1, keep_failed=-1)
    await add(q, T0, *[Row() for _ in range(4)])
    jobs = await lease(q, T0, 4)
    await leases.finish(
        q,
        T0 + 1,
        [
            Outcome(j.id, j.token, OutcomeKind.COMPLETED if i % 2 else OutcomeKind.FAILED)
            for i, j in enumerate(jobs)
        ],
    )
    assert await redis.zcard(q.keys.completed) == 2
    assert await redis.zcard(q.keys.failed) == 2


def _bucket(ms: int) -> int:
    return math.floor(math.log(ms + 1) / math.log(2) * 4)


async def test_finish_metrics_per_minute(redis: Redis, make_queue: QueueFactory) -> None:
    q = make_queue(metrics_horizon_s=3600)
    k = q.keys
    await add(q, T0, *[Row() for _ in range(4)])
    a, b, c, d = await lease(q, T0, 4)
    now = (T0 // 60000) * 60000 + 59_000  # one second before the minute ends
    await leases.finish(
        q,
        now,
        [
            Outcome(a.id, a.token, OutcomeKind.COMPLETED, run_ms=100, wait_ms=6),
            Outcome(b.id, b.token, OutcomeKind.FAILED, "E", run_ms=5, wait_ms=0),
            Outcome(c.id, c.token, OutcomeKind.RETRY, "E", run_ms=0, wait_ms=6, delay_ms=10),
            Outcome(
                "stale", "1", OutcomeKind.COMPLETED, run_ms=1000, wait_ms=1000
            ),  # rejected: not counted
        ],
    )
    minute = {f: int(v) for f, v in (await text_fields(redis, k.metrics(now // 60000))).items()}
    expected = Counter({"c": 1, "f": 1, "e": 2, "rs": 105, "ws": 12})
    for ms in (100, 5, 0):
        expected[f"r{_bucket(ms)}"] += 1
    for ms in (6, 0, 6):
        expected[f"w{_bucket(ms)}"] += 1
    assert minute == dict(expected)
    assert {"r26", "r10", "r0", "w11", "w0"} <= set(minute)  # the buckets named above
    ttl = await redis.ttl(k.metrics(now // 60000))
    assert 0 < ttl <= 3600

    # The next minute gets its own hash; the first one is not touched.
    await finish_one(q, now + 1000, d, OutcomeKind.COMPLETED)
    assert (await text_fields(redis, k.metrics(now // 60000 + 1)))["c"] == "1"
    assert int((await text_fields(redis, k.metrics(now // 60000)))["c"]) == 1
    assert len([key async for key in redis.scan_iter(match=k.metrics_prefix + "*")]) == 2


# ==================================================================== renew


async def test_renew_extends_only_matching_tokens(redis: Redis, make_queue: QueueFactory) -> None:
    q = make_queue(lease_ms=1000)
    k = q.keys
    await add(q, T0, Row(id="a"), Row(id="b"), Row(id="c"))
    a, b, c = await lease(q, T0, 3)
    await finish_one(q, T0 + 1, c, OutcomeKind.COMPLETED)
    lost = await leases.renew(
        q, T0 + 500, [(a.id, a.token), (b.id, "999"), (c.id, c.token), ("ghost", "1")]
    )
    assert lost == ["b", "c", "ghost"]
    assert await scores(redis, k.active) == {"a": T0 + 1500, "b": T0 + 1000}
    assert not await redis.exists(k.job("ghost"))
    # Renewal never puts a job back into the active set.
    await redis.zrem(k.active, "a")
    assert await leases.renew(q, T0 + 600, [(a.id, a.token)]) == ["a"]
    assert await scores(redis, k.active) == {"b": T0 + 1000}


# ================================================================== release


async def test_release_returns_jobs_to_the_head(redis: Redis, make_queue: QueueFactory) -> None:
    q = make_queue()
    k = q.keys
    await add(q, T0, Row(id="a", prio=2), Row(id="b", prio=2), Row(id="c", prio=2))
    a, b = await lease(q, T0, 2)
    await redis.delete(k.notify)
    assert await leases.release(q, [(b.id, b.token), (a.id, "bad")]) == 1
    assert await items(redis, k.wait(2)) == ["b", "c"]
    rec = await text_fields(redis, k.job("b"))
    assert (rec["state"], rec["att"]) == ("waiting", "0")
    assert "tok" not in rec
    assert await scores(redis, k.active) == {"a": T0 + q.options.lease_ms}
    assert await items(redis, k.notify) == ["1"]
    # a (wrong token) was left alone.
    assert (await text_fields(redis, k.job("a")))["state"] == "active"
    # Released again later it goes in front of b; the priorities zset knows the list again.
    await lease_one(q, T0)  # b
    await lease_one(q, T0)  # c (the list empties and leaves the priorities zset)
    assert not await redis.exists(k.priorities)
    assert await leases.release(q, [(a.id, a.token)]) == 1
    assert await items(redis, k.wait(2)) == ["a"]
    assert await scores(redis, k.priorities) == {"2": 2.0}
    # Nothing released: no wake-up.
    await redis.delete(k.notify)
    assert await leases.release(q, [(a.id, a.token)]) == 0
    assert await llen(redis, k.notify) == 0


# ===================================================================== reap


async def test_reap_requeues_expired_lease_at_head_and_voids_the_old_token(
    redis: Redis, make_queue: QueueFactory
) -> None:
    q = make_queue(lease_ms=1000, max_stalls=3)
    k = q.keys
    await add(q, T0, Row(id="a"), Row(id="b"))
    a = await lease_one(q, T0, "dead-worker")
    assert await update(q, a.id, a.token, "progress", "50") == 1
    await redis.delete(k.notify)

    early = await leases.reap(q, T0 + 999)
    assert (early.requeued, early.failed, early.ids) == (0, 0, [])
    res = await leases.reap(q, T0 + 1000)  # deadline reached: score <= now
    assert (res.requeued, res.failed, res.ids) == (1, 0, ["a"])
    assert await items(redis, k.wait(10)) == ["a", "b"]
    rec = await text_fields(redis, k.job("a"))
    assert (rec["state"], rec["stl"], rec["lost"], rec["att"]) == (
        "waiting",
        "1",
        "dead-worker",
        "1",
    )
    assert "tok" not in rec
    assert await redis.zcard(k.active) == 0
    assert await items(redis, k.notify) == ["1"]
    assert await events(redis, q) == [{"ev": "stalled", "id": "a", "worker": "dead-worker"}]

    # The lost worker's late calls are all refused.
    snapshot = await fields(redis, k.job("a"))
    assert await finish_one(q, T0 + 2000, a, OutcomeKind.COMPLETED) == ["a"]
    assert await leases.renew(q, T0 + 2000, [(a.id, a.token)]) == ["a"]
    assert await leases.release(q, [(a.id, a.token)]) == 0
    assert await update(q, a.id, a.token, "progress", "99") == 0
    assert await fields(redis, k.job("a")) == snapshot
    assert await redis.zcard(k.completed) == 0

    # Leased again: a new token, the stall count travels with the job.
    again = await lease_one(q, T0 + 3000, "w2")
    assert (again.id, again.stalls, again.attempts_made) == ("a", 1, 2)
    assert int(again.token) > int(a.token)
    assert await finish_one(q, T0 + 3001, a, OutcomeKind.COMPLETED) == ["a"]
    assert await finish_one(q, T0 + 3001, again, OutcomeKind.COMPLETED) == []


async def test_reap_fails_job_at_max_stalls(redis: Redis, make_queue: QueueFactory) -> None:
    q = make_queue(lease_ms=100, max_stalls=2)
    k = q.keys
    await add(q, T0, Row(id="a"))
    await lease_one(q, T0, "w1")
    assert (await leases.reap(q, T0 + 100)).requeued == 1
    await lease_one(q, T0 + 200, "w2")
    res = await leases.reap(q, T0 + 300)
    assert (res.requeued, res.failed, res.ids) == (0, 1, ["a"])
    rec = await text_fields(redis, k.job("a"))
    assert (rec["state"], rec["stl"], rec["lost"], rec["ft"]) == (
        "failed",
        "2",
        "w2",
        str(T0 + 300),
    )
    assert rec["err"].startswith("StalledJobError: lease expired 2 times")
    assert "tok" not in rec
    assert await scores(redis, k.failed) == {"a": T0 + 300}
    assert await llen(redis, k.wait(10)) == 0
    assert (await events(redis, q))[-1] == {
        "ev": "failed",
        "id": "a",
        "err": "stalled too many times",
    }


async def test_reap_limit_and_order(redis: Redis, make_queue: QueueFactory) -> None:
    q = make_queue(lease_ms=100)
    k = q.keys
    await add(q, T0, Row(id="a"), Row(id="b"), Row(id="c"), Row(id="fresh"))
    await lease_one(q, T0)  # a: deadline T0+100
    await lease_one(q, T0 + 10)  # b: deadline T0+110
    await lease_one(q, T0 + 20)  # c: deadline T0+120
    await lease_one(q, T0 + 500)  # fresh: deadline T0+600
    res = await leases.reap(q, T0 + 200, limit=2)
    assert (res.requeued, res.ids) == (2, ["a", "b"])  # earliest deadlines first
    assert (await leases.reap(q, T0 + 200, limit=2)).ids == ["c"]
    # Each goes to the head, so the most recently reaped runs first.
    assert await items(redis, k.wait(10)) == ["c", "b", "a"]
    assert await scores(redis, k.active) == {"fresh": T0 + 600}


# =============================================================== set_paused


async def test_set_paused_changes_once_notifies_on_resume_and_logs_events(
    redis: Redis, make_queue: QueueFactory
) -> None:
    q = make_queue()
    k = q.keys
    assert await set_paused(q, True, T0) == 1
    assert await redis.get(k.paused) == str(T0).encode()
    assert await set_paused(q, True, T0 + 1) == 0
    assert await redis.get(k.paused) == str(T0).encode()  # not overwritten
    assert not await redis.exists(k.notify)
    assert await counts(q) == [0, 0, 0, 0, 0, 1]

    assert await set_paused(q, False, T0 + 2) == 1
    assert not await redis.exists(k.paused)
    assert await items(redis, k.notify) == ["1"]
    assert await set_paused(q, False, T0 + 3) == 0
    assert await items(redis, k.notify) == ["1"]  # capped at one
    assert [e["ev"] for e in await events(redis, q)] == ["paused", "resumed"]


# ============================================================= retry_failed


async def _failed_jobs(q: Queue, n: int, start: int = T0) -> list[str]:
    """n jobs failed at start, start+1, ...; returns their ids oldest first."""
    rows = await add(q, start, *[Row(prio=7) for _ in range(n)])
    jobs = await lease(q, start, n)
    for i, job in enumerate(jobs):
        assert await finish_one(q, start + 1 + i, job, OutcomeKind.FAILED, "E") == []
    return [i for i, _ in rows]


async def test_retry_failed_limit_oldest_first_resets_attempts(
    redis: Redis, make_queue: QueueFactory
) -> None:
    q = make_queue()
    k = q.keys
    ids = await _failed_jobs(q, 3)
    await hset(redis, k.job(ids[0]), "stl", "2")
    await redis.delete(k.notify)
    assert await retry_failed(q, T0 + 100, 2) == 2
    assert await items(redis, k.wait(7)) == ids[:2]
    assert list(await scores(redis, k.failed)) == [ids[2]]
    rec = await text_fields(redis, k.job(ids[0]))
    assert (rec["state"], rec["att"], rec["stl"], rec["rt"]) == ("waiting", "0", "0", str(T0 + 100))
    assert "ft" not in rec
    assert await scores(redis, k.priorities) == {"7": 7.0}
    assert await items(redis, k.notify) == ["1"]
    retried = [e["id"] for e in await events(redis, q) if e["ev"] == "retried"]
    assert retried == ids[:2]
    # The retried job runs with fresh attempts.
    assert (await lease_one(q, T0 + 200)).attempts_made == 1


async def test_retry_failed_explicit_ids_skip_jobs_that_are_not_failed(
    redis: Redis, make_queue: QueueFactory
) -> None:
    q = make_queue()
    k = q.keys
    ids = await _failed_jobs(q, 3)
    await add(q, T0, Row(id="waiting-one", prio=7))
    await redis.delete(k.notify)
    # The limit argument is ignored when ids are given.
    moved = await retry_failed(q, T0 + 100, 1, [ids[2], "waiting-one", "missing", ids[0]])
    assert moved == 2
    assert await items(redis, k.wait(7)) == ["waiting-one", ids[2], ids[0]]
    assert list(await scores(redis, k.failed)) == [ids[1]]
    assert not await redis.exists(k.job("missing"))
    # Nothing to move: no wake-up.
    await redis.delete(k.notify)
    assert await retry_failed(q, T0 + 100, 10, ["missing"]) == 0
    assert await llen(redis, k.notify) == 0


async def test_retry_failed_duplicate_ids_requeue_the_job_once(
    redis: Redis, make_queue: QueueFactory
) -> None:
    """``Queue.retry_jobs`` passes caller ids straight through; a repeated id must not put
    the job in its waiting list twice (it would then be leased twice and run again after
    it completed)."""
    q = make_queue()
    k = q.keys
    [job_id] = await _failed_jobs(q, 1)
    moved = await q.retry_jobs([job_id, job_id])
    assert await items(redis, k.wait(7)) == [job_id]
    assert moved == 1


async def test_retry_failed_limit_zero_moves_nothing(
    redis: Redis, make_queue: QueueFactory
) -> None:
    """The header promises "at most this many"; a limit of 0 must not mean "all"."""
    q = make_queue()
    await _failed_jobs(q, 3)
    assert await retry_failed(q, T0 + 100, 0) == 0
    assert await redis.zcard(q.keys.failed) == 3


# ==================================================================== clean


async def test_clean_cutoff_and_limit_delete_hash_and_logs(
    redis: Redis, make_queue: QueueFactory
) -> None:
    q = make_queue()
    k = q.keys
    await add(q, T0, *[Row(id=f"j{i}") for i in range(4)])
    jobs = await lease(q, T0, 4)
    for i, job in enumerate(jobs):
        await update(q, job.id, job.token, "log", "hello")
        await finish_one(q, T0 + i, job, OutcomeKind.COMPLETED)
    assert await clean(q, k.completed, T0 + 2, 2) == 2  # oldest first, limit honoured
    assert list(await scores(redis, k.completed)) == ["j2", "j3"]
    for gone in ("j0", "j1"):
        assert not await redis.exists(k.job(gone), k.job_logs(gone))
    assert await clean(q, k.completed, T0 + 2, 10) == 1  # the cut-off is inclusive
    assert list(await scores(redis, k.completed)) == ["j3"]
    assert await redis.exists(k.job("j3"), k.job_logs("j3")) == 2
    assert await clean(q, k.completed, T0 + 2, 10) == 0

    ids = await _failed_jobs(q, 2, start=T0 + 10)  # failed at T0+11, T0+12
    assert await clean(q, k.failed, T0 + 11, 10) == 1
    assert list(await scores(redis, k.failed)) == [ids[1]]
    assert not await redis.exists(k.job(ids[0]))


# ==================================================================== drain


async def test_drain_waiting_and_delayed_only_in_batches(
    redis: Redis, make_queue: QueueFactory
) -> None:
    q = make_queue()
    k = q.keys
    await add(
        q,
        T0,
        Row(id="run", prio=0),
        Row(id="w0", prio=0),
        Row(id="w5", prio=5),
        Row(id="w9a", prio=9),
        Row(id="w9b", prio=9),
        Row(id="d1", delay=100),
        Row(id="d2", delay=200),
    )
    running = await lease_one(q, T0)
    assert running.id == "run"
    for job_id in ("w0", "d1"):
        await rpush(redis, k.job_logs(job_id), "log")

    assert await drain(q, 3) == 3  # w0, w5 and w9a: lowest priority first
    assert await items(redis, k.wait(9)) == ["w9b"]
    assert await scores(redis, k.priorities) == {"9": 9.0}
    assert await drain(q, 3) == 3  # w9b, d1, d2
    assert await drain(q, 3) == 0
    for job_id in ("w0", "w5", "w9a", "w9b", "d1", "d2"):
        assert not await redis.exists(k.job(job_id), k.job_logs(job_id)), job_id
    assert not await redis.exists(k.priorities, k.delayed)
    # The active job runs on.
    assert await scores(redis, k.active) == {"run": T0 + q.options.lease_ms}
    assert await finish_one(q, T0 + 1, running, OutcomeKind.COMPLETED) == []
    assert [(e["ev"], e["count"]) for e in await events(redis, q)] == [
        ("drained", "3"),
        ("drained", "3"),
    ]


# =================================================================== remove


async def test_remove_reply_codes_and_structures(redis: Redis, make_queue: QueueFactory) -> None:
    q = make_queue()
    k = q.keys
    await add(
        q,
        T0,
        Row(id="act", prio=0),
        Row(id="done", prio=1),
        Row(id="bad", prio=1),
        Row(id="a", prio=3),
        Row(id="b", prio=3),
        Row(id="c", prio=3),
        Row(id="later", delay=100),
    )
    act = await lease_one(q, T0)
    done, bad = await lease(q, T0, 2)
    assert (act.id, done.id, bad.id) == ("act", "done", "bad")
    await finish_one(q, T0 + 1, done, OutcomeKind.COMPLETED)
    await finish_one(q, T0 + 1, bad, OutcomeKind.FAILED, "E")
    for job_id in ("b", "later", "done", "bad"):
        await rpush(redis, k.job_logs(job_id), "log")
    await redis.delete(k.events)

    assert await remove(q, "missing") == 0
    assert await remove(q, "act") == -1
    assert (await text_fields(redis, k.job("act")))["tok"] == act.token
    assert "act" in await scores(redis, k.active)

    assert await remove(q, "b") == 1  # waiting: out of its list, the others keep order
    assert await items(redis, k.wait(3)) == ["a", "c"]
    assert await remove(q, "later") == 1  # delayed
    assert await remove(q, "done") == 1  # completed
    assert await remove(q, "bad") == 1  # failed
    for job_id in ("b", "later", "done", "bad"):
        assert not await redis.exists(k.job(job_id), k.job_logs(job_id)), job_id
    assert not await redis.exists(k.delayed, k.completed, k.failed)
    assert await remove(q, "later") == 0
    assert await events(redis, q) == [
        {"ev": "removed", "id": i} for i in ("b", "later", "done", "bad")
    ]
    assert (
        await finish_one(q, T0 + 2, act, OutcomeKind.COMPLETED) == []
    )  # the active job was left intact


# =============================================================== update_job


async def test_update_job_checks_token_records_progress_and_caps_log(
    redis: Redis, make_queue: QueueFactory
) -> None:
    q = make_queue()
    k = q.keys
    await add(q, T0, Row(id="a"))
    assert await update(q, "a", "", "progress", "1") == 0  # waiting: nobody holds it
    job = await lease_one(q, T0)
    assert await update(q, "a", job.token, "progress", '{"pct":10}') == 1
    assert await update(q, "a", job.token, "progress", '{"pct":20}') == 1
    assert await hget(redis, k.job("a"), "prog") == b'{"pct":20}'
    assert await update(q, "a", "999", "progress", '{"pct":99}') == 0
    assert await update(q, "a", "999", "log", "stale") == 0
    assert await hget(redis, k.job("a"), "prog") == b'{"pct":20}'
    assert not await redis.exists(k.job_logs("a"))

    for i in range(5):
        assert await update(q, "a", job.token, "log", f"line {i}", max_lines=3) == 1
    assert await items(redis, k.job_logs("a")) == ["line 2", "line 3", "line 4"]

    await finish_one(q, T0 + 1, job, OutcomeKind.COMPLETED)
    assert await update(q, "a", job.token, "log", "after finish") == 0
    assert await items(redis, k.job_logs("a")) == ["line 2", "line 3", "line 4"]
    # A job that does not exist gets nothing written either.
    assert await update(q, "ghost", job.token, "log", "x") == 0
    assert not await redis.exists(k.job("ghost"), k.job_logs("ghost"))


async def test_update_job_log_cap_of_zero_keeps_no_lines(
    redis: Redis, make_queue: QueueFactory
) -> None:
    """``QueueOptions(max_log_lines=0)`` is accepted; the script must then keep no lines
    rather than fail halfway (Redis does not roll back the RPUSH before a failing LTRIM)."""
    q = make_queue(max_log_lines=0)
    await add(q, T0, Row(id="a"))
    job = await lease_one(q, T0)
    assert await q.scripts.call(*leases.update_call(q, "a", job.token, "log", "line")) == 1
    assert await llen(redis, q.keys.job_logs("a")) == 0


# =================================================================== counts


async def test_counts_per_state(redis: Redis, make_queue: QueueFactory) -> None:
    q = make_queue()
    assert await counts(q) == [0, 0, 0, 0, 0, 0]
    await add(q, T0, *[Row(prio=p) for p in (0, 0, 3, 9, 9, 9, 9)], Row(delay=100))
    jobs = await lease(q, T0, 3)  # 0, 0, 3
    await finish_one(q, T0, jobs[0], OutcomeKind.COMPLETED)
    await finish_one(q, T0, jobs[1], OutcomeKind.FAILED)
    await set_paused(q, True, T0)
    assert await counts(q) == [4, 1, 1, 1, 1, 1]
    # A stale priority entry whose list is empty counts as zero.
    await redis.zadd(q.keys.priorities, {"42": 42})
    assert await counts(q) == [4, 1, 1, 1, 1, 1]
    reply = await q.counts()
    assert (
        reply.waiting,
        reply.delayed,
        reply.active,
        reply.completed,
        reply.failed,
        reply.paused,
    ) == (4, 1, 1, 1, 1, True)


# =============================================================== atomicity


async def test_concurrent_fetches_lease_each_job_exactly_once(
    redis: Redis, redis_url: str, prefix: str
) -> None:
    n_jobs, n_clients, per_client = 300, 4, 3
    clients = [make_client(redis_url) for _ in range(n_clients)]
    try:
        queues = [Queue(c, "q", prefix=prefix) for c in clients]
        await add(queues[0], T0, *[Row(prio=i % 3) for i in range(n_jobs)])

        async def consume(q: Queue, worker: str) -> list[tuple[str, str]]:
            got: list[tuple[str, str]] = []
            while True:
                # Several fetches in flight per client at once.
                batch = await asyncio.gather(
                    *[leases.fetch(q, T0, 2, worker) for _ in range(per_client)]
                )
                jobs = [j for res in batch for j in res.jobs]
                if not jobs:  # the waiting lists only shrink: empty now, empty for good
                    return got
                got += [(j.id, j.token) for j in jobs]

        results = await asyncio.gather(*[consume(q, f"w{i}") for i, q in enumerate(queues)])
    finally:
        for c in clients:
            await c.aclose()
    leased = [pair for r in results for pair in r]
    ids = [job_id for job_id, _ in leased]
    tokens = [token for _, token in leased]
    assert len(ids) == n_jobs
    assert sorted(ids, key=int) == [str(i) for i in range(1, n_jobs + 1)]  # each exactly once
    assert len(set(tokens)) == n_jobs
    assert all(len(r) > 0 for r in results)  # every client took part
    q = Queue(redis, "q", prefix=prefix)
    assert await counts(q) == [0, 0, n_jobs, 0, 0, 0]
    assert await redis.get(q.keys.fence) == str(n_jobs).encode()
    # Each job's recorded token is the one its fetch returned, with one attempt made.
    for job_id, token in leased[:50]:
        rec = await text_fields(redis, q.keys.job(job_id))
        assert (rec["tok"], rec["att"]) == (token, "1")


async def test_concurrent_add_with_one_client_id_creates_one_job(
    redis: Redis, redis_url: str, prefix: str
) -> None:
    clients = [make_client(redis_url) for _ in range(4)]
    try:
        queues = [Queue(c, "q", prefix=prefix) for c in clients]
        replies = await asyncio.gather(
            *[add(queues[i % 4], T0, Row(id="once", data=str(i)), Row()) for i in range(40)]
        )
    finally:
        for c in clients:
            await c.aclose()
    created = [i for i, reply in enumerate(replies) if reply[0] == ("once", 1)]
    assert len(created) == 1
    q = Queue(redis, "q", prefix=prefix)
    assert await hget(redis, q.keys.job("once"), "data") == str(created[0]).encode()
    generated = [reply[1][0] for reply in replies]
    assert len(set(generated)) == 40  # generated ids never collide either
    assert await llen(redis, q.keys.wait(10)) == 41
    assert (await items(redis, q.keys.wait(10))).count("once") == 1


async def test_concurrent_finish_with_one_token_is_accepted_once(
    redis: Redis, redis_url: str, prefix: str
) -> None:
    clients = [make_client(redis_url) for _ in range(4)]
    try:
        queues = [Queue(c, "q", prefix=prefix) for c in clients]
        await add(queues[0], T0, Row(id="a"))
        job = await lease_one(queues[0], T0)
        replies = await asyncio.gather(
            *[
                finish_one(
                    queues[i % 4],
                    T0 + 1,
                    job,
                    OutcomeKind.COMPLETED if i % 2 else OutcomeKind.FAILED,
                    "E",
                )
                for i in range(20)
            ]
        )
    finally:
        for c in clients:
            await c.aclose()
    # Only the lease holder knows the token, so a repeat is a replay of its own finish: it is
    # not reported as a lost lease (issue 12, class 7), and it changes nothing.
    assert [len(r) for r in replies] == [0] * 20
    q = Queue(redis, "q", prefix=prefix)
    assert await redis.zcard(q.keys.completed) + await redis.zcard(q.keys.failed) == 1
    minute = await text_fields(redis, q.keys.metrics((T0 + 1) // 60000))
    assert int(minute.get("c", "0")) + int(minute.get("f", "0")) == 1


async def test_reap_racing_finish_leaves_one_consistent_outcome(
    redis: Redis, redis_url: str, prefix: str
) -> None:
    """A worker's ack and the reaper race for many expired leases: each job ends either
    completed (ack won) or back in waiting with stl=1 (reaper won), never both or neither."""
    clients = [make_client(redis_url) for _ in range(2)]
    try:
        worker_q, reaper_q = (Queue(c, "q", prefix=prefix) for c in clients)
        await add(worker_q, T0, *[Row() for _ in range(100)])
        jobs = await lease(worker_q, T0, 100)

        async def acks() -> list[str]:
            rejected: list[str] = []
            for job in jobs:
                rejected += await finish_one(worker_q, T0 + 50_000, job, OutcomeKind.COMPLETED)
            return rejected

        async def reaps() -> list[str]:
            handled: list[str] = []
            while True:
                res = await leases.reap(reaper_q, T0 + 50_000, limit=3)
                if not res.ids:
                    return handled
                handled += res.ids

        rejected, reaped = await asyncio.gather(acks(), reaps())
    finally:
        for c in clients:
            await c.aclose()
    q = Queue(redis, "q", prefix=prefix)
    assert sorted(rejected) == sorted(reaped)
    completed = set(await scores(redis, q.keys.completed))
    waiting = set(await items(redis, q.keys.wait(10)))
    assert completed.isdisjoint(waiting)
    assert completed | waiting == {j.id for j in jobs}
    assert waiting == set(reaped)
    for job_id in waiting:
        assert (await text_fields(redis, q.keys.job(job_id)))["stl"] == "1"
    assert await redis.zcard(q.keys.active) == 0


async def test_add_with_guard_claims_once(make_queue: QueueFactory, redis: Redis) -> None:
    q = make_queue()
    spec = JobSpec("tick", {"n": 1}, job_id="cron:every:100")
    first = await q.add_once("cron:every:100", 60, "sup-a", spec)
    second = await q.add_once("cron:every:100", 60, "sup-b", spec)
    assert first is not None and first.created and first.id == "cron:every:100"
    assert second is None
    assert await redis.get(q.keys.key("cron:every:100")) == b"sup-a"
    assert 0 < await redis.ttl(q.keys.key("cron:every:100")) <= 60
    assert (await q.counts()).waiting == 1
