"""justo (this project's engine) as a peer of the shared benchmark harness.

Install as ``peers/justo.py`` in a writable copy of the harness (a symlink to this file
works best: the project root is then found from the link target) and add ``"justo"`` to
``peers.ALL``. The engine must be importable in the harness's Python, either installed
(``.venv/bin/pip install -e /work/main``) or through ``JUSTO_ROOT`` / the project root
being put on ``sys.path`` below.

Enqueue: ``Queue.add`` (one EVALSHA of ``add.lua`` per job) or, in ``bulk`` mode,
``Queue.add_bulk`` with ``JobSpec`` lists of 1000 (one EVALSHA per 1000 jobs). Worker: one
``engine.Worker`` process with concurrency 10 or 50 and an async handler that runs the
harness's job body (``await common.job_async(arg)``). Library defaults are kept (keep the
newest 100 completed jobs, 3 attempts, 30 s leases).

    python -m peers.justo worker 50     # what worker_cmd starts (cwd = bench/)
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from pathlib import Path


def _ensure_engine_importable() -> None:
    """Put the project root on ``sys.path``: ``JUSTO_ROOT`` first when set (e.g. an exported
    commit, so edits in the work tree cannot change a running benchmark), else only when
    the engine is not installed."""
    pinned = os.environ.get("JUSTO_ROOT")
    if pinned:
        sys.path.insert(0, pinned)
        return
    try:
        import engine  # noqa: F401
    except ImportError:
        root = str(Path(__file__).resolve().parent.parent)
        if not (Path(root) / "engine").is_dir():
            root = "/work/main"
        sys.path.insert(0, root)


_ensure_engine_importable()

from common import QUEUE, REDIS_URL, apace, job_async, make_arg  # noqa: E402

from engine.client import make_client  # noqa: E402
from engine.queue.queue import JobSpec, Queue  # noqa: E402
from engine.worker.context import JobContext  # noqa: E402
from engine.worker.registry import Registry  # noqa: E402
from engine.worker.worker import Worker  # noqa: E402

NAME = "justo"
DIST = "justo-console"
ENQUEUE_MODES = ("single", "bulk")
WORKER_CONFIGS = {
    "c10": "engine.Worker(queue, registry, concurrency=10), one process",
    "c50": "engine.Worker(queue, registry, concurrency=50), one process",
}
BULK_BATCH = 1000
"""Jobs per ``add_bulk`` call in bulk mode, as the other peers' batch APIs."""


def version() -> str:
    """The installed project's version (or the source tree's, when run from it)."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as dist_version

    try:
        found = dist_version(DIST)
    except PackageNotFoundError:
        found = "source tree"
    pinned = os.environ.get("JUSTO_ROOT")
    return f"{found} (engine from {pinned})" if pinned else found


def enqueue(n: int, mode: str = "single", gap: float = 0.0, lat: bool = False) -> float:
    """Enqueue ``n`` jobs; returns the seconds from the first call to after the last."""

    async def main() -> float:
        redis = make_client(REDIS_URL)
        queue = Queue(redis, QUEUE)
        await queue.scripts.load()  # connection and script cache ready before timing
        t0 = time.time()
        if mode == "single":
            for i in range(n):
                await apace(t0, i, gap)
                await queue.add("noop", make_arg(i, lat))
        elif mode == "bulk":
            for start in range(0, n, BULK_BATCH):
                await queue.add_bulk(
                    [
                        JobSpec("noop", make_arg(i, lat))
                        for i in range(start, min(n, start + BULK_BATCH))
                    ]
                )
        else:
            raise ValueError(mode)
        dt = time.time() - t0
        await redis.aclose()
        return dt

    return asyncio.run(main())


async def noop(ctx: JobContext) -> None:
    """The harness's job body."""
    await job_async(ctx.data)


async def run_worker(concurrency: int) -> None:
    """One worker on the bench queue until SIGTERM/SIGINT."""
    redis = make_client(REDIS_URL)
    registry = Registry()
    registry.add("noop", noop)
    worker = Worker(Queue(redis, QUEUE), registry, concurrency=concurrency)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, worker.stop)
    await worker.run()
    await redis.aclose()


def worker_cmd(config: str) -> list[str]:
    """argv of ONE worker process (``JUSTO_PYTHON`` overrides the interpreter)."""
    python = os.environ.get("JUSTO_PYTHON", sys.executable)
    return [python, "-m", "peers.justo", "worker", config[1:]]


def main(argv: list[str]) -> None:
    """``worker CONCURRENCY``."""
    if len(argv) != 2 or argv[0] != "worker":
        raise SystemExit("usage: python -m peers.justo worker CONCURRENCY")
    asyncio.run(run_worker(int(argv[1])))


if __name__ == "__main__":
    main(sys.argv[1:])
