"""The models on a migrated database, both engines: round trips, the unique keys the workers
rely on, workspace isolation, cascades and the portable column types."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import delete, func, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError, StatementError
from sqlalchemy.orm import Session, sessionmaker

from justo.db import (
    AiCache,
    CaseAnalysis,
    CaseDocument,
    Channel,
    MonitoredProcess,
    MonitoringStatus,
    Notification,
    NotificationStatus,
    Plan,
    ProcessMovement,
    ProcessSource,
    ProcessSyncLog,
    ReportExecution,
    ReportFrequency,
    ReportSchedule,
    ReportType,
    SyncStatus,
    SyncType,
    Workspace,
)

BRT = timezone(timedelta(hours=-3))
CNJ = "0001234-56.2024.8.26.0100"
Sessions = sessionmaker[Session]


def add_workspace(sessions: Sessions, slug: str) -> str:
    with sessions.begin() as session:
        workspace = Workspace(name=slug.title(), slug=slug)
        session.add(workspace)
    return workspace.id


def add_process(sessions: Sessions, workspace_id: str, number: str = CNJ, **kw: Any) -> str:
    with sessions.begin() as session:
        process = MonitoredProcess(workspace_id=workspace_id, process_number=number, **kw)
        session.add(process)
    return process.id


def movement(process_id: str, step_id: str, provider: str = "judit", **kw: Any) -> ProcessMovement:
    return ProcessMovement(
        monitored_process_id=process_id,
        provider=provider,
        step_id=step_id,
        description=f"step {step_id}",
        **kw,
    )


def test_workspace_process_and_movements_round_trip(sessions: Sessions) -> None:
    ws = add_workspace(sessions, "silva")
    synced = datetime(2025, 9, 14, 10, 30, tzinfo=BRT)
    pid = add_process(
        sessions,
        ws,
        court="TJSP",
        source=ProcessSource.JUDIT_API,
        last_sync=synced,
        alert_recipients=["ana@silva.adv.br"],
        process_data={"cnj": CNJ, "cover": {"judge": "Dra. Lima"}},
    )
    with sessions.begin() as session:
        session.add_all(
            [
                movement(pid, "s1", date=datetime(2025, 9, 1, tzinfo=UTC), raw_data={"x": 1}),
                movement(pid, "s2", date=datetime(2025, 9, 2, tzinfo=UTC)),
            ]
        )

    with sessions() as session:
        process = session.get_one(MonitoredProcess, pid)
        assert process.workspace.plan is Plan.FREE
        assert process.monitoring_status is MonitoringStatus.ACTIVE
        assert process.source is ProcessSource.JUDIT_API
        assert process.last_sync == synced and process.last_sync.tzinfo is UTC
        assert process.process_data == {"cnj": CNJ, "cover": {"judge": "Dra. Lima"}}
        assert process.alert_recipients == ["ana@silva.adv.br"]
        assert process.created_at.tzinfo is UTC
        assert [m.step_id for m in process.movements] == ["s2", "s1"]  # newest first
        assert process.movements[1].raw_data == {"x": 1}
        assert process.movements[0].raw_data is None
        assert process.movements[0].requires_action is False


def test_a_movement_is_unique_per_process_provider_and_step(sessions: Sessions) -> None:
    pid = add_process(sessions, add_workspace(sessions, "silva"))
    with sessions.begin() as session:
        session.add(movement(pid, "s1"))
        session.add(movement(pid, "s1", provider="codilo"))  # another provider's step 1

    with pytest.raises(IntegrityError), sessions.begin() as session:
        session.add(movement(pid, "s1"))

    with sessions() as session:
        count = session.scalar(select(func.count()).select_from(ProcessMovement))
    assert count == 2


def upsert_movements(session: Session, rows: list[dict[str, Any]]) -> None:
    """The sync worker's idempotent write: insert, or update on (process, provider, step)."""
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = insert(ProcessMovement).values(rows)
    session.execute(
        statement.on_conflict_do_update(
            index_elements=["monitored_process_id", "provider", "step_id"],
            set_={"description": statement.excluded.description, "date": statement.excluded.date},
        )
    )


def test_movements_can_be_upserted_idempotently(sessions: Sessions) -> None:
    pid = add_process(sessions, add_workspace(sessions, "silva"))

    def rows(text_: str) -> list[dict[str, Any]]:
        return [
            {
                "id": f"{pid[:30]}-{n}",
                "monitored_process_id": pid,
                "provider": "judit",
                "step_id": f"s{n}",
                "description": f"{text_} {n}",
                "category": "OTHER",
                "importance": "MEDIUM",
                "requires_action": False,
                "read": False,
                "archived": False,
                "created_at": datetime.now(UTC),
                "date": datetime(2025, 9, n, tzinfo=BRT),
            }
            for n in (1, 2)
        ]

    for text_ in ("first", "again", "edited"):
        with sessions.begin() as session:
            upsert_movements(session, rows(text_))

    with sessions() as session:
        found = session.execute(
            select(ProcessMovement.step_id, ProcessMovement.description).order_by(
                ProcessMovement.step_id
            )
        ).all()
    assert [tuple(r) for r in found] == [("s1", "edited 1"), ("s2", "edited 2")]


