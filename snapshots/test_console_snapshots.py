"""SVG snapshots of every console screen, from fixed data (``console.fake``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from textual.pilot import Pilot

from console.app import JustoConsole
from console.fake import T0, FakeSource

SIZE = (130, 42)

SnapCompare = Callable[..., bool]


def make_app(*, fail_after: int | None = None) -> JustoConsole:
    return JustoConsole(
        FakeSource(fail_after=fail_after),
        refresh_s=None,
        mode_label="fake data · monitor",
        clock=lambda: T0 + 5,
    )


async def settle(pilot: Pilot[Any]) -> None:
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


class TestDashboard:
    """The dashboard and its states."""

    def test_dashboard(self, snap_compare: SnapCompare) -> None:
        assert snap_compare(make_app(), terminal_size=SIZE, run_before=settle)

    def test_redis_down(self, snap_compare: SnapCompare) -> None:
        """One good refresh, then Redis goes away: stale data under a red banner."""

        async def lose_redis(pilot: Pilot[Any]) -> None:
            await settle(pilot)
            assert isinstance(pilot.app, JustoConsole)
            await pilot.app.poll_once()
            await settle(pilot)

        assert snap_compare(make_app(fail_after=1), terminal_size=SIZE, run_before=lose_redis)

    def test_help(self, snap_compare: SnapCompare) -> None:
        assert snap_compare(
            make_app(), terminal_size=SIZE, press=["question_mark"], run_before=settle
        )

    def test_confirm_retry_failed(self, snap_compare: SnapCompare) -> None:
        assert snap_compare(make_app(), terminal_size=SIZE, press=["t"], run_before=settle)

    def test_clean_dialog(self, snap_compare: SnapCompare) -> None:
        async def open_clean(pilot: Pilot[Any]) -> None:
            await settle(pilot)
            await pilot.press("c")
            await settle(pilot)

        assert snap_compare(make_app(), terminal_size=SIZE, run_before=open_clean)


class TestDrillDown:
    """Jobs, job detail and crons."""

    def test_job_list(self, snap_compare: SnapCompare) -> None:
        async def open_failed(pilot: Pilot[Any]) -> None:
            await settle(pilot)
            await pilot.press("enter")
            await settle(pilot)
            for _ in range(3):
                await pilot.press("tab")
            await settle(pilot)

        assert snap_compare(make_app(), terminal_size=SIZE, run_before=open_failed)

    def test_job_detail(self, snap_compare: SnapCompare) -> None:
        async def open_job(pilot: Pilot[Any]) -> None:
            await settle(pilot)
            await pilot.press("enter")
            await settle(pilot)
            await pilot.press("enter")
            await settle(pilot)

        assert snap_compare(make_app(), terminal_size=SIZE, run_before=open_job)

    def test_crons(self, snap_compare: SnapCompare) -> None:
        async def open_crons(pilot: Pilot[Any]) -> None:
            await settle(pilot)
            await pilot.press("2")
            await settle(pilot)

        assert snap_compare(make_app(), terminal_size=SIZE, run_before=open_crons)
