"""The sync worker with the real Judit client, Judit faked only at the HTTP transport
(``httpx.MockTransport``), on the real database and the suite's real Redis.

README ("The JustoAI jobs", ``sync``): "batches of 50, at most 5 provider calls at once;
Judit first …; a Redis rate limiter shared by every supervisor keeps Judit under 180
requests/min".
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import httpx
from redis.asyncio import Redis
from sqlalchemy.orm import Session, sessionmaker

from justo.db.models import MonitoredProcess, Workspace
from justo.jobs.lawsuit import Lawsuit
from justo.jobs.providers import JuditClient, RateLimiter, providers_from_env, rate_limit_key
from justo.jobs.store import SqlSyncStore
from justo.jobs.sync import ProcessRef, SyncWorker
from tests.justo.jobs.fakes import cnj_with_number, json_response, judit_item, judit_lawsuit
from tests.support import JobRecorder

KEY = "canary-judit-key-123"
BASE_URL = "https://judit.test"
HOLD_CEILING_S = 60.0
"""A held request fails the test if its release condition is not met by then."""

SEED_TIME = datetime(2026, 1, 1, tzinfo=UTC)


class FakeJudit:
    """Judit's three endpoints for any CNJ (each answered with its own lawsuit), as an
    async ``httpx.MockTransport`` handler. It records every request (method, path, CNJ,
    and what ``on_request`` returns), how many are in flight at once, and can hold every
    request until ``release()`` first returns True (then it lets everything through;
    ``held_state()`` explains a hold that lasts too long)."""

    def __init__(
        self,
        *,
        release: Callable[[], bool] | None = None,
        on_request: Callable[[], Any] | None = None,
        held_state: Callable[[], str] = lambda: "",
    ) -> None:
        self.release = release
        self.held_state = held_state
        self.on_request = on_request
        self.released = release is None
        self.in_flight = 0
        self.max_in_flight = 0
        self.in_flight_at_release = 0
        self.arrivals = 0
        self.requests: list[tuple[str, str, Any]] = []
        """(``"METHOD path"``, CNJ, ``on_request()``) per request, in arrival order."""
        self._cnj_of: dict[str, str] = {}

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        self.arrivals += 1
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            response = self._route(request)
            await self._hold()
            return response
        finally:
            self.in_flight -= 1

    async def _hold(self) -> None:
        deadline = time.monotonic() + HOLD_CEILING_S
        while not self.released:
            assert self.release is not None
            if self.release():
                self.released = True
                self.in_flight_at_release = self.in_flight
                return
            assert time.monotonic() < deadline, f"held requests never released: {self.held_state()}"
            await asyncio.sleep(0.001)  # polling a condition on counters, not a delay

    def _route(self, request: httpx.Request) -> httpx.Response:
        assert request.headers.get("api-key") == KEY
        path = request.url.path
        if request.method == "POST" and path == "/requests":
            cnj = json.loads(request.content)["search"]["search_key"]
            request_id = f"req-{len(self._cnj_of) + 1}"
            self._cnj_of[request_id] = cnj
            self._record(request, cnj)
            return json_response(201, {"request_id": request_id, "status": "pending"})
        if request.method == "GET" and path.startswith("/requests/"):
            request_id = path.rsplit("/", 1)[1]
            self._record(request, self._cnj_of[request_id])
            return json_response(200, {"request_id": request_id, "status": "completed"})
        if request.method == "GET" and path == "/responses":
            cnj = self._cnj_of[request.url.params["request_id"]]
            self._record(request, cnj)
            page = [judit_item(judit_lawsuit(cnj))]
            return json_response(
                200, {"page": 1, "all_pages_count": 1, "all_count": 1, "page_data": page}
            )
        raise AssertionError(f"unexpected request {request.method} {path}")

    def _record(self, request: httpx.Request, cnj: str) -> None:
        extra = self.on_request() if self.on_request is not None else None
        self.requests.append((f"{request.method} {request.url.path}", cnj, extra))

    def posts(self) -> list[tuple[str, Any]]:
        """(CNJ, ``on_request()``) of every ``POST /requests``, in arrival order."""
        return [(cnj, extra) for what, cnj, extra in self.requests if what == "POST /requests"]


class CountingRedis(Redis):
    """The real async client; counts the completed reads of lawsuit cache keys (each sync
    of a process reads its ``sync:lawsuit:<cnj>`` key once, before the provider call)."""

    lawsuit_reads = 0

    async def get(self, name: Any) -> Any:
        value = await cast(Any, super().get(name))
        if ":sync:lawsuit:" in str(name):
            self.lawsuit_reads += 1
        return value


class CountingStore(SqlSyncStore):
    """The real SQL store; counts processes written (one transaction each)."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        super().__init__(sessions)
        self.applied = 0
        self._lock = threading.Lock()

    def apply(
        self,
        process: ProcessRef,
        lawsuit: Lawsuit,
        sync_type: str,
        started: datetime,
        duration_ms: int,
    ) -> Any:
        applied = super().apply(process, lawsuit, sync_type, started, duration_ms)
        with self._lock:
            self.applied += 1
        return applied


