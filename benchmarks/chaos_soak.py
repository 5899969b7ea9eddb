"""Chaos soak (issue 12): jobs keep their promise while the supervisor, the network and
Redis misbehave at once.

    .venv/bin/python -m benchmarks.chaos_soak --seed 1 --jobs 10000 --kills 5 \\
        --chaos 0.01 --oom-s 2

Parts, all private to the run (a temporary directory; the shared Redis is never touched):

* the queue's ``redis-server`` (append-only, so nothing Redis acknowledged is lost by
  Redis itself), and a second one, the *ledger*, where the handler counts its runs;
* ``tests/faultproxy.py`` between the supervisor and the queue's Redis, applying a fault
  to about ``--chaos`` of all commands: a reply lost after Redis ran the command, a
  connection reset before it was sent, or one reset just after;
* ``benchmarks/chaos_worker.py``: one supervisor process (workers, reaper, lease renewal,
  heartbeat) through the proxy; SIGKILLed ``--kills`` times and started again;
* the producer, here, enqueuing ``--jobs`` jobs in ``--batches`` bursts, also through
  the proxy (so adds meet the faults and the OOM window too);
* an OOM window: ``CONFIG SET maxmemory`` to half of ``used_memory`` (policy
  ``noeviction``) for ``--oom-s`` seconds, then back;
* ten garbage entries pushed straight into the waiting list early on. Eight must end in
  the failed set with their reason; two must *complete*, because the engine reads them
  leniently by design: a ready time that is no number reads as now (``fetch.lua``), and
  options that are not JSON read as none, so the queue's defaults apply (``replies.py``).

Then it waits until nothing is waiting, delayed or active, stops everything and checks:
every job ended completed (or failed with a reason), none lost or stuck; every garbage
entry ended where the engine's code says it must (``fetch.lua``, ``execution.py``); and
each job whose handler ran more than once is matched with its cause: a kill that caught
it in flight, or a lease that lapsed. Each "lease lost" warning the supervisors logged
is checked against the job's record too (was it really reclaimed?). It prints a
Markdown table (``--json``: a JSON summary instead, the table going to stderr) and exits
1 if anything is lost, stuck, misplaced or unexplained.

The proxy's faults follow ``--seed`` per command, but which command is N-th depends on
timing, so two runs with one seed inject the same *rate* of faults, not the same faults.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any

from redis.asyncio import Redis

from benchmarks.chaos_worker import JOB_NAME, QUEUE, ledger_keys, queue_options
from engine.client import REDIS_DOWN, make_client
from engine.keys import QueueKeys
from engine.options import QueueOptions
from engine.queue.queue import JobSpec, Queue
from engine.runtime.embedded import EmbeddedRedis, find_redis_server
from engine.scripts import Scripts

ROOT = Path(__file__).resolve().parents[1]
"""The repository: the supervisor runs as ``python -m benchmarks.chaos_worker`` from it."""

PROXY_SCRIPT = ROOT / "tests" / "faultproxy.py"
"""The fault proxy, run as a process of its own."""

PREFIX = "soak"
"""Key prefix of the run (the servers are private, so no clash is possible)."""

GARBAGE_AT_S = 1.0
"""When the garbage entries are pushed: early, among the first burst's jobs."""

KILL_AFTER_BATCH_S = 0.7
"""A kill lands this long after a burst was enqueued, while its jobs are in flight."""

IN_FLIGHT_WAIT_S = 5.0
"""At a kill's time, how long to wait for at least one leased job before killing anyway
(a loaded machine may not have fetched the burst yet)."""

OOM_AT_FRACTION = 0.6
"""The OOM window opens half a second before the burst nearest this point of the
schedule, so that burst's add meets the OOM error and must retry."""

ADD_RETRY_S = 0.25
"""Pause before the producer sends a refused burst again."""

POLL_S = 0.25
"""How often the drain wait and the watcher look."""

STOP_TIMEOUT_S = 60.0
"""How long the final SIGTERM may take before the supervisor is killed (and flagged)."""


# --- the schedule ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    """When each chaos action happens, in seconds after the first supervisor started."""

    batch_at: list[float]
    kill_at: list[float]
    oom_at: float | None
    garbage_at: float


def make_plan(duration: float, batches: int, kills: int, oom_s: float) -> Plan:
    """Bursts evenly over ``duration``; kills spread evenly too, each just after a burst
    when ``batches`` is a multiple of ``2 * kills`` (so a kill catches jobs in flight);
    the OOM window just before the burst nearest 60 % of the way."""
    step = duration / batches
    batch_at = [i * step for i in range(batches)]
    kill_at = [(k + 0.5) * duration / kills + KILL_AFTER_BATCH_S for k in range(kills)]
    oom_at = None
    if oom_s > 0:
        nearest = min(batch_at, key=lambda t: abs(t - OOM_AT_FRACTION * duration))
        oom_at = max(GARBAGE_AT_S + 0.5, nearest - 0.5)
    return Plan(batch_at, kill_at, oom_at, GARBAGE_AT_S)


def job_ids(jobs: int) -> list[str]:
    """The soak's job ids: client-chosen, so a producer retry can never duplicate a job."""
    return [f"job-{i:05d}" for i in range(jobs)]


