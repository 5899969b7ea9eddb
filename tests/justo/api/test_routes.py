"""The original's /api/admin/workers over real HTTP: reads, control actions, job creation
mapped to justo.producers, drain, validation (400/413/415/422, nothing written) and
Redis outages (503, not a hang). Outcomes only: how fast a 413 or a 503 comes back is
measured by ``benchmarks/timings.py``."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis

from engine.client import make_client
from engine.job import Job, JobState
from engine.options import QueueOptions
from engine.queue.queue import Queue
from engine.runtime.settings import Settings
from engine.runtime.stats import collect
from engine.worker.registry import Registry
from engine.worker.worker import Worker
from justo import catalog, producers
from justo.api.auth import FailureLimiter
from tests.conftest import tmp_socket_dir
from tests.justo.api.helpers import AUTH, api_client

WORKERS = "/api/admin/workers"


async def _keys(redis: Redis, prefix: str) -> list[bytes]:
    return sorted(await redis.keys(f"{prefix}:*"))


def _queue(redis: Redis, settings: Settings, name: str) -> Queue:
    return Queue(redis, name, prefix=settings.prefix, options=settings.queue(name).options)


async def _post(api: httpx.AsyncClient, body: Any) -> httpx.Response:
    return await api.post(
        WORKERS, content=json.dumps(body), headers={**AUTH, "Content-Type": "application/json"}
    )


# ------------------------------------------------------------------- reads


async def test_stats_is_the_cli_json_shape(
    api: httpx.AsyncClient, redis: Redis, settings: Settings
) -> None:
    await _queue(redis, settings, "sync").add("manual-sync", {"workspaceId": "w"})
    response = await api.get(WORKERS, params={"action": "stats"}, headers=AUTH)
    default = await api.get(WORKERS, headers=AUTH)
    assert response.status_code == default.status_code == 200
    body = response.json()
    reference = (
        await collect(redis, [_queue(redis, settings, c.name) for c in settings.queues])
    ).to_json()
    assert set(body) == set(reference) == {"taken_at", "queues", "redis", "supervisors"}
    assert [q["name"] for q in body["queues"]] == [c.name for c in settings.queues]
    assert set(body["queues"][0]) == set(reference["queues"][0])
    assert body["queues"][0]["waiting"] == 1
    assert set(default.json()) == set(body)


async def test_health_check_is_the_cli_shape_with_200_or_503(
    api: httpx.AsyncClient, redis: Redis, prefix: str
) -> None:
    degraded = await api.get(WORKERS, params={"action": "health-check"}, headers=AUTH)
    assert degraded.status_code == 503
    assert degraded.json() == {
        "status": "degraded",
        "code": 1,
        "reasons": ["no live supervisor (no heartbeat in the last 15 s)"],
    }
    await _fake_supervisor(redis, prefix, {q.name: 1 for q in catalog.QUEUES})
    healthy = await api.get(WORKERS, params={"action": "health-check"}, headers=AUTH)
    assert (healthy.status_code, healthy.json()) == (
        200,
        {"status": "healthy", "code": 0, "reasons": []},
    )


async def _fake_supervisor(
    redis: Redis, prefix: str, queues: dict[str, int], age_s: float = 0.0
) -> float:
    seconds, micros = await redis.time()
    beat = seconds + micros / 1e6 - age_s
    await redis.hset(
        f"{prefix}:supervisors",
        "host:1:abc",
        json.dumps(
            {
                "id": "host:1:abc",
                "host": "host",
                "pid": 1,
                "started": beat - 100,
                "beat": beat,
                "queues": queues,
                "in_flight": {},
                "completed": {},
                "failed": {},
            }
        ),
    )
    return beat


async def test_unknown_get_action_is_422(api: httpx.AsyncClient) -> None:
    response = await api.get(WORKERS, params={"action": "nope"}, headers=AUTH)
    assert response.status_code == 422
    assert "unknown action" in response.json()["error"]


async def _fail_jobs(queue: Queue, data: Any, error: str, count: int = 1) -> None:
    registry = Registry()

    @registry.register("boom")
    async def boom(ctx: Any) -> None:
        raise RuntimeError(error)

    for _ in range(count):
        await queue.add("boom", data, attempts=1)
    await asyncio.wait_for(Worker(queue, registry, concurrency=2, grace_s=1).run(burst=True), 20)


async def test_detailed_stats_adds_health_crons_events_and_redacted_jobs(
    redis: Redis, settings: Settings, prefix: str
) -> None:
    env = {"CODILO_CLIENT_SECRET": "ENV-CANARY-5d1e"}
    queue = _queue(redis, settings, "notifications")
    data = {
        "to": "ana@example.com",
        "password": "PW-CANARY-11",
        "nested": {
            "apiKey": "KEY-CANARY-22",
            "Authorization": "Bearer BEARER-CANARY-33",
            "list": [{"client_secret": "CS-CANARY-44"}],
        },
        "note": "redis://user:URL-CANARY-55@host:6379 and ENV-CANARY-5d1e",
    }
    await _fail_jobs(queue, data, "login failed: token=ERR-CANARY-66 for ENV-CANARY-5d1e")
    await queue.pause()
    async with api_client(redis, settings, env=env) as api:
        await _post(api, {"action": "setup-recurring"})
        response = await api.get(WORKERS, params={"action": "detailed-stats"}, headers=AUTH)
    assert response.status_code == 200
    body = response.json()
    assert {
        "taken_at",
        "queues",
        "redis",
        "supervisors",
        "health",
        "crons",
        "events",
        "failed_jobs",
    } <= set(body)
    assert body["health"]["status"] == "degraded"
    assert {c["name"] for c in body["crons"]} == {r.name for r in settings.recurring}
    assert [e["ev"] for e in body["events"]["notifications"]][:2] == ["paused", "failed"]
    (job,) = body["failed_jobs"]["notifications"]
    assert job["data"]["to"] == "ana@example.com"
    assert job["data"]["password"] == "***"
    assert job["data"]["nested"]["apiKey"] == "***"
    assert job["data"]["nested"]["list"] == [{"client_secret": "***"}]
    assert "RuntimeError" in job["traceback"]
    text = response.text
    for canary in (
        "PW-CANARY",
        "KEY-CANARY",
        "BEARER-CANARY",
        "CS-CANARY",
        "URL-CANARY",
        "ERR-CANARY",
        "ENV-CANARY",
    ):
        assert canary not in text, canary


# ------------------------------------------------------------------ control


async def test_pause_and_resume_all_or_one_queue(
    api: httpx.AsyncClient, redis: Redis, settings: Settings
) -> None:
    paused = await _post(api, {"action": "pause"})
    assert paused.status_code == 200
    assert paused.json() == {
        "action": "pause",
        "queues": [{"name": c.name, "changed": True} for c in settings.queues],
    }
    assert all([await _queue(redis, settings, c.name).is_paused() for c in settings.queues])
    resumed = await _post(api, {"action": "resume", "queueName": "reports"})
    assert resumed.json() == {"action": "resume", "queues": [{"name": "reports", "changed": True}]}
    assert not await _queue(redis, settings, "reports").is_paused()
    assert await _queue(redis, settings, "sync").is_paused()


async def test_retry_failed_moves_failed_jobs_back(
    api: httpx.AsyncClient, redis: Redis, settings: Settings
) -> None:
    queue = _queue(redis, settings, "reports")
    await _fail_jobs(queue, {"scheduleId": "s"}, "smtp down", count=3)
    assert (await queue.counts()).failed == 3
    response = await _post(api, {"action": "retry-failed", "queueName": "reports"})
    assert response.json() == {
        "action": "retry-failed",
        "queues": [{"name": "reports", "retried": 3}],
    }
    counts = await queue.counts()
    assert (counts.failed, counts.waiting) == (0, 3)


async def test_setup_recurring_registers_schedules(
    api: httpx.AsyncClient, settings: Settings
) -> None:
    response = await _post(api, {"action": "setup-recurring"})
    assert response.status_code == 200
    crons = response.json()["crons"]
    assert {c["name"] for c in crons} == {r.name for r in settings.recurring}
    assert all(c["next_tick"] for c in crons)
    again = await _post(api, {"action": "setup-recurring"})
    assert [c["name"] for c in again.json()["crons"]] == [c["name"] for c in crons]


# --------------------------------------------------------------------- jobs


async def _stored(redis: Redis, settings: Settings, queue: str, job_id: str) -> Job:
    job = await _queue(redis, settings, queue).get_job(job_id)
    assert job is not None
    return job


@pytest.mark.parametrize(
    "kind,data,produce",
    [
        (
            "sync-manual",
            {"workspaceId": "ws-1", "forceUpdate": True},
            lambda r, p: producers.add_sync_job(r, "ws-1", force_update=True, prefix=p),
        ),
        (
            "sync-manual",
            {"workspaceId": "ws-2", "processIds": ["a"]},
            lambda r, p: producers.add_sync_job(r, "ws-2", processIds=["a"], prefix=p),
        ),
        (
            "generate-report",
            {"scheduleId": "sch-1"},
            lambda r, p: producers.add_report_job(r, "sch-1", prefix=p),
        ),
        (
            "process-document",
            {"documentId": "doc-1", "analysisType": "quick"},
            lambda r, p: producers.add_document_processing_job(
                r, "doc-1", analysis_type="quick", prefix=p
            ),
        ),
        (
            "process-document",
            {"documentId": "doc-2"},
            lambda r, p: producers.add_document_processing_job(r, "doc-2", prefix=p),
        ),
        (
            "send-notification",
            {"type": "email-alert", "data": {"to": "a@b.c"}},
            lambda r, p: producers.add_notification_job(
                r, "email-alert", {"to": "a@b.c"}, prefix=p
            ),
        ),
    ],
)
async def test_job_types_enqueue_as_the_producers_do(
    api: httpx.AsyncClient,
    redis: Redis,
    settings: Settings,
    prefix: str,
    kind: str,
    data: dict[str, Any],
    produce: Any,
) -> None:
    response = await _post(api, {"type": kind, "data": data})
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["created"] is True
    reference = await produce(redis, prefix)
    ours = await _stored(redis, settings, body["queue"], body["jobId"])
    theirs = await _stored(redis, settings, body["queue"], reference.id)
    assert (ours.name, ours.data, ours.priority, ours.options, ours.state) == (
        theirs.name,
        theirs.data,
        theirs.priority,
        theirs.options,
        theirs.state,
    )


async def test_job_options_and_idempotent_job_id(
    api: httpx.AsyncClient, redis: Redis, settings: Settings
) -> None:
    body = {
        "type": "generate-report",
        "data": {"scheduleId": "s1"},
        "options": {"priority": 9, "delay": 60_000, "attempts": 4, "jobId": "weekly-s1"},
    }
    first = await _post(api, body)
    assert (first.status_code, first.json()) == (
        201,
        {"jobId": "weekly-s1", "queue": "reports", "created": True},
    )
    job = await _stored(redis, settings, "reports", "weekly-s1")
    assert (job.state, job.priority, job.options["attempts"]) == (JobState.DELAYED, 9, 4)
    assert job.ready_ms is not None and job.ready_ms - job.created_ms == 60_000
    second = await _post(api, {**body, "data": {"scheduleId": "other"}})
    assert (second.status_code, second.json()["created"]) == (200, False)
    assert (await _stored(redis, settings, "reports", "weekly-s1")).data == {"scheduleId": "s1"}


# ----------------------------------------------------------------- validation

INVALID_BODIES: list[Any] = [
    [],
    "pause",
    1,
    None,
    {},
    {"action": "explode"},
    {"type": "mine-bitcoin", "data": {}},
    {"action": "pause", "type": "sync-manual", "data": {"workspaceId": "w"}},
    {"action": "pause", "queueName": "nope"},
    {"action": "pause", "queueName": 3},
    {"action": "retry-failed"},
    {"action": "pause", "extra": 1},
    {"type": "sync-manual"},
    {"type": "sync-manual", "data": []},
    {"type": "sync-manual", "data": {}},
    {"type": "sync-manual", "data": {"workspaceId": ""}},
    {"type": "sync-manual", "data": {"workspaceId": 7}},
    {"type": "sync-manual", "data": {"workspaceId": "w", "forceUpdate": "yes"}},
    {"type": "generate-report", "data": {"schedule": "s"}},
    {"type": "process-document", "data": {"documentId": "d", "analysisType": 3}},
    {"type": "send-notification", "data": {"to": "x"}},
    {"type": "sync-manual", "data": {"workspaceId": "w"}, "options": []},
    {"type": "sync-manual", "data": {"workspaceId": "w"}, "options": {"removeOnComplete": 1}},
    {"type": "sync-manual", "data": {"workspaceId": "w"}, "options": {"priority": -1}},
    {"type": "sync-manual", "data": {"workspaceId": "w"}, "options": {"priority": True}},
    {"type": "sync-manual", "data": {"workspaceId": "w"}, "options": {"priority": "high"}},
    {"type": "sync-manual", "data": {"workspaceId": "w"}, "options": {"attempts": 0}},
    {"type": "sync-manual", "data": {"workspaceId": "w"}, "options": {"delay": -5}},
    {"type": "sync-manual", "data": {"workspaceId": "w"}, "options": {"jobId": ""}},
    {"type": "sync-manual", "data": {"workspaceId": "w"}, "options": {"jobId": "x" * 257}},
    {"type": "sync-manual", "data": {"workspaceId": "w"}, "options": {"jobId": "42"}},
    {"type": "sync-manual", "data": {"workspaceId": "w"}, "extra": True},
]


async def test_invalid_bodies_are_422_and_write_nothing(
    api: httpx.AsyncClient, redis: Redis, prefix: str
) -> None:
    for body in INVALID_BODIES:
        response = await _post(api, body)
        assert response.status_code == 422, (body, response.text)
        assert set(response.json()) == {"error"}
    assert await _keys(redis, prefix) == []


@pytest.mark.parametrize(
    "raw",
    [
        b'{"action": "pause"',
        b"",
        b"\xff\xfe",
        b'{"action": NaN}',
        b'{"a": Infinity}',
        b"[" * 100_000 + b"]" * 100_000,
        b'{"a": 1' + b"0" * 5000 + b"}",
    ],
)
async def test_malformed_json_is_400(
    api: httpx.AsyncClient, redis: Redis, prefix: str, raw: bytes
) -> None:
    response = await api.post(
        WORKERS, content=raw, headers={**AUTH, "Content-Type": "application/json"}
    )
    assert response.status_code == 400, response.text
    assert await _keys(redis, prefix) == []


async def test_non_json_content_type_is_415(api: httpx.AsyncClient) -> None:
    response = await api.post(
        WORKERS,
        content=b"action=pause",
        headers={**AUTH, "Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 415


async def _status_before_the_body(api: httpx.AsyncClient, length: int) -> bytes:
    """Announce a ``length``-byte body, send none of it, and return the status line the
    server answers with (the ceiling only guards against a server waiting for the body)."""
    reader, writer = await asyncio.open_connection(api.base_url.host, api.base_url.port)
    try:
        head = (
            f"POST {WORKERS} HTTP/1.1\r\nHost: {api.base_url.host}\r\n"
            f"Authorization: {AUTH['Authorization']}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {length}\r\nExpect: 100-continue\r\n\r\n"
        )
        writer.write(head.encode())
        await writer.drain()
        return await asyncio.wait_for(reader.readline(), 30)
    finally:
        writer.close()
        await writer.wait_closed()


async def test_oversized_body_is_413_before_it_is_read_and_writes_nothing(
    api: httpx.AsyncClient, redis: Redis, prefix: str
) -> None:
    # Refused from its Content-Length alone: the 413 comes while the body is still unsent
    # (a server reading it first would answer "100 Continue" and wait).
    assert (await _status_before_the_body(api, 10_000_000)).startswith(b"HTTP/1.1 413 ")

    big = b'{"type": "sync-manual", "data": {"workspaceId": "' + b"a" * 10_000_000 + b'"}}'
    response = await api.post(WORKERS, content=big, headers=AUTH)
    assert response.status_code == 413

    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"type": "sync-manual", "data": {"workspaceId": "'
        for _ in range(40):
            yield b"b" * 65536
        yield b'"}}'

    chunked = await api.post(WORKERS, content=chunks(), headers=AUTH)
    assert chunked.status_code == 413
    assert await _keys(redis, prefix) == []
    assert (await api.get("/healthz")).status_code == 200


async def test_job_data_over_the_queue_limit_is_413(
    redis: Redis, prefix: str, tmp_path: Path
) -> None:
    queues = tuple(
        dataclasses.replace(c, options=QueueOptions(max_payload=1000))
        if c.name == "notifications"
        else c
        for c in catalog.QUEUES
    )
    settings = catalog.settings(queues=queues, prefix=prefix, data_dir=tmp_path)
    async with api_client(redis, settings) as api:
        over = await _post(
            api, {"type": "send-notification", "data": {"type": "email", "data": "x" * 1000}}
        )
        under = await _post(
            api, {"type": "send-notification", "data": {"type": "email", "data": "x" * 900}}
        )
    assert over.status_code == 413 and "limit of 1000 bytes" in over.json()["error"]
    assert under.status_code == 201
    assert (await Queue(redis, "notifications", prefix=prefix).counts()).waiting == 1


# -------------------------------------------------------------------- drain


async def test_delete_drains_every_queue(
    api: httpx.AsyncClient, redis: Redis, settings: Settings
) -> None:
    await _queue(redis, settings, "sync").add("manual-sync", {"workspaceId": "w"})
    await _queue(redis, settings, "notifications").add("x", None, delay=60)
    response = await api.delete(WORKERS, headers=AUTH)
    assert response.status_code == 200
    assert response.json() == {
        "drained": {
            "sync": 1,
            "reports": 0,
            "cache-cleanup": 0,
            "document-processing": 0,
            "notifications": 1,
        },
        "total": 2,
    }


async def test_delete_in_production_needs_force(redis: Redis, settings: Settings) -> None:
    production = dataclasses.replace(settings, environment="production")
    queue = _queue(redis, settings, "sync")
    await queue.add("manual-sync", {"workspaceId": "w"})
    async with api_client(redis, production) as api:
        refused = await api.delete(WORKERS, headers=AUTH)
        assert refused.status_code == 409
        assert "force=true" in refused.json()["error"]
        assert (
            await api.delete(WORKERS, params={"force": "false"}, headers=AUTH)
        ).status_code == 409
        assert (
            await api.delete(WORKERS, params={"force": "maybe"}, headers=AUTH)
        ).status_code == 422
        assert (await queue.counts()).waiting == 1
        forced = await api.delete(WORKERS, params={"force": "true"}, headers=AUTH)
    assert (forced.status_code, forced.json()["total"]) == (200, 1)
    assert (await queue.counts()).waiting == 0


# ------------------------------------------------------------------ outages

OUTAGE_REQUESTS: list[tuple[str, str, dict[str, Any]]] = [
    ("GET", WORKERS, {}),
    ("GET", f"{WORKERS}?action=detailed-stats", {}),
    ("GET", "/metrics", {}),
    ("POST", WORKERS, {"json": {"action": "pause"}}),
    ("POST", WORKERS, {"json": {"action": "retry-failed", "queueName": "sync"}}),
    ("POST", WORKERS, {"json": {"action": "setup-recurring"}}),
    ("POST", WORKERS, {"json": {"type": "sync-manual", "data": {"workspaceId": "w"}}}),
    ("DELETE", WORKERS, {}),
]


async def _assert_outage_answers(
    redis: Redis, settings: Settings, requests: list[tuple[str, str, dict[str, Any]]]
) -> None:
    """Every request gets a 503 (the client's timeout guards against a hang)."""
    async with api_client(redis, settings, limiter=FailureLimiter(max_failures=100)) as api:
        for method, path, kwargs in requests:
            response = await api.request(method, path, headers=AUTH, timeout=30, **kwargs)
            assert response.status_code == 503, (method, path, response.text)
            assert response.json()["error"].startswith("redis")
        health = await api.get(WORKERS, params={"action": "health-check"}, headers=AUTH)
        assert (health.status_code, health.json()) == (
            503,
            {"status": "down", "code": 2, "reasons": ["redis unreachable"]},
        )
        healthz = await api.get("/healthz")
        assert (healthz.status_code, healthz.text) == (503, "unavailable")
        assert (await api.get(WORKERS)).status_code == 401  # auth comes first


async def test_redis_refusing_connections_gives_503(settings: Settings, tmp_path: Path) -> None:
    closed = tmp_socket_dir(tmp_path) / "closed.sock"
    redis = make_client(f"unix://{closed}")
    try:
        await _assert_outage_answers(redis, settings, OUTAGE_REQUESTS)
    finally:
        await redis.aclose()


async def test_redis_not_answering_gives_503_after_the_timeout(settings: Settings) -> None:
    held: list[asyncio.StreamWriter] = []

    async def swallow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)  # accept, read nothing, answer nothing

    server = await asyncio.start_server(swallow, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    redis = make_client(f"redis://127.0.0.1:{port}/0")
    try:
        # each call waits out the API's Redis timeout: a read and a write are enough here
        await _assert_outage_answers(redis, settings, OUTAGE_REQUESTS[::6])
    finally:
        await redis.aclose()
        for writer in held:
            writer.close()
        server.close()
        await server.wait_closed()


async def test_redis_out_of_memory_is_503_and_nothing_is_lost(
    api: httpx.AsyncClient, redis: Redis, settings: Settings
) -> None:
    before = (await redis.config_get("maxmemory"))["maxmemory"]
    await redis.config_set("maxmemory", "1")
    try:
        response = await _post(api, {"type": "sync-manual", "data": {"workspaceId": "w"}})
    finally:
        await redis.config_set("maxmemory", before)
    assert (response.status_code, response.json()) == (503, {"error": "redis out of memory"})
    again = await _post(api, {"type": "sync-manual", "data": {"workspaceId": "w"}})
    assert again.status_code == 201


async def test_unexpected_errors_are_a_bare_500_logged_redacted(
    redis: Redis,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("cannot reach redis://u:PW-CANARY-9@db:6379 with ENV-CANARY-8")

    monkeypatch.setattr("justo.api.app.collect", broken)
    env = {"SOME_API_KEY": "ENV-CANARY-8"}
    async with api_client(redis, settings, env=env) as api:
        response = await api.get(WORKERS, headers=AUTH)
    assert (response.status_code, response.json()) == (500, {"error": "internal error"})
    logged = "\n".join(r.getMessage() for r in caplog.records if r.name == "justo.api")
    assert "RuntimeError" in logged and "redis://***@db:6379" in logged
    assert "PW-CANARY" not in logged and "ENV-CANARY" not in logged


async def test_unknown_or_repeated_query_parameters_are_422(api: httpx.AsyncClient) -> None:
    for path in (
        f"{WORKERS}?action=stats&verbose=1",
        f"{WORKERS}?action=stats&action=stats",
        "/metrics?x=1",
        "/healthz?x=1",
        f"{WORKERS}?force=true&all=1",
    ):
        method = "DELETE" if "force" in path else "GET"
        response = await api.request(method, path, headers=AUTH)
        assert response.status_code == 422, path


async def test_wrong_method_is_405_with_allow(api: httpx.AsyncClient) -> None:
    response = await api.patch(WORKERS, headers=AUTH)
    assert response.status_code == 405
    assert set(response.headers["allow"].split(", ")) >= {"GET", "POST", "DELETE"}
