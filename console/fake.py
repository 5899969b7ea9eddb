"""A ``ConsoleSource`` with fixed data, for snapshot tests and UI work without Redis.

The data includes hostile text on purpose (Rich markup, ANSI and OSC escape sequences) so
the snapshots prove it is shown literally.
"""

from __future__ import annotations

from collections.abc import Sequence

from engine.admin import (
    EngineSnapshot,
    Job,
    JobState,
    QueueCounts,
    QueueMetrics,
    QueueStats,
    RedisStats,
    ScheduleStatus,
    SupervisorInfo,
)

T0 = 1_796_040_000.0
"""The frozen "now" of the fake data (2026-11-30 12:00:00 UTC)."""

HOSTILE = "[bold red]not markup[/] \x1b[31mnot red\x1b[0m \x1b]8;;http://x\x07link\x1b]8;;\x07"
"""Text that must appear literally wherever it is shown."""


def _metrics(
    per_minute: Sequence[int], failure: float, run95: float, wait95: float
) -> QueueMetrics:
    done = sum(per_minute)
    return QueueMetrics(
        60,
        done,
        int(done * failure),
        int(done * failure),
        run95 / 3,
        run95,
        wait95 / 4,
        wait95,
        run95 / 2,
        wait95 / 2,
        tuple(per_minute),
    )


def _wave(base: int, spread: int, phase: int) -> list[int]:
    return [max(0, base + ((i * 7 + phase) % (2 * spread + 1)) - spread) for i in range(60)]


