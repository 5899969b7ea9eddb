"""One typed method per Lua script of a queue.

Each ``*_call`` builds a script's KEYS and ARGV in the order its file's header names them:
the only code that knows those orders. The ``async`` methods run one call and parse the
reply (``engine.scripts.replies``); callers that batch (the worker's acks and next fetch,
the stats snapshot) pipeline the calls themselves with ``Scripts.run``.
"""

from __future__ import annotations

import itertools
import json
import os
from collections.abc import Sequence
from typing import Any

from engine.keys import QueueKeys
from engine.options import QueueOptions
from engine.scripts import Call, Scripts
from engine.scripts.replies import (
    Enqueued,
    FetchResult,
    Outcome,
    QueueCounts,
    ReapResult,
    parse_counts,
    parse_enqueued,
    parse_fetch,
    parse_ids,
    parse_reap,
)

MAX_PROMOTE = 1000
"""Delayed jobs promoted per fetch call at most."""


class _RequestIds:
    """Unique request ids, cheaply: a random per-process tag and a counter (a forked child
    draws a new tag, so parent and child never share ids)."""

    def __init__(self) -> None:
        self._reset()
        os.register_at_fork(after_in_child=self._reset)

    def _reset(self) -> None:
        self._tag = os.urandom(6).hex()
        self._counter = itertools.count(1)

    def __call__(self) -> str:
        return f"{self._tag}:{next(self._counter)}"


new_request_id = _RequestIds()
"""A fresh id for one state-changing call: a replay of the same call (same id) is
answered from the first run's record instead of running again."""