class CountingLimiter:
    """A limiter in front of the real Redis limiter, counting the requests that asked it
    for a slot (every request of the Judit client does, before it is sent)."""

    def __init__(self, inner: RateLimiter) -> None:
        self.inner = inner
        self.asked = 0

    async def acquire(self) -> None:
        self.asked += 1
        await self.inner.acquire()


def seed(sessions: sessionmaker[Session], slug: str, count: int, first: int) -> list[str]:
    """A workspace with ``count`` monitored processes, stalest first in CNJ order (their
    ``last_sync`` grows by a minute each); returns the workspace id then the CNJs."""
    with sessions.begin() as session:
        workspace = Workspace(name=slug, slug=slug)
        session.add(workspace)
        session.flush()
        cnjs = [cnj_with_number(f"{first + i:07d}") for i in range(count)]
        for i, cnj in enumerate(cnjs):
            session.add(
                MonitoredProcess(
                    workspace_id=workspace.id,
                    process_number=cnj,
                    last_sync=SEED_TIME + timedelta(minutes=i),
                )
            )
        return [workspace.id, *cnjs]


async def no_sleep(_: float) -> None:
    """The sync worker's retry delay, skipped."""


async def test_five_judit_calls_at_once_in_batches_of_50(
    sessions: sessionmaker[Session], redis_url: str, prefix: str
) -> None:
    """Promise: "batches of 50, at most 5 provider calls at once". With 120 processes,
    exactly 5 Judit requests are ever in flight (never more; and 5 are reached: the first
    requests are held until every process of the first batch has checked its cache, so
    every call the worker would allow has arrived); no process of batch N+1 is sent to
    Judit before all 50 of batch N are written to the database, stalest first; progress
    moves once per batch."""
    workspace, *cnjs = seed(sessions, "w", 120, 1)
    redis = cast(CountingRedis, CountingRedis.from_url(redis_url))
    store = CountingStore(sessions)
    limiter = CountingLimiter(
        RateLimiter(redis, rate_limit_key("judit", prefix), limit=100_000, window_s=60.0)
    )

    def first_wave_complete() -> bool:
        return redis.lawsuit_reads >= 50 and fake.arrivals == limiter.asked

    def held_state() -> str:
        return (
            f"{redis.lawsuit_reads} processes read their cache (a batch is 50), "
            f"{limiter.asked} requests asked the limiter, {fake.arrivals} arrived"
        )

    fake = FakeJudit(
        release=first_wave_complete, on_request=lambda: store.applied, held_state=held_state
    )
    job = JobRecorder("manual-sync", {"workspaceId": workspace}, queue="sync")
    try:
        async with httpx.AsyncClient(transport=httpx.MockTransport(fake)) as http:
            judit = JuditClient(KEY, base_url=BASE_URL, http=http, limiter=limiter)
            worker = SyncWorker(store, judit, redis, cache_prefix=f"{prefix}:", sleep=no_sleep)
            result = await worker(job.ctx)
    finally:
        await redis.aclose()

    assert (result["processedCount"], result["errorCount"]) == (120, 0), result
    assert fake.in_flight_at_release == 5
    assert fake.max_in_flight == 5
    posts = fake.posts()
    assert sorted(cnj for cnj, _ in posts) == sorted(cnjs)  # each process sent once
    for start in (0, 50, 100):
        batch = posts[start : start + 50]
        assert {cnj for cnj, _ in batch} == set(cnjs[start : start + 50])
        written_before = [applied for _, applied in batch]
        assert written_before[0] == start, f"batch at {start}: {written_before}"
        assert min(written_before) >= start
    assert job.progress == [10, 20, 49, 78, 90, 100]


