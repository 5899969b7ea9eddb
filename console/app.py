"""The Textual app: owns the data source, the refresh timer and the actions.

Data flow: a timer calls ``poll_once`` every ``refresh_s``; it awaits one pipelined
snapshot (under a timeout) and assigns it to the ``snapshot`` reactive; screens watch it
and update their widgets in place. A failed poll keeps the old snapshot, sets
``stale_since`` (a red banner) and notifies once; the next good poll clears it.

Actions flow up: screens post ``console.messages`` (pause, retry, clean, remove ...) that
bubble to the app, whose handlers confirm, call the source, notify and refresh. Screens
see the app only as a ``console.host.ConsoleHost``, so they never import this module.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Protocol

from textual import on
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.reactive import reactive
from textual.screen import Screen

from console.messages import (
    AfterAction,
    CleanQueue,
    PauseQueues,
    RemoveJob,
    ResumeQueues,
    RetryFailed,
    RetryJob,
)
from console.screens.clean import CleanModal, CleanRequest
from console.screens.confirm import ConfirmModal
from console.screens.crons import CronsScreen
from console.screens.dashboard import DashboardScreen
from console.screens.help import HelpScreen
from console.source import ConsoleSource
from engine.admin import EngineError, EngineSnapshot, Redactor

log = logging.getLogger("justo.console")

POLL_TIMEOUT_S = 3.0
"""A refresh that takes longer than this counts as failed (Redis unreachable or stuck)."""


class SupervisorHandle(Protocol):
    """The in-process supervisor, as the console drives it."""

    async def run(self) -> None:
        """Run until stopped."""
        ...

    def request_stop(self, *, fast: bool = False) -> None:
        """Begin a graceful (or fast) stop."""
        ...


class JustoConsole(App[int]):
    """The operations console.

    Args:
        source: where data comes from and actions go.
        refresh_s: seconds between refreshes; ``None`` polls once at start only (tests).
        supervisor: run this supervisor inside the app (``None``: monitor only).
        mode_label: a short description for the header (e.g. "embedded Redis · supervisor").
        clock: the time source (tests freeze it).
        redactor: masks secrets in what the screens show of jobs (default: secret-looking
            fields and credentials in text; the launcher adds the environment's secrets).
    """

    CSS_PATH = "app.tcss"
    TITLE = "justo-console"
    BINDINGS = [
        Binding("q", "quit", "Quit"),
        Binding("ctrl+c", "quit", "Quit", show=False, priority=True),
        Binding("question_mark", "help", "Help", key_display="?"),
        Binding("1", "dashboard", "Queues", show=False),
        Binding("2", "crons", "Crons"),
    ]

    # No repaint of the whole screen per refresh: the screens' watchers update their widgets.
    snapshot: reactive[EngineSnapshot | None] = reactive(None, always_update=True, repaint=False)
    stale_since: reactive[float | None] = reactive(None)

    def __init__(
        self,
        source: ConsoleSource,
        *,
        refresh_s: float | None = 1.0,
        supervisor: SupervisorHandle | None = None,
        mode_label: str = "",
        clock: Callable[[], float] = time.time,
        redactor: Redactor | None = None,
    ) -> None:
        super().__init__()
        self.clock = clock
        self.source = source
        self.refresh_s = refresh_s
        self.supervisor = supervisor
        self.mode_label = mode_label or ("supervisor running" if supervisor else "monitor")
        self.filter_text = ""
        self.redactor = redactor if redactor is not None else Redactor()
        self._supervisor_task: asyncio.Task[None] | None = None
        self._stopping = False
        self._polls_started = 0
        self._poll_applied = 0

    async def on_mount(self) -> None:
        with contextlib.suppress(NotImplementedError, RuntimeError):
            # SIGTERM (e.g. from a service manager) stops as gracefully as `q` does.
            asyncio.get_running_loop().add_signal_handler(
                signal.SIGTERM, lambda: self.call_later(self.action_quit)
            )
        await self.push_screen(DashboardScreen())
        if self.supervisor is not None:
            self._supervisor_task = asyncio.create_task(self.supervisor.run(), name="supervisor")
            self._supervisor_task.add_done_callback(self._supervisor_ended)
        await self.poll_once()
        # What exists now lives as long as the app: keep it out of the garbage collector's
        # full passes, which otherwise stall key presses for tens of milliseconds.
        gc.freeze()
        if self.refresh_s is not None:
            self.set_interval(self.refresh_s, self.poll_once)

    def _supervisor_ended(self, task: asyncio.Task[None]) -> None:
        """Say so on screen when the in-process supervisor stops by itself (it failed)."""
        if task.cancelled() or self._stopping:
            return
        exc = task.exception()
        reason = f"{type(exc).__name__}: {exc}" if exc else "it returned"
        self.mode_label = "supervisor STOPPED · monitor only"
        self.notify(
            f"the supervisor stopped ({reason}); the console keeps watching. "
            "See logs/workers/supervisor.log",
            title="Supervisor stopped",
            severity="error",
            timeout=60,
        )

    # ------------------------------------------------------------ refresh

    async def poll_once(self) -> None:
        """Take one snapshot; on failure mark the data stale (never raises)."""
        self._polls_started += 1
        number = self._polls_started
        try:
            snapshot = await asyncio.wait_for(self.source.snapshot(), POLL_TIMEOUT_S)
        except Exception as exc:  # Redis down, a timeout, anything else: never crash the UI
            self._mark_stale(exc)
            return
        if number < self._poll_applied:
            return  # a newer poll (after an action) already landed; never go back in time
        self._poll_applied = number
        if self.stale_since is not None:
            self.notify("Redis is reachable again", title="Recovered")
            self.stale_since = None
        self.snapshot = snapshot

    def _mark_stale(self, exc: BaseException) -> None:
        if self.stale_since is None:
            self.stale_since = self.clock()
            self.notify(
                f"cannot refresh: {type(exc).__name__}; showing the last data and retrying",
                title="Redis unreachable",
                severity="error",
                timeout=8,
            )
            log.warning("console refresh failed: %s", type(exc).__name__)

    def refresh_soon(self) -> None:
        """Refresh now (after an action) instead of waiting for the timer."""
        self.run_worker(self.poll_once(), group="refresh", exit_on_error=False)

    # ------------------------------------------------------------ actions (from screens)

    @on(PauseQueues)
    async def _pause_queues(self, message: PauseQueues) -> None:
        """Pause queues and say what changed."""
        changed = [q for q in message.queues if await self._safely(self.source.pause(q))]
        self.notify(f"paused {', '.join(changed)}" if changed else "already paused")
        self.refresh_soon()

    @on(ResumeQueues)
    async def _resume_queues(self, message: ResumeQueues) -> None:
        """Resume queues and say what changed."""
        changed = [q for q in message.queues if await self._safely(self.source.resume(q))]
        self.notify(f"resumed {', '.join(changed)}" if changed else "already running")
        self.refresh_soon()

    async def _safely(self, call: Awaitable[bool]) -> bool:
        try:
            return bool(await call)
        except Exception as exc:
            self.notify(f"failed: {type(exc).__name__}: {exc}", severity="error")
            return False

    @on(RetryFailed)
    def _confirm_retry_failed(self, message: RetryFailed) -> None:
        """Ask, with the count, then retry every failed job of the queue."""
        queue, failed = message.queue, self._failed_count(message.queue)
        if failed == 0:
            self.notify(f"{queue} has no failed jobs")
            return

        def done(confirmed: bool | None) -> None:
            if confirmed:
                self.run_worker(self._retry_failed(queue, message.after), exit_on_error=False)

        self.push_screen(
            ConfirmModal(
                f"Retry failed jobs of {queue}",
                f"{failed} failed job(s) go back to waiting with fresh attempts.",
                "Retry",
            ),
            done,
        )

    def _failed_count(self, queue: str) -> int:
        snap = self.snapshot
        stats = next((q for q in snap.queues if q.name == queue), None) if snap else None
        return stats.counts.failed if stats else 0

    async def _retry_failed(self, queue: str, after: AfterAction) -> None:
        moved = await self.source.retry_failed(queue)
        self.notify(f"{queue}: {moved} failed job(s) moved back to waiting")
        self._after(after)

    @on(CleanQueue)
    def _open_clean(self, message: CleanQueue) -> None:
        """Open the clean dialog; delete what it confirms."""

        def done(request: CleanRequest | None) -> None:
            if request is not None:
                self.run_worker(
                    self._clean(message.queue, request, message.after), exit_on_error=False
                )

        self.push_screen(CleanModal(self.source, message.queue), done)

    async def _clean(self, queue: str, request: CleanRequest, after: AfterAction) -> None:
        deleted = await self.source.clean(queue, request.state, request.older_than)
        self.notify(f"{queue}: {deleted} {request.state} job(s) deleted")
        self._after(after)

    @on(RemoveJob)
    def _confirm_remove(self, message: RemoveJob) -> None:
        """Ask, then delete one job."""
        queue, job_id = message.queue, message.job_id

        def done(confirmed: bool | None) -> None:
            if confirmed:
                self.run_worker(self._remove(queue, job_id, message.after), exit_on_error=False)

        self.push_screen(
            ConfirmModal(
                f"Remove job {job_id} from {queue}", "1 job will be deleted for good.", "Remove"
            ),
            done,
        )

    async def _remove(self, queue: str, job_id: str, after: AfterAction) -> None:
        try:
            removed = await self.source.remove_job(queue, job_id)
        except EngineError as exc:
            self.notify(str(exc), title=exc.title, severity="error")
            return
        self.notify(f"job {job_id} removed" if removed else f"job {job_id} was already gone")
        self._after(after)

    @on(RetryJob)
    def _retry_job(self, message: RetryJob) -> None:
        """Retry one failed job (not destructive: no confirm)."""
        self.run_worker(
            self._retry_one(message.queue, message.job_id, message.after), exit_on_error=False
        )

    async def _retry_one(self, queue: str, job_id: str, after: AfterAction) -> None:
        moved = await self.source.retry_job(queue, job_id)
        self.notify(
            f"job {job_id} moved back to waiting" if moved else f"job {job_id} is not failed"
        )
        self._after(after)

    def _after(self, after: AfterAction) -> None:
        if after is not None:
            after()
        self.refresh_soon()

    # ------------------------------------------------------------ navigation

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen(self.screen, list(self.BINDINGS)))

    def action_crons(self) -> None:
        if not isinstance(self.screen, CronsScreen):
            self.push_screen(CronsScreen())

    def action_dashboard(self) -> None:
        while len(self.screen_stack) > 2:
            self.pop_screen()

    async def action_quit(self) -> None:
        """Quit; with an in-process supervisor, stop it gracefully first (press again to
        give running jobs back at once)."""
        task = self._supervisor_task
        if self.supervisor is None or task is None or task.done():
            self.exit(0)
            return
        if self._stopping:
            self.supervisor.request_stop(fast=True)
            return
        self._stopping = True
        self.notify(
            "stopping the supervisor: running jobs are finishing (q again: stop now)", timeout=30
        )
        self.supervisor.request_stop()
        self.run_worker(self._exit_after(task), exit_on_error=False)

    async def _exit_after(self, task: asyncio.Task[None]) -> None:
        with contextlib.suppress(Exception):
            await task
        self.exit(0)

    def get_system_commands(self, screen: Screen[object]) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        for binding in [*screen.BINDINGS, *self.BINDINGS]:
            if isinstance(binding, Binding) and binding.description:
                action = binding.action
                target = self if binding in self.BINDINGS else screen
                yield SystemCommand(
                    binding.description,
                    f"key: {binding.key_display or binding.key}",
                    lambda target=target, action=action: self.call_later(target.run_action, action),
                )
