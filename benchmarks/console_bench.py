"""The console's cost and responsiveness, with few and with very many jobs waiting.

    .venv/bin/python benchmarks/console_bench.py --jobs 1000000 --json

A private ``redis-server`` (the one on PATH first, no persistence, unix socket) is started
in a temporary directory and stopped at the end. Every key lives under a fresh prefix
``justobench<hex>``. The five JustoAI queues are configured; the jobs go to one of them
(``--queue``, ``sync`` by default). The run does the three measurements twice: with
``--small-jobs`` (10) jobs waiting, then again after ``Queue.add_bulk`` (10,000 specs per
call) has filled the queue up to ``--jobs`` (1,000,000) waiting jobs.

What is measured:

* **refresh** — ``RedisSource.snapshot()`` (what the console's timer calls once per
  ``refresh_s``), ``--refreshes`` times back to back on a warm client: Redis commands per
  refresh from ``INFO commandstats`` and ``total_commands_processed`` (Redis 7 counts the
  commands run inside Lua scripts in both), the benchmark's own ``INFO`` subtracted; the
  commands the client sent (a script call counts one); round trips counted client side
  (pipeline executions plus single commands on the source's client) and server side
  (``total_reads_processed``, one per read event: a large pipeline may arrive in more than
  one read); bytes in and out, Redis CPU, and the wall time of one refresh (p50/p99).
* **keys** — the real ``JustoConsole`` (``refresh_s=1.0``) headless through
  ``App.run_test(size=(130, 42))``. With the cursor on the ``sync`` row, a ``p`` (or ``r``)
  key event is posted to the app exactly as the terminal driver posts it, then the
  dashboard's ``QueueTable`` cell (row ``sync``, column ``state``) is polled every 1 ms
  until it reads ``paused`` (``running``). ``--presses`` presses alternate p and r, spaced
  150-650 ms apart so they land at different points of the 1 s refresh timer. Pilot's own
  ``press`` is not used: it waits at least 40 ms for the CPU to go idle, which would be
  counted as latency. The source is a ``RedisSource`` subclass that only timestamps its
  calls, to split the latency into the action (pause/resume) and the snapshot after it;
  ``cpu_ms`` is the CPU this process used meanwhile (much less than the latency means the
  process waited for a CPU, i.e. other load on the machine), ``gc_ms`` the time Python's
  garbage collector ran meanwhile (``gc.callbacks``).
  After a change the cell is watched every 5 ms until the next press: ``reverted_checks``
  counts reads of the old state again (a stale snapshot overwriting a newer one).
  Headless Textual does not write to a terminal, so "on screen" (``key_to_screen_ms``)
  means the widget holds the new value; ``key_to_painted_ms`` goes on to the end of the
  next screen update the compositor computes (the strips a terminal would be sent; only
  the write itself is missing).
* **idle CPU** — ``justo-console --monitor --redis-url unix://...`` (no workers) in a
  detached ``tmux`` session of 130x42 on a private tmux socket, with ``JUSTO_PREFIX`` set;
  once its screen shows the queues it settles ``--settle-s`` seconds, then its CPU time
  (user+system of the process tree, from psutil) over ``--cpu-s`` seconds is reported as a
  percentage of one core. The Redis server's and the tmux server's CPU over the same
  window are reported too, and the number of refreshes Redis saw (``counts`` script calls /
  queues) shows that the console really polled at 1 Hz.

Each phase records the machine's 1-minute load average before and after: other processes
on the machine disturb the timings and the CPU figures.

It prints one JSON object (without ``--json``, an indented summary of the same data).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import psutil  # type: ignore[import-untyped]
import redis as redis_sync
from redis.asyncio import Redis
from textual import events

from console.app import JustoConsole
from console.source import RedisSource
from console.widgets import QueueTable
from engine.client import make_client
from engine.queue.queue import JobSpec, Queue
from engine.runtime.embedded import EmbeddedRedis, find_redis_server
from engine.runtime.settings import Settings
from engine.runtime.stats import EngineSnapshot
from justo import catalog

SIZE = (130, 42)
"""Terminal size of every console run (columns, rows)."""

FILL_BATCH = 10_000
"""Job specs per ``add_bulk`` call while filling the queue."""

KEY_TIMEOUT_S = 5.0
"""Longest wait for one key press to show; a press that takes longer counts as failed."""

MOUNT_TIMEOUT_S = 15.0
"""Longest wait for the console to show its queue table."""

CONSOLE_BIN = Path(sys.executable).with_name("justo-console")
"""The installed console script next to this interpreter."""


# ------------------------------------------------------------------ helpers


def percentiles(samples: list[float]) -> dict[str, float]:
    """p50, p95, p99, min, max and mean of ``samples`` (milliseconds in, milliseconds out)."""
    if not samples:
        return {}
    if len(samples) == 1:
        only = round(samples[0], 3)
        return {
            "n": 1,
            "p50": only,
            "p95": only,
            "p99": only,
            "min": only,
            "max": only,
            "mean": only,
        }
    q = statistics.quantiles(samples, n=100, method="inclusive")
    return {
        "n": len(samples),
        "p50": round(q[49], 3),
        "p95": round(q[94], 3),
        "p99": round(q[98], 3),
        "min": round(min(samples), 3),
        "max": round(max(samples), 3),
        "mean": round(statistics.fmean(samples), 3),
    }


def settings_for(prefix: str, data_dir: Path) -> Settings:
    """The five JustoAI queues under ``prefix``, no recurring jobs."""
    return Settings(queues=catalog.QUEUES, recurring=(), prefix=prefix, data_dir=data_dir)


@dataclass(frozen=True)
class ServerCounters:
    """The INFO counters a refresh measurement compares."""

    cmds: dict[str, int]
    commands_processed: int
    reads: int
    net_in: int
    net_out: int
    cpu_s: float
    used_memory: int

    @classmethod
    def read(cls, client: redis_sync.Redis) -> ServerCounters:
        """One ``INFO ALL`` round trip on the benchmark's own (sync) client."""
        info = cast(dict[str, Any], client.info("all"))
        cmds = {
            key[len("cmdstat_") :]: int(value["calls"])
            for key, value in info.items()
            if key.startswith("cmdstat_")
        }
        return cls(
            cmds,
            int(info["total_commands_processed"]),
            int(info["total_reads_processed"]),
            int(info["total_net_input_bytes"]),
            int(info["total_net_output_bytes"]),
            float(info["used_cpu_user"]) + float(info["used_cpu_sys"]),
            int(info["used_memory"]),
        )


