"""An operator's handler module, as ``--import tests.justo.operator_jobs`` loads it.

Every handler records its execution with ``HINCRBY <JUSTO_PREFIX>:exec <job id> 1`` so tests
can count runs per job from outside the supervisor process.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

from engine import JobContext, Registry
from engine.client import make_client

_clients: dict[int, Any] = {}


def _redis() -> Any:
    loop = id(asyncio.get_running_loop())
    if loop not in _clients:
        _clients[loop] = make_client(os.environ["REDIS_URL"])
    return _clients[loop]


async def _record(ctx: JobContext) -> None:
    await _redis().hincrby(f"{os.environ['JUSTO_PREFIX']}:exec", ctx.id, 1)


async def tick(ctx: JobContext) -> None:
    """A cron tick: just counted."""
    await _record(ctx)


async def sleepy(ctx: JobContext) -> str:
    """Sleeps ``data["s"]`` seconds, then counts its run."""
    await asyncio.sleep(float(ctx.data["s"]))
    await _record(ctx)
    ctx.log("password=hunter22 slept")
    return "slept"


async def gated(ctx: JobContext) -> str:
    """Waits until the test pushes a token to ``<prefix>:gate:<data["gate"]>``, then counts
    its run: lets a test decide exactly when a job finishes."""
    await _redis().blpop([f"{os.environ['JUSTO_PREFIX']}:gate:{ctx.data['gate']}"], timeout=0)
    await _record(ctx)
    return "opened"


async def leaky(ctx: JobContext) -> None:
    """Fails with secrets from its payload and the environment in the error message, as
    careless handler code would (the canary test checks none of it escapes)."""
    secret = ctx.data.get("password", "") if isinstance(ctx.data, dict) else ""
    raise ValueError(f"login failed: password={secret} key={os.environ.get('JUDIT_API_KEY')}")


def register(registry: Registry) -> None:
    """Add this module's handlers."""
    registry.add("tick", tick)
    registry.add("sleepy", sleepy)
    registry.add("gated", gated)
    registry.add("leaky", leaky)
