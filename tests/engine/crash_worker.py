"""A worker process for the crash test: ``python -m tests.engine.crash_worker URL PREFIX LEASE_MS``.

Each job records its execution with ``INCR <prefix>:exec:<id>`` and then sleeps a little,
so a SIGKILL lands while jobs are in flight.
"""

from __future__ import annotations

import asyncio
import os
import sys

from engine import JobContext, Queue, QueueOptions, Reaper, Registry, Worker
from engine.client import make_client


async def main(url: str, prefix: str, lease_ms: int) -> None:
    redis = make_client(url)
    queue = Queue(
        redis, "crash", prefix=prefix, options=QueueOptions(lease_ms=lease_ms, keep_completed=-1)
    )
    registry = Registry()

    @registry.register("work")
    async def work(ctx: JobContext) -> None:
        await redis.incr(f"{prefix}:exec:{ctx.id}")
        await asyncio.sleep(0.01)

    @registry.register("slow")
    async def slow(ctx: JobContext) -> None:
        await redis.incr(f"{prefix}:exec:{ctx.id}")
        await asyncio.sleep(0.5)

    @registry.register("poison")
    async def poison(ctx: JobContext) -> None:
        # Let the other jobs get going first, then take the whole process down.
        await redis.incr(f"{prefix}:exec:{ctx.id}")
        await asyncio.sleep(0.2)
        os._exit(1)

    reaper = Reaper([queue])
    worker = Worker(queue, registry, concurrency=16)
    reaper_task = asyncio.create_task(reaper.run())
    await worker.run(burst=True)
    reaper.stop()
    await reaper_task
    await redis.aclose()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
