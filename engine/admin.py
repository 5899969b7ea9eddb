"""The engine's public read and control API for operators' tools (the console, the CLI,
an admin HTTP API): one import for everything they may use.

Read: ``collect`` takes one pipelined snapshot of every queue, Redis and the live
supervisors (``EngineSnapshot``); ``Queue.jobs`` / ``Queue.get_job`` page through jobs;
``read_schedules`` and ``read_supervisors`` read recurring jobs and heartbeats.
Control: the ``Queue`` methods ``pause``, ``resume``, ``retry_failed``, ``retry_jobs``,
``count_finished``, ``clean``, ``remove`` and ``drain``, each one Lua script.
Show: ``Redactor`` masks secrets; ``format_ms`` and ``parse_duration`` read and write
durations the same way everywhere.

Tools importing this module stay clear of the engine's internals (scripts, keys, worker,
supervisor), which import-linter checks.
"""

from engine.errors import EngineError, RedisUnavailableError
from engine.job import Job, JobState
from engine.queue.queue import Queue
from engine.redaction import Redactor
from engine.runtime.metrics import QueueMetrics
from engine.runtime.scheduler import ScheduleStatus, read_schedules
from engine.runtime.settings import Settings
from engine.runtime.stats import (
    EngineSnapshot,
    Health,
    QueueStats,
    RedisStats,
    assess,
    collect,
)
from engine.runtime.supervisor import SupervisorInfo, read_supervisors
from engine.scripts.replies import QueueCounts
from engine.units import format_ms, parse_duration

__all__ = [
    "EngineError",
    "EngineSnapshot",
    "Health",
    "Job",
    "JobState",
    "Queue",
    "QueueCounts",
    "QueueMetrics",
    "QueueStats",
    "Redactor",
    "RedisStats",
    "RedisUnavailableError",
    "ScheduleStatus",
    "Settings",
    "SupervisorInfo",
    "assess",
    "collect",
    "format_ms",
    "parse_duration",
    "read_schedules",
    "read_supervisors",
]
