"""The SQL side of the reports worker (SQLAlchemy 2, sync; run in threads).

An execution row is claimed per (schedule, period) before any work: the unique index on
``report_executions (schedule_id, period_key)`` makes a second claim of the same period
find the first one instead of starting another. The row goes RUNNING → COMPLETED (files
written) → delivered (``summary["delivery"]`` set, in the same transaction that advances
the schedule), so a retry resumes where the previous attempt stopped and never repeats a
finished step. Every query filters on the schedule's workspace.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, case, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from justo.db.models import (
    Client,
    ExecutionStatus,
    MonitoredProcess,
    MonitoringStatus,
    ProcessMovement,
    ReportCustomization,
    ReportExecution,
    ReportSchedule,
    Workspace,
    WorkspaceStatus,
)
from justo.jobs.reports.content import (
    STATUS_LABELS,
    Branding,
    ClientSection,
    DeadlineItem,
    MovementItem,
    ProcessItem,
)

NO_CLIENT = "Sem cliente vinculado"
"""Section title of processes that belong to no client."""

MAX_ERROR_TEXT = 2000


@dataclass(frozen=True)
class ScheduleInfo:
    """A report schedule with what the report needs from its workspace and client."""

    id: str
    workspace_id: str
    workspace_name: str
    workspace_active: bool
    client_id: str | None
    client_name: str | None
    name: str
    type: str
    frequency: str
    day_of_week: int | None
    day_of_month: int | None
    time: str
    timezone: str
    filters: dict[str, Any]
    recipients: tuple[Any, ...]
    enabled: bool
    last_run: datetime | None
    next_run: datetime | None
    branding: Branding


@dataclass(frozen=True)
class Claim:
    """The execution row of one (schedule, period), as found or created."""

    execution_id: str
    status: ExecutionStatus
    summary: dict[str, Any]

    @property
    def delivered(self) -> bool:
        """Whether the report of this period was already generated and handed over."""
        return self.status is ExecutionStatus.COMPLETED and "delivery" in self.summary


@dataclass(frozen=True)
class Collected:
    """The report's data, per client."""

    sections: tuple[ClientSection, ...]
    total_processes: int
    omitted_movements: int


@dataclass(frozen=True)
class Window:
    """What to collect: movements in (start, end], deadlines in [end, deadline_until]."""

    start: datetime
    end: datetime
    deadline_until: datetime
    max_processes: int
    max_movements: int