class FakeSource:
    """Fixed data; actions change it the way Redis would, and are recorded in ``calls``."""

    def __init__(self, *, fail_after: int | None = None) -> None:
        self.queue_names: Sequence[str] = [
            "sync",
            "reports",
            "cache-cleanup",
            "document-processing",
            "notifications",
        ]
        self.fail_after = fail_after
        """Snapshots that succeed before every later one fails (``None``: never fail)."""
        self.snapshots_taken = 0
        self.calls: list[tuple[str, ...]] = []
        self.paused: set[str] = {"reports"}
        self.failed = {
            "sync": 3,
            "reports": 0,
            "cache-cleanup": 0,
            "document-processing": 1,
            "notifications": 12,
        }

    async def snapshot(self) -> EngineSnapshot:
        self.snapshots_taken += 1
        if self.fail_after is not None and self.snapshots_taken > self.fail_after:
            raise ConnectionError("Redis is down (fake)")
        shapes = {
            "sync": (
                QueueCounts(42, 5, 7, 100, self.failed["sync"], False),
                _metrics(_wave(12, 5, 1), 0.021, 2300, 180),
                5,
            ),
            "reports": (
                QueueCounts(0, 0, 0, 100, 0, True),
                _metrics(_wave(1, 1, 2), 0, 8400, 40),
                3,
            ),
            "cache-cleanup": (
                QueueCounts(0, 0, 0, 48, 0, False),
                _metrics(_wave(0, 1, 3), 0, 410, 12),
                1,
            ),
            "document-processing": (
                QueueCounts(1_250_000, 2, 0, 100, 1, False),
                _metrics(_wave(30, 9, 4), 0.004, 14_200, 95_000),
                2,
            ),
            "notifications": (
                QueueCounts(3, 1, 12, 100, self.failed["notifications"], False),
                _metrics(_wave(80, 20, 5), 0.13, 640, 8),
                10,
            ),
        }
        queues = []
        for name in self.queue_names:
            counts, metrics, workers = shapes[name]
            counts = QueueCounts(
                counts.waiting,
                counts.delayed,
                counts.active,
                counts.completed,
                self.failed[name],
                name in self.paused,
            )
            queues.append(QueueStats(name, counts, metrics, workers))
        redis = RedisStats(
            "7.0.15",
            48_300_000,
            61_000_000,
            536_870_912,
            1.21,
            14,
            "noeviction",
            True,
            int(T0) - 300,
            86_400 * 3,
            1250,
        )
        supervisor = SupervisorInfo(
            "app-1:4242:a1b2c3",
            "app-1",
            4242,
            T0 - 7200,
            T0 - 2,
            {n: w for n, (_, _, w) in shapes.items()},
            {"sync": ["901", "902"], "document-processing": ["77"], "notifications": []},
            {},
            {},
        )
        logs = (
            {"ts": str(T0 - 30), "level": "INFO", "queue": "", "msg": "supervisor running"},
            {
                "ts": str(T0 - 20),
                "level": "WARNING",
                "queue": "sync",
                "msg": "job 881 (full-sync) attempt 1/3 failed: TimeoutError; retrying in 2100 ms",
            },
            {
                "ts": str(T0 - 10),
                "level": "ERROR",
                "queue": "notifications",
                "msg": f"job 12 (send-notification) failed after 5 attempt(s): {HOSTILE}",
            },
        )
        return EngineSnapshot(T0, tuple(queues), redis, (supervisor,), logs, "1-0")

    async def jobs(self, queue: str, state: JobState, start: int, stop: int) -> list[Job]:
        jobs = [self._job(queue, str(900 + i), state) for i in range(4)]
        return jobs[start : stop + 1]

    async def job(self, queue: str, job_id: str) -> Job | None:
        return self._job(queue, job_id, JobState.FAILED)

    def _job(self, queue: str, job_id: str, state: JobState) -> Job:
        failed = state is JobState.FAILED
        return Job(
            id=job_id,
            queue=queue,
            name="full-sync",
            state=state,
            raw_data='{"workspaceId": "ws-1", "note": "x"}',
            data={"workspaceId": "ws-1", "note": HOSTILE, "apiKey": "sk-canary-fake-key"},
            priority=10,
            created_ms=int((T0 - 600) * 1000),
            ready_ms=int((T0 - 600) * 1000),
            attempts_made=3 if failed else 1,
            stalls=0,
            options={"attempts": 3},
            processed_ms=int((T0 - 590) * 1000),
            finished_ms=int((T0 - 588) * 1000),
            run_ms=2040,
            worker="app-1:4242:a1b2c3:sync",
            error=f"RuntimeError: court API answered 503 {HOSTILE}" if failed else "",
            traceback=(
                'Traceback (most recent call last):\n  File "sync.py", line 10, in run\n'
                "RuntimeError: court API answered 503"
            )
            if failed
            else "",
            result=None if failed else {"updated": 3},
            progress=100,
            logs=["fetching 50 processes", f"provider said {HOSTILE}"],
        )

    async def crons(self) -> list[ScheduleStatus]:
        return [
            ScheduleStatus(
                "sync-apis",
                "sync",
                "full-sync",
                "0 */6 * * *",
                "America/Sao_Paulo",
                T0 - 3600,
                T0 + 18000,
                "cron:sync-apis:1796036400",
                "enqueued",
                0,
            ),
            ScheduleStatus(
                "weekly-reports",
                "reports",
                "generate-scheduled-reports",
                "0 23 * * 0",
                "America/Sao_Paulo",
                T0 - 86400 * 2,
                T0 + 86400 * 5,
                "",
                "missed",
                1,
            ),
            ScheduleStatus(
                "cache-cleanup",
                "cache-cleanup",
                "cleanup-expired-cache",
                "0 2 * * *",
                "America/Sao_Paulo",
                None,
                T0 + 50400,
                "",
                "",
                0,
            ),
        ]

    async def pause(self, queue: str) -> bool:
        self.calls.append(("pause", queue))
        changed = queue not in self.paused
        self.paused.add(queue)
        return changed

    async def resume(self, queue: str) -> bool:
        self.calls.append(("resume", queue))
        changed = queue in self.paused
        self.paused.discard(queue)
        return changed

    async def retry_failed(self, queue: str) -> int:
        self.calls.append(("retry_failed", queue))
        moved, self.failed[queue] = self.failed[queue], 0
        return moved

    async def count_finished(self, queue: str, state: str, older_than: float) -> int:
        return 100 if state == "completed" else self.failed[queue]

    async def clean(self, queue: str, state: str, older_than: float) -> int:
        self.calls.append(("clean", queue, state, str(older_than)))
        return await self.count_finished(queue, state, older_than)

    async def retry_job(self, queue: str, job_id: str) -> int:
        self.calls.append(("retry_job", queue, job_id))
        return 1

    async def remove_job(self, queue: str, job_id: str) -> bool:
        self.calls.append(("remove_job", queue, job_id))
        return True
