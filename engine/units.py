"""Human units, read and written the same way by the CLI, the console and the API."""

from __future__ import annotations

DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
"""Suffixes accepted by ``parse_duration``."""


def parse_duration(text: str) -> float | None:
    """``90``, ``90s``, ``15m``, ``1h``, ``7d`` → seconds; ``None`` when invalid or negative."""
    raw = text.strip().lower()
    multiplier = DURATION_UNITS.get(raw[-1:], 0)
    try:
        value = float(raw[:-1]) * multiplier if multiplier else float(raw)
    except ValueError:
        return None
    return value if value >= 0 else None


def format_ms(ms: float | None) -> str:
    """``None`` → ``-``; ``850`` → ``850ms``; ``12500`` → ``12.5s``; minutes beyond."""
    if ms is None:
        return "-"
    if ms < 1000:
        return f"{ms:.0f}ms"
    if ms < 60_000:
        return f"{ms / 1000:.1f}s"
    return f"{ms / 60_000:.1f}m"