def command_delta(a: ServerCounters, b: ServerCounters) -> dict[str, int]:
    """Commands run between two INFO reads; ``a``'s own INFO (counted in ``b``) removed."""
    diff = {k: v - a.cmds.get(k, 0) for k, v in b.cmds.items()}
    diff["info"] = diff.get("info", 0) - 1
    return {k: v for k, v in sorted(diff.items(), key=lambda kv: -kv[1]) if v > 0}


class RoundTrips:
    """Counts the round trips one async client makes (pipeline executions and single
    commands) and the commands it sends. It wraps the methods on the instance; nothing
    else changes."""

    def __init__(self, client: Redis) -> None:
        self.count = 0
        self.commands = 0
        """Commands the client sent (a Lua script call counts one)."""
        make_pipeline = client.pipeline
        single: Callable[..., Awaitable[Any]] = client.execute_command

        def pipeline(*args: Any, **kwargs: Any) -> Any:
            pipe = make_pipeline(*args, **kwargs)
            execute = pipe.execute

            async def counted_execute(*e_args: Any, **e_kwargs: Any) -> Any:
                self.count += 1
                self.commands += len(pipe.command_stack)
                return await execute(*e_args, **e_kwargs)

            setattr(pipe, "execute", counted_execute)  # noqa: B010
            return pipe

        async def counted_single(*args: Any, **kwargs: Any) -> Any:
            self.count += 1
            self.commands += 1
            return await single(*args, **kwargs)

        setattr(client, "pipeline", pipeline)  # noqa: B010
        setattr(client, "execute_command", counted_single)  # noqa: B010


