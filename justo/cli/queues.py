"""``justo-console queues …``: pause, resume, retry failed, clean and drain."""

from __future__ import annotations

from typing import Annotated

import typer
from redis.asyncio import Redis

from engine.runtime.settings import Settings
from justo.cli.common import (
    check_queue,
    fail,
    out,
    parse_duration,
    queue_for,
    run_async,
    state,
)

app = typer.Typer(help="Pause, resume, retry, clean and drain queues.", no_args_is_help=True)


def _names(settings: Settings, queue: str | None, all_queues: bool) -> list[str]:
    if all_queues == (queue is not None):
        fail("give one QUEUE or --all")
    if queue is not None:
        check_queue(settings, queue)
        return [queue]
    return [q.name for q in settings.queues]


@app.command()
def pause(
    ctx: typer.Context,
    queue: Annotated[str | None, typer.Argument(help="The queue.")] = None,
    all_queues: Annotated[bool, typer.Option("--all", help="Every queue.")] = False,
) -> None:
    """Stop workers from taking new jobs (enqueueing goes on)."""
    _set_paused(ctx, queue, all_queues, pause=True)


@app.command()
def resume(
    ctx: typer.Context,
    queue: Annotated[str | None, typer.Argument(help="The queue.")] = None,
    all_queues: Annotated[bool, typer.Option("--all", help="Every queue.")] = False,
) -> None:
    """Let workers take jobs again."""
    _set_paused(ctx, queue, all_queues, pause=False)


def _set_paused(ctx: typer.Context, queue: str | None, all_queues: bool, *, pause: bool) -> None:
    cli = state(ctx)
    names = _names(cli.settings(), queue, all_queues)

    async def body(redis: Redis, settings: Settings) -> list[tuple[str, bool]]:
        results = []
        for name in names:
            q = queue_for(settings, redis, name)
            results.append((name, await (q.pause() if pause else q.resume())))
        return results

    verb = "paused" if pause else "resumed"
    for name, changed in run_async(cli, body):
        out.print(f"{name}: {verb}" if changed else f"{name}: already {verb}")


@app.command("retry-failed")
def retry_failed(
    ctx: typer.Context,
    queue: Annotated[str, typer.Argument(help="The queue.")],
    limit: Annotated[
        int | None, typer.Option(min=1, help="At most this many (oldest failure first).")
    ] = None,
) -> None:
    """Move failed jobs back to waiting with fresh attempts."""
    cli = state(ctx)
    check_queue(cli.settings(), queue)

    async def body(redis: Redis, settings: Settings) -> int:
        return await queue_for(settings, redis, queue).retry_failed(limit)

    out.print(f"{queue}: {run_async(cli, body)} failed job(s) moved back to waiting")


@app.command()
def clean(
    ctx: typer.Context,
    queue: Annotated[str, typer.Argument(help="The queue.")],
    state_name: Annotated[str, typer.Option("--state", help="completed or failed.")],
    older_than: Annotated[str, typer.Option(help="Age, e.g. 30m, 1h, 7d.")] = "0s",
    limit: Annotated[int | None, typer.Option(min=1, help="At most this many.")] = None,
) -> None:
    """Delete completed or failed jobs older than an age."""
    cli = state(ctx)
    check_queue(cli.settings(), queue)
    if state_name not in ("completed", "failed"):
        fail(f"--state must be completed or failed, not {state_name!r}")
    age = parse_duration(older_than)

    async def body(redis: Redis, settings: Settings) -> int:
        return await queue_for(settings, redis, queue).clean(
            state_name,  # type: ignore[arg-type]
            older_than=age,
            limit=limit,
        )

    out.print(f"{queue}: {run_async(cli, body)} {state_name} job(s) deleted")


@app.command()
def drain(
    ctx: typer.Context,
    queue: Annotated[str, typer.Argument(help="The queue.")],
    force: Annotated[
        bool,
        typer.Option("--force", help="Required in production (JUSTO_ENV/NODE_ENV=production)."),
    ] = False,
) -> None:
    """Delete every waiting and delayed job of a queue (running jobs finish)."""
    cli = state(ctx)
    settings = cli.settings()
    check_queue(settings, queue)
    if settings.environment == "production" and not force:
        fail("refusing to drain in production without --force")

    async def body(redis: Redis, settings: Settings) -> int:
        return await queue_for(settings, redis, queue).drain()

    out.print(f"{queue}: {run_async(cli, body)} waiting/delayed job(s) deleted")
