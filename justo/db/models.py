"""The application tables the workers read and write (SQLAlchemy 2 typed Declarative).

A cleaned-up subset of JustoAI V2's Prisma schema (DOMAIN.md §1.5) with the field names
the workers actually need (§1.6: ``last_sync`` not ``lastSyncAt``, ``next_run`` not
``nextExecution``, an explicit ``is_temporary`` on analyses, ``client_id`` on schedules).

Portable between SQLite and PostgreSQL: text UUID primary keys (``new_id``), enums stored
as their values in ``VARCHAR`` + ``CHECK``, ``sqlalchemy.JSON``, aware UTC timestamps
(``UTCDateTime``) and exact decimals (``Money``). Every table but ``workspaces`` carries a
``workspace_id`` (directly or through its parent) and every query of a worker filters on
it. JSON columns are not mutation-tracked: assign a new value rather than editing in place.

The schema itself is created by the Alembic migrations in ``justo/db/migrations``; a
test proves the two never drift.
"""

from __future__ import annotations

import enum
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship, validates

from justo.db.types import Money, UTCDateTime, new_id, str_enum, utcnow

NAMING_CONVENTION = {
    "pk": "pk_%(table_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
}
"""Deterministic constraint names, so migrations can name what they alter or drop."""

DEFAULT_TIMEZONE = "America/Sao_Paulo"
"""Time zone of report schedules unless set (the original schema's default)."""


class Base(DeclarativeBase):
    """Declarative base of every table; ``Base.metadata`` is the migrations' target."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


# --- enums (values are what is stored) -------------------------------------------------


class Plan(enum.StrEnum):
    """Subscription plan of a workspace."""

    FREE = "FREE"
    BASIC = "BASIC"
    PRO = "PRO"
    ENTERPRISE = "ENTERPRISE"


class WorkspaceStatus(enum.StrEnum):
    """Whether a workspace is in use."""

    ACTIVE = "ACTIVE"
    INACTIVE = "INACTIVE"
    SUSPENDED = "SUSPENDED"
    DELETED = "DELETED"


class ClientType(enum.StrEnum):
    """Kind of client (CPF for individuals, CNPJ otherwise)."""

    INDIVIDUAL = "INDIVIDUAL"
    COMPANY = "COMPANY"
    GOVERNMENT = "GOVERNMENT"
    NGO = "NGO"


class MonitoringStatus(enum.StrEnum):
    """Whether the sync worker polls a monitored process."""

    ACTIVE = "ACTIVE"
    PAUSED = "PAUSED"
    STOPPED = "STOPPED"
    ERROR = "ERROR"


class SyncFrequency(enum.StrEnum):
    """How often a process wants syncing."""

    HOURLY = "HOURLY"
    DAILY = "DAILY"
    WEEKLY = "WEEKLY"
    MANUAL = "MANUAL"


class ProcessSource(enum.StrEnum):
    """Where a monitored process's data comes from."""

    JUDIT_API = "JUDIT_API"
    CODILO_API = "CODILO_API"
    DEMO = "DEMO"
    MANUAL_INPUT = "MANUAL_INPUT"


class MovementCategory(enum.StrEnum):
    """Classification of a process movement."""

    HEARING = "HEARING"
    DECISION = "DECISION"
    PETITION = "PETITION"
    DOCUMENT_REQUEST = "DOCUMENT_REQUEST"
    DEADLINE = "DEADLINE"
    NOTIFICATION = "NOTIFICATION"
    APPEAL = "APPEAL"
    SETTLEMENT = "SETTLEMENT"
    OTHER = "OTHER"


class Importance(enum.StrEnum):
    """How much a movement matters."""

    LOW = "LOW"
    MEDIUM = "MEDIUM"
    HIGH = "HIGH"
    URGENT = "URGENT"


class SyncType(enum.StrEnum):
    """What kind of sync a log row records (``BATCH``: one row per worker run)."""

    FULL = "FULL"
    INCREMENTAL = "INCREMENTAL"
    MANUAL = "MANUAL"
    BATCH = "BATCH"


class SyncStatus(enum.StrEnum):
    """Outcome of a sync."""

    SUCCESS = "SUCCESS"
    PARTIAL_SUCCESS = "PARTIAL_SUCCESS"
    FAILED = "FAILED"
    TIMEOUT = "TIMEOUT"


