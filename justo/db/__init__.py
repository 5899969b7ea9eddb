"""The application database: models, sessions and schema migrations.

Sync SQLAlchemy 2 (workers call it from threads with ``asyncio.to_thread``), on SQLite
(``<data_dir>/justo.db``, the default) or PostgreSQL (``DATABASE_URL``)::

    from justo.db import check_schema, database_url, make_engine, session_factory

    url = database_url(os.environ, settings.data_dir)
    engine = make_engine(url)
    check_schema(engine)              # SchemaOutdatedError: run `justo-console db upgrade`
    Session = session_factory(engine)
"""

from __future__ import annotations

from justo.db.errors import DatabaseUnavailableError, SchemaOutdatedError, UnknownSchemaError
from justo.db.migrate import (
    alembic_config,
    check_schema,
    current_revision,
    head_revision,
    upgrade,
)
from justo.db.models import (
    AiCache,
    AnalysisStatus,
    Base,
    CaseAnalysis,
    CaseDocument,
    Channel,
    Client,
    ClientType,
    ExecutionStatus,
    Importance,
    MonitoredProcess,
    MonitoringStatus,
    MovementCategory,
    Notification,
    NotificationStatus,
    OcrStatus,
    Plan,
    ProcessMovement,
    ProcessSource,
    ProcessSyncLog,
    ReportCustomization,
    ReportExecution,
    ReportFrequency,
    ReportSchedule,
    ReportType,
    SyncFrequency,
    SyncStatus,
    SyncType,
    Workspace,
    WorkspaceStatus,
)
from justo.db.session import database_url, make_engine, redact, session_factory
from justo.db.types import Money, UTCDateTime, new_id, utcnow

__all__ = [
    "AiCache",
    "AnalysisStatus",
    "Base",
    "CaseAnalysis",
    "CaseDocument",
    "Channel",
    "Client",
    "ClientType",
    "DatabaseUnavailableError",
    "ExecutionStatus",
    "Importance",
    "Money",
    "MonitoredProcess",
    "MonitoringStatus",
    "MovementCategory",
    "Notification",
    "NotificationStatus",
    "OcrStatus",
    "Plan",
    "ProcessMovement",
    "ProcessSource",
    "ProcessSyncLog",
    "ReportCustomization",
    "ReportExecution",
    "ReportFrequency",
    "ReportSchedule",
    "ReportType",
    "SchemaOutdatedError",
    "SyncFrequency",
    "SyncStatus",
    "SyncType",
    "UTCDateTime",
    "UnknownSchemaError",
    "Workspace",
    "WorkspaceStatus",
    "alembic_config",
    "check_schema",
    "current_revision",
    "database_url",
    "head_revision",
    "make_engine",
    "new_id",
    "redact",
    "session_factory",
    "upgrade",
    "utcnow",
]
