"""Running CPU-bound extraction off the event loop: a lazy process pool with a hard timeout.

The worker's event loop renews job leases; parsing a 300-page PDF on it (or in a thread,
holding the GIL) would stall them. ``ExtractionPool`` sends the work to a
``ProcessPoolExecutor`` created on first use (``spawn`` start method: safe in a process
that runs threads), with at most ``max_workers`` calls in flight so none waits in the
pool's queue while its timeout runs. When a call overruns its hard timeout the pool's
processes are terminated (a process cannot be interrupted otherwise) and the next call
starts a fresh pool; calls that were sharing the killed pool fail with the retryable
``ExtractionCrashedError``. An injected executor (tests) is used as is and never killed.
"""

from __future__ import annotations

import asyncio
import multiprocessing
from collections.abc import Callable
from concurrent.futures import BrokenExecutor, Executor, ProcessPoolExecutor
from typing import Any, TypeVar

from justo.jobs.documents.errors import ExtractionCrashedError, ExtractionTimeoutError
from justo.jobs.documents.pdf import quiet_pypdf

T = TypeVar("T")

DEFAULT_WORKERS = 2
"""Extraction processes (and calls in flight) by default."""


class ExtractionPool:
    """Runs picklable functions in worker processes, bounded, with a hard timeout.

    Args:
        executor: use this executor instead of an owned process pool (never shut down or
            killed here).
        max_workers: processes of the owned pool, and calls in flight at once.
    """

    def __init__(
        self, executor: Executor | None = None, *, max_workers: int = DEFAULT_WORKERS
    ) -> None:
        if max_workers < 1:
            raise ValueError("max_workers must be at least 1")
        self._injected = executor
        self._owned: ProcessPoolExecutor | None = None
        self.max_workers = max_workers
        self._slots = asyncio.Semaphore(max_workers)

    @property
    def started(self) -> bool:
        """Whether an owned process pool is running."""
        return self._owned is not None

    def executor(self) -> Executor:
        """The injected executor, or the owned process pool (created on first use)."""
        if self._injected is not None:
            return self._injected
        if self._owned is None:
            self._owned = ProcessPoolExecutor(
                max_workers=self.max_workers,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=quiet_pypdf,
            )
        return self._owned

    async def run(self, fn: Callable[..., T], *args: Any, timeout_s: float) -> T:
        """``fn(*args)`` in the pool; its result, or its exception re-raised here.

        Raises:
            ExtractionTimeoutError: no result within ``timeout_s`` (the owned pool is
                killed and replaced).
            ExtractionCrashedError: the pool broke (a process died); retryable.
        """
        async with self._slots:
            loop = asyncio.get_running_loop()
            try:
                future = loop.run_in_executor(self.executor(), fn, *args)
                return await asyncio.wait_for(future, timeout_s)
            except TimeoutError:
                self._kill()
                raise ExtractionTimeoutError(
                    f"no result within {timeout_s:g}s; extraction process stopped"
                ) from None
            except BrokenExecutor as exc:
                self._kill()
                raise ExtractionCrashedError(f"extraction process died: {exc}") from None

    def close(self) -> None:
        """Shut the owned pool down (waiting for running calls); it restarts if used again."""
        pool, self._owned = self._owned, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)

    def _kill(self) -> None:
        pool, self._owned = self._owned, None
        if pool is None:
            return
        terminate = getattr(pool, "terminate_workers", None)  # Python 3.14+
        if terminate is not None:
            terminate()
            return
        # Before 3.14 the only handle on the processes is this CPython attribute.
        processes = list((getattr(pool, "_processes", None) or {}).values())
        pool.shutdown(wait=False, cancel_futures=True)
        for process in processes:
            process.terminate()
