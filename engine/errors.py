"""The engine's error tree: every error the engine raises is an ``EngineError``.

Callers can catch ``EngineError`` for "anything the queue refused", or one of the
named subclasses for a specific case. ``title`` is a short label for UIs.
"""

from __future__ import annotations


class EngineError(Exception):
    """Base of every error raised by the engine.

    Any exception a handler raises (engine error or not) may carry ``retryable = False``:
    the job then fails at once instead of using its remaining attempts; and
    ``retry_after_s`` (seconds): the retry waits at least that long.
    """

    title = "Engine error"


class ConfigError(EngineError):
    """The configuration is invalid (bad URL, bad option value, unsafe Redis setting)."""

    title = "Configuration error"


class RedisUnavailableError(EngineError):
    """Redis could not be reached or answered with a connection error."""

    title = "Redis unavailable"


class UnsafeRedisError(ConfigError):
    """Redis is configured in a way that can lose jobs (e.g. an evicting maxmemory-policy)."""

    title = "Unsafe Redis configuration"


class ScriptError(EngineError):
    """A Lua script returned an unexpected result."""

    title = "Script error"


class JobNotFoundError(EngineError):
    """No job with the given id exists in the queue."""

    title = "Job not found"


class JobActiveError(EngineError):
    """The job is running (leased by a worker) and cannot be changed now."""

    title = "Job is active"


class InvalidJobError(EngineError):
    """The job's options or data are invalid (not JSON, bad priority, ...)."""

    title = "Invalid job"


class PayloadTooLargeError(InvalidJobError):
    """The serialized job data is larger than the queue's payload limit."""

    title = "Payload too large"


class UnknownJobTypeError(EngineError):
    """No handler is registered for the job's name."""

    title = "Unknown job type"


class MalformedJobError(EngineError):
    """A job found in Redis is malformed (bad JSON, missing fields, oversized)."""

    title = "Malformed job"


class JobTimeoutError(EngineError):
    """The handler ran longer than the job's timeout."""

    title = "Job timed out"


class LeaseLostError(EngineError):
    """The worker's lease on a job expired and the job was reclaimed by the reaper."""

    title = "Lease lost"
