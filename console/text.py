"""Pure formatting helpers for the console (no Textual imports; unit-tested alone).

Everything that came from Redis is shown *literally*: ``literal`` turns control characters
(ANSI/OSC escape sequences included) into visible symbols, and callers wrap the result in
``rich.text.Text`` so Rich markup in job data is never interpreted. Durations are written
by ``engine.admin.format_ms``, so the console, the CLI and the API spell them alike.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import datetime

SPARK = "▁▂▃▄▅▆▇█"
"""Eight bar heights for sparklines."""

_CONTROL = {i: f"\\x{i:02x}" for i in range(32) if i not in (9, 10)}
_CONTROL[0x1B] = "␛"
_CONTROL[0x7F] = "\\x7f"
_CONTROL.update({i: f"\\x{i:02x}" for i in range(0x80, 0xA0)})


def literal(text: str, *, keep_newlines: bool = True) -> str:
    """``text`` with control characters made visible (ESC as ``␛``, others as ``\\xNN``)."""
    cleaned = text.translate(_CONTROL)
    return cleaned if keep_newlines else cleaned.replace("\n", "⏎ ")


def one_line(text: str, width: int) -> str:
    """A literal single-line preview of at most ``width`` characters."""
    flat = literal(text, keep_newlines=False)
    return flat if len(flat) <= width else flat[: max(1, width - 1)] + "…"


def sparkline(values: Sequence[int], width: int = 20) -> str:
    """The last ``width`` values as block characters, scaled to their maximum."""
    tail = list(values)[-width:]
    peak = max(tail, default=0)
    if peak <= 0:
        return "▁" * len(tail)
    return "".join(SPARK[min(7, round(7 * v / peak))] for v in tail)


def count(n: int) -> str:
    """``1234567`` → ``1.2M``; small numbers as they are."""
    if n < 10_000:
        return str(n)
    if n < 1_000_000:
        return f"{n / 1000:.1f}k"
    return f"{n / 1_000_000:.1f}M"


def percent(ratio: float) -> str:
    """``0.034`` → ``3.4%``."""
    return f"{100 * ratio:.1f}%"


def size(n: int) -> str:
    """Bytes as ``B``/``KB``/``MB``/``GB``."""
    value = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f}{unit}" if unit == "B" else f"{value:.1f}{unit}"
        value /= 1024
    return f"{value:.1f}GB"


def ago(seconds: float) -> str:
    """``75`` → ``1m15s``; ``5`` → ``5s``."""
    s = max(0, int(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{(s % 3600) // 60:02d}m"


def clock(epoch: float | None, *, with_date: bool = False) -> str:
    """Local wall-clock time of an epoch (``-`` for ``None``)."""
    if not epoch:
        return "-"
    return datetime.fromtimestamp(epoch).strftime("%Y-%m-%d %H:%M:%S" if with_date else "%H:%M:%S")


def zoned_clock(epoch: float | None, zone: str) -> str:
    """Date and time of an epoch in the IANA time zone ``zone`` (local if unknown)."""
    if not epoch:
        return "-"
    try:
        from zoneinfo import ZoneInfo

        return datetime.fromtimestamp(epoch, ZoneInfo(zone)).strftime("%a %Y-%m-%d %H:%M")
    except (KeyError, ValueError):
        return clock(epoch, with_date=True)


def ms_clock(epoch_ms: int | None) -> str:
    """Date and time of an epoch in milliseconds."""
    return clock(epoch_ms / 1000, with_date=True) if epoch_ms else "-"


def now() -> float:
    """Wall-clock seconds (a seam for tests that freeze time)."""
    return time.time()