# ------------------------------------------------------------------ (a) refresh


async def measure_refresh(url: str, settings: Settings, refreshes: int) -> dict[str, Any]:
    """Commands, round trips and time of ``refreshes`` back-to-back snapshots."""
    client = make_client(url)
    counter = redis_sync.Redis(unix_socket_path=url.removeprefix("unix://"))
    try:
        source = RedisSource(client, settings)
        for _ in range(3):  # warm: connection, script cache, first log read
            snap = await source.snapshot()
        trips = RoundTrips(client)
        times: list[float] = []
        before = ServerCounters.read(counter)
        for _ in range(refreshes):
            t0 = time.perf_counter()
            snap = await source.snapshot()
            times.append((time.perf_counter() - t0) * 1000)
        after = ServerCounters.read(counter)
    finally:
        counter.close()
        await client.aclose()
    cmds = command_delta(before, after)
    n = refreshes
    return {
        "refreshes": n,
        "waiting": {q.name: q.counts.waiting for q in snap.queues},
        "commands_per_refresh": sum(cmds.values()) / n,
        "client_commands_per_refresh": trips.commands / n,
        "commands_processed_per_refresh": (after.commands_processed - before.commands_processed - 1)
        / n,
        "round_trips_per_refresh": trips.count / n,
        "server_reads_per_refresh": (after.reads - before.reads - 1) / n,
        "bytes_in_per_refresh": round((after.net_in - before.net_in) / n),
        "bytes_out_per_refresh": round((after.net_out - before.net_out) / n),
        "redis_cpu_ms_per_refresh": round((after.cpu_s - before.cpu_s) * 1000 / n, 3),
        "refresh_ms": percentiles(times),
        "commands_by_name_per_refresh": {k: v / n for k, v in cmds.items()},
        "used_memory": after.used_memory,
    }


# ------------------------------------------------------------------ fill


async def fill(
    url: str, settings: Settings, queue_name: str, target: int, timeout_s: float
) -> dict[str, Any]:
    """Enqueue jobs into ``queue_name`` until ``target`` are waiting; bounded in time."""
    client = make_client(url)
    config = settings.queue(queue_name)
    queue = Queue(client, queue_name, prefix=settings.prefix, options=config.options)
    try:
        start_count = (await queue.counts()).waiting
        mem0 = int((await client.info("memory"))["used_memory"])
        t0 = time.perf_counter()
        done = start_count
        while done < target:
            if time.perf_counter() - t0 > timeout_s:
                raise RuntimeError(f"fill timed out at {done} of {target} jobs")
            n = min(FILL_BATCH, target - done)
            await queue.add_bulk(JobSpec("noop", {"i": i}) for i in range(done, done + n))
            done += n
            if done % 100_000 == 0:
                print(f"  … {done:,} waiting", file=sys.stderr, flush=True)
        seconds = time.perf_counter() - t0
        waiting = (await queue.counts()).waiting
        mem1 = int((await client.info("memory"))["used_memory"])
    finally:
        await client.aclose()
    if waiting != target:
        raise RuntimeError(f"expected {target} waiting jobs in {queue_name}, found {waiting}")
    added = target - start_count
    return {
        "queue": queue_name,
        "added": added,
        "waiting": waiting,
        "seconds": round(seconds, 2),
        "jobs_per_s": round(added / seconds) if seconds and added else None,
        "used_memory": mem1,
        "bytes_per_job": round((mem1 - mem0) / added) if added else None,
    }


# ------------------------------------------------------------------ (b) keys