def test_queries_filtered_by_workspace_see_only_that_workspace(sessions: Sessions) -> None:
    silva, souza = add_workspace(sessions, "silva"), add_workspace(sessions, "souza")
    # The same lawsuit may be monitored by two firms ...
    add_process(sessions, silva)
    add_process(sessions, souza)
    add_process(
        sessions, souza, "0007654-32.2023.5.02.0011", monitoring_status=MonitoringStatus.PAUSED
    )
    # ... but only once per firm.
    with pytest.raises(IntegrityError):
        add_process(sessions, silva)

    with sessions() as session:

        def active(workspace_id: str) -> list[str]:
            return list(
                session.scalars(
                    select(MonitoredProcess.workspace_id)
                    .where(
                        MonitoredProcess.workspace_id == workspace_id,
                        MonitoredProcess.monitoring_status == MonitoringStatus.ACTIVE,
                    )
                    .order_by(MonitoredProcess.last_sync)
                )
            )

        assert active(silva) == [silva]
        assert active(souza) == [souza]


def test_foreign_keys_are_enforced_and_workspace_deletion_cascades(sessions: Sessions) -> None:
    ws = add_workspace(sessions, "silva")
    pid = add_process(sessions, ws)
    with sessions.begin() as session:
        session.add(movement(pid, "s1"))
        session.add(
            ProcessSyncLog(
                monitored_process_id=pid,
                workspace_id=ws,
                sync_type=SyncType.FULL,
                status=SyncStatus.SUCCESS,
            )
        )

    with pytest.raises(IntegrityError), sessions.begin() as session:
        session.add(movement("no-such-process", "s1"))

    with sessions.begin() as session:  # a Core delete: the database does the cascade
        session.execute(delete(Workspace).where(Workspace.id == ws))
    with sessions() as session:
        for model in (MonitoredProcess, ProcessMovement, ProcessSyncLog):
            assert session.scalar(select(func.count()).select_from(model)) == 0


def test_enum_columns_reject_unknown_values(sessions: Sessions) -> None:
    ws = add_workspace(sessions, "silva")
    with pytest.raises(IntegrityError), sessions.begin() as session:
        session.execute(
            text(
                "INSERT INTO monitored_processes (id, workspace_id, process_number,"
                " monitoring_status, sync_frequency, alerts_enabled, alert_recipients, source,"
                " created_at, updated_at) VALUES ('p1', :ws, :cnj, 'RUNNING', 'DAILY', true,"
                " '[]', 'DEMO', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
            ),
            {"ws": ws, "cnj": CNJ},
        )


def test_naive_datetimes_are_refused(sessions: Sessions) -> None:
    ws = add_workspace(sessions, "silva")
    with pytest.raises(StatementError, match="naive datetime"):
        add_process(sessions, ws, last_sync=datetime(2025, 9, 14, 10, 30))


def test_timestamps_compare_as_instants_whatever_the_offset(sessions: Sessions) -> None:
    ws = add_workspace(sessions, "silva")
    # 10:30 in São Paulo is 13:30 UTC: later than 12:00 UTC although "10:30" < "12:00".
    pid = add_process(sessions, ws, last_sync=datetime(2025, 9, 14, 10, 30, tzinfo=BRT))
    with sessions() as session:
        stale = session.scalars(
            select(MonitoredProcess.id).where(
                MonitoredProcess.last_sync < datetime(2025, 9, 14, 12, 0, tzinfo=UTC)
            )
        ).all()
        fresh = session.scalars(
            select(MonitoredProcess.id).where(
                MonitoredProcess.last_sync > datetime(2025, 9, 14, 12, 0, tzinfo=UTC)
            )
        ).all()
    assert (stale, fresh) == ([], [pid])


def test_json_none_is_sql_null(sessions: Sessions) -> None:
    ws = add_workspace(sessions, "silva")
    pid = add_process(sessions, ws)
    with sessions() as session:
        found = session.scalars(
            select(MonitoredProcess.id).where(MonitoredProcess.process_data.is_(None))
        ).all()
    assert found == [pid]


def test_costs_are_exact_decimals(sessions: Sessions) -> None:
    ws = add_workspace(sessions, "silva")
    with sessions.begin() as session:
        document = CaseDocument(
            workspace_id=ws,
            name="peticao.pdf",
            mime="application/pdf",
            size=123_456,
            path="docs/peticao.pdf",
        )
        session.add(document)
        session.flush()
        session.add(
            CaseAnalysis(
                document_id=document.id,
                workspace_id=ws,
                analysis_type="PDF_UPLOAD",
                confidence=0.85,
                cost_estimate=Decimal("0.000123"),
            )
        )
        session.add(
            AiCache(
                workspace_id=ws,
                cache_key="k",
                type="summary",
                cost=Decimal("123456789.123456"),
                result={"summary": "ok"},
            )
        )
    with sessions() as session:
        analysis = session.scalars(select(CaseAnalysis)).one()
        cache = session.scalars(select(AiCache)).one()
    assert analysis.cost_estimate == Decimal("0.000123")
    assert analysis.model_used == "gemini-1.5-flash" and analysis.is_temporary is False
    assert cache.cost == Decimal("123456789.123456") and cache.result == {"summary": "ok"}


