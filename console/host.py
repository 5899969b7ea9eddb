"""What a console screen may read from the app that hosts it.

Screens depend on this protocol, never on ``console.app``: the app imports the screens,
so a screen importing the app back would close an import cycle. Screens read the host's
state here and ask it to act by posting ``console.messages``.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from console.source import ConsoleSource
from engine.admin import EngineSnapshot, Redactor


@runtime_checkable
class ConsoleHost(Protocol):
    """The app as its screens see it (``JustoConsole`` implements it)."""

    filter_text: str
    """The dashboard's queue and log filter; the dashboard sets it."""

    @property
    def source(self) -> ConsoleSource:
        """Where data comes from (screens page through jobs and crons with it)."""
        ...

    @property
    def snapshot(self) -> EngineSnapshot | None:
        """The latest refresh (``None`` before the first one); screens watch it."""
        ...

    @property
    def stale_since(self) -> float | None:
        """When refreshing started to fail (``None``: the data is fresh)."""
        ...

    @property
    def mode_label(self) -> str:
        """A short description of what the console runs, for the header."""
        ...

    @property
    def redactor(self) -> Redactor:
        """Masks secrets in whatever a screen shows of a job."""
        ...
