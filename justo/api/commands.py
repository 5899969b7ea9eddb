"""``POST /api/admin/workers`` bodies: parsed and validated completely before any write.

Two shapes, as the original's route:

* ``{"action": "pause"|"resume"|"retry-failed"|"setup-recurring", "queueName"?: str}``
* ``{"type": "sync-manual"|"generate-report"|"process-document"|"send-notification",
  "data": {...}, "options"?: {"priority", "delay", "attempts", "jobId"}}``

Job types are ``justo.catalog.JOB_TYPES``, the ones the ``justo.producers`` helpers use:
same queue, job name, data shape, priority and attempts; ``options`` override priority and
attempts and add a delay (in milliseconds, as Bull) and a client-chosen job id.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from engine.errors import ConfigError, InvalidJobError, PayloadTooLargeError
from engine.options import MAX_PRIORITY, check_job_id
from engine.queue.queue import encode_data
from engine.runtime.settings import Settings
from justo.api.errors import TooLargeError, UnprocessableError
from justo.catalog import JOB_TYPES

ACTIONS = ("pause", "resume", "retry-failed", "setup-recurring")
"""Control actions of ``POST``."""

ALL_QUEUE_ACTIONS = frozenset({"pause", "resume"})
"""Actions that apply to every queue when no ``queueName`` is given."""

MAX_ATTEMPTS = 100
"""Most attempts a job may ask for."""

MAX_DELAY_MS = 365 * 24 * 3600 * 1000
"""Longest delay a job may ask for (one year)."""


OPTION_KEYS = frozenset({"priority", "delay", "attempts", "jobId"})


@dataclass(frozen=True)
class ControlCommand:
    """A control action on some queues (``queues`` empty for ``setup-recurring``)."""

    action: str
    queues: tuple[str, ...]


@dataclass(frozen=True)
class JobCommand:
    """A job to enqueue, fully validated."""

    type: str
    queue: str
    job: str
    data: Any
    priority: int
    attempts: int
    delay_s: float
    job_id: str | None


def parse_command(body: Any, settings: Settings) -> ControlCommand | JobCommand:
    """Validate a ``POST`` body.

    Raises:
        UnprocessableError: not an object, both or neither of ``action``/``type``, an unknown
            action, type, queue or option, or invalid data.
        TooLargeError: the job data is over its queue's ``max_payload``.
    """
    if not isinstance(body, dict):
        raise UnprocessableError("the body must be a JSON object")
    if ("action" in body) == ("type" in body):
        raise UnprocessableError('the body needs exactly one of "action" or "type"')
    if "action" in body:
        return _control(body, settings)
    return _job(body, settings)


def _control(body: dict[str, Any], settings: Settings) -> ControlCommand:
    _no_extra(body, {"action", "queueName"})
    action = body["action"]
    if action not in ACTIONS:
        raise UnprocessableError(f"unknown action {action!r} (known: {', '.join(ACTIONS)})")
    name = body.get("queueName")
    if name is not None:
        return ControlCommand(action, (_queue_name(name, settings),))
    if action in ALL_QUEUE_ACTIONS:
        return ControlCommand(action, tuple(q.name for q in settings.queues))
    if action == "retry-failed":
        raise UnprocessableError("retry-failed needs queueName")
    return ControlCommand(action, ())


def _queue_name(name: Any, settings: Settings) -> str:
    if not isinstance(name, str):
        raise UnprocessableError("queueName must be a string")
    try:
        return settings.queue(name).name
    except ConfigError as exc:
        raise UnprocessableError(str(exc)) from exc


def _no_extra(body: dict[str, Any], allowed: set[str] | frozenset[str], where: str = "") -> None:
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise UnprocessableError(f"unknown field(s) {where}{', '.join(unknown)}")


def _job(body: dict[str, Any], settings: Settings) -> JobCommand:
    _no_extra(body, {"type", "data", "options"})
    kind = body["type"]
    spec = JOB_TYPES.get(kind) if isinstance(kind, str) else None
    if spec is None:
        raise UnprocessableError(f"unknown type {kind!r} (known: {', '.join(JOB_TYPES)})")
    data = body.get("data")
    if not isinstance(data, dict):
        raise UnprocessableError("data must be a JSON object")
    try:
        config = settings.queue(spec.queue)
    except ConfigError as exc:
        raise UnprocessableError(str(exc)) from exc
    try:
        job_data = spec.build(data)
    except InvalidJobError as exc:
        raise UnprocessableError(str(exc)) from exc
    _check_size(job_data, config.options.max_payload)
    options = body.get("options", {})
    if not isinstance(options, dict):
        raise UnprocessableError("options must be a JSON object")
    _no_extra(options, OPTION_KEYS, "in options: ")
    return JobCommand(
        type=kind,
        queue=spec.queue,
        job=spec.job,
        data=job_data,
        priority=_int_option(options, "priority", spec.priority, 0, MAX_PRIORITY),
        attempts=_int_option(options, "attempts", spec.attempts, 1, MAX_ATTEMPTS),
        delay_s=_delay(options) / 1000,
        job_id=_job_id(options),
    )


def _check_size(data: Any, limit: int) -> None:
    try:
        encode_data(data, limit)
    except PayloadTooLargeError as exc:
        raise TooLargeError(str(exc)) from exc
    except InvalidJobError as exc:
        raise UnprocessableError(str(exc)) from exc


def _int_option(options: dict[str, Any], key: str, default: int, low: int, high: int) -> int:
    value = options.get(key, default)
    if type(value) is not int or not low <= value <= high:
        raise UnprocessableError(f"options.{key} must be an integer from {low} to {high}")
    return value


def _delay(options: dict[str, Any]) -> float:
    value = options.get("delay", 0)
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not 0 <= value <= MAX_DELAY_MS
    ):
        raise UnprocessableError(f"options.delay must be milliseconds from 0 to {MAX_DELAY_MS}")
    return float(value)


def _job_id(options: dict[str, Any]) -> str | None:
    value = options.get("jobId")
    if value is None:
        return None
    try:
        return check_job_id(value)
    except InvalidJobError as exc:
        raise UnprocessableError(f"options.jobId: {exc}") from exc