class ReportType(enum.StrEnum):
    """What a scheduled report contains."""

    CASE_SUMMARY = "CASE_SUMMARY"
    FINANCIAL = "FINANCIAL"
    PRODUCTIVITY = "PRODUCTIVITY"
    DEADLINE_ALERTS = "DEADLINE_ALERTS"
    CUSTOM = "CUSTOM"


class ReportFrequency(enum.StrEnum):
    """How often a report schedule runs."""

    DAILY = "DAILY"
    WEEKLY = "WEEKLY"
    BIWEEKLY = "BIWEEKLY"
    MONTHLY = "MONTHLY"
    QUARTERLY = "QUARTERLY"
    YEARLY = "YEARLY"


class ExecutionStatus(enum.StrEnum):
    """State of one report run."""

    RUNNING = "RUNNING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"


class OcrStatus(enum.StrEnum):
    """Text-extraction state of a document."""

    PENDING = "PENDING"
    PROCESSING = "PROCESSING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"


class AnalysisStatus(enum.StrEnum):
    """State of an AI analysis."""

    PENDING = "PENDING"
    PROCESSING = "PROCESSING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"


class Channel(enum.StrEnum):
    """Delivery channel of a notification."""

    EMAIL = "email"
    WHATSAPP = "whatsapp"


class NotificationStatus(enum.StrEnum):
    """Delivery state of a notification."""

    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"


# --- shared column shapes --------------------------------------------------------------


def _id() -> Mapped[str]:
    return mapped_column(String(36), primary_key=True, default=new_id)


def _workspace_fk(*, nullable: bool = False) -> Mapped[Any]:
    return mapped_column(
        String(36), ForeignKey("workspaces.id", ondelete="CASCADE"), nullable=nullable, index=True
    )


def _created_at() -> Mapped[datetime]:
    return mapped_column(UTCDateTime(), default=utcnow)


def _json_object() -> Mapped[dict[str, Any]]:
    return mapped_column(JSON, default=dict)


def _json_list() -> Mapped[list[Any]]:
    return mapped_column(JSON, default=list)


def _json_optional() -> Mapped[Any]:
    # none_as_null: Python None is SQL NULL, not the JSON text 'null'.
    return mapped_column(JSON(none_as_null=True), nullable=True)


# --- tables -----------------------------------------------------------------------------


class Workspace(Base):
    """A tenant (law firm); everything else belongs to one."""

    __tablename__ = "workspaces"

    id: Mapped[str] = _id()
    name: Mapped[str] = mapped_column(String(200))
    slug: Mapped[str] = mapped_column(String(100), unique=True)
    plan: Mapped[Plan] = mapped_column(str_enum(Plan, "plan"), default=Plan.FREE)
    status: Mapped[WorkspaceStatus] = mapped_column(
        str_enum(WorkspaceStatus, "status"), default=WorkspaceStatus.ACTIVE
    )
    settings: Mapped[dict[str, Any]] = _json_object()
    created_at: Mapped[datetime] = _created_at()


class Client(Base):
    """A client of the law firm (person or organisation)."""

    __tablename__ = "clients"

    id: Mapped[str] = _id()
    workspace_id: Mapped[str] = _workspace_fk()
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(320))
    phone: Mapped[str | None] = mapped_column(String(32))
    document: Mapped[str | None] = mapped_column(String(32))
    """CPF or CNPJ."""
    type: Mapped[ClientType] = mapped_column(
        str_enum(ClientType, "type"), default=ClientType.INDIVIDUAL
    )
    created_at: Mapped[datetime] = _created_at()


