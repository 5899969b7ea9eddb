"""Demo traffic: labelled fake jobs so a newcomer sees throughput, failures and retries.

Every demo job's name starts with ``demo-`` and its data carries ``"demo": true``; the
handlers only sleep, report progress and sometimes fail on purpose.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Mapping

from engine.queue.queue import Queue
from engine.worker.context import JobContext
from engine.worker.registry import Registry

log = logging.getLogger(__name__)

DEMO_JOBS: dict[str, tuple[str, float, float]] = {
    "sync": ("demo-sync-workspace", 0.3, 2.0),
    "reports": ("demo-weekly-report", 0.5, 3.0),
    "cache-cleanup": ("demo-cache-sweep", 0.1, 0.5),
    "document-processing": ("demo-pdf-analysis", 0.5, 4.0),
    "notifications": ("demo-send-email", 0.05, 0.3),
}
"""Queue → (job name, shortest run s, longest run s)."""

FAILURE_RATE = 0.07
"""Share of demo tries that fail on purpose (most succeed on retry)."""


def register(registry: Registry, rng: random.Random | None = None) -> None:
    """Register a handler for every demo job name."""
    rng = rng or random.Random()
    for name, shortest, longest in DEMO_JOBS.values():
        registry.add(name, _make_handler(rng, shortest, longest))


def _make_handler(rng: random.Random, shortest: float, longest: float):  # type: ignore[no-untyped-def]
    async def handle(ctx: JobContext) -> dict[str, object]:
        steps = 4
        for step in range(steps):
            await asyncio.sleep(rng.uniform(shortest, longest) / steps)
            ctx.progress(round(100 * (step + 1) / steps))
        if rng.random() < FAILURE_RATE:
            raise RuntimeError(f"demo failure on purpose (attempt {ctx.attempt})")
        ctx.log(f"demo job done on attempt {ctx.attempt}")
        return {"demo": True, "ok": True}

    return handle


SYNC_EVERY = 40
"""With a demo workspace, every this many demo jobs a real ``manual-sync`` of it is
enqueued (against the sandbox provider), so the console shows real sync work."""


async def produce(
    queues: Mapping[str, Queue],
    rate_per_s: float = 4.0,
    rng: random.Random | None = None,
    sync_workspace_id: str | None = None,
) -> None:
    """Enqueue a steady mix of demo jobs until cancelled."""
    rng = rng or random.Random()
    names = [q for q in DEMO_JOBS if q in queues]
    counter = 0
    while True:
        if sync_workspace_id and "sync" in queues and counter % SYNC_EVERY == 0:
            await _enqueue_sync(queues["sync"], sync_workspace_id)
        queue = queues[rng.choice(names)]
        job_name = DEMO_JOBS[queue.name][0]
        counter += 1
        delay = rng.choice([0, 0, 0, 0, 5])
        try:
            await queue.add(
                job_name,
                {"demo": True, "n": counter, "workspaceId": f"ws-{rng.randint(1, 9)}"},
                delay=delay,
            )
        except Exception as exc:  # keep producing through Redis blips
            log.warning("demo producer: enqueue failed (%s)", type(exc).__name__)
        await asyncio.sleep(rng.expovariate(rate_per_s))


async def _enqueue_sync(queue: Queue, workspace_id: str) -> None:
    try:
        await queue.add(
            "manual-sync",
            {"workspaceId": workspace_id, "type": "manual-sync", "forceUpdate": True, "demo": True},
            priority=5,
        )
    except Exception as exc:  # keep producing through Redis blips
        log.warning("demo producer: sync enqueue failed (%s)", type(exc).__name__)
