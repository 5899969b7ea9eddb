"""Bad job options are refused at ``add`` with ``InvalidJobError`` and nothing is written
(issue 12, classes 3 and 13): a backoff kind that does not exist, NaN or infinite delays and
timeouts, non-numeric or negative backoff settings, non-integer attempts."""

from __future__ import annotations

import math
from typing import Any

import pytest

from engine import Backoff, InvalidJobError, JobSpec
from tests.conftest import QueueFactory

BAD_SPECS: list[tuple[str, dict[str, Any], str]] = [
    ("nan delay", {"delay": math.nan}, "delay"),
    ("infinite delay", {"delay": math.inf}, "delay"),
    ("nan timeout", {"timeout": math.nan}, "timeout"),
    ("infinite timeout", {"timeout": math.inf}, "timeout"),
    ("attempts not an int", {"attempts": 2.5}, "attempts"),
    ("attempts a bool", {"attempts": True}, "attempts"),
]


@pytest.mark.parametrize(("case", "options", "word"), BAD_SPECS, ids=[c for c, _, _ in BAD_SPECS])
async def test_bad_options_are_refused_and_nothing_is_written(
    make_queue: QueueFactory, case: str, options: dict[str, Any], word: str
) -> None:
    queue = make_queue()
    with pytest.raises(InvalidJobError, match=word):
        await queue.add_bulk([JobSpec("ok", 1), JobSpec("bad", 2, **options)])
    counts = await queue.counts()
    assert (counts.waiting, counts.delayed) == (0, 0)


@pytest.mark.parametrize(
    ("kind", "delay_ms", "max_delay_ms"),
    [("linear", 1000, 5000), ("fixed", -1, 5000), ("exponential", 1000, -5)],
)
def test_a_backoff_that_cannot_be_computed_is_refused(
    kind: Any, delay_ms: int, max_delay_ms: int
) -> None:
    with pytest.raises(InvalidJobError, match="backoff"):
        Backoff(kind, delay_ms, max_delay_ms)


@pytest.mark.parametrize(
    "raw", [math.nan, math.inf, -5, {"kind": "fixed", "delay_ms": "soon"}, {"kind": "x"}, "5"]
)
def test_a_stored_backoff_that_cannot_be_read_is_invalid(raw: Any) -> None:
    with pytest.raises(InvalidJobError, match="backoff"):
        Backoff.from_json(raw)


def test_valid_backoffs_still_read_back() -> None:
    assert Backoff.from_json(1500) == Backoff("fixed", 1500)
    exponential = Backoff("exponential", 200, 1000)
    assert Backoff.from_json(exponential.to_json()) == exponential


async def test_a_client_id_cannot_take_the_form_of_a_generated_id(
    make_queue: QueueFactory,
) -> None:
    # Issue 12, class 11: "1" chosen by a client after the generator made job 1 was taken
    # for a duplicate, and the client's different job was silently not enqueued.
    queue = make_queue()
    generated = await queue.add("first", 1)
    assert generated.id.isdigit()
    with pytest.raises(InvalidJobError, match="whole number"):
        await queue.add("other", 2, job_id=generated.id)
    with pytest.raises(InvalidJobError, match="whole number"):
        await queue.add("other", 2, job_id="0042")
    job = await queue.get_job(generated.id)
    assert job is not None and (job.name, job.data) == ("first", 1)
    assert (await queue.add("other", 2, job_id="order-42")).created