async def test_two_sync_workers_together_stay_within_one_rate_limit_window(
    sessions: sessionmaker[Session], redis: Redis, prefix: str
) -> None:
    """Promise: the Redis rate limiter is shared: two sync workers (two supervisors, each
    with its own Judit client and limiter on the same Redis key) together never send
    Judit more than the limit per window. Limit 3 per 1 s here; each request's admission
    time is the one the limiter used (its injected clock is a recording real clock), and
    any 3 + 1 consecutive admissions span at least the window (minus 0.3 s for a clock
    read that reaches Redis after a later one)."""
    limit, window_s, slack_s = 3, 1.0, 0.3
    key = rate_limit_key("judit", prefix)
    last_read: dict[asyncio.Task[Any] | None, float] = {}

    def clock() -> float:
        now = time.time()
        last_read[asyncio.current_task()] = now
        return now

    def admitted_at() -> float:
        return last_read[asyncio.current_task()]

    def sync(slug: str, first: int) -> tuple[FakeJudit, Any]:
        workspace, *_ = seed(sessions, slug, 3, first)
        fake = FakeJudit(on_request=admitted_at)
        http = httpx.AsyncClient(transport=httpx.MockTransport(fake))
        limiter = RateLimiter(redis, key, limit, window_s, clock=clock)
        judit = JuditClient(KEY, base_url=BASE_URL, http=http, limiter=limiter)
        worker = SyncWorker(
            SqlSyncStore(sessions), judit, redis, cache_prefix=f"{prefix}:", sleep=no_sleep
        )

        async def run() -> dict[str, Any]:
            async with http:
                return await worker(JobRecorder("manual-sync", {"workspaceId": workspace}).ctx)

        return fake, run()

    fake_a, run_a = sync("a", 1)
    fake_b, run_b = sync("b", 101)
    results = await asyncio.gather(run_a, run_b)

    assert [r["errorCount"] for r in results] == [0, 0], results
    assert len(fake_a.requests) == len(fake_b.requests) == 9  # 3 processes x 3 requests
    admissions = sorted(at for fake in (fake_a, fake_b) for _, _, at in fake.requests)
    spans = [admissions[i + limit] - admissions[i] for i in range(len(admissions) - limit)]
    assert min(spans) >= window_s - slack_s, spans


async def test_supervisors_configured_from_the_environment_share_180_per_minute(
    sessions: sessionmaker[Session], redis: Redis, prefix: str
) -> None:
    """Promise: "a Redis rate limiter shared by every supervisor keeps Judit under 180
    requests/min", as the application wires it (``providers_from_env``: one limiter per
    supervisor, 180 per 60 s, on the prefix's Judit key). A first supervisor's sync uses
    the 180 requests of the minute (60 processes x 3 requests); a second supervisor's
    sync right after sends Judit nothing: its calls fail as rate limited (transient)."""
    env = {"JUDIT_API_KEY": KEY, "JUDIT_BASE_URL": BASE_URL}
    outcomes = []
    fakes = []
    for slug, count, first in (("first", 60, 1), ("second", 2, 501)):
        workspace, *_ = seed(sessions, slug, count, first)
        fake = FakeJudit()
        fakes.append(fake)
        async with httpx.AsyncClient(transport=httpx.MockTransport(fake)) as http:
            (provider,) = providers_from_env(env, redis=redis, prefix=prefix, http=http)
            assert isinstance(provider, JuditClient)
            worker = SyncWorker(
                SqlSyncStore(sessions), provider, redis, cache_prefix=f"{prefix}:", sleep=no_sleep
            )
            job = JobRecorder("manual-sync", {"workspaceId": workspace})
            outcomes.append(await worker(job.ctx))

    first_run, second_run = outcomes
    assert (first_run["processedCount"], first_run["errorCount"]) == (60, 0), first_run
    assert len(fakes[0].requests) == 180
    assert fakes[1].requests == []
    assert second_run["errorCount"] == 2, second_run
    assert all("rate limit 180/60s reached" in e["error"] for e in second_run["errors"])
