"""The sync worker on SQLite and PostgreSQL with an in-process provider: selection, change
detection, idempotent upserts, workspace isolation, retries, invalid CNJs, progress."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from redis.asyncio import Redis
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from justo.db.models import (
    MonitoredProcess,
    MonitoringStatus,
    ProcessMovement,
    ProcessSyncLog,
    SyncStatus,
    SyncType,
    Workspace,
)
from justo.jobs.lawsuit import Lawsuit, Movement, TransientProviderError
from justo.jobs.store import SqlSyncStore, categorize
from justo.jobs.sync import RESULT_TTL_S, SyncWorker
from tests.support import JobRecorder

CNJS = [
    "0058967-77.2016.8.19.0000",
    "3000133-12.2025.8.19.0001",
    "3000233-64.2025.8.19.0001",
    "0003695-16.2019.8.26.0189",
]
INVALID = "0009999-99.9999.8.26.9999"
BAD_CNJ = f"invalid CNJ number: CNJ {INVALID}: wrong check digits DD=99, expected 78"
"""The error recorded for ``INVALID``."""


class FakeProvider:
    """Returns ``movements[cnj]`` steps; can fail transiently a number of times."""

    name = "judit"

    def __init__(self) -> None:
        self.movements: dict[str, list[Movement]] = {}
        self.calls: list[str] = []
        self.flaky: dict[str, int] = {}

    async def fetch(self, cnj: str) -> Lawsuit:
        self.calls.append(cnj)
        if self.flaky.get(cnj, 0) > 0:
            self.flaky[cnj] -= 1
            raise TransientProviderError("503 from court", retry_after=None)
        return Lawsuit(
            cnj=cnj, provider="judit", court="TJRJ", movements=tuple(self.movements.get(cnj, ()))
        )


async def server_ms(redis: Redis) -> int:
    """The Redis server's clock, in epoch milliseconds."""
    seconds, micros = await redis.time()
    return int(seconds) * 1000 + int(micros) // 1000


async def expires_at_ms(redis: Redis, key: str) -> int:
    """When ``key`` expires, in the server's epoch milliseconds (read atomically)."""
    pipe = redis.pipeline(transaction=True)
    pipe.time()
    pipe.pttl(key)
    (seconds, micros), ttl = await pipe.execute()
    return int(seconds) * 1000 + int(micros) // 1000 + int(ttl)


def step(i: int, text: str = "Juntada de petição") -> Movement:
    return Movement(f"s{i}", datetime(2025, 1, 1, tzinfo=UTC) + timedelta(days=i), text)


class Job(JobRecorder):
    """A sync job context whose progress and log lines are recorded."""

    def __init__(self, name: str, data: dict[str, object]) -> None:
        super().__init__(name, data, queue="sync")


def seed(sessions: sessionmaker[Session]) -> dict[str, list[str]]:
    """Workspaces A (three processes + one invalid number) and B (one process)."""
    ids: dict[str, list[str]] = {"A": [], "B": []}
    with sessions.begin() as s:
        a, b = Workspace(name="A", slug="a"), Workspace(name="B", slug="b")
        s.add_all([a, b])
        s.flush()
        for cnj in [*CNJS[:3], INVALID]:
            p = MonitoredProcess(workspace_id=a.id, process_number=cnj)
            s.add(p)
            s.flush()
            ids["A"].append(p.id)
        p = MonitoredProcess(workspace_id=b.id, process_number=CNJS[3])
        s.add(p)
        s.flush()
        ids["B"].append(p.id)
        ids["wsA"], ids["wsB"] = [a.id], [b.id]
    return ids


def worker(
    sessions: sessionmaker[Session], provider: FakeProvider, redis: Redis, prefix: str, **kw: object
) -> SyncWorker:
    async def no_sleep(_: float) -> None:
        return None

    return SyncWorker(
        SqlSyncStore(sessions),
        provider,
        redis,
        cache_prefix=f"{prefix}:",
        sleep=no_sleep,
        **kw,  # type: ignore[arg-type]
    )