class TimedSource(RedisSource):
    """``RedisSource`` that records when each snapshot and each pause/resume ran."""

    def __init__(self, client: Redis, settings: Settings) -> None:
        super().__init__(client, settings)
        self.snapshots: list[tuple[float, float]] = []
        self.actions: list[tuple[float, float]] = []

    async def snapshot(self) -> EngineSnapshot:
        t0 = time.perf_counter()
        snap = await super().snapshot()
        self.snapshots.append((t0, time.perf_counter()))
        return snap

    async def pause(self, queue: str) -> bool:
        t0 = time.perf_counter()
        changed = await super().pause(queue)
        self.actions.append((t0, time.perf_counter()))
        return changed

    async def resume(self, queue: str) -> bool:
        t0 = time.perf_counter()
        changed = await super().resume(queue)
        self.actions.append((t0, time.perf_counter()))
        return changed


def state_cell(table: QueueTable, queue: str) -> str:
    """The plain text of the ``state`` cell of ``queue``'s row ("" if not shown yet)."""
    try:
        return str(table.get_cell(queue, "state"))
    except Exception:  # the row or column does not exist yet
        return ""


@dataclass
class Press:
    """One key press and what followed it (times in ms from the key event)."""

    key: str
    shown_ms: float | None
    action_start_ms: float | None = None
    action_end_ms: float | None = None
    snapshot_start_ms: float | None = None
    snapshot_end_ms: float | None = None
    painted_ms: float | None = None
    """The first screen update computed after the cell changed."""
    gc_ms: float = 0.0
    """Garbage collection between the key event and the paint."""
    cpu_ms: float | None = None
    """CPU time this process used from the key event until the cell changed."""
    reverted: int = 0
    """Checks after the change that read the old state again."""


async def wait_for_cell(table: QueueTable, queue: str, want: str, timeout_s: float) -> float | None:
    """Seconds until the cell reads ``want`` (polled every 1 ms), or ``None`` on timeout."""
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < timeout_s:
        if state_cell(table, queue) == want:
            return time.perf_counter() - t0
        await asyncio.sleep(0.001)
    return None


def press_breakdown(source: TimedSource, t0: float, key: str, shown_s: float | None) -> Press:
    """The action and the first snapshot begun after it, relative to the key event."""
    press = Press(key, None if shown_s is None else shown_s * 1000)
    action = next(((a, b) for a, b in source.actions if a >= t0), None)
    if action is not None:
        press.action_start_ms = (action[0] - t0) * 1000
        press.action_end_ms = (action[1] - t0) * 1000
        snap = next(((a, b) for a, b in source.snapshots if a >= action[1]), None)
        if snap is not None:
            press.snapshot_start_ms = (snap[0] - t0) * 1000
            press.snapshot_end_ms = (snap[1] - t0) * 1000
    return press


def time_renders(app: JustoConsole) -> list[float]:
    """Record when the screen's compositor finishes each screen update (the strips a
    terminal would get); returns the list it appends ``perf_counter`` times to."""
    renders: list[float] = []
    compositor = app.screen._compositor
    render_update = compositor.render_update

    def timed(*args: Any, **kwargs: Any) -> Any:
        update = render_update(*args, **kwargs)
        renders.append(time.perf_counter())
        return update

    setattr(compositor, "render_update", timed)  # noqa: B010
    return renders


class GcPauses:
    """Python's garbage collections while active: (start, end, generation) per run."""

    def __init__(self) -> None:
        self.runs: list[tuple[float, float, int]] = []
        self._start = 0.0

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._start = time.perf_counter()
        else:
            self.runs.append((self._start, time.perf_counter(), int(info["generation"])))

    def __enter__(self) -> GcPauses:
        gc.callbacks.append(self)
        return self

    def __exit__(self, *exc: object) -> None:
        gc.callbacks.remove(self)

    def within(self, start: float, end: float) -> float:
        """Milliseconds of collection between ``start`` and ``end``."""
        return sum(max(0.0, min(b, end) - max(a, start)) for a, b, _ in self.runs) * 1000

    def summary(self) -> dict[str, Any]:
        """Collections and the longest pause, per generation."""
        out: dict[str, Any] = {}
        for gen in (0, 1, 2):
            pauses = [(b - a) * 1000 for a, b, g in self.runs if g == gen]
            out[f"gen{gen}"] = {
                "runs": len(pauses),
                "max_ms": round(max(pauses), 1) if pauses else 0.0,
            }
        return out


