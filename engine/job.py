"""Jobs as callers see them: a state enum and a read-only view of one job's record."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class JobState(StrEnum):
    """Where a job is in its life."""

    WAITING = "waiting"
    DELAYED = "delayed"
    ACTIVE = "active"
    COMPLETED = "completed"
    FAILED = "failed"


def _text(raw: dict[bytes, bytes], name: str, default: str = "") -> str:
    value = raw.get(name.encode())
    return value.decode("utf-8", "replace") if value is not None else default


def _int(raw: dict[bytes, bytes], name: str) -> int | None:
    value = raw.get(name.encode())
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


@dataclass(frozen=True)
class Job:
    """A snapshot of one job's record in Redis.

    ``data`` is the decoded payload, or ``None`` when the stored bytes are not valid JSON;
    ``raw_data`` always holds the stored text, so malformed payloads stay visible.
    Times are epoch milliseconds.
    """

    id: str
    queue: str
    name: str
    state: JobState
    raw_data: str
    data: Any
    priority: int
    created_ms: int
    ready_ms: int | None
    attempts_made: int
    stalls: int
    options: dict[str, Any]
    processed_ms: int | None = None
    finished_ms: int | None = None
    run_ms: int | None = None
    worker: str = ""
    lost_worker: str = ""
    error: str = ""
    traceback: str = ""
    result: Any = None
    progress: Any = None
    raw_entry: str = ""
    logs: list[str] = field(default_factory=list)

    @classmethod
    def from_hash(
        cls, queue: str, job_id: str, raw: dict[bytes, bytes], logs: list[bytes] | None = None
    ) -> Job:
        """Build a job from its hash fields (as returned by HGETALL)."""
        raw_data = _text(raw, "data")
        state_text = _text(raw, "state", "waiting")
        return cls(
            id=job_id,
            queue=queue,
            name=_text(raw, "name"),
            state=JobState(state_text)
            if state_text in JobState._value2member_map_
            else JobState.FAILED,
            raw_data=raw_data,
            data=_loads(raw_data),
            priority=_int(raw, "prio") or 0,
            created_ms=_int(raw, "ts") or 0,
            ready_ms=_int(raw, "rt"),
            attempts_made=_int(raw, "att") or 0,
            stalls=_int(raw, "stl") or 0,
            options=_loads(_text(raw, "opts")) or {},
            processed_ms=_int(raw, "pt"),
            finished_ms=_int(raw, "ft"),
            run_ms=_int(raw, "rms"),
            worker=_text(raw, "wk"),
            lost_worker=_text(raw, "lost"),
            error=_text(raw, "err"),
            traceback=_text(raw, "tb"),
            result=_loads(_text(raw, "res")),
            progress=_loads(_text(raw, "prog")),
            raw_entry=_text(raw, "raw"),
            logs=[line.decode("utf-8", "replace") for line in logs or []],
        )


def _loads(text: str) -> Any:
    if not text:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None
