"""justo-console's queue engine: Redis lists, atomic Lua state changes, leases and retries.

A generic library and its runtime: it knows no application (import-linter checks that it
imports neither ``justo`` nor ``console`` nor any UI, database or HTTP library). Tools
that read and control queues use ``engine.admin``.
"""

from engine.errors import (
    ConfigError,
    EngineError,
    InvalidJobError,
    JobActiveError,
    JobNotFoundError,
    JobTimeoutError,
    LeaseLostError,
    MalformedJobError,
    PayloadTooLargeError,
    RedisUnavailableError,
    ScriptError,
    UnknownJobTypeError,
    UnsafeRedisError,
)
from engine.job import Job, JobState
from engine.options import Backoff, QueueOptions
from engine.queue.queue import JobSpec, Queue
from engine.runtime.reaper import Reaper
from engine.scripts.replies import Enqueued, QueueCounts
from engine.worker.context import JobContext
from engine.worker.registry import Registry
from engine.worker.worker import Worker

__all__ = [
    "Backoff",
    "ConfigError",
    "EngineError",
    "Enqueued",
    "InvalidJobError",
    "Job",
    "JobActiveError",
    "JobContext",
    "JobNotFoundError",
    "JobSpec",
    "JobState",
    "JobTimeoutError",
    "LeaseLostError",
    "MalformedJobError",
    "PayloadTooLargeError",
    "Queue",
    "QueueCounts",
    "QueueOptions",
    "Reaper",
    "RedisUnavailableError",
    "Registry",
    "ScriptError",
    "UnknownJobTypeError",
    "UnsafeRedisError",
    "Worker",
]
