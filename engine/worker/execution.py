"""Running one try of a leased job and turning what happened into an ``Outcome``."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import json
import threading
import time
import traceback as tb_module
from collections.abc import Callable
from typing import Any

from engine.errors import (
    InvalidJobError,
    JobTimeoutError,
    MalformedJobError,
    UnknownJobTypeError,
)
from engine.logs import queue_logger
from engine.options import Backoff
from engine.queue.queue import Queue
from engine.scripts.replies import OutcomeKind
from engine.worker.context import JobContext
from engine.worker.leases import Leased, Outcome
from engine.worker.registry import Registry

MAX_ERROR_CHARS = 2000
"""Longest error message stored on a job."""

MAX_RESULT_BYTES = 65536
"""Largest result stored whole (UTF-8 JSON)."""

RESULT_PREVIEW_BYTES = 4096
"""How much of a larger result is kept, as ``{"truncated": true, "bytes", "preview"}``."""

MAX_TRACEBACK_CHARS = 8000
"""Longest traceback stored on a job (the tail is kept: it names the failing line)."""


async def run_job(queue: Queue, registry: Registry, job: Leased, ctx: JobContext) -> Outcome:
    """Run the job's handler once and return its outcome; never raises (but for
    cancellation, which a forced stop uses)."""
    # The wait is measured on Redis's clock (the ready time is); the run on this host's
    # monotonic clock, which no wall-clock step can bend.
    wait_ms = max(0, await queue.clock.now_ms() - job.ready_ms)
    started = time.monotonic()
    try:
        ctx.data = decode_payload(job, queue.options.max_payload)
        result = await _call(queue, registry, job, ctx)
        value = _encode_result(result)
    except MalformedJobError as exc:
        # Retrying cannot fix bad bytes: fail at once, raw payload kept on the job.
        queue_logger(queue.name).error("job %s (%s): %s", job.id, job.name, exc)
        return _outcome(job, OutcomeKind.FAILED, exc, started, wait_ms)
    except Exception as exc:
        return _failure(queue, job, exc, started, wait_ms)
    kind: OutcomeKind = (
        OutcomeKind.COMPLETED_DELETE if job.options.get("retention") == 0 else OutcomeKind.COMPLETED
    )
    return Outcome(job.id, job.token, kind, value, "", _elapsed_ms(started), wait_ms)


def decode_payload(job: Leased, max_payload: int) -> Any:
    """The job's data, checked again on the worker side (it may have been written raw).

    Raises:
        MalformedJobError: missing name, oversized or non-JSON data.
    """
    if not job.name:
        raise MalformedJobError("job has no name")
    if len(job.raw_data) > max_payload:
        raise MalformedJobError(
            f"payload too large: {len(job.raw_data)} bytes, limit {max_payload}"
        )
    if not job.raw_data:
        return None
    try:
        return json.loads(job.raw_data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise MalformedJobError(f"payload is not valid JSON: {exc}") from exc


async def _call(queue: Queue, registry: Registry, job: Leased, ctx: JobContext) -> Any:
    handler = registry.get(job.name)
    if handler is None:
        raise UnknownJobTypeError(f"unknown job type {job.name!r} on queue {queue.name!r}")
    timeout = job.options.get("timeout", queue.options.timeout_s)
    try:
        if registry.is_async(job.name):
            async with asyncio.timeout(timeout):
                return await handler(ctx)
        # A sync handler runs in a thread. On timeout the thread cannot be killed: its
        # late result is discarded and the slot is freed (logged as leaked).
        return await asyncio.wait_for(_in_thread(handler, ctx), timeout)
    except TimeoutError as exc:
        if not registry.is_async(job.name):
            queue_logger(queue.name).warning(
                "job %s: sync handler still running after its %ss timeout; its thread is "
                "leaked until it returns",
                job.id,
                timeout,
            )
        raise JobTimeoutError(f"job exceeded its timeout of {timeout}s") from exc


async def _in_thread(handler: Callable[[JobContext], Any], ctx: JobContext) -> Any:
    """Run a plain-function handler on a daemon thread of its own, recorded on ``ctx``.

    Not the loop's default executor: its threads are joined when the interpreter exits,
    so a handler stuck forever would keep a stopped process alive; a daemon thread ends
    with the process, and the job's lease then lapses and the reaper takes it back.
    """
    loop = asyncio.get_running_loop()
    future: asyncio.Future[Any] = loop.create_future()
    context = contextvars.copy_context()

    def settle(result: Any, exc: BaseException | None) -> None:
        if future.done():
            return  # timed out or cancelled meanwhile: the late result is dropped
        if exc is None:
            future.set_result(result)
        else:
            future.set_exception(exc)

    def target() -> None:
        try:
            result, exc = context.run(handler, ctx), None
        except BaseException as error:
            result, exc = None, error
        with contextlib.suppress(RuntimeError):  # the loop closed while the thread ran
            loop.call_soon_threadsafe(settle, result, exc)

    ctx.thread = threading.Thread(target=target, name=f"job:{ctx.queue}:{ctx.id}", daemon=True)
    ctx.thread.start()
    return await future


def _failure(queue: Queue, job: Leased, exc: Exception, started: float, wait_ms: int) -> Outcome:
    attempts = _attempts(job, queue)
    # Handlers mark errors that retrying cannot fix with ``retryable = False``.
    if job.attempts_made < attempts and getattr(exc, "retryable", True) is not False:
        backoff = _backoff(queue, job)
        delay = max(backoff.delay_for(job.attempts_made), _asked_delay_ms(exc))
        queue_logger(queue.name).warning(
            "job %s (%s) attempt %d/%d failed: %s; retrying in %d ms",
            job.id,
            job.name,
            job.attempts_made,
            attempts,
            _describe(exc),
            delay,
        )
        return _outcome(job, OutcomeKind.RETRY, exc, started, wait_ms, delay)
    queue_logger(queue.name).error(
        "job %s (%s) failed after %d attempt(s): %s",
        job.id,
        job.name,
        job.attempts_made,
        _describe(exc),
    )
    return _outcome(job, OutcomeKind.FAILED, exc, started, wait_ms)


def _attempts(job: Leased, queue: Queue) -> int:
    """The job's attempts; the queue's when what is stored cannot be read."""
    try:
        return int(job.options.get("attempts", queue.options.attempts))
    except (TypeError, ValueError):
        return queue.options.attempts


def _backoff(queue: Queue, job: Leased) -> Backoff:
    """The job's backoff; the queue's when what is stored cannot be read (written by hand
    or by an older version), so the failure path itself never fails."""
    if "backoff" not in job.options:
        return queue.options.backoff
    try:
        return Backoff.from_json(job.options["backoff"])
    except InvalidJobError as exc:
        queue_logger(queue.name).warning("job %s: %s; using the queue's backoff", job.id, exc)
        return queue.options.backoff


def _asked_delay_ms(exc: Exception) -> int:
    """The wait an error asks for (a provider's ``Retry-After``), in ms; 0 if none."""
    for name in ("retry_after_s", "retry_after"):
        value = getattr(exc, name, None)
        if isinstance(value, int | float) and value > 0:
            return int(value * 1000)
    return 0


def _outcome(
    job: Leased, kind: OutcomeKind, exc: BaseException, started: float, wait_ms: int, delay: int = 0
) -> Outcome:
    trace = _traceback(exc)[-MAX_TRACEBACK_CHARS:]
    return Outcome(
        job.id, job.token, kind, _describe(exc), trace, _elapsed_ms(started), wait_ms, delay
    )


def _elapsed_ms(started: float) -> int:
    """Milliseconds since ``started`` (a ``time.monotonic()`` reading)."""
    return int((time.monotonic() - started) * 1000)


def _describe(exc: BaseException) -> str:
    """``Type: message``; an exception whose ``__str__`` itself raises is named
    ``<unprintable Type>`` (as the traceback module does) rather than breaking the failure."""
    try:
        message = str(exc)
    except Exception:
        message = f"<unprintable {type(exc).__name__}>"
    return f"{type(exc).__name__}: {message}"[:MAX_ERROR_CHARS]


def _traceback(exc: BaseException) -> str:
    try:
        return "".join(tb_module.format_exception(exc))
    except Exception:
        return _describe(exc)


def _encode_result(result: Any) -> str:
    """The handler's result as JSON; one over ``MAX_RESULT_BYTES`` is stored as a marked
    preview (still valid JSON) instead of being cut mid-token and read back as nothing."""
    if result is None:
        return ""
    try:
        text = json.dumps(result, separators=(",", ":"), ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        text = json.dumps(repr(result), ensure_ascii=False)
    encoded = text.encode("utf-8", "replace")
    if len(encoded) <= MAX_RESULT_BYTES:
        return text
    preview = encoded[:RESULT_PREVIEW_BYTES].decode("utf-8", "ignore")
    marked = {"truncated": True, "bytes": len(encoded), "preview": preview}
    return json.dumps(marked, ensure_ascii=False, separators=(",", ":"))
