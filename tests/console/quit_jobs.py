"""A handler module for the console quit tests, loaded by the real supervisor the way an
operator's ``--import`` module is (``register(registry)``).

``gated`` jobs run in the test's own process and event loop (the supervisor runs inside
the console app), so a test decides exactly when each one finishes: it creates a
``Gate`` under the name the job's data gives, waits for ``started``, and sets ``opened``.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from engine import JobContext, Registry


@dataclass
class Gate:
    """What a test sees of one gated job."""

    started: asyncio.Event = field(default_factory=asyncio.Event)
    opened: asyncio.Event = field(default_factory=asyncio.Event)
    finished: bool = False
    cancelled: bool = False


GATES: dict[str, Gate] = {}
"""Gates by name (``data["gate"]``); a test adds its own and removes them afterwards."""


async def gated(ctx: JobContext) -> str:
    """Signal ``started``, wait until the test opens the gate, then finish."""
    gate = GATES[str(ctx.data["gate"])]
    gate.started.set()
    try:
        await gate.opened.wait()
    except asyncio.CancelledError:
        gate.cancelled = True
        raise
    gate.finished = True
    return "opened"


def register(registry: Registry) -> None:
    """Add this module's handler."""
    registry.add("gated", gated)