class QueueScripts:
    """The scripts of one queue, with its keys and options.

    Args:
        scripts: the runner (EVALSHA with NOSCRIPT recovery).
        keys: the queue's key names.
        options: the queue's limits (lease, retention, events, ...).
    """

    def __init__(self, scripts: Scripts, keys: QueueKeys, options: QueueOptions) -> None:
        self.scripts = scripts
        self.keys = keys
        self.options = options

    # ------------------------------------------------------------------- add

    def add_call(
        self,
        rows: Sequence[Sequence[Any]],
        now: int,
        guard: tuple[str, int, str] | None = None,
        request_id: str | None = None,
    ) -> Call:
        """``add``: jobs as rows of (id, name, data, priority, delay ms, options JSON);
        with ``guard`` (claim key suffix, TTL s, owner) only if the claim is free.
        The call is safe to replay: a second run with the same ``request_id`` (a fresh one
        when omitted) answers the first run's reply and creates nothing."""
        k = self.keys
        replay = k.replay(request_id or new_request_id())
        keys = [k.id_counter, k.priorities, k.delayed, k.notify, replay]
        args: list[Any] = [k.base, now, len(rows)]
        for row in rows:
            args.extend(row)
        if guard is not None:
            suffix, ttl, owner = guard
            keys.append(k.key(suffix))
            args += [ttl, owner]
        return ("add", keys, args)

    async def add(
        self, rows: Sequence[Sequence[Any]], now: int, guard: tuple[str, int, str] | None = None
    ) -> list[Enqueued]:
        """Run one ``add_call``; an empty list when the guard was taken."""
        reply = await self.scripts.call(*self.add_call(rows, now, guard))
        return parse_enqueued([reply]) if reply else []

    # ---------------------------------------------------------------- counts

    def counts_call(self) -> Call:
        """``counts``: jobs per state and the paused flag, O(priority levels)."""
        k = self.keys
        keys = [k.priorities, k.delayed, k.active, k.completed, k.failed, k.paused]
        return ("counts", keys, [k.wait_prefix])

    async def counts(self) -> QueueCounts:
        """Run ``counts_call``."""
        return parse_counts(await self.scripts.call(*self.counts_call()))

    # ------------------------------------------------------------ worker side

    def fetch_call(
        self,
        now: int,
        limit: int,
        worker_id: str,
        alone_ok: bool = True,
        max_promote: int = MAX_PROMOTE,
        request_id: str | None = None,
    ) -> Call:
        """``fetch``: lease up to ``limit`` jobs (parse with ``parse_fetch``), promoting at
        most ``max_promote`` due delayed jobs first.

        ``alone_ok``: the caller runs nothing now, so it may take a quarantined job (alone).
        ``request_id``: send the same id again after a call whose reply was lost to get
        the jobs it leased (still leased to the caller) instead of leasing more.
        """
        k, o = self.keys, self.options
        keys = [
            k.priorities,
            k.delayed,
            k.active,
            k.paused,
            k.fence,
            k.notify,
            k.failed,
            k.id_counter,
            k.events,
            k.replay(request_id or new_request_id()),
        ]
        args = [
            k.job_prefix,
            k.wait_prefix,
            now,
            limit,
            o.lease_ms,
            worker_id,
            max_promote,
            o.events_max,
            "1" if alone_ok else "0",
            k.metrics_prefix,
            o.metrics_horizon_s,
        ]
        return ("fetch", keys, args)

    async def fetch(
        self, now: int, limit: int, worker_id: str, request_id: str | None = None
    ) -> FetchResult:
        """Run ``fetch_call``."""
        call = self.fetch_call(now, limit, worker_id, request_id=request_id)
        return parse_fetch(await self.scripts.call(*call))

    def finish_call(self, now: int, outcomes: Sequence[Outcome]) -> Call:
        """``finish``: record outcomes; its reply lists the ids whose lease was lost."""
        k, o = self.keys, self.options
        # Handler text may hold lone surrogates (e.g. undecodable file names), which are not
        # UTF-8: replaced here, the one place outcome text enters Redis, instead of failing
        # the whole batch when the client encodes it.
        packed = json.dumps(
            [out.row() for out in outcomes], ensure_ascii=False, separators=(",", ":")
        ).encode("utf-8", "replace")
        keys = [k.active, k.completed, k.failed, k.delayed, k.priorities, k.notify, k.events]
        args: list[Any] = [
            k.job_prefix,
            k.wait_prefix,
            k.log_prefix,
            k.metrics_prefix,
            now,
            o.keep_completed,
            o.keep_failed,
            o.metrics_horizon_s,
            o.events_max,
            packed,
        ]
        return ("finish", keys, args)

    async def finish(self, now: int, outcomes: Sequence[Outcome]) -> list[str]:
        """Run ``finish_call``; returns the ids whose lease was lost."""
        return parse_ids(await self.scripts.call(*self.finish_call(now, outcomes)))

    def update_job_call(
        self, job_id: str, token: str, kind: str, value: str, max_lines: int | None = None
    ) -> Call:
        """``update_job``: progress (``kind="progress"``) or a log line (``"log"``), keeping
        the last ``max_lines`` log lines (the queue's limit by default)."""
        k = self.keys
        cap = self.options.max_log_lines if max_lines is None else max_lines
        text = value.encode("utf-8", "replace")  # lone surrogates, as in finish_call
        return ("update_job", [k.job(job_id), k.job_logs(job_id)], [token, kind, text, cap])

    async def renew(self, deadline: int, held: Sequence[tuple[str, str]]) -> list[str]:
        """``renew``: extend the leases of (id, token) pairs to ``deadline``; returns the
        ids whose lease was lost."""
        args: list[Any] = [self.keys.job_prefix, deadline]
        for job_id, token in held:
            args += [job_id, token]
        return parse_ids(await self.scripts.call("renew", [self.keys.active], args))

    async def release(self, held: Sequence[tuple[str, str]]) -> int:
        """``release``: give leased jobs back to the head of their waiting list."""
        k = self.keys
        args: list[Any] = [k.job_prefix, k.wait_prefix]
        for job_id, token in held:
            args += [job_id, token]
        return int(await self.scripts.call("release", [k.active, k.priorities, k.notify], args))

    async def reap(self, now: int, limit: int) -> ReapResult:
        """``reap``: recover jobs whose lease expired before ``now``."""
        k, o = self.keys, self.options
        keys = [k.active, k.failed, k.priorities, k.notify, k.events]
        args = [k.job_prefix, k.wait_prefix, now, o.max_stalls, limit, o.events_max]
        args += [k.metrics_prefix, o.metrics_horizon_s]
        return parse_reap(await self.scripts.call("reap", keys, args))

    # --------------------------------------------------------------- control

    async def set_paused(self, pause: bool, now: int) -> bool:
        """``set_paused``: True if the flag changed."""
        k = self.keys
        keys = [k.paused, k.notify, k.events]
        args = ["1" if pause else "0", now, self.options.events_max]
        return bool(await self.scripts.call("set_paused", keys, args))

    async def retry_failed(self, now: int, limit: int, ids: Sequence[str] = ()) -> int:
        """``retry_failed``: up to ``limit`` failed jobs (or just ``ids``) back to waiting."""
        k = self.keys
        keys = [k.failed, k.priorities, k.notify, k.events]
        args = [k.job_prefix, k.wait_prefix, now, limit, self.options.events_max, *ids]
        return int(await self.scripts.call("retry_failed", keys, args))

    async def clean(self, finished_key: str, cutoff: int, limit: int) -> int:
        """``clean``: delete up to ``limit`` jobs of a finished set, done at or before
        ``cutoff`` (ms)."""
        k = self.keys
        args = [k.job_prefix, k.log_prefix, cutoff, limit]
        return int(await self.scripts.call("clean", [finished_key], args))

    async def drain(self, limit: int) -> int:
        """``drain``: delete up to ``limit`` waiting and delayed jobs."""
        k = self.keys
        keys = [k.priorities, k.delayed, k.events]
        args = [k.job_prefix, k.wait_prefix, k.log_prefix, limit, self.options.events_max]
        return int(await self.scripts.call("drain", keys, args))

    async def remove(self, job_id: str) -> int:
        """``remove``: 1 removed, 0 no such job, -1 the job is active (left alone)."""
        k = self.keys
        keys = [k.delayed, k.completed, k.failed, k.events]
        args = [k.job_prefix, k.wait_prefix, k.log_prefix, job_id, self.options.events_max]
        return int(await self.scripts.call("remove", keys, args))


async def rate_limit(
    scripts: Scripts, key: str, now_ms: int, limit: int, window_ms: int, request_id: str
) -> int:
    """``rate_limit``: admit one request to the sliding window at ``key`` (0), or the
    milliseconds until a slot frees."""
    args = [now_ms, limit, window_ms, request_id]
    return int(await scripts.call("rate_limit", [key], args))
