"""The SQL side of the sync and cleanup workers (SQLAlchemy 2, sync; run in threads)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from justo.db.models import (
    AiCache,
    CaseAnalysis,
    MonitoredProcess,
    MonitoringStatus,
    MovementCategory,
    ProcessMovement,
    ProcessSource,
    ProcessSyncLog,
    SyncStatus,
    SyncType,
)
from justo.db.types import utcnow
from justo.jobs.lawsuit import Lawsuit, Movement
from justo.jobs.sync import Applied, ProcessRef

SYNC_TYPES = {
    "full-sync": SyncType.FULL,
    "manual-sync": SyncType.MANUAL,
    "incremental-sync": SyncType.INCREMENTAL,
}
SOURCES = {
    "judit": ProcessSource.JUDIT_API,
    "codilo": ProcessSource.CODILO_API,
    "demo": ProcessSource.DEMO,
}

CATEGORY_WORDS: tuple[tuple[MovementCategory, tuple[str, ...]], ...] = (
    (MovementCategory.HEARING, ("audiência", "audiencia")),
    (MovementCategory.APPEAL, ("recurso", "apelação", "apelacao", "agravo", "embargos")),
    (
        MovementCategory.DECISION,
        ("sentença", "sentenca", "decisão", "decisao", "despacho", "acórdão", "acordao"),
    ),
    (MovementCategory.SETTLEMENT, ("acordo", "homologação", "homologacao")),
    (MovementCategory.DEADLINE, ("prazo",)),
    (
        MovementCategory.NOTIFICATION,
        ("intimação", "intimacao", "citação", "citacao", "publicação", "publicacao"),
    ),
    (MovementCategory.PETITION, ("petição", "peticao", "juntada")),
)
"""First match wins: keywords of Brazilian court movements, by category."""


def categorize(text: str) -> MovementCategory:
    """A movement's category from its text (OTHER when nothing matches)."""
    lowered = text.lower()
    for category, words in CATEGORY_WORDS:
        if any(word in lowered for word in words):
            return category
    return MovementCategory.OTHER


class SqlSyncStore:
    """``SyncStore`` on SQLAlchemy sessions.

    Args:
        sessions: a session factory (``justo.db.session_factory``).
    """

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.sessions = sessions

    def select_processes(
        self,
        *,
        workspace_id: str | None,
        process_ids: Sequence[str] | None,
        stale_before: datetime | None,
        limit: int | None,
    ) -> list[ProcessRef]:
        query = select(MonitoredProcess).where(
            MonitoredProcess.monitoring_status == MonitoringStatus.ACTIVE
        )
        if workspace_id is not None:
            query = query.where(MonitoredProcess.workspace_id == workspace_id)
        if process_ids is not None:
            query = query.where(MonitoredProcess.id.in_(list(process_ids)))
        if stale_before is not None:
            query = query.where(
                (MonitoredProcess.last_sync.is_(None)) | (MonitoredProcess.last_sync < stale_before)
            )
        query = query.order_by(
            MonitoredProcess.last_sync.asc().nulls_first(), MonitoredProcess.id
        ).limit(limit)
        with self.sessions() as session:
            return [
                ProcessRef(p.id, p.workspace_id, p.process_number, p.court or "")
                for p in session.scalars(query)
            ]

    def apply(
        self,
        process: ProcessRef,
        lawsuit: Lawsuit,
        sync_type: str,
        started: datetime,
        duration_ms: int,
    ) -> Applied:
        with self.sessions.begin() as session:
            row = _process(session, process)
            applied = _upsert_movements(session, process.id, lawsuit)
            row.court = lawsuit.court or row.court
            row.process_data = lawsuit.to_json()
            row.last_sync = utcnow()
            row.last_error = None
            row.source = SOURCES.get(lawsuit.provider, row.source)
            session.add(
                _log(
                    process,
                    sync_type,
                    SyncStatus.SUCCESS,
                    started,
                    duration_ms,
                    applied.new_movements,
                    applied.updated_movements,
                    lawsuit.provider,
                    [],
                    {
                        "message": f"Updated with {applied.new_movements} new and "
                        f"{applied.updated_movements} changed movements"
                    },
                )
            )
            return applied

    def record_failure(
        self,
        process: ProcessRef,
        error: str,
        sync_type: str,
        started: datetime,
        duration_ms: int,
        permanent: bool = False,
    ) -> None:
        with self.sessions.begin() as session:
            row = _process(session, process)
            row.last_error = error
            if permanent:
                row.monitoring_status = MonitoringStatus.ERROR
            session.add(
                _log(
                    process,
                    sync_type,
                    SyncStatus.FAILED,
                    started,
                    duration_ms,
                    0,
                    0,
                    None,
                    [error],
                    None,
                )
            )

    def save_batch_stats(self, workspace_id: str | None, result: dict[str, Any]) -> None:
        status = (
            SyncStatus.SUCCESS
            if result["success"]
            else SyncStatus.PARTIAL_SUCCESS
            if result["errorCount"] < result["processedCount"]
            else SyncStatus.FAILED
        )
        with self.sessions.begin() as session:
            session.add(
                ProcessSyncLog(
                    monitored_process_id=None,
                    workspace_id=workspace_id,
                    sync_type=SyncType.BATCH,
                    status=status,
                    new_movements=0,
                    updated_movements=result["updatedCount"],
                    errors=[e["error"] for e in result["errors"]],
                    duration_ms=result["duration"],
                    details=result,
                    finished_at=utcnow(),
                )
            )