class MonitoredProcess(Base):
    """A lawsuit the sync worker keeps up to date from a court-data provider."""

    __tablename__ = "monitored_processes"
    __table_args__ = (
        UniqueConstraint("workspace_id", "process_number"),
        Index(
            "ix_monitored_processes_workspace_status_sync",
            "workspace_id",
            "monitoring_status",
            "last_sync",
        ),
        # The 6-hourly full sync picks ACTIVE processes of every workspace, stalest first.
        Index("ix_monitored_processes_status_sync", "monitoring_status", "last_sync"),
    )

    id: Mapped[str] = _id()
    workspace_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("workspaces.id", ondelete="CASCADE")
    )
    client_id: Mapped[str | None] = mapped_column(
        String(36), ForeignKey("clients.id", ondelete="SET NULL"), index=True
    )
    process_number: Mapped[str] = mapped_column(String(25))
    """Formatted CNJ number ``NNNNNNN-DD.AAAA.J.TR.OOOO``."""
    court: Mapped[str | None] = mapped_column(String(100))
    client_name: Mapped[str | None] = mapped_column(String(200))
    process_data: Mapped[Any] = _json_optional()
    """The provider's lawsuit as ``justo.jobs.lawsuit.Lawsuit.to_json()``."""
    monitoring_status: Mapped[MonitoringStatus] = mapped_column(
        str_enum(MonitoringStatus, "monitoring_status"), default=MonitoringStatus.ACTIVE
    )
    last_sync: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_error: Mapped[str | None] = mapped_column(Text)
    sync_frequency: Mapped[SyncFrequency] = mapped_column(
        str_enum(SyncFrequency, "sync_frequency"), default=SyncFrequency.DAILY
    )
    alerts_enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    alert_recipients: Mapped[list[Any]] = _json_list()
    source: Mapped[ProcessSource] = mapped_column(
        str_enum(ProcessSource, "source"), default=ProcessSource.MANUAL_INPUT
    )
    created_at: Mapped[datetime] = _created_at()
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    workspace: Mapped[Workspace] = relationship()
    client: Mapped[Client | None] = relationship()
    movements: Mapped[list[ProcessMovement]] = relationship(
        back_populates="process", passive_deletes=True, order_by="ProcessMovement.date.desc()"
    )


class ProcessMovement(Base):
    """One step of a monitored process, keyed by the provider's own step id.

    (``monitored_process_id``, ``provider``, ``step_id``) is unique: the sync worker
    upserts on it, so a re-sync never duplicates movements.
    """

    __tablename__ = "process_movements"
    __table_args__ = (
        UniqueConstraint("monitored_process_id", "provider", "step_id"),
        # Change detection reads the newest movements of one process.
        Index("ix_process_movements_process_date", "monitored_process_id", "date"),
    )

    id: Mapped[str] = _id()
    monitored_process_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("monitored_processes.id", ondelete="CASCADE")
    )
    provider: Mapped[str] = mapped_column(String(32))
    """``Lawsuit.provider``: "judit", "codilo" or "demo"."""
    step_id: Mapped[str] = mapped_column(String(128))
    date: Mapped[datetime | None] = mapped_column(UTCDateTime())
    type: Mapped[str | None] = mapped_column(String(100))
    description: Mapped[str] = mapped_column(Text)
    category: Mapped[MovementCategory] = mapped_column(
        str_enum(MovementCategory, "category"), default=MovementCategory.OTHER
    )
    importance: Mapped[Importance] = mapped_column(
        str_enum(Importance, "importance"), default=Importance.MEDIUM
    )
    requires_action: Mapped[bool] = mapped_column(Boolean, default=False)
    deadline: Mapped[datetime | None] = mapped_column(UTCDateTime())
    raw_data: Mapped[Any] = _json_optional()
    read: Mapped[bool] = mapped_column(Boolean, default=False)
    archived: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = _created_at()

    process: Mapped[MonitoredProcess] = relationship(back_populates="movements")