class SqlReportStore:
    """The reports worker's database access.

    Args:
        sessions: a session factory (``justo.db.session_factory``).
    """

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.sessions = sessions

    def due_schedule_ids(self, now: datetime) -> list[str]:
        """Enabled schedules of active workspaces whose next run is at or before ``now``
        (or was never computed), the longest overdue first."""
        query = (
            select(ReportSchedule.id)
            .join(Workspace, Workspace.id == ReportSchedule.workspace_id)
            .where(
                ReportSchedule.enabled.is_(True),
                Workspace.status == WorkspaceStatus.ACTIVE,
                or_(ReportSchedule.next_run.is_(None), ReportSchedule.next_run <= now),
            )
            .order_by(ReportSchedule.next_run.asc().nulls_first(), ReportSchedule.id)
        )
        with self.sessions() as session:
            return list(session.scalars(query))

    def load(self, schedule_id: str) -> ScheduleInfo | None:
        """The schedule, its workspace, client and branding; ``None`` if it is gone."""
        with self.sessions() as session:
            schedule = session.get(ReportSchedule, schedule_id)
            if schedule is None:
                return None
            custom = session.scalars(
                select(ReportCustomization).where(
                    ReportCustomization.workspace_id == schedule.workspace_id
                )
            ).first()
            return _info(schedule, custom)

    def claim(self, info: ScheduleInfo, period_key: str, now: datetime) -> Claim:
        """The period's execution row: created RUNNING, or found. A found row that is not
        COMPLETED (an attempt that failed or died) is restarted."""
        with self.sessions.begin() as session:
            row = _execution(session, info.id, period_key)
            if row is None:
                row = _insert_execution(session, info, period_key, now) or _execution(
                    session, info.id, period_key
                )
            assert row is not None, "the conflicting execution row must exist"
            if row.status is not ExecutionStatus.COMPLETED:
                row.status, row.started_at = ExecutionStatus.RUNNING, now
                row.finished_at = row.error = None
            return Claim(row.id, row.status, dict(row.summary or {}))

    def collect(self, info: ScheduleInfo, window: Window) -> Collected:
        """The schedule's processes (its client's, else the workspace's) with their new
        movements and upcoming deadlines, grouped by client."""
        with self.sessions() as session:
            rows, total = _processes(session, info, window.max_processes)
            ids = [process.id for process, _ in rows]
            counts = _movement_counts(session, ids, window)
            movements = _movements(session, ids, window)
            deadlines = _deadlines(session, ids, window)
        omitted = sum(counts.values()) - len(movements)
        return Collected(_sections(rows, counts, movements, deadlines), total, omitted)

    def complete(
        self,
        execution_id: str,
        *,
        file_path: str,
        file_size: int,
        process_count: int,
        summary: dict[str, Any],
        finished_at: datetime,
    ) -> Claim:
        """Mark the execution COMPLETED with its files and summary, unless a concurrent
        attempt completed it first: the row as it now is."""
        with self.sessions.begin() as session:
            row = session.get(ReportExecution, execution_id, with_for_update=True)
            assert row is not None
            if row.status is not ExecutionStatus.COMPLETED:
                row.status, row.finished_at, row.error = (
                    ExecutionStatus.COMPLETED,
                    finished_at,
                    None,
                )
                row.file_path, row.file_size = file_path, file_size
                row.process_count, row.summary = process_count, summary
            return Claim(row.id, row.status, dict(row.summary or {}))

    def fail(self, execution_id: str, error: str, finished_at: datetime) -> None:
        """Mark a RUNNING execution FAILED (a COMPLETED one is left alone)."""
        with self.sessions.begin() as session:
            row = session.get(ReportExecution, execution_id, with_for_update=True)
            if row is not None and row.status is ExecutionStatus.RUNNING:
                row.status, row.finished_at = ExecutionStatus.FAILED, finished_at
                row.error = error[:MAX_ERROR_TEXT]

    def finish(
        self,
        execution_id: str,
        schedule_id: str,
        delivery: dict[str, Any],
        *,
        last_run: datetime,
        next_run: datetime,
    ) -> bool:
        """Record the delivery and advance the schedule (``last_run``, ``next_run``,
        ``run_count + 1``), once: ``False`` when the execution was already finished."""
        with self.sessions.begin() as session:
            row = session.get(ReportExecution, execution_id, with_for_update=True)
            assert row is not None
            summary = dict(row.summary or {})
            if "delivery" in summary:
                return False
            row.summary = {**summary, "delivery": delivery}
            schedule = session.get(ReportSchedule, schedule_id, with_for_update=True)
            if schedule is not None:
                schedule.last_run = max(last_run, schedule.last_run or last_run)
                schedule.next_run = next_run
                schedule.run_count += 1
            return True

    def advance(self, schedule_id: str, next_run: datetime, now: datetime) -> bool:
        """Set ``next_run`` if the schedule is still due at ``now`` (its period was already
        delivered, so it must not be picked again); returns whether it changed."""
        with self.sessions.begin() as session:
            schedule = session.get(ReportSchedule, schedule_id, with_for_update=True)
            if schedule is None or (schedule.next_run is not None and schedule.next_run > now):
                return False
            schedule.next_run = next_run
            return True


def _info(schedule: ReportSchedule, custom: ReportCustomization | None) -> ScheduleInfo:
    branding = (
        Branding()
        if custom is None
        else Branding.clean(
            custom.primary_color, custom.logo_url, custom.template, custom.header, custom.footer
        )
    )
    return ScheduleInfo(
        id=schedule.id,
        workspace_id=schedule.workspace_id,
        workspace_name=schedule.workspace.name,
        workspace_active=schedule.workspace.status is WorkspaceStatus.ACTIVE,
        client_id=schedule.client_id,
        client_name=schedule.client.name if schedule.client is not None else None,
        name=schedule.name,
        type=str(schedule.type.value),
        frequency=str(schedule.frequency.value),
        day_of_week=schedule.day_of_week,
        day_of_month=schedule.day_of_month,
        time=schedule.time,
        timezone=schedule.timezone,
        filters=dict(schedule.filters or {}),
        recipients=tuple(schedule.recipients or ()),
        enabled=schedule.enabled,
        last_run=schedule.last_run,
        next_run=schedule.next_run,
        branding=branding,
    )


def _execution(session: Session, schedule_id: str, period_key: str) -> ReportExecution | None:
    return session.scalars(
        select(ReportExecution)
        .where(ReportExecution.schedule_id == schedule_id, ReportExecution.period_key == period_key)
        .with_for_update()
    ).one_or_none()


def _insert_execution(
    session: Session, info: ScheduleInfo, period_key: str, now: datetime
) -> ReportExecution | None:
    """A new RUNNING row, or ``None`` when a concurrent claim inserted it first."""
    row = ReportExecution(
        schedule_id=info.id,
        workspace_id=info.workspace_id,
        period_key=period_key,
        status=ExecutionStatus.RUNNING,
        started_at=now,
    )
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError:
        return None
    return row


