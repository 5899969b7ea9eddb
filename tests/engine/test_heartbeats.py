"""Supervisor heartbeats: a malformed entry is garbage to every reader, never fatal
(issue 12, class 13: one parse was guarded, its twin in the start-up clean-up was not)."""

from __future__ import annotations

import json

from redis.asyncio import Redis

from engine.keys import supervisors_key
from engine.runtime.supervisor import FORGET_S, forget_dead_supervisors, read_supervisors


def beat(sid: str, at: float) -> str:
    return json.dumps(
        {
            "id": sid,
            "host": "h",
            "pid": 1,
            "started": at,
            "beat": at,
            "queues": {"q": 1},
            "in_flight": {},
        }
    )


async def test_malformed_heartbeats_are_forgotten_and_never_raise(
    redis: Redis, prefix: str
) -> None:
    seconds, _ = await redis.time()
    now = float(seconds)
    key = supervisors_key(prefix)
    await redis.hset(
        key,
        mapping={
            "live": beat("live", now),
            "dead": beat("dead", now - FORGET_S - 60),
            "garbage": "not json",
            "no-beat": json.dumps({"id": "no-beat"}),
            "list": "[1, 2]",
            "bad-beat": json.dumps({"beat": "soon"}),
        },
    )
    assert await forget_dead_supervisors(redis, prefix) == 5
    assert sorted(await redis.hkeys(key)) == [b"live"]
    assert [s.id for s in await read_supervisors(redis, prefix)] == ["live"]
