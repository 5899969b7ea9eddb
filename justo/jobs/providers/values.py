"""Small, forgiving readers for provider JSON: text, digits, dates, stable fallback ids."""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from justo.jobs.lawsuit import Movement

COURT_TZ = ZoneInfo("America/Sao_Paulo")
"""Zone assumed for provider dates that carry none (Brazilian courts' local time)."""

_BR_FORMATS = ("%d/%m/%Y %H:%M:%S", "%d/%m/%Y %H:%M", "%d/%m/%Y")
_NON_DIGITS = re.compile(r"\D+")


def text(value: Any) -> str:
    """``value`` as a stripped string; "" for None, lists, dicts."""
    if value is None or isinstance(value, Mapping | list | tuple | bool):
        return ""
    return str(value).strip()


def digits(value: Any) -> str:
    """Only the digits of ``text(value)``."""
    return _NON_DIGITS.sub("", text(value))


def mapping(value: Any) -> Mapping[str, Any]:
    """``value`` if it is a JSON object, else an empty one."""
    return value if isinstance(value, Mapping) else {}


def items(value: Any) -> list[Mapping[str, Any]]:
    """The JSON objects in ``value`` if it is a list, else none."""
    return [v for v in value if isinstance(v, Mapping)] if isinstance(value, list) else []


def fold(label: str) -> str:
    """Lower case, no accents, single spaces: "Data de Distribuição" → "data de distribuicao"."""
    decomposed = unicodedata.normalize("NFKD", label)
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(plain.lower().replace(":", " ").split())


def parse_datetime(value: Any) -> datetime | None:
    """An aware datetime from ISO 8601, ``dd/mm/yyyy[ HH:MM[:SS]]`` or epoch (s or ms).

    Dates without a zone are taken as court time (``COURT_TZ``). Returns None when the
    value is missing or unreadable.
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return _from_epoch(float(value))
    raw = text(value)
    if not raw:
        return None
    if raw.isdigit():
        return _from_epoch(float(raw))
    parsed = _parse_text(raw)
    if parsed is None:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=COURT_TZ)


def _from_epoch(seconds: float) -> datetime | None:
    if seconds > 1e11:
        seconds /= 1000
    try:
        return datetime.fromtimestamp(seconds, UTC)
    except (OverflowError, OSError, ValueError):
        return None


def _parse_text(raw: str) -> datetime | None:
    try:
        return datetime.fromisoformat(raw)
    except ValueError:
        pass
    for fmt in _BR_FORMATS:
        try:
            return datetime.strptime(raw, fmt)
        except ValueError:
            continue
    return None


def fallback_id(*parts: Any) -> str:
    """A short stable id from ``parts``, for steps a provider sent without one."""
    joined = "\x1f".join(text(p) for p in parts)
    return "h" + hashlib.sha1(joined.encode("utf-8")).hexdigest()[:15]


def newest_first(movements: Iterable[Movement]) -> tuple[Movement, ...]:
    """Movements sorted by date, newest first; undated ones last, in their given order."""
    return tuple(sorted(movements, key=_sort_key, reverse=True))


def _sort_key(movement: Movement) -> float:
    return movement.date.timestamp() if movement.date else float("-inf")


def join_names(values: Any, sep: str = "; ") -> str:
    """The non-empty ``name`` fields of a list of objects, joined."""
    return sep.join(n for n in (text(v.get("name")) for v in items(values)) if n)
