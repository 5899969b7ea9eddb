"""Putting the JustoAI jobs together for a supervisor: database, providers, handlers.

- Database: ``DATABASE_URL``, else a SQLite file under the data directory. The default
  SQLite file is ours, so its schema is upgraded automatically; a configured database must
  already be at the code's revision (``SchemaOutdatedError`` says to run
  ``justo-console db upgrade``), so deploys stay in the operator's hands.
- Providers: Judit, then Codilo as fallback, from the environment. With none configured,
  ``--demo`` starts the labelled sandbox provider on loopback and seeds a demo workspace;
  without ``--demo`` the sync jobs fail with a clear "no provider configured" error and
  nothing falls back silently.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from redis.asyncio import Redis
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from engine.errors import ConfigError
from engine.queue.queue import Queue
from engine.runtime.settings import Settings
from engine.worker.context import JobContext
from engine.worker.registry import Handler, Registry
from justo.db import check_schema, database_url, make_engine, session_factory, upgrade
from justo.db.models import MonitoredProcess, MonitoringStatus, ProcessSource, Workspace
from justo.jobs.cleanup import CLEANUP_JOBS, CleanupWorker
from justo.jobs.cnj import check_digits
from justo.jobs.documents.ai import AiClient
from justo.jobs.documents.worker import JOB_NAME as DOCUMENT_JOB
from justo.jobs.documents.worker import DocumentWorker
from justo.jobs.lawsuit import LawsuitProvider
from justo.jobs.notifications import (
    NOTIFICATION_JOB,
    NOTIFICATION_QUEUE,
    NotificationWorker,
    senders_from_env,
)
from justo.jobs.providers import ProviderChain, demo_provider, providers_from_env
from justo.jobs.reports import REPORT_JOBS, ReportsWorker
from justo.jobs.store import SqlCleanupStore, SqlSyncStore
from justo.jobs.sync import SYNC_JOBS, SyncWorker

log = logging.getLogger("justo")

DEMO_SLUG = "demo"
"""Slug of the seeded demo workspace."""

DEMO_PROCESSES = 12
"""Monitored processes in the demo workspace."""


@dataclass
class JustoJobs:
    """What the jobs hold open; ``aclose`` releases it."""

    engine: Engine
    sessions: sessionmaker[Session]
    provider: LawsuitProvider | None
    stack: contextlib.AsyncExitStack
    demo_workspace_id: str | None = None
    handlers: dict[str, Handler] = field(default_factory=dict)

    def add(self, name: str, handler: Handler) -> None:
        """Keep ``handler`` for job ``name`` (registered by ``register``)."""
        self.handlers[name] = handler

    def register(self, registry: Registry) -> None:
        """Add every JustoAI handler to ``registry``: the seam an operator's ``--import``
        module uses too."""
        for name, handler in self.handlers.items():
            registry.add(name, handler)

    async def aclose(self) -> None:
        """Close provider clients, the demo server and the database engine."""
        await self.stack.aclose()
        self.engine.dispose()


def open_database(env: Mapping[str, str], settings: Settings) -> tuple[Engine, str]:
    """The engine, upgraded (default SQLite) or checked (configured database).

    Raises:
        SchemaOutdatedError: a configured database is behind the code.
    """
    url = database_url(env, settings.data_dir)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = make_engine(url)
    if env.get("DATABASE_URL"):
        check_schema(engine)
    else:
        upgrade(engine)
    return engine, url


async def open_justo_jobs(
    redis: Redis, settings: Settings, env: Mapping[str, str], *, demo: bool
) -> JustoJobs:
    """Open the database, providers and clients and build every JustoAI handler; register
    them with ``JustoJobs.register`` and close them with ``JustoJobs.aclose``."""
    engine, _ = await asyncio.to_thread(open_database, env, settings)
    sessions = session_factory(engine)
    stack = contextlib.AsyncExitStack()
    jobs = JustoJobs(engine, sessions, None, stack)
    providers = providers_from_env(env, redis=redis, prefix=settings.prefix)
    if not providers and demo:
        providers = [await stack.enter_async_context(demo_provider())]
        jobs.demo_workspace_id = await asyncio.to_thread(seed_demo_workspace, sessions)
        log.info("DEMO SANDBOX provider on loopback: synthetic lawsuits, no real court data")
    for provider in providers:
        closer = getattr(provider, "aclose", None)
        if closer is not None and provider.name != "demo":
            stack.push_async_callback(closer)
    jobs.provider = (
        providers[0] if len(providers) == 1 else ProviderChain(providers) if providers else None
    )
    cache_prefix = env.get("JUSTO_CACHE_PREFIX", "")
    sync_handler: Any = (
        SyncWorker(
            SqlSyncStore(sessions),
            jobs.provider,
            redis,
            cache_prefix=cache_prefix,
            save_stats=env.get("SAVE_SYNC_STATS", "") == "true",
        )
        if jobs.provider is not None
        else _no_provider
    )
    for name in SYNC_JOBS:
        jobs.add(name, sync_handler)
    cleanup = CleanupWorker(redis, SqlCleanupStore(sessions), key_prefix=cache_prefix)
    for name in CLEANUP_JOBS:
        jobs.add(name, cleanup)
    notifications = Queue(
        redis,
        NOTIFICATION_QUEUE,
        prefix=settings.prefix,
        options=settings.queue(NOTIFICATION_QUEUE).options,
    )

    async def enqueue_notification(data: dict[str, Any], job_id: str) -> object:
        # The job id is the idempotency key: a retried report never sends twice.
        return await notifications.add(NOTIFICATION_JOB, data, job_id=job_id, priority=1)

    reports = ReportsWorker(
        sessions,
        output_dir=settings.data_dir / "reports",
        enqueue_notification=enqueue_notification,
    )
    for name in REPORT_JOBS:
        jobs.add(name, reports)
    ai = AiClient.from_env(env)
    if ai is not None:
        stack.push_async_callback(ai.aclose)
    documents = DocumentWorker(sessions, redis, ai=ai, cache_prefix=cache_prefix)
    stack.callback(documents.close)
    jobs.add(DOCUMENT_JOB, documents)
    senders = senders_from_env(env)
    stack.push_async_callback(senders.aclose)
    attempts = settings.queue(NOTIFICATION_QUEUE).options.attempts
    jobs.add(
        NOTIFICATION_JOB,
        NotificationWorker(
            sessions,
            email=senders.email,
            whatsapp=senders.whatsapp,
            max_attempts=attempts,
            raise_permanent=True,
        ),
    )
    return jobs


async def _no_provider(job: JobContext) -> None:
    raise ConfigError(
        "no court-data provider configured: set JUDIT_API_KEY (and "
        "CODILO_CLIENT_ID/CODILO_CLIENT_SECRET for the fallback)"
    )


def demo_cnj(i: int) -> str:
    """A valid CNJ number for demo process ``i`` (TJSP, filed 2024)."""
    number, year, segment, court, origin = f"{1000001 + i:07d}", "2024", "8", "26", "0100"
    digits = check_digits(number, year, segment, court, origin)
    return f"{number}-{digits}.{year}.{segment}.{court}.{origin}"


def seed_demo_workspace(sessions: sessionmaker[Session]) -> str:
    """Create (once) the demo workspace and its monitored processes; returns its id."""
    with sessions.begin() as session:
        found = session.scalars(select(Workspace).where(Workspace.slug == DEMO_SLUG)).first()
        if found is not None:
            return found.id
        workspace = Workspace(name="Demo Workspace (synthetic data)", slug=DEMO_SLUG)
        session.add(workspace)
        session.flush()
        for i in range(DEMO_PROCESSES):
            session.add(
                MonitoredProcess(
                    workspace_id=workspace.id,
                    process_number=demo_cnj(i),
                    court="TJSP",
                    client_name=f"Demo client {i + 1}",
                    source=ProcessSource.DEMO,
                    monitoring_status=MonitoringStatus.ACTIVE,
                )
            )
        return workspace.id