def _process(session: Session, ref: ProcessRef) -> MonitoredProcess:
    # Both ids must match: a job for workspace A can never write B's rows.
    row = session.scalars(
        select(MonitoredProcess)
        .where(MonitoredProcess.id == ref.id, MonitoredProcess.workspace_id == ref.workspace_id)
        .with_for_update()
    ).one()
    return row


def _upsert_movements(session: Session, process_id: str, lawsuit: Lawsuit) -> Applied:
    existing = {
        m.step_id: m
        for m in session.scalars(
            select(ProcessMovement).where(
                ProcessMovement.monitored_process_id == process_id,
                ProcessMovement.provider == lawsuit.provider,
            )
        )
    }
    new = updated = 0
    for movement in lawsuit.movements:
        row = existing.get(movement.step_id)
        if row is None:
            session.add(_movement(process_id, lawsuit.provider, movement))
            existing[movement.step_id] = ProcessMovement(step_id=movement.step_id)
            new += 1
        elif _differs(row, movement):
            row.date, row.description, row.type = (
                movement.date,
                movement.content,
                movement.step_type or None,
            )
            updated += 1
    session.flush()
    return Applied(new, updated)


def _differs(row: ProcessMovement, movement: Movement) -> bool:
    return (
        row.date != movement.date
        or row.description != movement.content
        or (row.type or "") != movement.step_type
    )


def _movement(process_id: str, provider: str, movement: Movement) -> ProcessMovement:
    return ProcessMovement(
        monitored_process_id=process_id,
        provider=provider,
        step_id=movement.step_id,
        date=movement.date,
        type=movement.step_type or None,
        description=movement.content,
        category=categorize(movement.content),
        raw_data={"step_id": movement.step_id, "step_type": movement.step_type},
    )


def _log(
    process: ProcessRef,
    sync_type: str,
    status: SyncStatus,
    started: datetime,
    duration_ms: int,
    new: int,
    updated: int,
    source: str | None,
    errors: list[str],
    details: Any,
) -> ProcessSyncLog:
    return ProcessSyncLog(
        monitored_process_id=process.id,
        workspace_id=process.workspace_id,
        sync_type=SYNC_TYPES.get(sync_type, SyncType.MANUAL),
        status=status,
        new_movements=new,
        updated_movements=updated,
        errors=errors,
        duration_ms=duration_ms,
        api_source=source,
        details=details,
        started_at=started,
        finished_at=utcnow(),
    )


class SqlCleanupStore:
    """``CleanupStore`` on SQLAlchemy sessions."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.sessions = sessions

    def delete_successful_sync_logs(self, before: datetime) -> int:
        return self._delete(
            delete(ProcessSyncLog).where(
                ProcessSyncLog.status == SyncStatus.SUCCESS, ProcessSyncLog.finished_at < before
            )
        )

    def delete_temporary_analyses(self, before: datetime) -> int:
        return self._delete(
            delete(CaseAnalysis).where(
                CaseAnalysis.is_temporary.is_(True), CaseAnalysis.created_at < before
            )
        )

    def delete_ai_cache(self, before: datetime) -> int:
        return self._delete(delete(AiCache).where(AiCache.created_at < before))

    def _delete(self, statement: Any) -> int:
        with self.sessions.begin() as session:
            result: Any = session.execute(statement)  # a CursorResult for DELETE
            return int(result.rowcount or 0)