class ProcessSyncLog(Base):
    """One sync of one process, or (``monitored_process_id`` NULL) one batch run."""

    __tablename__ = "process_sync_logs"
    __table_args__ = (
        # Cleanup deletes SUCCESS logs older than 30 days.
        Index("ix_process_sync_logs_status_finished", "status", "finished_at"),
    )

    id: Mapped[str] = _id()
    monitored_process_id: Mapped[str | None] = mapped_column(
        String(36), ForeignKey("monitored_processes.id", ondelete="CASCADE"), index=True
    )
    workspace_id: Mapped[str | None] = _workspace_fk(nullable=True)
    sync_type: Mapped[SyncType] = mapped_column(str_enum(SyncType, "sync_type"))
    status: Mapped[SyncStatus] = mapped_column(str_enum(SyncStatus, "status"))
    new_movements: Mapped[int] = mapped_column(Integer, default=0)
    updated_movements: Mapped[int] = mapped_column(Integer, default=0)
    errors: Mapped[list[Any]] = _json_list()
    duration_ms: Mapped[int | None] = mapped_column(Integer)
    api_source: Mapped[str | None] = mapped_column(String(32))
    details: Mapped[Any] = _json_optional()
    started_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class ReportSchedule(Base):
    """A recurring report for a workspace (optionally about one client)."""

    __tablename__ = "report_schedules"
    __table_args__ = (
        CheckConstraint("day_of_week BETWEEN 0 AND 6", name="day_of_week"),
        CheckConstraint("day_of_month BETWEEN 1 AND 31", name="day_of_month"),
        # The reports worker picks enabled schedules that are due.
        Index("ix_report_schedules_enabled_next_run", "enabled", "next_run"),
    )

    id: Mapped[str] = _id()
    workspace_id: Mapped[str] = _workspace_fk()
    client_id: Mapped[str | None] = mapped_column(
        String(36), ForeignKey("clients.id", ondelete="SET NULL"), index=True
    )
    name: Mapped[str] = mapped_column(String(200))
    type: Mapped[ReportType] = mapped_column(str_enum(ReportType, "type"))
    frequency: Mapped[ReportFrequency] = mapped_column(str_enum(ReportFrequency, "frequency"))
    day_of_week: Mapped[int | None] = mapped_column(Integer)
    """0 = Sunday … 6 = Saturday."""
    day_of_month: Mapped[int | None] = mapped_column(Integer)
    time: Mapped[str] = mapped_column(String(5), default="23:00")
    """Local time of day, ``HH:MM``."""
    timezone: Mapped[str] = mapped_column(String(64), default=DEFAULT_TIMEZONE)
    filters: Mapped[dict[str, Any]] = _json_object()
    recipients: Mapped[list[Any]] = _json_list()
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    last_run: Mapped[datetime | None] = mapped_column(UTCDateTime())
    next_run: Mapped[datetime | None] = mapped_column(UTCDateTime())
    run_count: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = _created_at()

    workspace: Mapped[Workspace] = relationship()
    client: Mapped[Client | None] = relationship()

    @validates("time")
    def _check_time(self, _key: str, value: str) -> str:
        hours, sep, minutes = value.partition(":")
        if not (
            sep
            and len(hours) == len(minutes) == 2
            and hours.isdigit()
            and minutes.isdigit()
            and int(hours) < 24
            and int(minutes) < 60
        ):
            raise ValueError(f"time must be HH:MM, not {value!r}")
        return value


class ReportExecution(Base):
    """One run of a report schedule."""

    __tablename__ = "report_executions"
    __table_args__ = (
        Index("ix_report_executions_schedule_started", "schedule_id", "started_at"),
        # One run per schedule and period: a retried job finds its run instead of a
        # second one (NULL keys, from before migration 0002, never collide).
        Index("uq_report_executions_schedule_period", "schedule_id", "period_key", unique=True),
    )

    id: Mapped[str] = _id()
    schedule_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("report_schedules.id", ondelete="CASCADE")
    )
    workspace_id: Mapped[str] = _workspace_fk()
    status: Mapped[ExecutionStatus] = mapped_column(
        str_enum(ExecutionStatus, "status"), default=ExecutionStatus.RUNNING
    )
    started_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    file_path: Mapped[str | None] = mapped_column(String(1024))
    file_url: Mapped[str | None] = mapped_column(String(2048))
    file_size: Mapped[int | None] = mapped_column(BigInteger)
    process_count: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    summary: Mapped[Any] = _json_optional()
    period_key: Mapped[str | None] = mapped_column(String(32))
    """The schedule's period this run is for (the local date of its slot, ISO)."""

    schedule: Mapped[ReportSchedule] = relationship()


class ReportCustomization(Base):
    """A workspace's report branding (at most one row per workspace)."""

    __tablename__ = "report_customizations"

    id: Mapped[str] = _id()
    workspace_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("workspaces.id", ondelete="CASCADE"), unique=True
    )
    primary_color: Mapped[str] = mapped_column(String(7), default="#2563eb")
    logo_url: Mapped[str | None] = mapped_column(String(2048))
    template: Mapped[str] = mapped_column(String(32), default="corporate")
    header: Mapped[str | None] = mapped_column(Text)
    footer: Mapped[str | None] = mapped_column(Text)


