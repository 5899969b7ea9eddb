"""``q`` and a second ``q`` in the console with a real in-process supervisor (README: "`q`
quits gracefully: running jobs get 25 s to finish, the rest go back to the head of their
queue; `q` again gives them back at once").

The app is built the way ``justo/cli/console.py`` builds it: ``JustoConsole`` on a
``RedisSource`` with the launcher's own ``InProcessSupervisor`` (the real JustoAI
supervisor, on the test's private Redis and prefix) running an ``ops`` queue whose
``gated`` jobs (``tests.console.quit_jobs``) finish only when the test says so. The grace
period is 600 s, so only the second ``q`` can end a stop early.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from redis.asyncio import Redis

from console.app import JustoConsole
from console.source import RedisSource
from engine import JobState, Queue
from engine.admin import Redactor
from engine.client import make_client
from engine.runtime.settings import Settings
from justo import catalog
from justo.cli.console import InProcessSupervisor
from tests.conftest import eventually
from tests.console import quit_jobs
from tests.console.quit_jobs import Gate

SIZE = (130, 42)

GRACE_S = 600
"""Far longer than any wait in these tests: a stop that waits out the grace fails them."""

CONFIG = f"""
grace_seconds = {GRACE_S}

[queues.ops]
concurrency = 1
attempts = 3
"""


@dataclass
class Console:
    """The app under test, its supervisor handle and what it works on."""

    app: JustoConsole
    supervisor: InProcessSupervisor
    queue: Queue
    settings: Settings


@pytest.fixture(autouse=True)
def _keep_root_logging() -> Iterator[None]:
    """The supervisor adds a log-stream handler to the root logger (as in the real
    console process); take it off again so later tests are not affected."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.fixture
def gate() -> Iterator[Gate]:
    """The gate of this test's one job."""
    gate = Gate()
    quit_jobs.GATES["quit"] = gate
    yield gate
    quit_jobs.GATES.pop("quit", None)


@pytest.fixture
async def console(
    redis: Redis, redis_url: str, prefix: str, tmp_path: Path
) -> AsyncIterator[Console]:
    """The console app with an in-process supervisor, as ``run_console`` builds it."""
    config = tmp_path / "justo.toml"
    config.write_text(CONFIG)
    env = {"REDIS_URL": redis_url, "JUSTO_PREFIX": prefix, "JUSTO_DATA_DIR": str(tmp_path)}
    settings = catalog.load(env, config, ("tests.console.quit_jobs",))
    assert settings.grace_s == GRACE_S
    supervisor = InProcessSupervisor(redis_url, settings, env, demo=False, allow_eviction=False)
    source_client = make_client(redis_url)
    app = JustoConsole(
        RedisSource(source_client, settings),
        supervisor=supervisor,
        mode_label="test · supervisor",
        redactor=Redactor([]),
    )
    queue = Queue(redis, "ops", prefix=prefix, options=settings.queue("ops").options)
    try:
        yield Console(app, supervisor, queue, settings)
    finally:
        await source_client.aclose()


async def start_gated_job(console: Console, gate: Gate) -> str:
    """Enqueue one gated job and wait until the in-process supervisor runs it."""
    added = await console.queue.add("gated", {"gate": "quit"})
    await eventually(lambda: is_set(gate.started), timeout=60)
    assert (await console.queue.counts()).active == 1
    return added.id


async def is_set(event: asyncio.Event) -> bool:
    """Whether ``event`` is set (a predicate for ``eventually``)."""
    return event.is_set()


def exit_status(app: JustoConsole) -> tuple[int | None, int | None]:
    """The app's return code and return value (``run_console`` returns the value)."""
    return app.return_code, app.return_value


async def exited(app: JustoConsole) -> bool:
    """Whether the app has asked to exit."""
    return app.return_code is not None


async def test_q_stops_the_supervisor_gracefully_letting_the_running_job_finish(
    console: Console, gate: Gate
) -> None:
    """Promise: ``q`` with the supervisor running stops it gracefully: the app stays open
    while the running job finishes, the job completes (it is not given back or cut
    short), and then the app exits with code 0."""
    app = console.app
    async with app.run_test(size=SIZE) as pilot:
        job_id = await start_gated_job(console, gate)
        await pilot.press("q")
        # The stop has begun, but the job is still running and the app still open.
        assert app.return_code is None
        assert (await console.queue.counts()).active == 1 and not gate.cancelled

        gate.opened.set()
        await eventually(lambda: exited(app), timeout=60)
    assert exit_status(app) == (0, 0)
    assert gate.finished and not gate.cancelled
    job = await console.queue.get_job(job_id)
    assert job is not None and job.state == JobState.COMPLETED, job
    assert (await console.queue.counts()).active == 0


async def test_second_q_gives_the_unfinished_job_back_to_waiting_at_once(
    console: Console, gate: Gate
) -> None:
    """Promise: a second ``q`` stops at once: the job still running is cut short and given
    back to the head of its waiting list (not failed, not left active), and the app exits
    with code 0 without waiting out the grace period."""
    app = console.app
    async with app.run_test(size=SIZE) as pilot:
        job_id = await start_gated_job(console, gate)
        await console.queue.add("gated", {"gate": "never-runs"}, job_id="behind")
        await pilot.press("q")
        assert app.return_code is None
        assert (await console.queue.counts()).active == 1
        await pilot.press("q")
        await eventually(lambda: exited(app), timeout=60)
    assert exit_status(app) == (0, 0)
    assert gate.cancelled and not gate.finished
    job = await console.queue.get_job(job_id)
    assert job is not None and job.state == JobState.WAITING, job
    counts = await console.queue.counts()
    assert (counts.active, counts.waiting, counts.failed) == (0, 2, 0)
    head = await console.queue.jobs(JobState.WAITING, 0, 0)
    assert [j.id for j in head] == [job_id]