async def run_presses(
    app: JustoConsole,
    source: TimedSource,
    table: QueueTable,
    queue: str,
    presses: int,
    pauses: GcPauses,
) -> list[Press]:
    """Alternate p and r on ``queue``'s row; time each until its state cell changes."""
    out: list[Press] = []
    renders = time_renders(app)
    for i in range(presses):
        key, want = ("p", "paused") if state_cell(table, queue) == "running" else ("r", "running")
        cpu0 = time.process_time()
        t0 = time.perf_counter()
        app.post_message(events.Key(key, key))
        shown = await wait_for_cell(table, queue, want, KEY_TIMEOUT_S)
        press = press_breakdown(source, t0, key, shown)
        press.cpu_ms = (time.process_time() - cpu0) * 1000
        press.reverted = await count_reversions(table, queue, want, 0.15 + (i * 0.137) % 0.5)
        if shown is not None:
            painted = next((r for r in renders if r >= t0 + shown), None)
            press.painted_ms = None if painted is None else (painted - t0) * 1000
            press.gc_ms = pauses.within(t0, painted or t0 + shown)
        out.append(press)
    return out


async def count_reversions(table: QueueTable, queue: str, want: str, seconds: float) -> int:
    """Watch the cell for ``seconds`` (every 5 ms); how many checks did not read ``want``
    (a stale snapshot overwriting a newer one would show here)."""
    wrong = 0
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        await asyncio.sleep(0.005)
        if state_cell(table, queue) != want:
            wrong += 1
    return wrong


async def measure_keys(url: str, settings: Settings, queue: str, presses: int) -> dict[str, Any]:
    """Key press → state cell latency in the real console, headless."""
    client = make_client(url)
    source = TimedSource(client, settings)
    app = JustoConsole(source, refresh_s=1.0)
    try:
        async with app.run_test(size=SIZE):
            table = app.screen.query_one(QueueTable)
            if await wait_for_cell(table, queue, "running", MOUNT_TIMEOUT_S) is None:
                raise RuntimeError(
                    f"the {queue} row never showed 'running': {state_cell(table, queue)!r}"
                )
            table.focus()
            table.move_cursor(row=source.queue_names.index(queue))
            selected = table.selected_queue
            waiting_cell = str(table.get_cell(queue, "waiting"))
            with GcPauses() as pauses:
                results = await run_presses(app, source, table, queue, presses, pauses)
            app.exit(0)
    finally:
        await Queue(client, queue, prefix=settings.prefix).resume()
        await client.aclose()
    shown = [p.shown_ms for p in results if p.shown_ms is not None]

    def stat(attr: str) -> dict[str, float]:
        values = [getattr(p, attr) for p in results]
        return percentiles([v for v in values if v is not None])

    return {
        "presses": len(results),
        "timed_out": len(results) - len(shown),
        "selected_row": selected,
        "waiting_cell": waiting_cell,
        "key_to_screen_ms": percentiles(shown),
        "key_to_painted_ms": stat("painted_ms"),
        "under_100ms": sum(1 for v in shown if v < 100),
        "reverted_checks": sum(p.reverted for p in results),
        "action_end_ms": stat("action_end_ms"),
        "snapshot_start_ms": stat("snapshot_start_ms"),
        "snapshot_end_ms": stat("snapshot_end_ms"),
        "cpu_ms": stat("cpu_ms"),
        "gc_during_presses": pauses.summary(),
        "presses_with_gc_over_10ms": sum(1 for p in results if p.gc_ms > 10),
        "each": [
            {
                "key": p.key,
                "shown_ms": None if p.shown_ms is None else round(p.shown_ms, 1),
                "painted_ms": None if p.painted_ms is None else round(p.painted_ms, 1),
                "snapshot_end_ms": None
                if p.snapshot_end_ms is None
                else round(p.snapshot_end_ms, 1),
                "cpu_ms": None if p.cpu_ms is None else round(p.cpu_ms, 1),
                "gc_ms": round(p.gc_ms, 1),
            }
            for p in results
        ],
    }