async def sleep_until(t0: float, at_s: float) -> None:
    """Sleep until ``at_s`` seconds after the monotonic instant ``t0``."""
    await asyncio.sleep(max(0.0, t0 + at_s - time.monotonic()))


def progress(t0: float, message: str) -> None:
    """A timestamped progress line on stderr."""
    print(f"[{time.monotonic() - t0:7.2f}s] {message}", file=sys.stderr, flush=True)


# --- garbage ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Garbage:
    """One garbage entry and where the engine's code says it must end.

    ``in_place``: the entry names a job hash that is failed (or completed) under its own
    id; otherwise ``fetch.lua`` records a *new* failed job keeping the entry in ``raw``.
    """

    entry: str
    kind: str
    expect: str
    reason: str
    in_place: bool


def garbage_table(max_payload: int) -> list[Garbage]:
    """The ten entries, with the outcome each one's handling code promises."""
    huge = max_payload + 1024
    return [
        Garbage(
            "junk-no-hash",
            "waiting-list entry naming no key",
            "failed",
            "waiting-list entry has no job hash",
            False,
        ),
        Garbage("junk-string", "entry naming a string key", "failed", "names a string key", False),
        Garbage("junk-list", "entry naming a list key", "failed", "names a list key", False),
        Garbage(
            "junk-counters",
            "job hash with att='two', stl='x'",
            "failed",
            "field 'att' is not a number",
            True,
        ),
        Garbage("junk-json", "job hash whose data is not JSON", "failed", "not valid JSON", True),
        Garbage(
            "junk-no-handler",
            "job named 'no-such-handler' (no handler)",
            "failed",
            "UnknownJobTypeError: unknown job type 'no-such-handler'",
            True,
        ),
        Garbage("junk-no-name", "job hash without a name", "failed", "job has no name", True),
        Garbage(
            "junk-huge",
            f"data of {huge} bytes, over max_payload {max_payload}",
            "failed",
            "payload too large",
            True,
        ),
        # fetch.lua: "a ready time that is no number reads as now"; the job runs.
        Garbage("junk-rt", "ready time rt='soon'", "completed", "", True),
        # replies._options / execution._attempts: unreadable options read as none, so the
        # queue's defaults apply and the job runs.
        Garbage("junk-opts", "opts that are not JSON", "completed", "", True),
    ]


