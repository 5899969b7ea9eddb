"""End to end through the real wiring: a due report schedule produces a report, which
enqueues an email notification, which arrives at a local SMTP server with the PDF."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from redis.asyncio import Redis

from engine import Queue, Registry, Worker
from engine.runtime.settings import Settings
from justo import catalog
from justo.db import make_engine, session_factory
from justo.db.models import (
    Client,
    MonitoredProcess,
    ProcessMovement,
    ReportFrequency,
    ReportSchedule,
    ReportType,
    Workspace,
)
from justo.jobs.wiring import demo_cnj, open_justo_jobs
from tests.conftest import eventually
from tests.justo.jobs.notifications.fakes import SmtpRecorder, smtp_server


def seed(url: str) -> str:
    """A workspace, a client with one monitored process and a movement, and a due weekly
    schedule; returns the schedule id."""
    sessions = session_factory(make_engine(url))
    with sessions.begin() as s:
        ws = Workspace(name="Silva & Souza Advogados", slug="silva")
        s.add(ws)
        s.flush()
        client = Client(workspace_id=ws.id, name="Maria <b>Oliveira</b>")
        s.add(client)
        s.flush()
        process = MonitoredProcess(
            workspace_id=ws.id,
            client_id=client.id,
            process_number=demo_cnj(3),
            court="TJSP",
            client_name=client.name,
        )
        s.add(process)
        s.flush()
        s.add(
            ProcessMovement(
                monitored_process_id=process.id,
                provider="judit",
                step_id="a1",
                date=datetime.now(UTC) - timedelta(days=1),
                description="Audiência designada",
            )
        )
        schedule = ReportSchedule(
            workspace_id=ws.id,
            client_id=client.id,
            name="Semanal",
            type=ReportType.CASE_SUMMARY,
            frequency=ReportFrequency.WEEKLY,
            day_of_week=0,
            recipients=["socia@silva.adv.br"],
            next_run=datetime.now(UTC) - timedelta(hours=1),
        )
        s.add(schedule)
        s.flush()
        return schedule.id


async def test_due_schedule_to_email_in_the_inbox(
    redis: Redis, prefix: str, tmp_path: Path
) -> None:
    settings = Settings(queues=catalog.QUEUES, recurring=(), prefix=prefix, data_dir=tmp_path)
    recorder = SmtpRecorder()
    with smtp_server(recorder) as port:
        env = {
            "SMTP_HOST": "127.0.0.1",
            "SMTP_PORT": str(port),
            "SMTP_TLS": "none",
            "EMAIL_FROM": "relatorios@justoai.com.br",
        }
        registry = Registry()
        jobs = await open_justo_jobs(redis, settings, env, demo=False)
        jobs.register(registry)
        try:
            schedule_id = await asyncio.to_thread(seed, f"sqlite:///{tmp_path / 'justo.db'}")
            queues = {
                c.name: Queue(redis, c.name, prefix=prefix, options=c.options)
                for c in catalog.QUEUES
                if c.name in ("reports", "notifications")
            }
            await queues["reports"].add("generate-scheduled-reports", {})
            workers = [Worker(q, registry, concurrency=2) for q in queues.values()]
            tasks = [asyncio.create_task(w.run()) for w in workers]

            async def delivered() -> bool:
                return len(recorder.received) == 1

            await eventually(delivered, timeout=30)
            for worker in workers:
                worker.stop()
            await asyncio.gather(*tasks)
        finally:
            await jobs.aclose()
    [report] = await queues["reports"].jobs("completed", 0, -1)
    assert (report.result["success"], report.result["total"], report.result["completed"]) == (
        True,
        1,
        1,
    )
    [outcome] = report.result["results"]
    period = outcome["periodKey"]
    assert outcome["scheduleId"] == schedule_id
    [sent] = await queues["notifications"].jobs("completed", 0, -1)
    assert sent.id == f"report:{schedule_id}:{period}"

    [mail] = recorder.received
    assert (mail.mail_from, mail.rcpt_tos) == ("relatorios@justoai.com.br", ["socia@silva.adv.br"])
    message = mail.message
    label = date.fromisoformat(period).strftime("%d/%m/%Y")
    assert message["Subject"] == f"Relatório Semanal — {label}"
    # The PDF the report job wrote, byte for byte.
    [pdf] = list(message.iter_attachments())
    assert (pdf.get_content_type(), pdf.get_filename()) == (
        "application/pdf",
        f"relatorio-{period}.pdf",
    )
    written = await asyncio.to_thread(Path(outcome["filePath"]).read_bytes)
    assert pdf.get_content() == written
