"""The supervisor process of the chaos soak (``benchmarks/chaos_soak.py``).

    python -m benchmarks.chaos_worker --url REDIS_URL --ledger LEDGER_URL --prefix P \\
        --incarnation N [--concurrency 16 --lease-ms 3000 --attempts 5 --max-payload 65536]

It runs one ``Supervisor`` (workers, reaper, lease renewal, heartbeat) for the soak's
queue, talking to Redis through ``--url`` (the fault proxy), until SIGTERM. The soak
SIGKILLs it on purpose and starts it again.

The handler of ``soak`` jobs records every run in a *ledger*: a second Redis reached
directly (``--ledger``), never through the proxy and never under the OOM window, so the
count of runs per job is exact whatever the chaos does to the queue's Redis. A run writes
``S <id> <incarnation> <attempt> <stalls>`` when its handler starts and ``E <id>
<incarnation>`` when it returns, so the soak can tell a run interrupted by a kill from one
that finished but whose outcome never reached Redis.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import random
import sys
from collections.abc import Sequence

from redis.asyncio import Redis

from engine.client import make_client
from engine.options import Backoff, QueueOptions
from engine.runtime.config import QueueConfig
from engine.runtime.service import install_signals, run_until_stopped
from engine.runtime.supervisor import Supervisor
from engine.worker.context import JobContext
from engine.worker.registry import Registry

QUEUE = "soak"
"""The soak's queue (under the run's own key prefix)."""

JOB_NAME = "soak"
"""The only job name with a handler; a garbage entry names another one."""

RETRY_BACKOFF = Backoff("exponential", 500)
"""Short retries, so the garbage job with no handler uses up its attempts within seconds
(0.5 + 1 + 2 + 4 s at most for 5 attempts) instead of the default's half a minute."""


def queue_options(*, lease_ms: int, attempts: int, max_payload: int) -> QueueOptions:
    """The soak queue's options, shared by the supervisor and the soak's own ``Queue``.

    Every finished job is kept (``keep_*=-1``): the soak checks the end state of each one,
    and the default retention would delete all but the newest 100 completed jobs.
    """
    return QueueOptions(
        attempts=attempts,
        backoff=RETRY_BACKOFF,
        lease_ms=lease_ms,
        max_payload=max_payload,
        keep_completed=-1,
        keep_failed=-1,
        timeout_s=60.0,
    )


def ledger_keys(prefix: str) -> tuple[str, str, str]:
    """The ledger's keys: starts per job (hash), ends per job (hash), the run log (list)."""
    return f"{prefix}:starts", f"{prefix}:ends", f"{prefix}:runs"


def build_registry(ledger: Redis, prefix: str, incarnation: int, seed: int) -> Registry:
    """Handlers: ``soak`` records its run in the ledger and sleeps 1-20 ms, so a kill
    finds jobs in flight."""
    starts, ends, runs = ledger_keys(prefix)
    rng = random.Random(f"{seed}:{incarnation}")
    registry = Registry()

    @registry.register(JOB_NAME)
    async def soak(ctx: JobContext) -> None:
        pipe = ledger.pipeline(transaction=True)
        pipe.hincrby(starts, ctx.id, 1)
        pipe.rpush(runs, f"S {ctx.id} {incarnation} {ctx.attempt} {ctx.stalls}")
        await pipe.execute()
        await asyncio.sleep(rng.uniform(0.001, 0.020))
        pipe = ledger.pipeline(transaction=True)
        pipe.hincrby(ends, ctx.id, 1)
        pipe.rpush(runs, f"E {ctx.id} {incarnation}")
        await pipe.execute()

    return registry


async def serve(args: argparse.Namespace) -> None:
    """Run the supervisor until SIGTERM (a second one skips the grace period)."""
    redis = make_client(args.url)
    ledger = Redis.from_url(args.ledger)
    options = queue_options(
        lease_ms=args.lease_ms, attempts=args.attempts, max_payload=args.max_payload
    )
    supervisor = Supervisor(
        redis,
        [QueueConfig(QUEUE, args.concurrency, options)],
        build_registry(ledger, args.prefix, args.incarnation, args.seed),
        prefix=args.prefix,
        grace_s=args.grace,
    )
    install_signals(supervisor)
    try:
        await run_until_stopped(supervisor)
    finally:
        await redis.aclose()
        await ledger.aclose()


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the arguments, log to stderr, run."""
    parser = argparse.ArgumentParser(description="the chaos soak's supervisor process")
    parser.add_argument("--url", required=True, help="Redis URL (the fault proxy)")
    parser.add_argument("--ledger", required=True, help="URL of the run ledger's Redis")
    parser.add_argument("--prefix", required=True, help="key prefix of the soak's queue")
    parser.add_argument("--incarnation", type=int, required=True, help="restart number")
    parser.add_argument("--seed", type=int, default=1, help="seed of the handler's sleeps")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--lease-ms", type=int, default=3000)
    parser.add_argument("--attempts", type=int, default=5)
    parser.add_argument("--max-payload", type=int, default=65536)
    parser.add_argument("--grace", type=float, default=5.0, help="grace period on SIGTERM")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    asyncio.run(serve(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