async def inject_garbage(redis: Redis, keys: QueueKeys, options: QueueOptions) -> list[Garbage]:
    """Write the garbage entries straight into Redis (as a careless script or an older
    version would) and push each into the waiting list of the default priority."""
    table = garbage_table(options.max_payload)
    seconds, micros = await redis.time()
    now = str(seconds * 1000 + micros // 1000)
    prio = str(options.priority)

    def job(**fields: str) -> dict[str, str]:
        base = {"name": JOB_NAME, "data": "{}", "ts": now, "state": "waiting", "prio": prio}
        return {**base, "rt": now, **fields}

    hashes = {
        "junk-counters": job(att="two", stl="x"),
        "junk-json": job(data="{not json"),
        "junk-no-handler": job(name="no-such-handler"),
        "junk-no-name": {k: v for k, v in job().items() if k != "name"},
        "junk-huge": job(data=json.dumps("x" * (options.max_payload + 1024))),
        "junk-rt": job(rt="soon"),
        "junk-opts": job(opts="{attempts: five"),
    }
    pipe = redis.pipeline(transaction=True)
    pipe.delete(keys.job("junk-no-hash"))
    pipe.set(keys.job("junk-string"), "not a hash")
    pipe.rpush(keys.job("junk-list"), "a", "b")
    for entry, fields in hashes.items():
        pipe.hset(keys.job(entry), mapping=fields)
    pipe.rpush(keys.wait(options.priority), *(g.entry for g in table))
    pipe.zadd(keys.priorities, {prio: options.priority})
    pipe.rpush(keys.notify, "1")
    await pipe.execute()
    return table


# --- processes --------------------------------------------------------------------------------


class ProxyProcess:
    """``tests/faultproxy.py`` as a process: its URL on start, its counters on stop."""

    def __init__(self, upstream: str, chaos: float, seed: int) -> None:
        self.argv = [
            sys.executable,
            str(PROXY_SCRIPT),
            "--upstream",
            upstream,
            "--listen-port",
            "0",
            "--chaos",
            str(chaos),
            "--seed",
            str(seed),
        ]
        self.proc: subprocess.Popen[str] | None = None

    def start(self) -> str:
        """Start it; returns its URL (its first line of output, printed once it listens;
        a proxy that fails to start exits, which ends the read too)."""
        self.proc = subprocess.Popen(self.argv, stdout=subprocess.PIPE, text=True, cwd=ROOT)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line.startswith("redis://"):
            raise RuntimeError(f"fault proxy did not start: {line!r}")
        return line.strip()

    def stop(self) -> dict[str, int]:
        """SIGTERM; returns the JSON counters it prints as its last line."""
        if self.proc is None:
            return {}
        self.proc.send_signal(signal.SIGTERM)
        out, _ = self.proc.communicate(timeout=30)
        lines = [line for line in out.splitlines() if line.startswith("{")]
        return dict(json.loads(lines[-1])) if lines else {}


@dataclass
class Kill:
    """One SIGKILL of the supervisor and the leases it left behind."""

    number: int
    at_s: float
    incarnation: int
    waited_s: float
    in_flight: list[str]
    waiting: int
    """Jobs waiting at the kill: how far the supervisor was behind the producer."""


class SupervisorProcess:
    """The supervisor subprocess: started, SIGKILLed and started again, finally stopped.

    A watcher restarts it if it ever exits on its own; such exits are recorded, since a
    supervisor must never die of the chaos (a crash loop is a bug, not a result).
    """

    def __init__(self, work: Path, argv: list[str], redis: Redis, keys: QueueKeys) -> None:
        self.work = work
        self.argv = argv
        self.redis = redis
        self.keys = keys
        self.incarnation = -1
        self.proc: subprocess.Popen[bytes] | None = None
        self.log: IO[bytes] | None = None
        self.logs: list[Path] = []
        self.kills: list[Kill] = []
        self.unexpected_exits: list[dict[str, int]] = []
        self.lock = asyncio.Lock()
        self.stopping = False

    def spawn(self) -> None:
        """Start the next incarnation, its output in ``supervisor-<n>.log``."""
        self._close_log()
        self.incarnation += 1
        path = self.work / f"supervisor-{self.incarnation}.log"
        self.logs.append(path)
        self.log = path.open("wb")
        self.proc = subprocess.Popen(
            [*self.argv, "--incarnation", str(self.incarnation)],
            stdout=self.log,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )

    def _close_log(self) -> None:
        if self.log is not None:
            self.log.close()
            self.log = None

    async def kill(self, number: int, t0: float, restart_delay_s: float) -> Kill:
        """SIGKILL the running incarnation (once a job is leased, or after
        ``IN_FLIGHT_WAIT_S``), note the jobs it held, start the next one."""
        waited = time.monotonic()
        while time.monotonic() - waited < IN_FLIGHT_WAIT_S:
            if await self.redis.zcard(self.keys.active):
                break
            await asyncio.sleep(0.05)
        async with self.lock:
            assert self.proc is not None
            self.proc.send_signal(signal.SIGKILL)
            await asyncio.to_thread(self.proc.wait)
            # Nothing else leases jobs of this queue: what is still active now is exactly
            # what the dead process held (running, finished but not yet acknowledged, or
            # leased by a fetch whose reply it never read).
            held = [i.decode() for i in await self.redis.zrange(self.keys.active, 0, -1)]
            waiting = 0
            for prio in await self.redis.zrange(self.keys.priorities, 0, -1):
                waiting += await self.redis.llen(self.keys.wait(int(prio)))
            kill = Kill(
                number,
                round(time.monotonic() - t0, 2),
                self.incarnation,
                round(time.monotonic() - waited, 2),
                held,
                waiting,
            )
            self.kills.append(kill)
            await asyncio.sleep(restart_delay_s)
            self.spawn()
        return kill

    async def watch(self, done: asyncio.Event) -> None:
        """Restart the supervisor whenever it exits without being killed, until ``done``."""
        while not done.is_set():
            async with self.lock:
                proc = self.proc
                if proc is not None and not self.stopping and proc.poll() is not None:
                    self.unexpected_exits.append(
                        {"incarnation": self.incarnation, "code": int(proc.returncode)}
                    )
                    self.spawn()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(done.wait(), POLL_S)

    async def stop(self) -> int | None:
        """SIGTERM (graceful stop); returns its exit code, ``None`` if it had to be killed."""
        async with self.lock:
            self.stopping = True
            proc = self.proc
            if proc is None:
                return None
            proc.send_signal(signal.SIGTERM)
            try:
                code: int | None = await asyncio.to_thread(proc.wait, STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
                code = None
            self._close_log()
            return code


# --- producer and OOM -------------------------------------------------------------------------


@dataclass
class ProducerStats:
    """What the producer met on its way through the proxy."""

    bursts: int = 0
    calls: int = 0
    refused: Counter[str] = field(default_factory=Counter)
    """Failed ``add_bulk`` calls by error type (each was sent again)."""
    already_existed: int = 0
    """Jobs a resent burst found already created (its first try had run)."""
    done_at_s: float = 0.0


async def produce(
    queue: Queue, ids: list[str], plan: Plan, t0: float, stats: ProducerStats
) -> None:
    """Enqueue the jobs in bursts at the planned times; a refused burst is sent again
    until it goes through (client ids make a resend create nothing twice)."""
    size = -(-len(ids) // len(plan.batch_at))
    for n, at_s in enumerate(plan.batch_at):
        chunk = ids[n * size : (n + 1) * size]
        if not chunk:
            continue
        specs = [JobSpec(JOB_NAME, {"n": n}, job_id=job_id) for job_id in chunk]
        await sleep_until(t0, at_s)
        while True:
            stats.calls += 1
            try:
                added = await queue.add_bulk(specs)
                break
            except REDIS_DOWN as exc:
                stats.refused[type(exc).__name__] += 1
                await asyncio.sleep(ADD_RETRY_S)
        stats.already_existed += sum(1 for a in added if not a.created)
        stats.bursts += 1
        progress(t0, f"burst {n + 1}/{len(plan.batch_at)}: {len(chunk)} jobs enqueued")
    stats.done_at_s = round(time.monotonic() - t0, 2)


@dataclass
class OomWindow:
    """The OOM window as it happened."""

    at_s: float = 0.0
    seconds: float = 0.0
    used_memory: int = 0
    maxmemory: int = 0
    restored: str = ""


async def oom_window(redis: Redis, t0: float, at_s: float, seconds: float) -> OomWindow:
    """Put Redis over its memory limit (``noeviction``: writes that may grow memory are
    refused with OOM) for ``seconds``, then restore the limit it had."""
    await sleep_until(t0, at_s)
    before = (await redis.config_get("maxmemory"))["maxmemory"]
    policy = (await redis.config_get("maxmemory-policy"))["maxmemory-policy"]
    if _text(policy) != "noeviction":
        raise RuntimeError(f"the soak's Redis must not evict, policy is {_text(policy)}")
    used = int((await redis.info("memory"))["used_memory"])
    limit = max(1, used // 2)
    await redis.config_set("maxmemory", limit)
    opened = time.monotonic()
    progress(t0, f"OOM window open: maxmemory {limit} < used_memory {used}")
    await asyncio.sleep(seconds)
    await redis.config_set("maxmemory", _text(before))
    window = OomWindow(
        round(opened - t0, 2), round(time.monotonic() - opened, 2), used, limit, _text(before)
    )
    progress(t0, f"OOM window closed after {window.seconds} s (maxmemory {_text(before)})")
    return window


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


async def wait_drained(queue: Queue, deadline: float) -> bool:
    """Wait until nothing is waiting, delayed or active (seen twice, a second apart, so a
    job between two states cannot fool it), or the deadline; returns whether drained."""
    calm = 0
    while time.monotonic() < deadline:
        counts = await queue.counts()
        calm = calm + 1 if counts.waiting + counts.delayed + counts.active == 0 else 0
        if calm >= 2:
            return True
        await asyncio.sleep(1.0 if calm else POLL_S)
    return False


# --- checks -----------------------------------------------------------------------------------


@dataclass
class Ledger:
    """The handler's runs, read from the ledger Redis."""

    starts: dict[str, int]
    ends: dict[str, int]
    runs: list[tuple[str, str, int, int]]
    """(S or E, job id, incarnation, stalls at the start; 0 for E) in order."""


async def read_ledger(ledger: Redis) -> Ledger:
    """The whole ledger."""
    starts_key, ends_key, runs_key = ledger_keys(PREFIX)
    starts = {k.decode(): int(v) for k, v in (await ledger.hgetall(starts_key)).items()}
    ends = {k.decode(): int(v) for k, v in (await ledger.hgetall(ends_key)).items()}
    runs = []
    for raw in await ledger.lrange(runs_key, 0, -1):
        parts = raw.decode().split()
        stalls = int(parts[4]) if parts[0] == "S" else 0
        runs.append((parts[0], parts[1], int(parts[2]), stalls))
    return Ledger(starts, ends, runs)


async def job_records(redis: Redis, keys: QueueKeys, ids: Sequence[str]) -> dict[str, Any]:
    """Each job's fields and where it is listed (one pipeline)."""
    pipe = redis.pipeline(transaction=False)
    for job_id in ids:
        pipe.hmget(keys.job(job_id), ["state", "err", "att", "stl"])
        pipe.zscore(keys.completed, job_id)
        pipe.zscore(keys.failed, job_id)
    replies = await pipe.execute()
    out: dict[str, Any] = {}
    for n, job_id in enumerate(ids):
        fields, completed, failed = replies[3 * n : 3 * n + 3]
        state, err, att, stl = (None if v is None else v.decode() for v in fields)
        out[job_id] = {
            "exists": state is not None or err is not None,
            "state": state,
            "err": err or "",
            "att": att,
            "stl": int(stl) if stl and stl.lstrip("-").isdigit() else 0,
            "in_completed": completed is not None,
            "in_failed": failed is not None,
        }
    return out


async def listed_unfinished(redis: Redis, keys: QueueKeys) -> set[str]:
    """Ids still waiting (any priority), delayed or active."""
    ids: set[str] = set()
    for prio in await redis.zrange(keys.priorities, 0, -1):
        ids.update(i.decode() for i in await redis.lrange(keys.wait(int(prio)), 0, -1))
    ids.update(i.decode() for i in await redis.zrange(keys.delayed, 0, -1))
    ids.update(i.decode() for i in await redis.zrange(keys.active, 0, -1))
    return ids


def check_jobs(records: dict[str, Any], unfinished: set[str], ledger: Ledger) -> dict[str, Any]:
    """Sort the soak's jobs into completed, failed (by reason), lost and stuck.

    Lost: no record, or a record in no list or set (nobody will ever run or report it).
    Stuck: still waiting, delayed or active after the drain deadline.
    """
    completed, lost, stuck, never_ran = [], [], [], []
    failed: dict[str, list[str]] = {}
    for job_id, r in records.items():
        if r["state"] == "completed" and r["in_completed"]:
            completed.append(job_id)
            if ledger.ends.get(job_id, 0) < 1:
                never_ran.append(job_id)
        elif r["state"] == "failed" and r["in_failed"] and r["err"]:
            failed.setdefault(r["err"].split(":")[0], []).append(job_id)
        elif job_id in unfinished:
            stuck.append(job_id)
        else:
            lost.append(job_id)
    return {
        "completed": len(completed),
        "failed": sum(len(v) for v in failed.values()),
        "failed_by_reason": {k: {"jobs": len(v), "ids": v[:20]} for k, v in failed.items()},
        "lost": len(lost),
        "lost_ids": lost[:50],
        "stuck": len(stuck),
        "stuck_ids": stuck[:50],
        "completed_without_a_run": never_ran[:50],
    }


async def check_garbage(
    redis: Redis, keys: QueueKeys, table: list[Garbage], ledger: Ledger
) -> list[dict[str, Any]]:
    """Where each garbage entry ended, against where it must end."""
    failed_ids = [i.decode() for i in await redis.zrange(keys.failed, 0, -1)]
    pipe = redis.pipeline(transaction=False)
    for job_id in failed_ids:
        pipe.hget(keys.job(job_id), "raw")
    raws = await pipe.execute()
    record_of = {raw.decode(): job_id for job_id, raw in zip(failed_ids, raws, strict=True) if raw}
    out = []
    for g in table:
        record = g.entry if g.in_place else record_of.get(g.entry)
        fields: dict[bytes, bytes] = await redis.hgetall(keys.job(record)) if record else {}
        state = fields.get(b"state", b"").decode()
        err = fields.get(b"err", b"").decode("utf-8", "replace")
        in_failed = record is not None and await redis.zscore(keys.failed, record) is not None
        in_completed = record is not None and await redis.zscore(keys.completed, record) is not None
        if g.expect == "failed":
            ok = in_failed and state == "failed" and g.reason in err
        else:
            ok = in_completed and state == "completed" and ledger.ends.get(g.entry, 0) >= 1
        row = {
            "entry": g.entry,
            "kind": g.kind,
            "expected": g.expect,
            "expected_reason": g.reason,
            "record": record or "",
            "state": state or "(none)",
            "in_failed_set": in_failed,
            "reason": err[:160],
            "attempts": fields.get(b"att", b"").decode("utf-8", "replace"),
            "handler_runs": ledger.starts.get(g.entry, 0),
            "ok": ok,
        }
        if not g.in_place:
            # fetch.lua leaves a foreign key of another type as it is: only the entry goes.
            row["foreign_key_type"] = _text(await redis.type(keys.job(g.entry)))
        out.append(row)
    return out


def explain_duplicates(
    ledger: Ledger, kills: list[Kill], records: dict[str, Any]
) -> dict[str, Any]:
    """Match every job whose handler started more than once with its cause.

    At-least-once: a job the killed supervisor held goes back to the queue when the
    reaper finds its lease expired, and runs again, if its handler had started (it was
    interrupted, or it finished but its outcome never reached Redis). A job can also run
    again without a kill if its lease lapsed (renewal failing through faults and OOM).
    """
    started_in: dict[tuple[str, int], int] = Counter()
    ended_in: dict[tuple[str, int], int] = Counter()
    for kind, job_id, incarnation, _ in ledger.runs:
        (started_in if kind == "S" else ended_in)[(job_id, incarnation)] += 1
    per_kill = []
    by_kill: set[str] = set()
    for kill in kills:
        interrupted, unacked, unstarted = [], [], []
        for job_id in kill.in_flight:
            key = (job_id, kill.incarnation)
            if not started_in[key]:
                unstarted.append(job_id)
            elif ended_in[key] >= started_in[key]:
                unacked.append(job_id)
            else:
                interrupted.append(job_id)
        hit = interrupted + unacked
        by_kill.update(hit)
        per_kill.append(
            {
                "kill": kill.number,
                "at_s": kill.at_s,
                "incarnation": kill.incarnation,
                "in_flight": len(kill.in_flight),
                "waiting": kill.waiting,
                "interrupted": len(interrupted),
                "finished_unacked": len(unacked),
                "leased_not_started": len(unstarted),
                "ran_again": sum(1 for j in hit if ledger.starts.get(j, 0) >= 2),
            }
        )
    twice = sorted(j for j, n in ledger.starts.items() if n >= 2)
    lapsed = [j for j in twice if j not in by_kill and records.get(j, {}).get("stl", 0) > 0]
    unexplained = [j for j in twice if j not in by_kill and j not in lapsed]
    held_at_kills = {j for kill in kills for j in kill.in_flight}
    # Reclaimed by the reaper although no kill held it: a lapsed lease (or a fetch whose
    # reply was lost and whose replay record expired), which did not make it run twice.
    reaped_no_rerun = [
        j
        for j, r in records.items()
        if r["stl"] > 0 and ledger.starts.get(j, 0) < 2 and j not in held_at_kills
    ]
    return {
        "jobs_run_more_than_once": len(twice),
        "extra_runs": sum(ledger.starts[j] - 1 for j in twice),
        "handler_finished_more_than_once": sum(1 for n in ledger.ends.values() if n >= 2),
        "explained_by_kills": len([j for j in twice if j in by_kill]),
        "explained_by_lapsed_lease": len(lapsed),
        "lapsed_lease_ids": lapsed[:20],
        "unexplained": len(unexplained),
        "unexplained_ids": unexplained[:20],
        "hit_by_kills_but_ran_once": len([j for j in by_kill if ledger.starts.get(j, 0) < 2]),
        "reaped_without_kill_or_rerun": len(reaped_no_rerun),
        "quarantined_runs": sum(1 for k, _, _, s in ledger.runs if k == "S" and s > 0),
        "per_kill": per_kill,
    }


LOG_MARKERS = {
    "oom_errors": "OutOfMemoryError",
    "redis_unavailable": "Redis unavailable",
    "lease_renewal_failed": "lease renewal failed",
    "lease_lost": "lease lost",
    "outcome_rejected": "outcome rejected",
    "reaper_recoveries": "recovered",
    "run_alone": "running it alone",
    "loop_crashes": "crashed; restarting",
    "tracebacks": "Traceback",
}
"""Log lines the supervisors wrote, counted by what they say."""


def scan_logs(paths: list[Path]) -> dict[str, int]:
    """Count the marked lines in every incarnation's log."""
    counts = dict.fromkeys(LOG_MARKERS, 0)
    for path in paths:
        for line in path.read_text(errors="replace").splitlines():
            for name, marker in LOG_MARKERS.items():
                if marker in line:
                    counts[name] += 1
    return counts


LEASE_LOST = re.compile(r"job (\S+): lease lost")
"""The renewal's warning naming a job whose lease it found gone."""


def check_lease_warnings(
    paths: list[Path], records: dict[str, Any], ledger: Ledger
) -> dict[str, Any]:
    """Whether each "lease lost" warning was true: the job was reclaimed (its stall count
    went up) or ran again. One that completed in a single run and was never reclaimed is
    a false alarm (the renewal raced the job's own acknowledgement)."""
    named: list[str] = []
    for path in paths:
        named += LEASE_LOST.findall(path.read_text(errors="replace"))
    true: list[str] = []
    false: list[str] = []
    for job_id in named:
        r = records.get(job_id, {})
        reclaimed = r.get("stl", 0) > 0 or ledger.starts.get(job_id, 0) >= 2
        (true if reclaimed else false).append(job_id)
    return {
        "warnings": len(named),
        "job_reclaimed_or_ran_again": len(true),
        "false_alarms": len(false),
        "false_alarm_ids": false[:20],
    }


# --- the run ----------------------------------------------------------------------------------


async def soak(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    """Run the whole soak in ``work`` and return its summary."""
    binary = find_redis_server(prefer="path")
    server = EmbeddedRedis(work / "redis", appendonly=True, binary=binary)
    ledger_server = EmbeddedRedis(work / "ledger", appendonly=False, binary=binary)
    server.start()
    ledger_server.start()
    proxy = ProxyProcess(f"unix:{server.socket_path}", args.chaos, args.seed)
    direct = make_client(server.url)
    ledger = Redis.from_url(ledger_server.url)
    supervisor: SupervisorProcess | None = None
    through: Redis | None = None
    try:
        proxy_url = proxy.start()
        through = make_client(proxy_url)
        keys = QueueKeys(PREFIX, QUEUE)
        options = queue_options(
            lease_ms=args.lease_ms, attempts=args.attempts, max_payload=args.max_payload
        )
        await Scripts(direct).load()
        direct_queue = Queue(direct, QUEUE, prefix=PREFIX, options=options)
        producer_queue = Queue(through, QUEUE, prefix=PREFIX, options=options)
        plan = make_plan(args.duration, args.batches, args.kills, args.oom_s)
        ids = job_ids(args.jobs)
        argv = [
            sys.executable,
            "-m",
            "benchmarks.chaos_worker",
            "--url",
            proxy_url,
            "--ledger",
            ledger_server.url,
            "--prefix",
            PREFIX,
            "--seed",
            str(args.seed),
            "--concurrency",
            str(args.concurrency),
            "--lease-ms",
            str(args.lease_ms),
            "--attempts",
            str(args.attempts),
            "--max-payload",
            str(args.max_payload),
        ]
        supervisor = SupervisorProcess(work, argv, direct, keys)
        supervisor.spawn()
        t0 = time.monotonic()
        progress(t0, f"supervisor started; plan: {asdict(plan)}")
        watcher_done = asyncio.Event()
        watcher = asyncio.create_task(supervisor.watch(watcher_done))
        stats = ProducerStats()
        sup = supervisor

        async def garbage() -> list[Garbage]:
            await sleep_until(t0, plan.garbage_at)
            table = await inject_garbage(direct, keys, options)
            progress(t0, f"{len(table)} garbage entries pushed")
            return table

        async def kills() -> None:
            for n, at_s in enumerate(plan.kill_at, start=1):
                await sleep_until(t0, at_s)
                kill = await sup.kill(n, t0, args.restart_delay)
                progress(
                    t0,
                    f"kill {n}: SIGKILLed incarnation {kill.incarnation} holding "
                    f"{len(kill.in_flight)} leased job(s); restarted",
                )

        async def oom() -> OomWindow | None:
            if plan.oom_at is None:
                return None
            return await oom_window(direct, t0, plan.oom_at, args.oom_s)

        table, _, _, window = await asyncio.gather(
            garbage(), produce(producer_queue, ids, plan, t0, stats), kills(), oom()
        )
        chaos_end = time.monotonic()
        progress(t0, "chaos over; waiting for the queue to drain")
        drained = await wait_drained(direct_queue, chaos_end + args.deadline)
        drain_s = round(time.monotonic() - chaos_end, 2)
        progress(t0, f"drained={drained} after {drain_s} s more; stopping")
        watcher_done.set()
        await watcher
        final_code = await supervisor.stop()
        faults = proxy.stop()
        elapsed = round(time.monotonic() - t0, 2)

        ledger_data = await read_ledger(ledger)
        records = await job_records(direct, keys, ids)
        unfinished = await listed_unfinished(direct, keys)
        errorstats = await direct.info("errorstats")
        counts = await direct_queue.counts()
        return {
            "drained": drained,
            "drain_after_chaos_s": drain_s,
            "elapsed_s": elapsed,
            "final_counts": asdict(counts),
            "jobs": check_jobs(records, unfinished, ledger_data),
            "garbage": await check_garbage(direct, keys, table, ledger_data),
            "duplicates": explain_duplicates(ledger_data, supervisor.kills, records),
            "kills": [
                {"kill": k.number, "at_s": k.at_s, "waited_s": k.waited_s, "held": len(k.in_flight)}
                for k in supervisor.kills
            ],
            "unexpected_supervisor_exits": supervisor.unexpected_exits,
            "final_stop_exit_code": final_code,
            "incarnations": supervisor.incarnation + 1,
            "proxy": faults,
            "oom": asdict(window) if window else None,
            "redis_oom_replies": int(errorstats.get("errorstat_OOM", {}).get("count", 0)),
            "producer": {
                "bursts": stats.bursts,
                "add_bulk_calls": stats.calls,
                "refused": dict(stats.refused),
                "already_existed_on_resend": stats.already_existed,
                "done_at_s": stats.done_at_s,
            },
            "supervisor_logs": scan_logs(supervisor.logs),
            "lease_lost_warnings": check_lease_warnings(supervisor.logs, records, ledger_data),
        }
    finally:
        if supervisor is not None and supervisor.proc is not None:
            supervisor.stopping = True
            if supervisor.proc.poll() is None:
                supervisor.proc.kill()
                supervisor.proc.wait()
        with contextlib.suppress(Exception):
            proxy.stop()
        for client in (through, direct, ledger):
            if client is not None:
                await client.aclose()
        server.stop()
        ledger_server.stop()


def verdict(result: dict[str, Any]) -> list[str]:
    """Every way the run broke the promise; empty when it kept it."""
    problems = []
    jobs = result["jobs"]
    if jobs["lost"]:
        problems.append(f"{jobs['lost']} job(s) lost: {jobs['lost_ids'][:10]}")
    if jobs["stuck"]:
        problems.append(f"{jobs['stuck']} job(s) stuck: {jobs['stuck_ids'][:10]}")
    if jobs["completed_without_a_run"]:
        problems.append(f"completed without a handler run: {jobs['completed_without_a_run']}")
    for reason in jobs["failed_by_reason"]:
        # The handler never raises: a soak job may only fail by stalling too often.
        if reason != "StalledJobError":
            problems.append(f"soak jobs failed with {reason}")
    for row in result["garbage"]:
        if not row["ok"]:
            problems.append(
                f"garbage {row['entry']} ended {row['state']} with reason {row['reason']!r}, "
                f"expected {row['expected']} with {row['expected_reason']!r}"
            )
    if result["duplicates"]["unexplained"]:
        problems.append(f"unexplained duplicate runs: {result['duplicates']['unexplained_ids']}")
    if result["unexpected_supervisor_exits"]:
        problems.append(f"supervisor exited on its own: {result['unexpected_supervisor_exits']}")
    if result["final_stop_exit_code"] != 0:
        problems.append(f"final SIGTERM stop exit code {result['final_stop_exit_code']}")
    if not result["drained"]:
        problems.append("the queue did not drain before the deadline")
    return problems


def markdown(result: dict[str, Any]) -> str:
    """The results as Markdown tables."""
    jobs, dup, proxy = result["jobs"], result["duplicates"], result["proxy"]
    oom, logs, prod = result["oom"] or {}, result["supervisor_logs"], result["producer"]
    failed = ", ".join(f"{k} {v['jobs']}" for k, v in jobs["failed_by_reason"].items())
    kills = " · ".join(str(k["in_flight"]) for k in dup["per_kill"])
    rows = [
        ("jobs enqueued (through the proxy)", f"{result['args']['jobs']:,}"),
        ("completed", f"{jobs['completed']:,}"),
        ("failed (reason)", f"{jobs['failed']} ({failed or 'none'})"),
        ("**lost**", f"**{jobs['lost']}**"),
        ("**stuck**", f"**{jobs['stuck']}**"),
        ("supervisor SIGKILLs (jobs held at each)", f"{len(result['kills'])} ({kills})"),
        (
            "supervisor exits not caused by the soak",
            str(len(result["unexpected_supervisor_exits"])),
        ),
        ("proxy: commands seen", f"{proxy.get('commands', 0):,}"),
        ("proxy: replies dropped (command ran)", str(proxy.get("replies_dropped", 0))),
        ("proxy: connections reset (before or just after send)", str(proxy.get("resets", 0))),
        ("proxy: faults in all (rate)", _rate(proxy)),
        (
            "OOM window",
            f"{oom.get('seconds', 0)} s at {oom.get('at_s', 0)} s "
            f"(maxmemory {oom.get('maxmemory', 0):,} < used {oom.get('used_memory', 0):,})",
        ),
        ("OOM replies sent by Redis / logged by supervisors", _oom_pair(result, logs)),
        ("producer add_bulk refusals (resent)", _refusals(prod)),
        ("garbage entries as expected", _garbage_ok(result["garbage"])),
        ("jobs run more than once", str(dup["jobs_run_more_than_once"])),
        ("… explained by a kill / a lapsed lease / unexplained", _dup_causes(dup)),
        ("… whose handler *finished* more than once", str(dup["handler_finished_more_than_once"])),
        ("runs of reclaimed jobs, each run alone (quarantine)", str(dup["quarantined_runs"])),
        ("'lease lost' warnings: true / false alarms", _lease_warnings(result)),
        ("drain after the chaos window / total", _times(result)),
    ]
    out = ["| item | result |", "|---|---:|"]
    out += [f"| {k} | {v} |" for k, v in rows]
    out += [
        "",
        "| kill | at s | jobs waiting | jobs held | interrupted | finished, not acked "
        "| leased, not started | ran again |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    out += [
        f"| {k['kill']} | {k['at_s']} | {k['waiting']:,} | {k['in_flight']} | {k['interrupted']} "
        f"| {k['finished_unacked']} | {k['leased_not_started']} | {k['ran_again']} |"
        for k in dup["per_kill"]
    ]
    out += ["", "| garbage entry | kind | ended | reason recorded |", "|---|---|---|---|"]
    for g in result["garbage"]:
        where = g["state"] + (" (in failed set)" if g["in_failed_set"] else "")
        if g["record"] and g["record"] != g["entry"]:
            where += f", new record {g['record']}"
        reason = g["reason"].replace("|", "\\|") or f"— (handler ran {g['handler_runs']}×)"
        mark = "" if g["ok"] else " **UNEXPECTED**"
        out.append(f"| `{g['entry']}` | {g['kind']} | {where}{mark} | {reason} |")
    return "\n".join(out)


def _rate(proxy: dict[str, int]) -> str:
    faults, commands = proxy.get("faults", 0), proxy.get("commands", 0)
    return f"{faults} ({100 * faults / commands:.2f} %)" if commands else str(faults)


def _oom_pair(result: dict[str, Any], logs: dict[str, int]) -> str:
    return f"{result['redis_oom_replies']} / {logs['oom_errors']}"


def _refusals(prod: dict[str, Any]) -> str:
    refused = ", ".join(f"{k} {v}" for k, v in prod["refused"].items()) or "none"
    return f"{refused}; {prod['already_existed_on_resend']} job(s) found already created"


def _garbage_ok(rows: list[dict[str, Any]]) -> str:
    failed = sum(1 for g in rows if g["in_failed_set"])
    ok = sum(1 for g in rows if g["ok"])
    return f"{ok}/{len(rows)} ({failed} in the failed set)"


def _dup_causes(dup: dict[str, Any]) -> str:
    return (
        f"{dup['explained_by_kills']} / {dup['explained_by_lapsed_lease']} / "
        f"**{dup['unexplained']}**"
    )


def _lease_warnings(result: dict[str, Any]) -> str:
    w = result["lease_lost_warnings"]
    return f"{w['job_reclaimed_or_ran_again']} / {w['false_alarms']}"


def _times(result: dict[str, Any]) -> str:
    return f"{result['drain_after_chaos_s']} s / {result['elapsed_s']} s"


def machine() -> dict[str, Any]:
    """Where the run happened."""
    version = subprocess.run(
        [find_redis_server(prefer="path"), "--version"], capture_output=True, text=True, check=False
    ).stdout.split()
    return {
        "cpus": os.cpu_count(),
        "load_average_before": [round(x, 2) for x in os.getloadavg()],
        "python": platform.python_version(),
        "redis_server": next((v[2:] for v in version if v.startswith("v=")), "?"),
    }


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--seed", type=int, default=1, help="proxy chaos and handler sleeps")
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--kills", type=int, default=5, help="supervisor SIGKILLs")
    parser.add_argument("--chaos", type=float, default=0.01, help="fault rate per command")
    parser.add_argument("--oom-s", type=float, default=2.0, help="seconds at OOM (0: none)")
    parser.add_argument("--duration", type=float, default=60.0, help="chaos window (s)")
    parser.add_argument("--batches", type=int, default=10, help="enqueue bursts")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--lease-ms", type=int, default=3000)
    parser.add_argument("--attempts", type=int, default=5)
    parser.add_argument("--max-payload", type=int, default=65536)
    parser.add_argument("--restart-delay", type=float, default=0.5, help="s before restart")
    parser.add_argument("--deadline", type=float, default=600.0, help="drain deadline (s)")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    parser.add_argument("--json", action="store_true", help="JSON on stdout, table on stderr")
    args = parser.parse_args(argv)
    if args.kills < 1 or args.batches < 1 or args.jobs < 1:
        parser.error("--jobs, --kills and --batches must be at least 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Run the soak; exit 1 if the engine broke its promise."""
    args = parse_args(argv)
    info = machine()
    work = Path(tempfile.mkdtemp(prefix="chaos-soak-"))
    result = asyncio.run(soak(args, work))
    result = {"args": vars(args), "machine": info, **result}
    problems = verdict(result)
    result["problems"] = problems
    table = markdown(result)
    if args.json:
        print(table, file=sys.stderr)
        print(json.dumps(result, indent=2))
    else:
        print(table)
    for problem in problems:
        print(f"PROBLEM: {problem}", file=sys.stderr)
    if problems or args.keep:
        print(f"work directory kept: {work}", file=sys.stderr)
    else:
        shutil.rmtree(work, ignore_errors=True)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