# ------------------------------------------------------------------ (c) idle CPU


def tmux(sock: str, *args: str, env: dict[str, str] | None = None) -> str:
    """Run one tmux command on the private server ``sock``; returns its stdout."""
    done = subprocess.run(
        ["tmux", "-L", sock, *args], capture_output=True, text=True, env=env, timeout=20, check=True
    )
    return done.stdout


def tree_cpu(proc: psutil.Process) -> float:
    """User + system CPU seconds of ``proc`` and its live descendants."""
    total = 0.0
    for p in [proc, *proc.children(recursive=True)]:
        try:
            t = p.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += t.user + t.system
    return total


def cpu_of(pid: int) -> float:
    """User + system CPU seconds of one process (0 if it is gone)."""
    try:
        t = psutil.Process(pid).cpu_times()
    except psutil.NoSuchProcess:
        return 0.0
    return t.user + t.system


def wait_for_screen(sock: str, queue: str, timeout_s: float) -> str:
    """The pane text once it shows ``queue``'s row with a state; raises on timeout."""
    deadline = time.monotonic() + timeout_s
    text = ""
    while time.monotonic() < deadline:
        text = tmux(sock, "capture-pane", "-p", "-t", "bench")
        if queue in text and ("running" in text or "paused" in text):
            return text
        time.sleep(0.2)
    raise RuntimeError(f"the console did not show its queues within {timeout_s} s:\n{text}")


def measure_idle_cpu(
    url: str, prefix: str, data_dir: Path, queue: str, redis_pid: int, settle_s: float, cpu_s: float
) -> dict[str, Any]:
    """CPU share of an idle ``justo-console --monitor`` in tmux, over ``cpu_s`` seconds."""
    sock = f"justobench{uuid.uuid4().hex[:8]}"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JUSTO_", "REDIS_"))}
    env |= {
        "JUSTO_PREFIX": prefix,
        "JUSTO_DATA_DIR": str(data_dir / "console"),
        "TERM": "xterm-256color",
    }
    command = f"exec {CONSOLE_BIN} --monitor --redis-url {url}"
    counter = redis_sync.Redis(unix_socket_path=url.removeprefix("unix://"))
    socket_path = ""
    try:
        tmux(
            sock,
            "new-session",
            "-d",
            "-s",
            "bench",
            "-x",
            str(SIZE[0]),
            "-y",
            str(SIZE[1]),
            "-c",
            str(data_dir),
            command,
            env=env,
        )
        socket_path = tmux(sock, "display-message", "-p", "#{socket_path}").strip()
        pane_pid = int(tmux(sock, "list-panes", "-t", "bench", "-F", "#{pane_pid}").split()[0])
        tmux_pid = int(tmux(sock, "display-message", "-p", "-t", "bench", "#{pid}").strip())
        proc = psutil.Process(pane_pid)
        wait_for_screen(sock, queue, MOUNT_TIMEOUT_S)
        time.sleep(settle_s)
        c0, r0, t0 = tree_cpu(proc), cpu_of(redis_pid), cpu_of(tmux_pid)
        s0 = ServerCounters.read(counter)
        w0 = time.monotonic()
        time.sleep(cpu_s)
        wall = time.monotonic() - w0
        c1, r1, t1 = tree_cpu(proc), cpu_of(redis_pid), cpu_of(tmux_pid)
        s1 = ServerCounters.read(counter)
        screen = tmux(sock, "capture-pane", "-p", "-t", "bench")
        alive = proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
        rss = proc.memory_info().rss
        cmdline = " ".join(proc.cmdline())
    finally:
        counter.close()
        subprocess.run(
            ["tmux", "-L", sock, "kill-server"], capture_output=True, timeout=20, check=False
        )
        if socket_path:
            Path(socket_path).unlink(missing_ok=True)  # tmux leaves it behind
    evalsha = command_delta(s0, s1).get("evalsha", 0)
    row = next((line.strip() for line in screen.splitlines() if f" {queue} " in line), "")
    return {
        "seconds": round(wall, 2),
        "settle_s": settle_s,
        "console_cpu_percent": round(100 * (c1 - c0) / wall, 2),
        "console_cpu_s": round(c1 - c0, 3),
        "console_rss_mb": round(rss / 2**20, 1),
        "redis_cpu_percent": round(100 * (r1 - r0) / wall, 2),
        "tmux_server_cpu_percent": round(100 * (t1 - t0) / wall, 2),
        "refreshes_seen_by_redis": evalsha // len(catalog.QUEUES),
        "console_alive": alive,
        "process": cmdline,
        "screen_row": row,
    }