def movements_of(sessions: sessionmaker[Session], process_id: str) -> list[str]:
    with sessions() as s:
        return sorted(
            s.scalars(
                select(ProcessMovement.step_id).where(
                    ProcessMovement.monitored_process_id == process_id
                )
            )
        )


async def test_sync_writes_movements_once_and_detects_changes(
    sessions: sessionmaker[Session], redis: Redis, prefix: str
) -> None:
    ids = seed(sessions)
    provider = FakeProvider()
    provider.movements = {c: [step(1), step(2, "Audiência designada")] for c in CNJS}
    sync = worker(sessions, provider, redis, prefix)
    job = Job("manual-sync", {"workspaceId": ids["wsA"][0], "type": "manual-sync"})
    result = await sync(job.ctx)
    assert (result["processedCount"], result["updatedCount"], result["errorCount"]) == (4, 3, 1)
    assert movements_of(sessions, ids["A"][0]) == ["s1", "s2"]

    # The same sync again: nothing new, no duplicates (results come from the 6 h cache).
    calls = len(provider.calls)
    again = await sync(Job("manual-sync", {"workspaceId": ids["wsA"][0]}).ctx)
    assert again["updatedCount"] == 0 and len(provider.calls) == calls
    assert movements_of(sessions, ids["A"][0]) == ["s1", "s2"]

    # A new movement and a changed one are detected by step id (forceUpdate skips the cache).
    provider.movements[CNJS[0]] = [step(1, "Juntada corrigida"), step(2), step(3)]
    forced = await sync(Job("manual-sync", {"workspaceId": ids["wsA"][0], "forceUpdate": True}).ctx)
    assert forced["updatedCount"] == 1
    with sessions() as s:
        logs = s.scalars(
            select(ProcessSyncLog)
            .where(
                ProcessSyncLog.monitored_process_id == ids["A"][0],
                ProcessSyncLog.status == SyncStatus.SUCCESS,
            )
            .order_by(ProcessSyncLog.started_at.desc())
        ).all()
        assert (logs[0].new_movements, logs[0].updated_movements) == (1, 2)
        assert logs[0].sync_type is SyncType.MANUAL and logs[0].api_source == "judit"
        first = s.scalars(
            select(ProcessMovement).where(
                ProcessMovement.monitored_process_id == ids["A"][0], ProcessMovement.step_id == "s1"
            )
        ).one()
        assert first.description == "Juntada corrigida"


async def test_workspace_isolation(
    sessions: sessionmaker[Session], redis: Redis, prefix: str
) -> None:
    ids = seed(sessions)
    provider = FakeProvider()
    provider.movements = {c: [step(1)] for c in CNJS}
    await worker(sessions, provider, redis, prefix)(
        Job("manual-sync", {"workspaceId": ids["wsB"][0]}).ctx
    )
    assert provider.calls == [CNJS[3]]
    assert movements_of(sessions, ids["B"][0]) == ["s1"]
    assert all(movements_of(sessions, p) == [] for p in ids["A"])
    with sessions() as s:
        synced = s.scalars(
            select(MonitoredProcess.id).where(MonitoredProcess.last_sync.is_not(None))
        ).all()
        assert synced == ids["B"]


async def test_invalid_cnj_is_an_error_for_that_process_only(
    sessions: sessionmaker[Session], redis: Redis, prefix: str
) -> None:
    ids = seed(sessions)
    provider = FakeProvider()
    result = await worker(sessions, provider, redis, prefix)(
        Job("full-sync", {"type": "full-sync"}).ctx
    )
    assert INVALID not in provider.calls
    assert result["errors"] == [{"processId": ids["A"][3], "error": BAD_CNJ}]
    assert result["success"] is False and result["processedCount"] == 5
    with sessions() as s:
        bad = s.get(MonitoredProcess, ids["A"][3])
        assert bad is not None and bad.monitoring_status is MonitoringStatus.ERROR
        assert bad.last_error == BAD_CNJ


