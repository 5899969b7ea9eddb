"""``justo-console jobs …``: add, show, list, retry and remove single jobs."""

from __future__ import annotations

import json
import os
from datetime import datetime
from typing import Annotated

import typer
from redis.asyncio import Redis
from rich.markup import escape
from rich.table import Table

from engine.errors import JobActiveError
from engine.job import Job, JobState
from engine.logs import redact, secret_values
from engine.queue.queue import Queue
from engine.redaction import redact_payload
from engine.runtime.settings import Settings
from engine.scripts.replies import Enqueued
from justo.cli.common import (
    check_queue,
    fail,
    out,
    parse_json,
    print_json,
    queue_for,
    run_async,
    state,
)

app = typer.Typer(help="Add, inspect, retry and remove jobs.", no_args_is_help=True)

SECRETS = secret_values(os.environ)
"""Secret-looking environment values, masked in everything shown."""

STATES = [s.value for s in JobState]


@app.command()
def add(
    ctx: typer.Context,
    queue: Annotated[str, typer.Argument(help="The queue.")],
    name: Annotated[str, typer.Argument(help="The job name (selects the handler).")],
    data: Annotated[str, typer.Option(help="Job data as JSON.")] = "null",
    priority: Annotated[int | None, typer.Option(help="Lower runs first (0 most urgent).")] = None,
    delay: Annotated[float, typer.Option(min=0, help="Seconds before it may run.")] = 0.0,
    job_id: Annotated[
        str | None, typer.Option("--id", help="Your own id; an existing id is left as it is.")
    ] = None,
    attempts: Annotated[int | None, typer.Option(min=1, help="Total tries.")] = None,
) -> None:
    """Enqueue a job and print its id."""
    cli = state(ctx)
    check_queue(cli.settings(), queue)
    payload = parse_json(data)

    async def body(redis: Redis, settings: Settings) -> Enqueued:
        return await queue_for(settings, redis, queue).add(
            name, payload, job_id=job_id, priority=priority, delay=delay, attempts=attempts
        )

    added = run_async(cli, body)
    out.print(added.id)
    if not added.created:
        out.print(f"(job {added.id} already existed; nothing changed)", style="dim")


async def _find(
    redis: Redis, settings: Settings, job_id: str, queue: str | None
) -> tuple[Queue, Job]:
    names = [queue] if queue else [q.name for q in settings.queues]
    found = []
    for name in names:
        q = queue_for(settings, redis, name)
        job = await q.get_job(job_id)
        if job is not None:
            found.append((q, job))
    if not found:
        fail(f"no job {job_id!r} in {'queue ' + queue if queue else 'any queue'}", 1)
    if len(found) > 1:
        fail(
            f"job id {job_id!r} exists in several queues "
            f"({', '.join(q.name for q, _ in found)}); pass --queue"
        )
    return found[0]


QueueOption = Annotated[
    str | None,
    typer.Option("--queue", "-q", help="The job's queue (searched in all when omitted)."),
]


@app.command()
def show(
    ctx: typer.Context,
    job_id: Annotated[str, typer.Argument(help="The job id.")],
    queue: QueueOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Everything about one job: data, options, attempts, times, error, logs."""
    cli = state(ctx)

    async def body(redis: Redis, settings: Settings) -> Job:
        return (await _find(redis, settings, job_id, queue))[1]

    job = run_async(cli, body)
    shown = job_json(job)
    if as_json:
        print_json(shown)
        return
    for key, value in shown.items():
        if key in ("traceback", "logs", "data") or value in ("", None, {}, []):
            continue
        out.print(f"[bold]{key:>14}[/] {escape(str(value))}")
    out.print("[bold]          data[/] " + escape(json.dumps(shown["data"], ensure_ascii=False)))
    if job.traceback:
        out.print("[bold]     traceback[/]\n" + escape(str(shown["traceback"])))
    for line in shown["logs"]:  # type: ignore[attr-defined]
        out.print("[dim]log[/] " + escape(line))


def job_json(job: Job) -> dict[str, object]:
    """A job as a JSON-ready dict (times as ISO strings), secrets masked."""

    def iso(ms: int | None) -> str | None:
        return datetime.fromtimestamp(ms / 1000).isoformat(timespec="milliseconds") if ms else None

    return {
        "id": job.id,
        "queue": job.queue,
        "name": job.name,
        "state": job.state.value,
        "priority": job.priority,
        "attempts_made": job.attempts_made,
        "stalls": job.stalls,
        "options": job.options,
        "created": iso(job.created_ms),
        "ready": iso(job.ready_ms),
        "processed": iso(job.processed_ms),
        "finished": iso(job.finished_ms),
        "run_ms": job.run_ms,
        "worker": job.worker,
        "lost_worker": job.lost_worker,
        "progress": job.progress,
        "result": redact_payload(job.result, SECRETS),
        "error": redact(job.error, SECRETS),
        "traceback": redact(job.traceback, SECRETS),
        "raw_entry": redact(job.raw_entry, SECRETS),
        "data": (
            redact_payload(job.data, SECRETS)
            if job.data is not None
            else redact(job.raw_data, SECRETS)
        ),
        "logs": [redact(line, SECRETS) for line in job.logs],
    }


@app.command("list")
def list_jobs(
    ctx: typer.Context,
    queue: Annotated[str, typer.Argument(help="The queue.")],
    state_name: Annotated[str, typer.Option("--state", help="|".join(STATES))] = "waiting",
    start: Annotated[int, typer.Option(min=0)] = 0,
    count: Annotated[int, typer.Option(min=1, max=1000)] = 20,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Jobs of one queue in one state, paged."""
    cli = state(ctx)
    check_queue(cli.settings(), queue)
    if state_name not in STATES:
        fail(f"--state must be one of {', '.join(STATES)}")

    async def body(redis: Redis, settings: Settings) -> list[Job]:
        return await queue_for(settings, redis, queue).jobs(state_name, start, start + count - 1)

    jobs = run_async(cli, body)
    if as_json:
        print_json([job_json(j) for j in jobs])
        return
    table = Table("id", "name", "attempts", "created", "error / data")
    for job in jobs:
        shown = job_json(job)
        detail = str(shown["error"] or json.dumps(shown["data"]))
        table.add_row(
            escape(job.id),
            escape(job.name),
            str(job.attempts_made),
            str(shown["created"] or ""),
            escape(detail[:80]),
        )
    out.print(table)


@app.command()
def retry(
    ctx: typer.Context,
    job_id: Annotated[str, typer.Argument(help="A failed job's id.")],
    queue: QueueOption = None,
) -> None:
    """Move one failed job back to waiting with fresh attempts."""
    cli = state(ctx)

    async def body(redis: Redis, settings: Settings) -> int:
        q, job = await _find(redis, settings, job_id, queue)
        if job.state is not JobState.FAILED:
            fail(f"job {job_id} is {job.state.value}, not failed", 1)
        return await q.retry_jobs([job_id])

    run_async(cli, body)
    out.print(f"job {job_id} moved back to waiting")


@app.command()
def remove(
    ctx: typer.Context,
    job_id: Annotated[str, typer.Argument(help="The job id.")],
    queue: QueueOption = None,
) -> None:
    """Delete one job that is not running."""
    cli = state(ctx)

    async def body(redis: Redis, settings: Settings) -> bool:
        q, _ = await _find(redis, settings, job_id, queue)
        try:
            return await q.remove(job_id)
        except JobActiveError as exc:
            fail(str(exc), 1)

    run_async(cli, body)
    out.print(f"job {job_id} removed")
