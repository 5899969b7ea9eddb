"""``stats``, ``health``, ``crons`` and ``setup-recurring``."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import typer
from redis.asyncio import Redis
from rich.table import Table

from engine.errors import EngineError
from engine.runtime.scheduler import CronScheduler, ScheduleStatus, read_schedules
from engine.runtime.settings import Settings
from engine.runtime.stats import DOWN, EngineSnapshot, Health, assess, collect
from engine.units import format_ms
from justo.cli.common import CliState, out, print_json, queue_for, run_async, state


def _snapshot(cli: CliState) -> EngineSnapshot:
    async def body(redis: Redis, settings: Settings) -> EngineSnapshot:
        queues = [queue_for(settings, redis, q.name) for q in settings.queues]
        return await collect(redis, queues)

    return run_async(cli, body)


def stats(
    ctx: typer.Context, as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False
) -> None:
    """Per queue: counts, jobs/hour, failure rate, p50/p95 run and wait time; Redis memory."""
    snap = _snapshot(state(ctx))
    if as_json:
        print_json(snap.to_json())
        return
    table = Table(
        "queue",
        "waiting",
        "active",
        "delayed",
        "failed",
        "completed",
        "jobs/h",
        "fail %",
        "run p50/p95",
        "wait p50/p95",
        "workers",
        "paused",
    )
    for q in snap.queues:
        m = q.metrics
        table.add_row(
            q.name,
            str(q.counts.waiting),
            str(q.counts.active),
            str(q.counts.delayed),
            str(q.counts.failed),
            str(q.counts.completed),
            f"{m.jobs_per_hour:.0f}",
            f"{100 * m.failure_rate:.1f}",
            f"{format_ms(m.run_p50_ms)}/{format_ms(m.run_p95_ms)}",
            f"{format_ms(m.wait_p50_ms)}/{format_ms(m.wait_p95_ms)}",
            str(q.workers),
            "yes" if q.counts.paused else "",
        )
    out.print(table)
    r = snap.redis
    out.print(
        f"redis {r.version}: used {_mb(r.used_memory)}, peak {_mb(r.peak_memory)}, "
        f"max {_mb(r.max_memory) if r.max_memory else 'unlimited'}, policy {r.policy}"
        f"{'' if r.policy == 'noeviction' else '  (WARNING: may evict jobs)'}, "
        f"aof {'on' if r.aof else 'off'}, {r.clients} clients"
    )


def _mb(value: int) -> str:
    return f"{value / 1024 / 1024:.1f}MB"


def health(
    ctx: typer.Context, as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False
) -> None:
    """Exit 0 healthy, 1 degraded, 2 down; prints the reasons."""
    cli = state(ctx)
    try:
        result = assess(_snapshot(cli))
    except typer.Exit as exc:
        if exc.exit_code != 1:
            raise
        result = DOWN
    except EngineError:
        result = DOWN
    _print_health(result, as_json)
    raise typer.Exit(result.code)


def _print_health(result: Health, as_json: bool) -> None:
    if as_json:
        print_json(result.to_json())
        return
    out.print(result.status)
    for reason in result.reasons:
        out.print(f"- {reason}")


def crons(
    ctx: typer.Context, as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False
) -> None:
    """Recurring jobs: expression, last and next tick, last job id and outcome."""

    async def body(redis: Redis, settings: Settings) -> list[ScheduleStatus]:
        return await read_schedules(redis, settings.prefix)

    rows = run_async(state(ctx), body)
    if as_json:
        print_json([row.__dict__ for row in rows])
        return
    table = Table("name", "queue", "job", "cron", "last tick", "outcome", "job id", "next tick")
    for row in rows:
        table.add_row(
            row.name,
            row.queue,
            row.job,
            row.cron,
            _when(row.last_tick),
            row.last_outcome + (f" ({row.missed} missed)" if row.missed else ""),
            row.last_job_id,
            _when(row.next_tick),
        )
    out.print(table)


def _when(epoch: float | None) -> str:
    return datetime.fromtimestamp(epoch).strftime("%Y-%m-%d %H:%M:%S") if epoch else "-"


def setup_recurring(ctx: typer.Context) -> None:
    """Register the recurring jobs in Redis (idempotent; the supervisor also does this)."""

    async def body(redis: Redis, settings: Settings) -> list[ScheduleStatus]:
        queues = {q.name: queue_for(settings, redis, q.name) for q in settings.queues}
        scheduler = CronScheduler(
            redis,
            queues,
            settings.recurring,
            zone=settings.zone,
            prefix=settings.prefix,
            owner="cli",
            misfire_grace_s=settings.misfire_grace_s,
        )
        await scheduler.register()
        return await read_schedules(redis, settings.prefix)

    rows = run_async(state(ctx), body)
    for row in rows:
        out.print(f"{row.name}: {row.cron} → {row.queue}/{row.job}, next {_when(row.next_tick)}")