def test_cleanup_deletes_only_old_success_logs_and_old_temporary_analyses(
    sessions: Sessions,
) -> None:
    ws = add_workspace(sessions, "silva")
    now = datetime(2025, 9, 14, 2, 0, tzinfo=UTC)
    old, recent = now - timedelta(days=31), now - timedelta(days=1)
    with sessions.begin() as session:
        for status, finished in (
            (SyncStatus.SUCCESS, old),
            (SyncStatus.FAILED, old),
            (SyncStatus.SUCCESS, recent),
        ):
            session.add(
                ProcessSyncLog(
                    workspace_id=ws,
                    sync_type=SyncType.BATCH,
                    status=status,
                    started_at=finished,
                    finished_at=finished,
                )
            )
        document = CaseDocument(
            workspace_id=ws, name="a.pdf", mime="application/pdf", size=1, path="a.pdf"
        )
        session.add(document)
        session.flush()
        for version, (temporary, created) in enumerate(
            (
                (True, now - timedelta(hours=49)),
                (True, now - timedelta(hours=1)),
                (False, now - timedelta(hours=49)),
            ),
            start=1,
        ):
            session.add(
                CaseAnalysis(
                    document_id=document.id,
                    workspace_id=ws,
                    version=version,
                    analysis_type="PDF_UPLOAD",
                    is_temporary=temporary,
                    created_at=created,
                )
            )

    with sessions.begin() as session:
        logs = session.execute(
            delete(ProcessSyncLog).where(
                ProcessSyncLog.status == SyncStatus.SUCCESS,
                ProcessSyncLog.finished_at < now - timedelta(days=30),
            )
        )
        analyses = session.execute(
            delete(CaseAnalysis).where(
                CaseAnalysis.is_temporary.is_(True),
                CaseAnalysis.created_at < now - timedelta(hours=48),
            )
        )
    assert (logs.rowcount, analyses.rowcount) == (1, 1)  # type: ignore[attr-defined]


def test_report_schedules_and_executions(sessions: Sessions) -> None:
    ws = add_workspace(sessions, "silva")
    with sessions.begin() as session:
        schedule = ReportSchedule(
            workspace_id=ws,
            name="Semanal",
            type=ReportType.CASE_SUMMARY,
            frequency=ReportFrequency.WEEKLY,
            day_of_week=0,
            recipients=["ana@silva.adv.br"],
            next_run=datetime(2025, 9, 14, 23, 0, tzinfo=BRT),
        )
        session.add(schedule)
        session.flush()
        session.add(
            ReportExecution(schedule_id=schedule.id, workspace_id=ws, summary={"processes": 3})
        )
    with sessions() as session:
        loaded = session.get_one(ReportSchedule, schedule.id)
        assert (loaded.time, loaded.timezone, loaded.enabled) == (
            "23:00",
            "America/Sao_Paulo",
            True,
        )
        execution = session.scalars(select(ReportExecution)).one()
        assert execution.schedule.name == "Semanal" and execution.summary == {"processes": 3}

    with pytest.raises(ValueError, match="HH:MM"):
        ReportSchedule(
            workspace_id=ws,
            name="x",
            type=ReportType.CUSTOM,
            frequency=ReportFrequency.DAILY,
            time="25:00",
        )
    with pytest.raises(IntegrityError), sessions.begin() as session:
        session.add(
            ReportSchedule(
                workspace_id=ws,
                name="x",
                type=ReportType.CUSTOM,
                frequency=ReportFrequency.MONTHLY,
                day_of_month=32,
            )
        )


def test_notifications_are_unique_per_idempotency_key(sessions: Sessions) -> None:
    ws = add_workspace(sessions, "silva")

    def notification() -> Notification:
        return Notification(
            workspace_id=ws,
            channel=Channel.EMAIL,
            recipient="ana@silva.adv.br",
            template="email-report",
            idempotency_key="report:exec-1:ana@silva.adv.br",
        )

    with sessions.begin() as session:
        session.add(notification())
    with pytest.raises(IntegrityError), sessions.begin() as session:
        session.add(notification())
    with sessions() as session:
        stored = session.scalars(select(Notification)).one()
        raw = session.scalar(text("SELECT channel || '/' || status FROM notifications"))
    assert stored.status is NotificationStatus.PENDING and stored.payload == {}
    assert raw == "email/pending"  # the values are stored, not the member names
