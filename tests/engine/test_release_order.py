"""Released jobs go back to the head of the line in the order they were fetched
(issue 12, class 13: they came back reversed)."""

from __future__ import annotations

from engine import JobSpec, JobState
from engine.queue.queue import now_ms
from engine.worker import leases
from tests.conftest import QueueFactory


async def test_released_jobs_keep_their_order_ahead_of_the_rest(make_queue: QueueFactory) -> None:
    queue = make_queue()
    added = await queue.add_bulk(JobSpec("j", i) for i in range(5))
    fetched = await leases.fetch(queue, now_ms(), 3, "w1")
    assert [j.id for j in fetched.jobs] == [a.id for a in added[:3]]
    released = await leases.release(queue, [(j.id, j.token) for j in fetched.jobs])
    assert released == 3
    waiting = await queue.jobs(JobState.WAITING, 0, -1)
    assert [j.id for j in waiting] == [a.id for a in added]