async def test_transient_failures_are_retried_once_after_the_delay(
    sessions: sessionmaker[Session], redis: Redis, prefix: str
) -> None:
    ids = seed(sessions)
    provider = FakeProvider()
    provider.flaky = {CNJS[0]: 1, CNJS[1]: 2}
    slept: list[float] = []

    async def record(seconds: float) -> None:
        slept.append(seconds)

    sync = SyncWorker(
        SqlSyncStore(sessions), provider, redis, cache_prefix=f"{prefix}:", sleep=record
    )
    job = Job("manual-sync", {"workspaceId": ids["wsA"][0]})
    result = await sync(job.ctx)
    assert slept == [30.0]
    # Once each, then the two that failed once more: CNJS[0] recovers, CNJS[1] does not.
    assert sorted(provider.calls) == sorted([*CNJS[:3], CNJS[0], CNJS[1]])
    errors = {e["processId"]: e["error"] for e in result["errors"]}
    assert errors == {
        ids["A"][1]: "TransientProviderError: 503 from court",
        ids["A"][3]: BAD_CNJ,
    }
    assert job.logs == ["retrying 2 process(es) after 30s"]


async def test_progress_and_cached_result(
    sessions: sessionmaker[Session], redis: Redis, prefix: str
) -> None:
    seed(sessions)
    job = Job("full-sync", {"type": "full-sync"})
    before = await server_ms(redis)
    day_before = datetime.now(UTC).strftime("%Y-%m-%d")
    result = await worker(sessions, FakeProvider(), redis, prefix, save_stats=True)(job.ctx)
    day_after = datetime.now(UTC).strftime("%Y-%m-%d")
    after = await server_ms(redis)
    # Selected, then the one batch of five synced, then done.
    assert job.progress == [10, 20, 90, 100]
    # The key is named by the UTC day it was written on: either side of a midnight.
    keys = {f"{prefix}:sync:result:global:{day}" for day in (day_before, day_after)}
    written = [k for k in keys if await redis.exists(k)]
    assert len(written) == 1
    key = written[0]
    cached = await redis.get(key)
    assert cached is not None and json.loads(cached) == result
    assert result["processedCount"] == 5 and result["errorCount"] == 1
    # Kept for a day from when it was written.
    expires = await expires_at_ms(redis, key)
    assert before + RESULT_TTL_S * 1000 - 1 <= expires <= after + RESULT_TTL_S * 1000 + 1
    with sessions() as s:
        batch = s.scalars(
            select(ProcessSyncLog).where(ProcessSyncLog.sync_type == SyncType.BATCH)
        ).one()
        assert batch.status is SyncStatus.PARTIAL_SUCCESS and batch.details == result
        assert batch.errors == [e["error"] for e in result["errors"]]


async def test_incremental_takes_only_stale_processes(
    sessions: sessionmaker[Session], redis: Redis, prefix: str
) -> None:
    ids = seed(sessions)
    with sessions.begin() as s:
        for pid, age in zip(ids["A"][:3], (1, 30, 48), strict=True):
            row = s.get(MonitoredProcess, pid)
            assert row is not None
            row.last_sync = datetime.now(UTC) - timedelta(hours=age)
    provider = FakeProvider()
    await worker(sessions, provider, redis, prefix)(
        Job("incremental-sync", {"workspaceId": ids["wsA"][0], "type": "incremental-sync"}).ctx
    )
    assert provider.calls == [CNJS[2], CNJS[1]]  # stalest first; the fresh one skipped
    with sessions() as s:
        count = s.scalar(select(func.count()).select_from(ProcessMovement))
        assert count == 0


def test_categories() -> None:
    assert categorize("Audiência de conciliação designada").value == "HEARING"
    assert categorize("Sentença proferida").value == "DECISION"
    assert categorize("Recurso de apelação interposto").value == "APPEAL"
    assert categorize("Conclusos").value == "OTHER"