# ------------------------------------------------------------------ main


@dataclass(frozen=True)
class Options:
    """Command-line options."""

    jobs: int
    small_jobs: int
    queue: str
    refreshes: int
    presses: int
    settle_s: float
    cpu_s: float
    fill_timeout_s: float
    skip_cpu: bool
    skip_keys: bool
    json: bool = False


def phase(
    url: str, settings: Settings, opts: Options, data_dir: Path, redis_pid: int
) -> dict[str, Any]:
    """The three measurements with the current number of waiting jobs."""
    out: dict[str, Any] = {"loadavg_1m_before": round(os.getloadavg()[0], 2)}
    print("  refresh …", file=sys.stderr, flush=True)
    out["refresh"] = asyncio.run(measure_refresh(url, settings, opts.refreshes))
    if not opts.skip_keys:
        print("  keys …", file=sys.stderr, flush=True)
        out["keys"] = asyncio.run(measure_keys(url, settings, opts.queue, opts.presses))
    if not opts.skip_cpu:
        print(
            f"  idle CPU ({opts.settle_s:g} s settle + {opts.cpu_s:g} s) …",
            file=sys.stderr,
            flush=True,
        )
        out["idle_cpu"] = measure_idle_cpu(
            url, settings.prefix, data_dir, opts.queue, redis_pid, opts.settle_s, opts.cpu_s
        )
    out["loadavg_1m_after"] = round(os.getloadavg()[0], 2)
    return out


def server_version(socket_path: Path) -> str:
    """``redis_version`` of the server on ``socket_path``."""
    client = redis_sync.Redis(unix_socket_path=str(socket_path))
    try:
        return str(cast(dict[str, Any], client.info("server"))["redis_version"])
    finally:
        client.close()


def run(opts: Options) -> dict[str, Any]:
    """Start the private Redis, run both phases, stop it; returns the result dict."""
    if not opts.skip_cpu and shutil.which("tmux") is None:
        raise SystemExit("tmux is needed for the idle CPU test (or pass --skip-cpu)")
    with tempfile.TemporaryDirectory(prefix="justo-console-bench-") as tmp:
        data_dir = Path(tmp)
        binary = find_redis_server(prefer="path")
        server = EmbeddedRedis(data_dir / "redis", appendonly=False, binary=binary)
        url = server.start()
        assert server.process is not None
        redis_pid = server.process.pid
        prefix = f"justobench{uuid.uuid4().hex[:10]}"
        settings = settings_for(prefix, data_dir)
        try:
            version = server_version(server.socket_path)
            result: dict[str, Any] = {
                "redis": f"private redis-server {version} ({binary}, unix socket, no persistence)",
                "queues": [q.name for q in settings.queues],
                "jobs_queue": opts.queue,
                "terminal": f"{SIZE[0]}x{SIZE[1]}",
                "cpus": os.cpu_count(),
                "python": sys.version.split()[0],
            }
            print(f"{opts.small_jobs} jobs waiting:", file=sys.stderr, flush=True)
            result["fill_small"] = asyncio.run(
                fill(url, settings, opts.queue, opts.small_jobs, opts.fill_timeout_s)
            )
            result["small"] = phase(url, settings, opts, data_dir, redis_pid)
            print(f"filling to {opts.jobs:,} jobs …", file=sys.stderr, flush=True)
            result["fill_large"] = asyncio.run(
                fill(url, settings, opts.queue, opts.jobs, opts.fill_timeout_s)
            )
            print(f"{opts.jobs:,} jobs waiting:", file=sys.stderr, flush=True)
            result["large"] = phase(url, settings, opts, data_dir, redis_pid)
        finally:
            server.stop()
    result["verdict"] = verdict(result)
    return result


