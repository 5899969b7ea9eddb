"""The reports worker on SQLite and PostgreSQL: due-schedule selection, report content,
files and execution rows, the notification contract, schedule advance, and idempotency
(a retried job never generates or sends a period twice)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from engine.worker.context import JobContext
from justo.db.models import (
    Client,
    ExecutionStatus,
    MonitoredProcess,
    MonitoringStatus,
    ProcessMovement,
    ReportCustomization,
    ReportExecution,
    ReportFrequency,
    ReportSchedule,
    ReportType,
    Workspace,
    WorkspaceStatus,
)
from justo.jobs.reports import (
    REPORT_JOBS,
    RecurrenceError,
    ReportJobError,
    ReportsFailedError,
    ReportsWorker,
    ScheduleNotFoundError,
)
from justo.jobs.reports.store import SqlReportStore
from tests.conftest import QueueFactory, eventually
from tests.justo.jobs.reports.factories import CNJ_A, CNJ_B, HOSTILE, NOW, mtime, read_report
from tests.support import JobRecorder

SP = ZoneInfo("America/Sao_Paulo")
CNJ_C = "3000233-64.2025.8.19.0001"
CNJ_OTHER = "0003695-16.2019.8.26.0189"
NEXT_SUNDAY = datetime(2026, 4, 12, 23, 0, tzinfo=SP)


class Job(JobRecorder):
    """A reports job context whose progress and log lines are recorded."""

    def __init__(self, name: str, data: Any = None) -> None:
        super().__init__(name, {} if data is None else data, queue="reports")


@dataclass
class Outbox:
    """``enqueue_notification`` that records every call, repeated job ids included (it does
    not dedupe like the queue: the real queue's dedupe is tested with the real queue).

    With ``gated``, each call waits for a ticket (``admit``) before it is recorded.
    """

    calls: list[tuple[dict[str, Any], str]] = field(default_factory=list)
    fail: int = 0
    gated: bool = False
    in_flight: int = 0
    max_in_flight: int = 0
    tickets: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(0))

    def admit(self, calls: int) -> None:
        """Let ``calls`` more gated calls through."""
        for _ in range(calls):
            self.tickets.release()

    async def __call__(self, data: dict[str, Any], job_id: str) -> object:
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if self.gated:
                await self.tickets.acquire()
            if self.fail > 0:
                self.fail -= 1
                raise ConnectionError("redis is down")
            self.calls.append((data, job_id))
            return job_id
        finally:
            self.in_flight -= 1

    def job_ids(self) -> list[str]:
        """The job ids of the recorded calls, in order."""
        return [job_id for _, job_id in self.calls]


async def until(predicate: Callable[[], bool]) -> None:
    """Wait until ``predicate()`` holds (checked between the worker's steps)."""

    async def check() -> bool:
        return predicate()

    await eventually(check)


@dataclass
class World:
    """Seeded rows: workspace ids, client ids and schedule ids by name."""

    workspace: str
    other_workspace: str
    client: str
    hostile_client: str
    schedules: dict[str, str] = field(default_factory=dict)


def seed(sessions: sessionmaker[Session]) -> World:
    """Workspace "Silva" (branding, two clients, three processes with movements) and an
    "Other" workspace whose rows must never show up."""
    with sessions.begin() as s:
        ws = Workspace(name="Silva & Souza Advogados", slug="silva")
        other = Workspace(name="Other", slug="other")
        s.add_all([ws, other])
        s.flush()
        s.add(
            ReportCustomization(
                workspace_id=ws.id,
                primary_color="#0a7f3c",
                template="minimal",
                footer="OAB/SP 12.345",
            )
        )
        client = Client(workspace_id=ws.id, name="José da Conceição Ações Ltda")
        hostile = Client(workspace_id=ws.id, name=HOSTILE)
        s.add_all([client, hostile])
        s.flush()
        a = MonitoredProcess(
            workspace_id=ws.id,
            client_id=client.id,
            process_number=CNJ_A,
            court="TJRJ",
            last_sync=NOW - timedelta(hours=2),
        )
        b = MonitoredProcess(
            workspace_id=ws.id, client_id=hostile.id, process_number=CNJ_B, court="TJRJ"
        )
        c = MonitoredProcess(workspace_id=ws.id, process_number=CNJ_C, client_name="Avulso")
        stopped = MonitoredProcess(
            workspace_id=ws.id,
            client_id=client.id,
            process_number="0000001-00.2020.8.26.0001",
            monitoring_status=MonitoringStatus.STOPPED,
        )
        x = MonitoredProcess(workspace_id=other.id, process_number=CNJ_OTHER)
        s.add_all([a, b, c, stopped, x])
        s.flush()
        s.add_all(
            [
                _movement(a, "a1", NOW - timedelta(days=2), "Juntada de petição — réplica"),
                _movement(a, "a2", NOW - timedelta(days=20), "Movimento antigo"),
                _movement(
                    a,
                    "a3",
                    NOW - timedelta(days=1),
                    "Intimação para manifestação",
                    deadline=NOW + timedelta(days=5),
                ),
                _movement(
                    a,
                    "a4",
                    NOW - timedelta(days=30),
                    "Prazo distante",
                    deadline=NOW + timedelta(days=30),
                ),
                _movement(
                    a, "a5", NOW - timedelta(days=1), "Arquivado pelo usuário", archived=True
                ),
                _movement(b, "b1", NOW - timedelta(days=3), "Sentença publicada"),
                _movement(c, "c1", NOW - timedelta(days=4), "Despacho avulso"),
                _movement(
                    x,
                    "x1",
                    NOW - timedelta(days=1),
                    "Segredo de outro escritório",
                    deadline=NOW + timedelta(days=2),
                ),
            ]
        )
        return World(ws.id, other.id, client.id, hostile.id)


def _movement(
    process: MonitoredProcess,
    step: str,
    when: datetime,
    text: str,
    *,
    deadline: datetime | None = None,
    archived: bool = False,
) -> ProcessMovement:
    return ProcessMovement(
        monitored_process_id=process.id,
        provider="judit",
        step_id=step,
        date=when,
        description=text,
        deadline=deadline,
        requires_action=deadline is not None,
        archived=archived,
        created_at=when,
    )


def add_schedule(sessions: sessionmaker[Session], world: World, name: str, **values: Any) -> str:
    defaults: dict[str, Any] = {
        "workspace_id": world.workspace,
        "name": name,
        "type": ReportType.CASE_SUMMARY,
        "frequency": ReportFrequency.WEEKLY,
        "day_of_week": 0,
        "time": "23:00",
        "recipients": ["socio@silva.adv.br", "cliente@example.com"],
    }
    defaults.update(values)
    with sessions.begin() as s:
        schedule = ReportSchedule(**defaults)
        s.add(schedule)
        s.flush()
        world.schedules[name] = schedule.id
        return schedule.id


def make_worker(
    sessions: sessionmaker[Session],
    tmp_path: Path,
    outbox: Outbox,
    clock: Callable[[], datetime] = lambda: NOW,
    **options: Any,
) -> ReportsWorker:
    return ReportsWorker(
        sessions,
        output_dir=tmp_path / "reports",
        enqueue_notification=outbox,
        clock=clock,
        batch_pause_s=0,
        **options,
    )


def executions(sessions: sessionmaker[Session], schedule_id: str) -> list[ReportExecution]:
    with sessions() as s:
        return list(
            s.scalars(select(ReportExecution).where(ReportExecution.schedule_id == schedule_id))
        )


def schedule_row(sessions: sessionmaker[Session], schedule_id: str) -> ReportSchedule:
    with sessions() as s:
        row = s.get(ReportSchedule, schedule_id)
        assert row is not None
        return row


@pytest.fixture
def world(sessions: sessionmaker[Session]) -> World:
    return seed(sessions)


# --- selection --------------------------------------------------------------------------


async def test_due_schedule_selection(sessions: sessionmaker[Session], world: World) -> None:
    due = add_schedule(sessions, world, "due", next_run=NOW - timedelta(days=7))
    never = add_schedule(sessions, world, "never-run")
    soon = add_schedule(sessions, world, "in-grace", next_run=NOW + timedelta(minutes=2))
    add_schedule(sessions, world, "future", next_run=NOW + timedelta(hours=1))
    add_schedule(sessions, world, "disabled", enabled=False, next_run=NOW - timedelta(days=1))
    with sessions.begin() as s:
        suspended = Workspace(name="Gone", slug="gone", status=WorkspaceStatus.SUSPENDED)
        s.add(suspended)
        s.flush()
        s.add(
            ReportSchedule(
                workspace_id=suspended.id,
                name="x",
                type=ReportType.CUSTOM,
                frequency=ReportFrequency.WEEKLY,
                next_run=NOW - timedelta(1),
            )
        )
    store = SqlReportStore(sessions)

    assert store.due_schedule_ids(NOW) == [never, due]  # never run first, then most overdue
    assert store.due_schedule_ids(NOW + timedelta(minutes=5)) == [never, due, soon]


async def test_the_cron_job_runs_exactly_the_due_schedules(
    sessions: sessionmaker[Session], world: World, tmp_path: Path
) -> None:
    due = add_schedule(sessions, world, "due", next_run=NOW - timedelta(days=7))
    early_tick = add_schedule(
        sessions, world, "slot a minute ahead", next_run=NOW + timedelta(minutes=1)
    )
    future = add_schedule(sessions, world, "future", next_run=NEXT_SUNDAY)
    outbox = Outbox()
    job = Job("generate-scheduled-reports")

    result = await make_worker(sessions, tmp_path, outbox)(job.ctx)

    assert result["success"] is True
    assert (result["total"], result["completed"], result["failed"]) == (2, 2, 0)
    assert {r["scheduleId"] for r in result["results"]} == {due, early_tick}
    assert [len(executions(sessions, i)) for i in (due, early_tick, future)] == [1, 1, 0]
    assert sorted(outbox.job_ids()) == sorted(f"report:{i}:2026-04-05" for i in (due, early_tick))
    assert job.progress == [5, 100, 100]  # start, the one batch, done
    # The two run at once: their lines come in either order.
    assert job.logs[0] == "2 report schedule(s) due"
    assert sorted(job.logs[1:]) == sorted(
        f"schedule {i}: report 2026-04-05 completed" for i in (due, early_tick)
    )


# --- one report, end to end -------------------------------------------------------------


async def test_generate_report_writes_files_records_and_delivers(
    sessions: sessionmaker[Session], world: World, tmp_path: Path
) -> None:
    sid = add_schedule(
        sessions,
        world,
        "Semanal do cliente",
        client_id=world.client,
        last_run=NOW - timedelta(days=7),
        next_run=NOW - timedelta(seconds=30),
        run_count=4,
    )
    outbox = Outbox()

    result = await make_worker(sessions, tmp_path, outbox)(
        Job("generate-report", {"scheduleId": sid}).ctx
    )

    period = "2026-04-05"
    pdf = tmp_path / "reports" / world.workspace / sid / f"{period}.pdf"
    html = pdf.with_suffix(".html")
    assert result["success"] is True and result["status"] == "completed"
    assert result["periodKey"] == period and result["filePath"] == str(pdf)
    assert pdf.is_file() and html.is_file()

    [row] = executions(sessions, sid)
    assert row.status is ExecutionStatus.COMPLETED and row.period_key == period
    assert row.file_path == str(pdf) and row.file_size == pdf.stat().st_size > 0
    assert row.process_count == 1 and row.error is None
    assert row.started_at == NOW and row.finished_at == NOW
    summary = row.summary
    assert summary["generationMs"] >= 0 and summary["htmlPath"] == str(html)
    assert (summary["newMovements"], summary["upcomingDeadlines"]) == (2, 1)
    assert summary["delivery"]["notificationJobId"] == f"report:{sid}:{period}"

    schedule = schedule_row(sessions, sid)
    assert schedule.last_run == NOW and schedule.run_count == 5
    assert schedule.next_run == NEXT_SUNDAY

    [(data, job_id)] = outbox.calls
    assert job_id == data["idempotencyKey"] == f"report:{sid}:{period}"
    assert data["type"] == "email-report" and data["workspaceId"] == world.workspace
    assert data["to"] == ["socio@silva.adv.br", "cliente@example.com"]
    assert data["subject"] == "Relatório Semanal do cliente — 05/04/2026"
    assert data["attachments"] == [
        {"filename": f"relatorio-{period}.pdf", "path": str(pdf), "contentType": "application/pdf"}
    ]
    assert Path(data["attachments"][0]["path"]).is_absolute()
    assert data["text"] == (
        "Semanal do cliente\n"
        "Silva & Souza Advogados - período até 05/04/2026\n\n"
        "- 1 processos monitorados\n"
        "- 2 novas movimentações\n"
        "- 1 prazos nos próximos dias\n\n"
        f"O relatório completo segue em anexo (relatorio-{period}.pdf).\n"
    )
    assert data["html"].startswith("<!DOCTYPE html>")


async def test_report_content_is_the_clients_new_movements_and_deadlines(
    sessions: sessionmaker[Session], world: World, tmp_path: Path
) -> None:
    sid = add_schedule(
        sessions, world, "Cliente", client_id=world.client, last_run=NOW - timedelta(days=7)
    )
    await make_worker(sessions, tmp_path, Outbox())(Job("generate-report", {"scheduleId": sid}).ctx)
    [row] = executions(sessions, sid)
    html = read_report(row.summary["htmlPath"])
    text = read_report(row.file_path)

    for document in (html, text):
        assert "José da Conceição Ações Ltda" in document
        assert CNJ_A in document
        assert "Juntada de petição — réplica" in document  # in the window
        assert "Intimação para manifestação" in document  # deadline in 5 days
        assert "Movimento antigo" not in document  # before the last run
        assert "Prazo distante" not in document  # deadline in 30 days
        assert "Arquivado pelo usuário" not in document
        assert CNJ_B not in document and CNJ_C not in document  # other clients
        assert CNJ_OTHER not in document and "Segredo" not in document  # other workspace
        assert "0000001-00.2020.8.26.0001" not in document  # monitoring stopped
    assert "<td>Ativo</td>" in html and "ACTIVE" not in html
    assert "OAB/SP 12.345" in html and "OAB/SP 12.345" in text  # branding footer
    assert "--primary: #0a7f3c;" in html and 'class="template-minimal"' in html


async def test_workspace_report_has_a_section_per_client_and_escapes_names(
    sessions: sessionmaker[Session], world: World, tmp_path: Path
) -> None:
    sid = add_schedule(sessions, world, "Escritório")  # no client: the whole workspace
    await make_worker(sessions, tmp_path, Outbox())(Job("generate-report", {"scheduleId": sid}).ctx)
    [row] = executions(sessions, sid)
    html = read_report(row.summary["htmlPath"])
    text = read_report(row.file_path)

    assert row.process_count == 3 and row.summary["clients"] == 3
    assert "<script>" not in html
    assert "<h2>&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; Filhos</h2>" in html
    assert HOSTILE in text  # the PDF draws the name as plain text
    for document in (html, text):
        assert all(number in document for number in (CNJ_A, CNJ_B, CNJ_C))
        assert "Avulso" in document and "Sentença publicada" in document
        assert CNJ_OTHER not in document
    # Last 7 days when the schedule never ran: a1, a3, b1, c1.
    assert row.summary["newMovements"] == 4


# --- idempotency ------------------------------------------------------------------------


async def test_a_retry_after_delivery_generates_and_sends_nothing(
    sessions: sessionmaker[Session], world: World, tmp_path: Path
) -> None:
    sid = add_schedule(sessions, world, "Semanal")
    outbox = Outbox()
    later = [NOW, NOW + timedelta(minutes=1)]
    worker = make_worker(sessions, tmp_path, outbox, clock=lambda: later[0])
    job = Job("generate-report", {"scheduleId": sid})

    first = await worker(job.ctx)
    written = mtime(first["filePath"])
    later[0] = later[1]
    second = await worker(job.ctx)

    assert first["status"] == "completed"
    assert second["status"] == "skipped" and second["reason"] == "already delivered"
    assert second["periodKey"] == first["periodKey"] == "2026-04-05"
    assert len(executions(sessions, sid)) == 1
    assert len(outbox.calls) == 1
    assert mtime(first["filePath"]) == written
    assert schedule_row(sessions, sid).run_count == 1

    # The cron job does not pick it up again either.
    result = await worker(Job("generate-scheduled-reports").ctx)
    assert result["total"] == 0 and len(outbox.calls) == 1


async def test_a_retry_after_a_failed_enqueue_delivers_without_regenerating(
    sessions: sessionmaker[Session], world: World, tmp_path: Path
) -> None:
    sid = add_schedule(sessions, world, "Semanal")
    outbox = Outbox(fail=1)
    clock = [NOW]
    worker = make_worker(sessions, tmp_path, outbox, clock=lambda: clock[0])
    job = Job("generate-report", {"scheduleId": sid})

    with pytest.raises(ConnectionError):
        await worker(job.ctx)
    [row] = executions(sessions, sid)
    assert row.status is ExecutionStatus.COMPLETED and "delivery" not in row.summary
    schedule = schedule_row(sessions, sid)
    assert (schedule.run_count, schedule.next_run, schedule.last_run) == (0, None, None)

    clock[0] = NOW + timedelta(minutes=2)
    result = await worker(job.ctx)

    assert result["status"] == "delivered"
    [again] = executions(sessions, sid)
    assert again.id == row.id and again.summary["windowEnd"] == row.summary["windowEnd"]
    assert again.summary["delivery"]["notificationJobId"] == f"report:{sid}:2026-04-05"
    assert len(outbox.calls) == 1
    schedule = schedule_row(sessions, sid)
    assert (schedule.run_count, schedule.next_run, schedule.last_run) == (1, NEXT_SUNDAY, NOW)


async def test_a_crash_between_enqueue_and_commit_enqueues_the_same_job_id(
    sessions: sessionmaker[Session], world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sid = add_schedule(sessions, world, "Semanal")
    outbox = Outbox()
    worker = make_worker(sessions, tmp_path, outbox)
    real_finish = worker.store.finish
    crashes = [1]

    def finish(*args: Any, **kwargs: Any) -> bool:
        if crashes[0]:
            crashes[0] -= 1
            raise ConnectionError("database went away")
        return real_finish(*args, **kwargs)

    monkeypatch.setattr(worker.store, "finish", finish)
    job = Job("generate-report", {"scheduleId": sid})
    with pytest.raises(ConnectionError):
        await worker(job.ctx)
    await worker(job.ctx)

    assert len(executions(sessions, sid)) == 1
    # Enqueued again under the same job id: the queue keeps one job (see the real-queue
    # test at the end); the schedule advanced once.
    assert outbox.job_ids() == [f"report:{sid}:2026-04-05"] * 2
    assert schedule_row(sessions, sid).run_count == 1


async def test_a_failed_generation_is_recorded_and_retried_on_the_same_row(
    sessions: sessionmaker[Session], world: World, tmp_path: Path
) -> None:
    sid = add_schedule(sessions, world, "Semanal")
    outbox = Outbox()
    (tmp_path / "reports").write_text("not a directory")
    worker = make_worker(sessions, tmp_path, outbox)
    job = Job("generate-report", {"scheduleId": sid})

    with pytest.raises(OSError):
        await worker(job.ctx)
    [failed] = executions(sessions, sid)
    assert failed.status is ExecutionStatus.FAILED
    directory = tmp_path / "reports" / world.workspace
    assert failed.error == f"NotADirectoryError: [Errno 20] Not a directory: '{directory / sid}'"
    assert failed.finished_at == NOW and outbox.calls == []

    (tmp_path / "reports").unlink()
    result = await worker(job.ctx)

    [row] = executions(sessions, sid)
    assert row.id == failed.id and row.status is ExecutionStatus.COMPLETED
    assert row.error is None and result["status"] == "completed"
    assert len(outbox.calls) == 1


async def test_the_period_is_unique_per_schedule_in_the_database(
    sessions: sessionmaker[Session], world: World
) -> None:
    sid = add_schedule(sessions, world, "Semanal")
    with sessions.begin() as s:
        s.add(
            ReportExecution(schedule_id=sid, workspace_id=world.workspace, period_key="2026-04-05")
        )
    with pytest.raises(IntegrityError), sessions.begin() as s:
        s.add(
            ReportExecution(schedule_id=sid, workspace_id=world.workspace, period_key="2026-04-05")
        )
    with sessions.begin() as s:  # rows without a period (before 0002) never collide
        s.add_all(
            [
                ReportExecution(schedule_id=sid, workspace_id=world.workspace),
                ReportExecution(schedule_id=sid, workspace_id=world.workspace),
            ]
        )


async def test_concurrent_runs_of_one_period_share_one_row_and_one_job_id(
    sessions: sessionmaker[Session], world: World, tmp_path: Path
) -> None:
    sid = add_schedule(sessions, world, "Semanal")
    outbox = Outbox(gated=True)
    worker = make_worker(sessions, tmp_path, outbox)

    runs = asyncio.gather(
        *(worker(Job("generate-report", {"scheduleId": sid}).ctx) for _ in range(3))
    )
    # None has recorded its delivery yet, so each of the three enqueues: the same job id.
    await until(lambda: outbox.in_flight == 3)
    outbox.admit(3)
    results = await runs

    key = f"report:{sid}:2026-04-05"
    assert outbox.job_ids() == [key] * 3
    [row] = executions(sessions, sid)
    assert row.status is ExecutionStatus.COMPLETED
    assert row.summary["delivery"]["notificationJobId"] == key  # recorded once
    assert schedule_row(sessions, sid).run_count == 1
    assert [r["periodKey"] for r in results] == ["2026-04-05"] * 3


# --- recurrences through the worker -----------------------------------------------------


async def test_biweekly_and_monthly_schedules_advance_in_their_zone(
    sessions: sessionmaker[Session], world: World, tmp_path: Path
) -> None:
    biweekly = add_schedule(sessions, world, "Quinzenal", frequency=ReportFrequency.BIWEEKLY)
    monthly = add_schedule(
        sessions,
        world,
        "Mensal",
        frequency=ReportFrequency.MONTHLY,
        day_of_month=31,
        time="08:00",
        timezone="Europe/Lisbon",
    )
    daily = add_schedule(
        sessions,
        world,
        "Diário",
        frequency=ReportFrequency.DAILY,
        time="02:30",
        timezone="America/New_York",
    )
    march_end = datetime(2026, 3, 31, 12, 0, tzinfo=UTC)
    worker = make_worker(sessions, tmp_path, Outbox(), clock=lambda: march_end)

    result = await worker(Job("generate-scheduled-reports").ctx)

    assert result["completed"] == 3
    keys = {r["scheduleId"]: r["periodKey"] for r in result["results"]}
    # Biweekly: the latest Sunday 23:00 (São Paulo), then 14 days later.
    assert keys[biweekly] == "2026-03-29"
    assert schedule_row(sessions, biweekly).next_run == datetime(2026, 4, 12, 23, 0, tzinfo=SP)
    # Monthly on the 31st: today 08:00 Lisbon (summer time since 29 March), then 30 April.
    assert keys[monthly] == "2026-03-31"
    assert schedule_row(sessions, monthly).next_run == datetime(2026, 4, 30, 7, 0, tzinfo=UTC)
    # Daily 02:30 New York: today's slot, then tomorrow's.
    assert keys[daily] == "2026-03-31"
    assert schedule_row(sessions, daily).next_run == datetime(2026, 4, 1, 6, 30, tzinfo=UTC)


# --- batches, failures, odd schedules ---------------------------------------------------


async def test_batches_of_ten_three_at_a_time(
    sessions: sessionmaker[Session], world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = [
        add_schedule(sessions, world, f"s{i}", next_run=NOW - timedelta(minutes=i))
        for i in range(12)
    ]
    outbox = Outbox(gated=True)
    started: list[str] = []
    pauses: list[tuple[float, int, int]] = []

    async def sleep(seconds: float) -> None:
        pauses.append((seconds, len(started), len(outbox.calls)))

    worker = ReportsWorker(
        sessions,
        output_dir=tmp_path,
        enqueue_notification=outbox,
        clock=lambda: NOW,
        sleep=sleep,
        pdf_font=None,
    )
    real_run = worker._run

    async def run(schedule_id: str, job: JobContext) -> Any:
        started.append(schedule_id)  # a schedule enters its slot
        return await real_run(schedule_id, job)

    monkeypatch.setattr(worker, "_run", run)
    cron = asyncio.create_task(worker(Job("generate-scheduled-reports").ctx))

    # Deliveries held: three schedules reach theirs together, the fourth waits for a slot.
    await until(lambda: outbox.in_flight >= 3)
    assert (outbox.in_flight, len(started), outbox.calls) == (3, 3, [])
    for delivered in range(1, 8):  # each delivery frees a slot for the next of the batch
        outbox.admit(1)
        await until(lambda n=delivered: len(outbox.calls) == n and outbox.in_flight >= 3)
        assert (outbox.in_flight, len(started)) == (3, 3 + delivered)
    outbox.admit(5)  # the last three of the first batch, then the second batch of two
    result = await cron

    assert (result["total"], result["completed"]) == (12, 12)
    assert outbox.max_in_flight == 3
    assert sorted(outbox.job_ids()) == sorted(f"report:{i}:2026-04-05" for i in ids)
    assert started == ids[::-1]  # most overdue first, each once
    # One pause, between the batches: after all ten of the first had been delivered.
    assert pauses == [(2.0, 10, 10)]


async def test_a_failed_schedule_fails_the_cron_job_for_a_retry_of_just_that_one(
    sessions: sessionmaker[Session], world: World, tmp_path: Path
) -> None:
    ok = add_schedule(sessions, world, "ok", next_run=NOW - timedelta(minutes=2))
    flaky = add_schedule(sessions, world, "flaky", next_run=NOW - timedelta(minutes=1))
    outbox = Outbox(fail=1)
    worker = make_worker(sessions, tmp_path, outbox)
    job = Job("generate-scheduled-reports")

    with pytest.raises(ReportsFailedError) as caught:
        await worker(job.ctx)
    assert caught.value.result["completed"] == 1 and caught.value.result["failed"] == 1
    assert caught.value.retryable is True
    # Both run at once: whichever enqueues first meets the outage.
    [error] = caught.value.result["errors"]
    failed_id = error["scheduleId"]
    [other_id] = {ok, flaky} - {failed_id}
    assert error == {"scheduleId": failed_id, "error": "ConnectionError: redis is down"}
    assert (
        str(caught.value) == f"1 of 2 report(s) failed: {failed_id}: ConnectionError: redis is down"
    )

    result = await worker(job.ctx)  # the engine's retry

    assert result["success"] is True and result["total"] == 1
    assert result["results"][0]["scheduleId"] == failed_id
    assert result["results"][0]["status"] == "delivered"
    # One enqueue that went through per schedule: the retry redid only the failed one.
    assert outbox.job_ids() == [
        f"report:{other_id}:2026-04-05",
        f"report:{failed_id}:2026-04-05",
    ]
    assert [schedule_row(sessions, i).run_count for i in (ok, flaky)] == [1, 1]


async def test_a_broken_recurrence_is_reported_without_failing_the_job(
    sessions: sessionmaker[Session], world: World, tmp_path: Path
) -> None:
    broken = add_schedule(sessions, world, "broken", timezone="Mars/Olympus")
    good = add_schedule(sessions, world, "good")
    result = await make_worker(sessions, tmp_path, Outbox())(Job("generate-scheduled-reports").ctx)
    assert result["success"] is False and result["completed"] == 1
    assert result["errors"] == [
        {"scheduleId": broken, "error": "RecurrenceError: unknown time zone 'Mars/Olympus'"}
    ]
    assert executions(sessions, broken) == [] and len(executions(sessions, good)) == 1
    with pytest.raises(RecurrenceError) as caught:  # on its own: not worth a retry
        await make_worker(sessions, tmp_path, Outbox())(
            Job("generate-report", {"scheduleId": broken}).ctx
        )
    assert caught.value.retryable is False


async def test_no_recipients_completes_without_a_notification(
    sessions: sessionmaker[Session], world: World, tmp_path: Path
) -> None:
    sid = add_schedule(sessions, world, "interno", recipients=["não é e-mail"])
    outbox = Outbox()
    result = await make_worker(sessions, tmp_path, outbox)(
        Job("generate-report", {"scheduleId": sid}).ctx
    )
    assert result["delivery"]["skipped"] == "no recipients" and outbox.calls == []
    assert schedule_row(sessions, sid).next_run == NEXT_SUNDAY


async def test_a_disabled_schedule_is_skipped(
    sessions: sessionmaker[Session], world: World, tmp_path: Path
) -> None:
    sid = add_schedule(sessions, world, "off", enabled=False)
    result = await make_worker(sessions, tmp_path, Outbox())(
        Job("generate-report", {"scheduleId": sid}).ctx
    )
    assert (result["status"], result["reason"]) == ("skipped", "schedule disabled")
    assert executions(sessions, sid) == []


async def test_bad_jobs_are_refused(sessions: sessionmaker[Session], tmp_path: Path) -> None:
    worker = make_worker(sessions, tmp_path, Outbox())
    with pytest.raises(ReportJobError, match="scheduleId") as bad_data:
        await worker(Job("generate-report", {}).ctx)
    with pytest.raises(ScheduleNotFoundError) as missing:
        await worker(Job("generate-report", {"scheduleId": "nope"}).ctx)
    with pytest.raises(ReportJobError, match="does not handle") as unknown:
        await worker(Job("send-notification").ctx)
    # Retrying cannot help: the engine fails these at once.
    assert not any(e.value.retryable for e in (bad_data, missing, unknown))
    assert REPORT_JOBS == ("generate-scheduled-reports", "generate-report")


async def test_an_empty_workspace_gets_an_empty_report(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    with sessions.begin() as s:
        ws = Workspace(name="Novo", slug="novo")
        s.add(ws)
        s.flush()
        schedule = ReportSchedule(
            workspace_id=ws.id,
            name="Vazio",
            type=ReportType.CUSTOM,
            frequency=ReportFrequency.WEEKLY,
            recipients=["a@b.co"],
        )
        s.add(schedule)
        s.flush()
        sid = schedule.id
    result = await make_worker(sessions, tmp_path, Outbox(), pdf_font=None)(
        Job("generate-report", {"scheduleId": sid}).ctx
    )
    assert result["processCount"] == 0
    assert "Nenhum processo monitorado." in read_report(result["filePath"])
    with sessions() as s:
        assert s.scalar(select(func.count()).select_from(ReportExecution)) == 1


async def test_a_suspended_workspace_is_skipped(
    sessions: sessionmaker[Session], world: World, tmp_path: Path
) -> None:
    sid = add_schedule(sessions, world, "semanal")
    with sessions.begin() as s:
        workspace = s.get(Workspace, world.workspace)
        assert workspace is not None
        workspace.status = WorkspaceStatus.SUSPENDED
    result = await make_worker(sessions, tmp_path, Outbox())(
        Job("generate-report", {"scheduleId": sid}).ctx
    )
    assert (result["status"], result["reason"]) == ("skipped", "workspace not active")


async def test_with_the_real_queue_a_repeated_enqueue_keeps_one_job(
    sessions: sessionmaker[Session],
    world: World,
    tmp_path: Path,
    make_queue: QueueFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    queue = make_queue("notifications")
    enqueued: list[bool] = []

    async def enqueue(data: dict[str, Any], job_id: str) -> object:
        added = await queue.add("send-notification", data, job_id=job_id)
        enqueued.append(added.created)
        return added

    sid = add_schedule(sessions, world, "Semanal")
    worker = ReportsWorker(
        sessions, output_dir=tmp_path, enqueue_notification=enqueue, clock=lambda: NOW
    )
    real_finish = worker.store.finish
    crashes = [1]

    def finish(*args: Any, **kwargs: Any) -> bool:
        if crashes[0]:  # the worker dies after enqueueing, before recording it
            crashes[0] -= 1
            raise ConnectionError("database went away")
        return real_finish(*args, **kwargs)

    monkeypatch.setattr(worker.store, "finish", finish)
    job = Job("generate-report", {"scheduleId": sid})
    with pytest.raises(ConnectionError):
        await worker(job.ctx)
    await worker(job.ctx)
    await worker(job.ctx)

    assert enqueued == [True, False]  # the third run sent nothing at all
    assert (await queue.counts()).waiting == 1
    key = f"report:{sid}:2026-04-05"
    stored = await queue.get_job(key)
    assert stored is not None and stored.id == key and stored.data["idempotencyKey"] == key
    pdf = tmp_path / world.workspace / sid / "2026-04-05.pdf"
    assert stored.data["attachments"] == [
        {"filename": "relatorio-2026-04-05.pdf", "path": str(pdf), "contentType": "application/pdf"}
    ]
