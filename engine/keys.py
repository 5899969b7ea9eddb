"""The only place Redis key names are built.

Every key of a queue lives under one hash tag, ``<prefix>:{<queue>}:...``, so each Lua
script touches keys of a single Redis Cluster slot.
"""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_PREFIX = "justo"
"""Key prefix used when none is configured."""


@dataclass(frozen=True)
class QueueKeys:
    """Key names of one queue.

    Args:
        prefix: the configured key prefix (``justo`` by default).
        queue: the queue name; it becomes the hash tag.
    """

    prefix: str
    queue: str

    @property
    def base(self) -> str:
        """``<prefix>:{<queue>}:``: the start of every key of this queue."""
        return f"{self.prefix}:{{{self.queue}}}:"

    def key(self, suffix: str) -> str:
        """The key ``<base><suffix>``."""
        return self.base + suffix

    @property
    def job_prefix(self) -> str:
        """Prefix of job hashes; scripts append the job id."""
        return self.key("job:")

    def job(self, job_id: str) -> str:
        """The hash holding one job's fields."""
        return self.job_prefix + job_id

    @property
    def log_prefix(self) -> str:
        """Prefix of per-job log lists; scripts append the job id.

        Kept apart from ``job:`` so a client job id can never name another job's log list.
        """
        return self.key("logs:")

    def job_logs(self, job_id: str) -> str:
        """The capped list of a job's log lines."""
        return self.log_prefix + job_id

    def wait(self, priority: int) -> str:
        """The waiting list for one priority level."""
        return self.key(f"wait:{priority}")

    @property
    def wait_prefix(self) -> str:
        """Prefix of the waiting lists; scripts append the priority."""
        return self.key("wait:")

    @property
    def priorities(self) -> str:
        """Zset of priority levels that have (or recently had) a waiting list."""
        return self.key("prios")

    @property
    def delayed(self) -> str:
        """Zset of delayed job ids scored by due time (ms)."""
        return self.key("delayed")

    @property
    def active(self) -> str:
        """Zset of leased job ids scored by lease deadline (ms)."""
        return self.key("active")

    @property
    def completed(self) -> str:
        """Zset of completed job ids scored by finish time (ms)."""
        return self.key("completed")

    @property
    def failed(self) -> str:
        """Zset of failed (dead-letter) job ids scored by failure time (ms)."""
        return self.key("failed")

    @property
    def paused(self) -> str:
        """String flag; present while the queue is paused."""
        return self.key("paused")

    @property
    def notify(self) -> str:
        """List holding at most one wake-up token for blocked workers."""
        return self.key("notify")

    @property
    def id_counter(self) -> str:
        """Counter for generated job ids."""
        return self.key("id")

    def replay(self, request_id: str) -> str:
        """A state-changing call's reply, kept briefly under its request id so that a
        replay of the call (after its reply was lost) answers the same and writes nothing."""
        return self.key(f"replay:{request_id}")

    @property
    def fence(self) -> str:
        """Counter for lease fencing tokens."""
        return self.key("fence")

    @property
    def events(self) -> str:
        """Capped stream of notable events (failed, retried, stalled, paused, ...)."""
        return self.key("events")

    @property
    def metrics_prefix(self) -> str:
        """Prefix of per-minute metric hashes; scripts append the minute number."""
        return self.key("metrics:")

    def metrics(self, minute: int) -> str:
        """Metric hash of one minute (minutes since the epoch)."""
        return self.metrics_prefix + str(minute)

    @property
    def meta(self) -> str:
        """Hash of queue-level settings written by workers (for readers such as the console)."""
        return self.key("meta")


# Keys that belong to no queue. Each names one key, so a Redis Cluster client routes it
# to one slot; none is used together with another in one command or script.


def supervisors_key(prefix: str) -> str:
    """Hash of supervisor id → heartbeat JSON; ``beat`` is Redis ``TIME``, so readers on
    other machines judge liveness by the same clock."""
    return f"{prefix}:supervisors"


def log_stream_key(prefix: str) -> str:
    """The capped stream of supervisor log lines the console tails."""
    return f"{prefix}:logs"


def schedule_key(prefix: str, name: str) -> str:
    """The hash recording one recurring job's state."""
    return f"{prefix}:cron:{name}"


def schedules_key(prefix: str) -> str:
    """The set of recurring job names."""
    return f"{prefix}:crons"


def run_id_key(prefix: str) -> str:
    """The last Redis ``run_id`` seen, to notice a Redis restart."""
    return f"{prefix}:redis-run-id"


def rate_limit_key(name: str, prefix: str = DEFAULT_PREFIX) -> str:
    """The sorted set of rate limiter ``name`` (``rate_limit.lua``), under its own hash tag."""
    return f"{prefix}:{{ratelimit:{name}}}"