class CaseDocument(Base):
    """An uploaded document (usually a PDF), optionally attached to a monitored process."""

    __tablename__ = "case_documents"

    id: Mapped[str] = _id()
    workspace_id: Mapped[str] = _workspace_fk()
    monitored_process_id: Mapped[str | None] = mapped_column(
        String(36), ForeignKey("monitored_processes.id", ondelete="SET NULL"), index=True
    )
    name: Mapped[str] = mapped_column(String(255))
    mime: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(BigInteger)
    """Bytes."""
    path: Mapped[str] = mapped_column(String(1024))
    pages: Mapped[int | None] = mapped_column(Integer)
    extracted_text: Mapped[str | None] = mapped_column(Text)
    summary: Mapped[str | None] = mapped_column(Text)
    processed: Mapped[bool] = mapped_column(Boolean, default=False)
    ocr_status: Mapped[OcrStatus] = mapped_column(
        str_enum(OcrStatus, "ocr_status"), default=OcrStatus.PENDING
    )
    created_at: Mapped[datetime] = _created_at()


class CaseAnalysis(Base):
    """A versioned AI analysis of a document; temporary ones are deleted after 48 h."""

    __tablename__ = "case_analyses"
    __table_args__ = (
        UniqueConstraint("document_id", "version"),
        Index("ix_case_analyses_temporary_created", "is_temporary", "created_at"),
    )

    id: Mapped[str] = _id()
    document_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("case_documents.id", ondelete="CASCADE")
    )
    workspace_id: Mapped[str] = _workspace_fk()
    version: Mapped[int] = mapped_column(Integer, default=1)
    analysis_type: Mapped[str] = mapped_column(String(50))
    """E.g. ``PDF_UPLOAD``, ``complete``."""
    extracted_data: Mapped[Any] = _json_optional()
    ai_analysis: Mapped[Any] = _json_optional()
    model_used: Mapped[str] = mapped_column(String(100), default="gemini-1.5-flash")
    confidence: Mapped[float | None] = mapped_column(Float)
    processing_ms: Mapped[int | None] = mapped_column(Integer)
    cost_estimate: Mapped[Decimal | None] = mapped_column(Money(15, 6))
    """USD; six decimals because one call costs fractions of a cent."""
    status: Mapped[AnalysisStatus] = mapped_column(
        str_enum(AnalysisStatus, "status"), default=AnalysisStatus.PENDING
    )
    error: Mapped[str | None] = mapped_column(Text)
    is_temporary: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = _created_at()

    document: Mapped[CaseDocument] = relationship()


class AiCache(Base):
    """A cached AI answer, per workspace and key; rows older than 7 days are deleted."""

    __tablename__ = "ai_cache"
    __table_args__ = (UniqueConstraint("workspace_id", "cache_key"),)

    id: Mapped[str] = _id()
    workspace_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("workspaces.id", ondelete="CASCADE")
    )
    cache_key: Mapped[str] = mapped_column(String(255))
    type: Mapped[str] = mapped_column(String(50))
    prompt: Mapped[str | None] = mapped_column(Text)
    result: Mapped[Any] = _json_optional()
    model: Mapped[str | None] = mapped_column(String(100))
    tokens: Mapped[int] = mapped_column(Integer, default=0)
    cost: Mapped[Decimal | None] = mapped_column(Money(15, 6))
    """USD."""
    hits: Mapped[int] = mapped_column(Integer, default=0)
    last_used: Mapped[datetime | None] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)


class Notification(Base):
    """An email or WhatsApp message to send, sent at most once per ``idempotency_key``."""

    __tablename__ = "notifications"
    __table_args__ = (Index("ix_notifications_status_created", "status", "created_at"),)

    id: Mapped[str] = _id()
    workspace_id: Mapped[str] = _workspace_fk()
    channel: Mapped[Channel] = mapped_column(str_enum(Channel, "channel"))
    recipient: Mapped[str] = mapped_column(String(320))
    """Email address, or phone in E.164 for WhatsApp."""
    template: Mapped[str] = mapped_column(String(100))
    subject: Mapped[str | None] = mapped_column(String(300))
    payload: Mapped[dict[str, Any]] = _json_object()
    status: Mapped[NotificationStatus] = mapped_column(
        str_enum(NotificationStatus, "status"), default=NotificationStatus.PENDING
    )
    provider_message_id: Mapped[str | None] = mapped_column(String(255))
    error: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    idempotency_key: Mapped[str] = mapped_column(String(255), unique=True)
    created_at: Mapped[datetime] = _created_at()
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


ALL_TABLES = tuple(Base.metadata.sorted_tables)
"""Every application table, parents before children."""