def _processes(
    session: Session, info: ScheduleInfo, limit: int
) -> tuple[list[tuple[MonitoredProcess, str | None]], int]:
    """Up to ``limit`` processes (with their client's name) and how many there are."""
    conditions = [
        MonitoredProcess.workspace_id == info.workspace_id,
        MonitoredProcess.monitoring_status != MonitoringStatus.STOPPED,
    ]
    if info.client_id is not None:
        conditions.append(MonitoredProcess.client_id == info.client_id)
    process_ids = info.filters.get("processIds")
    if isinstance(process_ids, list) and process_ids:
        conditions.append(MonitoredProcess.id.in_([str(i) for i in process_ids]))
    name = func.coalesce(Client.name, MonitoredProcess.client_name)
    query = (
        select(MonitoredProcess, Client.name)
        .outerjoin(
            Client,
            and_(
                Client.id == MonitoredProcess.client_id,
                Client.workspace_id == MonitoredProcess.workspace_id,
            ),
        )
        .where(*conditions)
        .order_by(
            case((name.is_(None), 1), else_=0),
            name,
            MonitoredProcess.client_id,
            MonitoredProcess.process_number,
        )
        .limit(limit)
    )
    total = (
        session.scalar(select(func.count()).select_from(MonitoredProcess).where(*conditions)) or 0
    )
    rows: list[tuple[MonitoredProcess, str | None]] = [
        (process, client_name) for process, client_name in session.execute(query)
    ]
    return rows, total


def _in_window(window: Window) -> ColumnElement[bool]:
    """Movements dated in the window (undated ones: recorded in it)."""
    return or_(
        and_(ProcessMovement.date > window.start, ProcessMovement.date <= window.end),
        and_(
            ProcessMovement.date.is_(None),
            ProcessMovement.created_at > window.start,
            ProcessMovement.created_at <= window.end,
        ),
    )


def _movement_counts(session: Session, ids: Sequence[str], window: Window) -> dict[str, int]:
    if not ids:
        return {}
    query = (
        select(ProcessMovement.monitored_process_id, func.count())
        .where(
            ProcessMovement.monitored_process_id.in_(ids),
            ProcessMovement.archived.is_(False),
            _in_window(window),
        )
        .group_by(ProcessMovement.monitored_process_id)
    )
    return {process_id: int(count) for process_id, count in session.execute(query)}


def _movements(session: Session, ids: Sequence[str], window: Window) -> list[ProcessMovement]:
    if not ids:
        return []
    query = (
        select(ProcessMovement)
        .where(
            ProcessMovement.monitored_process_id.in_(ids),
            ProcessMovement.archived.is_(False),
            _in_window(window),
        )
        .order_by(
            func.coalesce(ProcessMovement.date, ProcessMovement.created_at).desc(),
            ProcessMovement.id,
        )
        .limit(window.max_movements)
    )
    return list(session.scalars(query))


def _deadlines(session: Session, ids: Sequence[str], window: Window) -> list[ProcessMovement]:
    if not ids:
        return []
    query = (
        select(ProcessMovement)
        .where(
            ProcessMovement.monitored_process_id.in_(ids),
            ProcessMovement.archived.is_(False),
            ProcessMovement.deadline >= window.end,
            ProcessMovement.deadline <= window.deadline_until,
        )
        .order_by(ProcessMovement.deadline, ProcessMovement.id)
        .limit(window.max_movements)
    )
    return list(session.scalars(query))


def _sections(
    rows: Sequence[tuple[MonitoredProcess, str | None]],
    counts: dict[str, int],
    movements: Sequence[ProcessMovement],
    deadlines: Sequence[ProcessMovement],
) -> tuple[ClientSection, ...]:
    """Group the processes by client (in the query's order) with their movements."""
    groups: dict[str, tuple[str, list[MonitoredProcess]]] = {}
    for process, client_name in rows:
        key = process.client_id or (
            f"name:{process.client_name}" if process.client_name else "none"
        )
        title = client_name or process.client_name or NO_CLIENT
        groups.setdefault(key, (title, []))[1].append(process)
    sections = []
    for title, processes in groups.values():
        numbers = {p.id: p.process_number for p in processes}
        sections.append(
            ClientSection(
                name=title,
                processes=tuple(_process_item(p, counts.get(p.id, 0)) for p in processes),
                movements=tuple(
                    _movement_item(m, numbers[m.monitored_process_id])
                    for m in movements
                    if m.monitored_process_id in numbers
                ),
                deadlines=tuple(
                    _deadline_item(m, numbers[m.monitored_process_id])
                    for m in deadlines
                    if m.monitored_process_id in numbers
                ),
            )
        )
    return tuple(sections)


def _process_item(process: MonitoredProcess, new_movements: int) -> ProcessItem:
    return ProcessItem(
        number=process.process_number,
        court=process.court,
        status=STATUS_LABELS.get(process.monitoring_status.value, process.monitoring_status.value),
        last_sync=process.last_sync,
        new_movements=new_movements,
    )


def _movement_item(movement: ProcessMovement, number: str) -> MovementItem:
    return MovementItem(
        process_number=number,
        date=movement.date or movement.created_at,
        description=movement.description,
        category=str(movement.category.value),
        importance=str(movement.importance.value),
    )


def _deadline_item(movement: ProcessMovement, number: str) -> DeadlineItem:
    assert movement.deadline is not None
    return DeadlineItem(
        process_number=number,
        deadline=movement.deadline,
        description=movement.description,
        requires_action=movement.requires_action,
    )
