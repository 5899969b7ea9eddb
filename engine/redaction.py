"""Masking secrets in job payloads, errors and tracebacks before they leave the process.

Job data is attacker- or user-controlled and stored in clear text (as in Bull); the admin
API, the console and the CLI show it, so every value under a key that names a secret is
replaced by ``***`` and every string goes through ``engine.logs.redact`` (credentials in
URLs, ``Bearer`` values, ``password=...`` fragments, known secret values).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from engine.job import Job
from engine.logs import redact

MASK = "***"
"""What a secret value is replaced by."""

SECRET_KEY_WORDS = (
    "password",
    "passwd",
    "token",
    "api_key",
    "apikey",
    "secret",
    "authorization",
    "client_secret",
    "access_key",
    "private_key",
    "credential",
    "cookie",
)
"""A key whose lower-cased name (``-`` read as ``_``) contains one of these is a secret."""

PREVIEW_BYTES = 4096
"""Largest JSON preview of one payload in an API answer."""


def is_secret_key(key: object) -> bool:
    """Whether a mapping key names a secret (``Password``, ``x-api-key``, ``accessToken``)."""
    name = str(key).lower().replace("-", "_")
    return any(word in name for word in SECRET_KEY_WORDS)


def redact_payload(value: Any, secrets: Iterable[str] = ()) -> Any:
    """A copy of a JSON-like ``value`` that is safe to show.

    Recursively (mappings, lists, tuples): the value of every key named like a secret
    (``password``, ``token``, ``api_key``, ``apikey``, ``secret``, ``authorization``,
    ``client_secret``, …, case-insensitive, as a substring) becomes ``"***"`` whatever its
    type; key names are kept; every other string goes through ``engine.logs.redact`` with
    the literal ``secrets``. Numbers, booleans and ``None`` are returned as they are. Pure:
    the input is not modified.
    """
    return _redact(value, tuple(secrets))


def _redact(value: Any, secrets: tuple[str, ...]) -> Any:
    if isinstance(value, str):
        return redact(value, secrets)
    if isinstance(value, Mapping):
        return {
            key: MASK if is_secret_key(key) else _redact(item, secrets)
            for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        return [_redact(item, secrets) for item in value]
    return value


def preview_payload(value: Any, secrets: Iterable[str] = (), limit: int = PREVIEW_BYTES) -> Any:
    """``redact_payload(value)``, or when its JSON is over ``limit`` bytes a stand-in
    ``{"truncated": true, "bytes": n, "preview": "<first limit bytes of the JSON>"}``."""
    clean = redact_payload(value, secrets)
    text = json.dumps(clean, ensure_ascii=False, default=str)
    size = len(text.encode("utf-8"))
    if size <= limit:
        return clean
    head = text.encode("utf-8")[:limit].decode("utf-8", "ignore")
    return {"truncated": True, "bytes": size, "preview": head}


def redact_text(text: str, secrets: Iterable[str] = (), limit: int = PREVIEW_BYTES) -> str:
    """Free text (an error message, a traceback) redacted and cut to its last ``limit``
    characters (the end of a traceback is where the error is)."""
    clean = redact(text, secrets)
    return clean if len(clean) <= limit else "…" + clean[-limit:]


def redact_job(job: Job, secrets: Iterable[str] = ()) -> dict[str, Any]:
    """A job as the API and UIs may show it: data previewed and redacted (the raw text
    when the stored data is not JSON), error and traceback redacted and cut."""
    keep = tuple(secrets)
    data = job.data if job.data is not None or not job.raw_data else job.raw_data
    return {
        "id": job.id,
        "queue": job.queue,
        "name": job.name,
        "state": job.state.value,
        "data": preview_payload(data, keep),
        "priority": job.priority,
        "attempts_made": job.attempts_made,
        "created_ms": job.created_ms,
        "processed_ms": job.processed_ms,
        "finished_ms": job.finished_ms,
        "error": redact_text(job.error, keep),
        "traceback": redact_text(job.traceback, keep),
    }


class Redactor:
    """Masks secrets for one reader (console, CLI, API): payload fields named like secrets,
    credentials in text, and the given secret values (e.g. the environment's).

    Args:
        secrets: values to mask wherever they appear (``engine.logs.secret_values``).
    """

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self.secrets = tuple(secrets)

    def text(self, text: str) -> str:
        """Free text with secrets masked (whole; nothing cut)."""
        return redact(text, self.secrets)

    def payload(self, value: Any) -> Any:
        """A JSON value with secret fields and secret text masked (whole; nothing cut)."""
        return redact_payload(value, self.secrets)

    def job(self, job: Job) -> dict[str, Any]:
        """``redact_job``: the job as a JSON object, previews cut to size."""
        return redact_job(job, self.secrets)
