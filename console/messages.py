"""What screens ask the app to do.

A screen posts one of these to itself; it bubbles up to the app, which runs the action
(asking to confirm first where it destroys or moves jobs), notifies and refreshes. So the
screens never call into the app, and the app alone drives the data source's actions.
``after`` is called once the action succeeded (e.g. a screen reloads its list).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from textual.message import Message

AfterAction = Callable[[], object] | None
"""Called by the app after the action succeeded; ``None``: nothing to do."""


class PauseQueues(Message):
    """Pause these queues.

    Args:
        queues: queue names.
    """

    def __init__(self, queues: Iterable[str]) -> None:
        super().__init__()
        self.queues = list(queues)


class ResumeQueues(Message):
    """Resume these queues.

    Args:
        queues: queue names.
    """

    def __init__(self, queues: Iterable[str]) -> None:
        super().__init__()
        self.queues = list(queues)


class RetryFailed(Message):
    """Retry every failed job of a queue, after a confirm showing how many.

    Args:
        queue: the queue.
        after: called once the jobs moved.
    """

    def __init__(self, queue: str, after: AfterAction = None) -> None:
        super().__init__()
        self.queue = queue
        self.after = after


class CleanQueue(Message):
    """Open the clean dialog for a queue and delete what it confirms.

    Args:
        queue: the queue.
        after: called once the jobs are deleted.
    """

    def __init__(self, queue: str, after: AfterAction = None) -> None:
        super().__init__()
        self.queue = queue
        self.after = after


class RemoveJob(Message):
    """Delete one job, after a confirm.

    Args:
        queue: the job's queue.
        job_id: the job.
        after: called once the job is gone.
    """

    def __init__(self, queue: str, job_id: str, after: AfterAction = None) -> None:
        super().__init__()
        self.queue = queue
        self.job_id = job_id
        self.after = after


class RetryJob(Message):
    """Retry one failed job (not destructive: no confirm).

    Args:
        queue: the job's queue.
        job_id: the job.
        after: called once the app tried (whether or not the job moved).
    """

    def __init__(self, queue: str, job_id: str, after: AfterAction = None) -> None:
        super().__init__()
        self.queue = queue
        self.job_id = job_id
        self.after = after
