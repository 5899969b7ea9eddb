"""Logging: per-queue loggers, secret redaction, rotating per-worker files and a Redis tail.

Every queue logs to ``justo.queue.<name>``; the supervisor writes each to
``logs/workers/<name>.log`` and everything else (supervisor, scheduler, reaper) to
``logs/workers/supervisor.log``. Every line passes through ``redact`` first, so passwords,
tokens, API keys and credentials in URLs never reach a file, stdout or the console.
A ``LogStreamSink`` batches lines into a capped Redis stream the console tails.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import logging.handlers
import os
import re
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from redis.asyncio import Redis

QUEUE_LOGGER = "justo.queue"
"""Parent of the per-queue loggers."""

LOG_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"

SECRET_WORDS = ("pass", "secret", "token", "key", "authorization", "credential", "auth")
"""Field names containing any of these (``password``, ``api_key``, ``apiKey``,
``client_secret``, ``key``, ``auth`` ...) have their values hidden wherever they appear as
``name=value``, ``name: value`` or JSON. Generous on purpose: hiding a harmless value costs
little, showing a key costs a lot."""

_URL_CREDENTIALS = re.compile(r"(\b[a-zA-Z][a-zA-Z0-9+.-]*://)[^/@\s]*@")
_BEARER = re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{6,}")
_FIELD = re.compile(
    r"(?i)([\"']?\b[a-z0-9_-]*(?:"
    + "|".join(re.escape(w) for w in SECRET_WORDS)
    + r")[a-z0-9_-]*[\"']?\s*[:=]\s*[\"']?)([^\"'\s,;&}]+)"
)


def queue_logger(queue: str) -> logging.Logger:
    """The logger of everything that happens on one queue."""
    return logging.getLogger(f"{QUEUE_LOGGER}.{queue}")


def secret_values(env: Mapping[str, str]) -> list[str]:
    """Values of environment variables that look like secrets (to redact verbatim)."""
    markers = ("PASSWORD", "SECRET", "TOKEN", "API_KEY", "APIKEY")
    return sorted(
        {v for k, v in env.items() if any(m in k.upper() for m in markers) and len(v) >= 6},
        key=len,
        reverse=True,
    )


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` with credentials replaced by ``***``."""
    for value in secrets:
        text = text.replace(value, "***")
    text = _URL_CREDENTIALS.sub(r"\1***@", text)
    text = _BEARER.sub(lambda m: f"{m.group(1)} ***", text)
    return _FIELD.sub(lambda m: m.group(1) + "***", text)


class RedactingFormatter(logging.Formatter):
    """A formatter whose every line (tracebacks included) goes through ``redact``."""

    def __init__(self, fmt: str = LOG_FORMAT, secrets: Iterable[str] = ()) -> None:
        super().__init__(fmt)
        self.secrets = list(secrets)

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record), self.secrets)


class _QueueFilter(logging.Filter):
    """Keeps records of one queue logger, or (``queue=None``) of everything else."""

    def __init__(self, queue: str | None) -> None:
        super().__init__()
        self.queue = queue

    def filter(self, record: logging.LogRecord) -> bool:
        name = queue_of(record.name)
        return name == self.queue


def queue_of(logger_name: str) -> str | None:
    """The queue a logger belongs to, or ``None`` for supervisor-level loggers."""
    prefix = QUEUE_LOGGER + "."
    return logger_name[len(prefix) :] if logger_name.startswith(prefix) else None


def worker_log_path(log_dir: Path, worker: str) -> Path:
    """``<log_dir>/workers/<worker>.log``."""
    return log_dir / "workers" / f"{worker}.log"


def setup_logging(
    *,
    log_dir: Path | None,
    queues: Iterable[str],
    level: int = logging.INFO,
    stdout: bool = True,
    env: Mapping[str, str] | None = None,
    max_bytes: int = 10 * 1024 * 1024,
    backups: int = 5,
    quiet: Iterable[str] = (),
) -> None:
    """Configure the root logger: stdout and/or rotating per-worker files, all redacted;
    the ``quiet`` loggers (libraries' INFO chatter) log warnings and errors only."""
    formatter = RedactingFormatter(secrets=secret_values(os.environ if env is None else env))
    for chatty in quiet:
        logging.getLogger(chatty).setLevel(logging.WARNING)
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
        handler.close()
    root.setLevel(level)
    if stdout:
        stream = logging.StreamHandler(sys.stdout)
        stream.setFormatter(formatter)
        root.addHandler(stream)
    if log_dir is None:
        return
    for worker in [*queues, None]:
        path = worker_log_path(log_dir, worker or "supervisor")
        path.parent.mkdir(parents=True, exist_ok=True)
        handler = logging.handlers.RotatingFileHandler(
            path, maxBytes=max_bytes, backupCount=backups, encoding="utf-8"
        )
        handler.setFormatter(formatter)
        handler.addFilter(_QueueFilter(worker))
        root.addHandler(handler)


class LogStreamSink(logging.Handler):
    """Collects redacted log records and writes them in batches to a capped Redis stream.

    ``emit`` only appends to a bounded deque (safe from any thread, never blocks on
    Redis); ``run`` flushes it every ``interval_s``.

    Args:
        key: the stream key.
        maxlen: approximate cap of the stream.
        secrets: literal values to redact.
    """

    def __init__(
        self,
        key: str,
        *,
        maxlen: int = 5000,
        secrets: Iterable[str] = (),
        level: int = logging.INFO,
    ) -> None:
        super().__init__(level)
        self.key = key
        self.maxlen = maxlen
        self.secrets = list(secrets)
        self.pending: collections.deque[dict[str, str]] = collections.deque(maxlen=10_000)
        self._stop = asyncio.Event()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = record.getMessage()
            if record.exc_info:
                message += "\n" + logging.Formatter().formatException(record.exc_info)
            self.pending.append(
                {
                    "ts": f"{record.created:.3f}",
                    "level": record.levelname,
                    "logger": record.name,
                    "queue": queue_of(record.name) or "",
                    "msg": redact(message, self.secrets)[:4000],
                }
            )
        except Exception:  # a log handler must never raise into the caller
            self.handleError(record)

    async def flush_once(self, redis: Redis) -> int:
        """Write what is pending; returns how many lines were written."""
        batch = [self.pending.popleft() for _ in range(len(self.pending))]
        if not batch:
            return 0
        pipe = redis.pipeline(transaction=False)
        for entry in batch:
            fields: Any = entry
            pipe.xadd(self.key, fields, maxlen=self.maxlen, approximate=True)
        await pipe.execute()
        return len(batch)

    async def run(self, redis: Redis, interval_s: float = 0.5) -> None:
        """Flush every ``interval_s`` until ``stop()``. While Redis is down the lines are
        dropped rather than piled up (the log files still have them)."""
        while not self._stop.is_set():
            await self._flush_quietly(redis)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), interval_s)
        await self._flush_quietly(redis)

    async def _flush_quietly(self, redis: Redis) -> None:
        try:
            await self.flush_once(redis)
        except Exception:  # any Redis failure: logging must not take the supervisor down
            self.pending.clear()

    def stop(self) -> None:
        """Ask ``run`` to return after its current flush."""
        self._stop.set()


def read_log_stream(entries: list[tuple[bytes, dict[bytes, bytes]]]) -> list[dict[str, str]]:
    """Decode XRANGE/XREVRANGE entries of the log stream."""
    return [
        {k.decode(): v.decode("utf-8", "replace") for k, v in fields.items()}
        for _, fields in entries
    ]