def verdict(result: dict[str, Any]) -> dict[str, Any]:
    """The three acceptance checks, from the measured figures."""
    small, large = result["small"], result["large"]
    out: dict[str, Any] = {
        "same_commands_per_refresh": small["refresh"]["commands_per_refresh"]
        == large["refresh"]["commands_per_refresh"],
        "same_round_trips_per_refresh": small["refresh"]["round_trips_per_refresh"]
        == large["refresh"]["round_trips_per_refresh"],
    }
    if "keys" in large:
        keys = large["keys"]
        out["key_max_under_100ms"] = (
            not keys["timed_out"] and keys["key_to_screen_ms"].get("max", 1e9) < 100
        )
        out["key_painted_max_under_100ms"] = (
            not keys["timed_out"] and keys["key_to_painted_ms"].get("max", 1e9) < 100
        )
    if "idle_cpu" in large:
        out["idle_cpu_under_5_percent"] = all(
            p["idle_cpu"]["console_cpu_percent"] < 5 for p in (small, large)
        )
    return out


def parse(argv: list[str] | None = None) -> Options:
    """Options from the command line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument(
        "--jobs",
        type=int,
        default=1_000_000,
        help="waiting jobs in the second phase (default 1000000)",
    )
    parser.add_argument(
        "--small-jobs", type=int, default=10, help="waiting jobs in the first phase (default 10)"
    )
    parser.add_argument("--queue", default="sync", help="queue that gets the jobs (sync)")
    parser.add_argument(
        "--refreshes", type=int, default=50, help="snapshots per refresh measurement (default 50)"
    )
    parser.add_argument(
        "--presses", type=int, default=20, help="key presses per key measurement (default 20)"
    )
    parser.add_argument(
        "--settle-s",
        type=float,
        default=5.0,
        help="seconds the console runs before its CPU is measured (5)",
    )
    parser.add_argument(
        "--cpu-s", type=float, default=30.0, help="seconds of CPU measurement (default 30)"
    )
    parser.add_argument(
        "--fill-timeout-s",
        type=float,
        default=1800.0,
        help="give up filling the queue after this long (default 1800)",
    )
    parser.add_argument("--skip-cpu", action="store_true", help="skip the idle CPU test")
    parser.add_argument("--skip-keys", action="store_true", help="skip the key press test")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    if args.small_jobs < 0 or args.jobs < args.small_jobs:
        parser.error("need 0 <= --small-jobs <= --jobs")
    if args.queue not in {q.name for q in catalog.QUEUES}:
        parser.error(f"--queue must be one of {', '.join(q.name for q in catalog.QUEUES)}")
    if args.refreshes < 1 or args.presses < 1 or args.cpu_s <= 0 or args.settle_s < 0:
        parser.error("--refreshes and --presses must be >= 1, --cpu-s > 0, --settle-s >= 0")
    opts = Options(
        args.jobs,
        args.small_jobs,
        args.queue,
        args.refreshes,
        args.presses,
        args.settle_s,
        args.cpu_s,
        args.fill_timeout_s,
        args.skip_cpu,
        args.skip_keys,
        args.json,
    )
    return opts


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark and print the result."""
    opts = parse(argv)
    result = run(opts)
    if opts.json:
        print(json.dumps(result))
    else:
        print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
