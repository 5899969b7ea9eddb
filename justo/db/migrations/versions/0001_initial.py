"""Initial schema: workspaces, clients, monitored processes and their movements and sync
logs, report schedules/executions/customizations, documents and AI analyses, AI cache,
notifications.

Written out by hand (frozen: it imports nothing from ``justo.db.models``). Enums are
``VARCHAR(32)`` plus a CHECK of the allowed values; timestamps are timezone-aware;
primary keys are text UUIDs.

Revision ID: 0001
Revises:
Create Date: 2026-03-30
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UUID_LEN = 36
ENUM_LEN = 32


def _id(name: str = "id", *, nullable: bool = False) -> sa.Column[str]:
    return sa.Column(name, sa.String(UUID_LEN), nullable=nullable)


def _ts(name: str, *, nullable: bool) -> sa.Column[datetime]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _enum(name: str) -> sa.Column[str]:
    return sa.Column(name, sa.String(ENUM_LEN), nullable=False)


def _pk(table: str) -> sa.PrimaryKeyConstraint:
    return sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{table}"))


def _fk(table: str, column: str, target: str, ondelete: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column], [f"{target}.id"], ondelete=ondelete, name=op.f(f"fk_{table}_{column}_{target}")
    )


def _one_of(table: str, column: str, *values: str) -> sa.CheckConstraint:
    allowed = ", ".join(f"'{value}'" for value in values)
    return sa.CheckConstraint(f"{column} IN ({allowed})", name=op.f(f"ck_{table}_{column}"))


def _index(table: str, *columns: str, name: str | None = None) -> None:
    op.create_index(op.f(name or f"ix_{table}_{'_'.join(columns)}"), table, list(columns))


def upgrade() -> None:
    """Create every table."""
    op.create_table(
        "workspaces",
        _id(),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("slug", sa.String(100), nullable=False),
        _enum("plan"),
        _enum("status"),
        sa.Column("settings", sa.JSON(), nullable=False),
        _ts("created_at", nullable=False),
        _pk("workspaces"),
        sa.UniqueConstraint("slug", name=op.f("uq_workspaces_slug")),
        _one_of("workspaces", "plan", "FREE", "BASIC", "PRO", "ENTERPRISE"),
        _one_of("workspaces", "status", "ACTIVE", "INACTIVE", "SUSPENDED", "DELETED"),
    )

    op.create_table(
        "clients",
        _id(),
        _id("workspace_id"),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("email", sa.String(320), nullable=True),
        sa.Column("phone", sa.String(32), nullable=True),
        sa.Column("document", sa.String(32), nullable=True),
        _enum("type"),
        _ts("created_at", nullable=False),
        _pk("clients"),
        _fk("clients", "workspace_id", "workspaces", "CASCADE"),
        _one_of("clients", "type", "INDIVIDUAL", "COMPANY", "GOVERNMENT", "NGO"),
    )
    _index("clients", "workspace_id")

    op.create_table(
        "monitored_processes",
        _id(),
        _id("workspace_id"),
        _id("client_id", nullable=True),
        sa.Column("process_number", sa.String(25), nullable=False),
        sa.Column("court", sa.String(100), nullable=True),
        sa.Column("client_name", sa.String(200), nullable=True),
        sa.Column("process_data", sa.JSON(), nullable=True),
        _enum("monitoring_status"),
        _ts("last_sync", nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        _enum("sync_frequency"),
        sa.Column("alerts_enabled", sa.Boolean(), nullable=False),
        sa.Column("alert_recipients", sa.JSON(), nullable=False),
        _enum("source"),
        _ts("created_at", nullable=False),
        _ts("updated_at", nullable=False),
        _pk("monitored_processes"),
        _fk("monitored_processes", "workspace_id", "workspaces", "CASCADE"),
        _fk("monitored_processes", "client_id", "clients", "SET NULL"),
        sa.UniqueConstraint(
            "workspace_id",
            "process_number",
            name=op.f("uq_monitored_processes_workspace_id_process_number"),
        ),
        _one_of("monitored_processes", "monitoring_status", "ACTIVE", "PAUSED", "STOPPED", "ERROR"),
        _one_of("monitored_processes", "sync_frequency", "HOURLY", "DAILY", "WEEKLY", "MANUAL"),
        _one_of("monitored_processes", "source", "JUDIT_API", "CODILO_API", "DEMO", "MANUAL_INPUT"),
    )
    _index("monitored_processes", "client_id")
    _index(
        "monitored_processes",
        "workspace_id",
        "monitoring_status",
        "last_sync",
        name="ix_monitored_processes_workspace_status_sync",
    )
    _index(
        "monitored_processes",
        "monitoring_status",
        "last_sync",
        name="ix_monitored_processes_status_sync",
    )

    op.create_table(
        "process_movements",
        _id(),
        _id("monitored_process_id"),
        sa.Column("provider", sa.String(32), nullable=False),
        sa.Column("step_id", sa.String(128), nullable=False),
        _ts("date", nullable=True),
        sa.Column("type", sa.String(100), nullable=True),
        sa.Column("description", sa.Text(), nullable=False),
        _enum("category"),
        _enum("importance"),
        sa.Column("requires_action", sa.Boolean(), nullable=False),
        _ts("deadline", nullable=True),
        sa.Column("raw_data", sa.JSON(), nullable=True),
        sa.Column("read", sa.Boolean(), nullable=False),
        sa.Column("archived", sa.Boolean(), nullable=False),
        _ts("created_at", nullable=False),
        _pk("process_movements"),
        _fk("process_movements", "monitored_process_id", "monitored_processes", "CASCADE"),
        sa.UniqueConstraint(
            "monitored_process_id",
            "provider",
            "step_id",
            name=op.f("uq_process_movements_monitored_process_id_provider_step_id"),
        ),
        _one_of(
            "process_movements",
            "category",
            "HEARING",
            "DECISION",
            "PETITION",
            "DOCUMENT_REQUEST",
            "DEADLINE",
            "NOTIFICATION",
            "APPEAL",
            "SETTLEMENT",
            "OTHER",
        ),
        _one_of("process_movements", "importance", "LOW", "MEDIUM", "HIGH", "URGENT"),
    )
    _index(
        "process_movements",
        "monitored_process_id",
        "date",
        name="ix_process_movements_process_date",
    )

    op.create_table(
        "process_sync_logs",
        _id(),
        _id("monitored_process_id", nullable=True),
        _id("workspace_id", nullable=True),
        _enum("sync_type"),
        _enum("status"),
        sa.Column("new_movements", sa.Integer(), nullable=False),
        sa.Column("updated_movements", sa.Integer(), nullable=False),
        sa.Column("errors", sa.JSON(), nullable=False),
        sa.Column("duration_ms", sa.Integer(), nullable=True),
        sa.Column("api_source", sa.String(32), nullable=True),
        sa.Column("details", sa.JSON(), nullable=True),
        _ts("started_at", nullable=False),
        _ts("finished_at", nullable=True),
        _pk("process_sync_logs"),
        _fk("process_sync_logs", "monitored_process_id", "monitored_processes", "CASCADE"),
        _fk("process_sync_logs", "workspace_id", "workspaces", "CASCADE"),
        _one_of("process_sync_logs", "sync_type", "FULL", "INCREMENTAL", "MANUAL", "BATCH"),
        _one_of("process_sync_logs", "status", "SUCCESS", "PARTIAL_SUCCESS", "FAILED", "TIMEOUT"),
    )
    _index("process_sync_logs", "monitored_process_id")
    _index("process_sync_logs", "workspace_id")
    _index(
        "process_sync_logs", "status", "finished_at", name="ix_process_sync_logs_status_finished"
    )

    op.create_table(
        "report_schedules",
        _id(),
        _id("workspace_id"),
        _id("client_id", nullable=True),
        sa.Column("name", sa.String(200), nullable=False),
        _enum("type"),
        _enum("frequency"),
        sa.Column("day_of_week", sa.Integer(), nullable=True),
        sa.Column("day_of_month", sa.Integer(), nullable=True),
        sa.Column("time", sa.String(5), nullable=False),
        sa.Column("timezone", sa.String(64), nullable=False),
        sa.Column("filters", sa.JSON(), nullable=False),
        sa.Column("recipients", sa.JSON(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        _ts("last_run", nullable=True),
        _ts("next_run", nullable=True),
        sa.Column("run_count", sa.Integer(), nullable=False),
        _ts("created_at", nullable=False),
        _pk("report_schedules"),
        _fk("report_schedules", "workspace_id", "workspaces", "CASCADE"),
        _fk("report_schedules", "client_id", "clients", "SET NULL"),
        _one_of(
            "report_schedules",
            "type",
            "CASE_SUMMARY",
            "FINANCIAL",
            "PRODUCTIVITY",
            "DEADLINE_ALERTS",
            "CUSTOM",
        ),
        _one_of(
            "report_schedules",
            "frequency",
            "DAILY",
            "WEEKLY",
            "BIWEEKLY",
            "MONTHLY",
            "QUARTERLY",
            "YEARLY",
        ),
        sa.CheckConstraint(
            "day_of_week BETWEEN 0 AND 6", name=op.f("ck_report_schedules_day_of_week")
        ),
        sa.CheckConstraint(
            "day_of_month BETWEEN 1 AND 31", name=op.f("ck_report_schedules_day_of_month")
        ),
    )
    _index("report_schedules", "workspace_id")
    _index("report_schedules", "client_id")
    _index("report_schedules", "enabled", "next_run", name="ix_report_schedules_enabled_next_run")

    op.create_table(
        "report_executions",
        _id(),
        _id("schedule_id"),
        _id("workspace_id"),
        _enum("status"),
        _ts("started_at", nullable=False),
        _ts("finished_at", nullable=True),
        sa.Column("file_path", sa.String(1024), nullable=True),
        sa.Column("file_url", sa.String(2048), nullable=True),
        sa.Column("file_size", sa.BigInteger(), nullable=True),
        sa.Column("process_count", sa.Integer(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("summary", sa.JSON(), nullable=True),
        _pk("report_executions"),
        _fk("report_executions", "schedule_id", "report_schedules", "CASCADE"),
        _fk("report_executions", "workspace_id", "workspaces", "CASCADE"),
        _one_of("report_executions", "status", "RUNNING", "COMPLETED", "FAILED"),
    )
    _index("report_executions", "workspace_id")
    _index(
        "report_executions",
        "schedule_id",
        "started_at",
        name="ix_report_executions_schedule_started",
    )

    op.create_table(
        "report_customizations",
        _id(),
        _id("workspace_id"),
        sa.Column("primary_color", sa.String(7), nullable=False),
        sa.Column("logo_url", sa.String(2048), nullable=True),
        sa.Column("template", sa.String(32), nullable=False),
        sa.Column("header", sa.Text(), nullable=True),
        sa.Column("footer", sa.Text(), nullable=True),
        _pk("report_customizations"),
        _fk("report_customizations", "workspace_id", "workspaces", "CASCADE"),
        sa.UniqueConstraint("workspace_id", name=op.f("uq_report_customizations_workspace_id")),
    )

    op.create_table(
        "case_documents",
        _id(),
        _id("workspace_id"),
        _id("monitored_process_id", nullable=True),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("mime", sa.String(100), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("path", sa.String(1024), nullable=False),
        sa.Column("pages", sa.Integer(), nullable=True),
        sa.Column("extracted_text", sa.Text(), nullable=True),
        sa.Column("summary", sa.Text(), nullable=True),
        sa.Column("processed", sa.Boolean(), nullable=False),
        _enum("ocr_status"),
        _ts("created_at", nullable=False),
        _pk("case_documents"),
        _fk("case_documents", "workspace_id", "workspaces", "CASCADE"),
        _fk("case_documents", "monitored_process_id", "monitored_processes", "SET NULL"),
        _one_of(
            "case_documents",
            "ocr_status",
            "PENDING",
            "PROCESSING",
            "COMPLETED",
            "FAILED",
            "CANCELLED",
        ),
    )
    _index("case_documents", "workspace_id")
    _index("case_documents", "monitored_process_id")

    op.create_table(
        "case_analyses",
        _id(),
        _id("document_id"),
        _id("workspace_id"),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("analysis_type", sa.String(50), nullable=False),
        sa.Column("extracted_data", sa.JSON(), nullable=True),
        sa.Column("ai_analysis", sa.JSON(), nullable=True),
        sa.Column("model_used", sa.String(100), nullable=False),
        sa.Column("confidence", sa.Float(), nullable=True),
        sa.Column("processing_ms", sa.Integer(), nullable=True),
        sa.Column("cost_estimate", sa.Numeric(15, 6), nullable=True),
        _enum("status"),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("is_temporary", sa.Boolean(), nullable=False),
        _ts("created_at", nullable=False),
        _pk("case_analyses"),
        _fk("case_analyses", "document_id", "case_documents", "CASCADE"),
        _fk("case_analyses", "workspace_id", "workspaces", "CASCADE"),
        sa.UniqueConstraint(
            "document_id", "version", name=op.f("uq_case_analyses_document_id_version")
        ),
        _one_of("case_analyses", "status", "PENDING", "PROCESSING", "COMPLETED", "FAILED"),
    )
    _index("case_analyses", "workspace_id")
    _index("case_analyses", "is_temporary", "created_at", name="ix_case_analyses_temporary_created")

    op.create_table(
        "ai_cache",
        _id(),
        _id("workspace_id"),
        sa.Column("cache_key", sa.String(255), nullable=False),
        sa.Column("type", sa.String(50), nullable=False),
        sa.Column("prompt", sa.Text(), nullable=True),
        sa.Column("result", sa.JSON(), nullable=True),
        sa.Column("model", sa.String(100), nullable=True),
        sa.Column("tokens", sa.Integer(), nullable=False),
        sa.Column("cost", sa.Numeric(15, 6), nullable=True),
        sa.Column("hits", sa.Integer(), nullable=False),
        _ts("last_used", nullable=True),
        _ts("expires_at", nullable=True),
        _ts("created_at", nullable=False),
        _pk("ai_cache"),
        _fk("ai_cache", "workspace_id", "workspaces", "CASCADE"),
        sa.UniqueConstraint(
            "workspace_id", "cache_key", name=op.f("uq_ai_cache_workspace_id_cache_key")
        ),
    )
    _index("ai_cache", "expires_at")
    _index("ai_cache", "created_at")

    op.create_table(
        "notifications",
        _id(),
        _id("workspace_id"),
        _enum("channel"),
        sa.Column("recipient", sa.String(320), nullable=False),
        sa.Column("template", sa.String(100), nullable=False),
        sa.Column("subject", sa.String(300), nullable=True),
        sa.Column("payload", sa.JSON(), nullable=False),
        _enum("status"),
        sa.Column("provider_message_id", sa.String(255), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("idempotency_key", sa.String(255), nullable=False),
        _ts("created_at", nullable=False),
        _ts("sent_at", nullable=True),
        _pk("notifications"),
        _fk("notifications", "workspace_id", "workspaces", "CASCADE"),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_notifications_idempotency_key")),
        _one_of("notifications", "channel", "email", "whatsapp"),
        _one_of("notifications", "status", "pending", "sent", "failed"),
    )
    _index("notifications", "workspace_id")
    _index("notifications", "status", "created_at", name="ix_notifications_status_created")


def downgrade() -> None:
    """Drop every table (children first); their indexes go with them."""
    for table in (
        "notifications",
        "ai_cache",
        "case_analyses",
        "case_documents",
        "report_customizations",
        "report_executions",
        "report_schedules",
        "process_sync_logs",
        "process_movements",
        "monitored_processes",
        "clients",
        "workspaces",
    ):
        op.drop_table(table)
