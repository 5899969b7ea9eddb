"""CNJ unified lawsuit numbers (Resolução CNJ 65/2008): parse, validate, format.

A CNJ number is ``NNNNNNN-DD.AAAA.J.TR.OOOO`` (20 digits): sequential number, check
digits, filing year, justice segment, court within the segment, origin unit. The check
digits are ISO 7064 mod 97-10: ``int(N+A+J+TR+O+DD) % 97 == 1``.

``parse_cnj`` accepts the formatted number or the 20 bare digits, ignoring whitespace
anywhere, and raises ``InvalidCnjError`` naming the part that is wrong, so an invalid
number never reaches a provider (each provider call costs money).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from justo.jobs.lawsuit import InvalidCnjError

SEGMENTS: dict[str, str] = {
    "1": "STF",
    "2": "CNJ",
    "3": "STJ",
    "4": "Justiça Federal",
    "5": "Justiça do Trabalho",
    "6": "Justiça Eleitoral",
    "7": "Justiça Militar da União",
    "8": "Justiça Estadual",
    "9": "Justiça Militar Estadual",
}
"""Segment digit ``J`` → name (Res. 65/2008, art. 1º §4º)."""

UF_BY_TR: dict[str, str] = {
    "01": "AC",
    "02": "AL",
    "03": "AP",
    "04": "AM",
    "05": "BA",
    "06": "CE",
    "07": "DF",
    "08": "ES",
    "09": "GO",
    "10": "MA",
    "11": "MT",
    "12": "MS",
    "13": "MG",
    "14": "PA",
    "15": "PB",
    "16": "PR",
    "17": "PE",
    "18": "PI",
    "19": "RJ",
    "20": "RN",
    "21": "RS",
    "22": "RO",
    "23": "RR",
    "24": "SC",
    "25": "SE",
    "26": "SP",
    "27": "TO",
}
"""The usual ``TR`` → state table for state courts (J=8, also J=6 and J=9): the states in
alphabetical order of UF. Confirmed for 05 (BA), 19 (RJ) and 26 (SP) by Judit samples; the
rest is the usual table, not checked against the Resolução's annex."""

_SINGLE_COURT = {"1": "STF", "2": "CNJ", "3": "STJ"}
_STATE_MILITARY = {"MG", "RS", "SP"}
"""States with a Tribunal de Justiça Militar (J=9)."""

_FORMATTED = re.compile(r"(\d{7})-(\d{2})\.(\d{4})\.(\d)\.(\d{2})\.(\d{4})")
_BARE = re.compile(r"\d{20}")
_WHITESPACE = re.compile(r"\s+")


def _tr_range(first: int, last: int) -> frozenset[str]:
    return frozenset(f"{n:02d}" for n in range(first, last + 1))


VALID_TR: dict[str, frozenset[str]] = {
    "1": frozenset({"00"}),
    "2": frozenset({"00"}),
    "3": frozenset({"00"}),
    "4": _tr_range(1, 6) | {"90"},
    "5": _tr_range(0, 24) | {"90"},
    "6": _tr_range(0, 27),
    "7": _tr_range(0, 12),
    "8": _tr_range(1, 27),
    "9": _tr_range(1, 27),
}
"""Segment → accepted ``TR`` codes: ``00`` for the superior court (STF, CNJ, STJ, TST, TSE,
STM), ``90`` for the councils (CJF, CSJT), else the court number (TRF 1..6, TRT 1..24,
TRE/TJ by state 1..27, CJM 1..12)."""


def check_digits(number: str, year: str, segment: str, court: str, origin: str) -> str:
    """The two check digits ``DD`` for the other parts (each a string of digits).

    ``DD = 98 − (int(N + A + J + TR + O + "00") mod 97)``, zero-padded.
    """
    return f"{98 - int(number + year + segment + court + origin + '00') % 97:02d}"


@dataclass(frozen=True)
class Cnj:
    """A valid CNJ number, split into its parts (strings: leading zeros matter)."""

    number: str
    """``NNNNNNN``: sequential number at the origin unit."""
    check: str
    """``DD``: check digits."""
    year: str
    """``AAAA``: filing year."""
    segment: str
    """``J``: justice segment, 1..9 (see ``SEGMENTS``)."""
    court: str
    """``TR``: court within the segment."""
    origin: str
    """``OOOO``: origin unit; ``0000`` for cases originating in the court itself."""

    @property
    def formatted(self) -> str:
        """``NNNNNNN-DD.AAAA.J.TR.OOOO``."""
        return f"{self.number}-{self.check}.{self.year}.{self.segment}.{self.court}.{self.origin}"

    @property
    def digits(self) -> str:
        """The 20 digits, in written order."""
        return self.number + self.check + self.year + self.segment + self.court + self.origin

    @property
    def segment_name(self) -> str:
        """E.g. "Justiça Estadual"."""
        return SEGMENTS.get(self.segment, "")

    @property
    def court_acronym(self) -> str:
        """Best-effort court acronym (TJSP, TRF2, TRT15, STJ, TRE-RJ, …); "" when unknown."""
        return court_acronym(self.segment, self.court)

    def __str__(self) -> str:
        return self.formatted


def court_acronym(segment: str, court: str) -> str:
    """The acronym of court ``TR`` of segment ``J``, best effort; "" when unknown."""
    if segment in _SINGLE_COURT:
        return _SINGLE_COURT[segment] if court == "00" else ""
    number = int(court) if court.isdigit() else -1
    uf = UF_BY_TR.get(court, "")
    match segment:
        case "4":
            return "CJF" if court == "90" else (f"TRF{number}" if 1 <= number <= 6 else "")
        case "5":
            if court in ("00", "90"):
                return "TST" if court == "00" else "CSJT"
            return f"TRT{number}" if 1 <= number <= 24 else ""
        case "6":
            return "TSE" if court == "00" else (f"TRE-{uf}" if uf else "")
        case "7":
            return "STM" if court == "00" else (f"CJM{number}" if 1 <= number <= 12 else "")
        case "8":
            return "TJDFT" if uf == "DF" else (f"TJ{uf}" if uf else "")
        case "9":
            return f"TJM{uf}" if uf in _STATE_MILITARY else ""
    return ""


def _split(text: str) -> tuple[str, str, str, str, str, str]:
    compact = _WHITESPACE.sub("", text)
    match = _FORMATTED.fullmatch(compact)
    if match:
        n, dd, a, j, tr, o = match.groups()
        return n, dd, a, j, tr, o
    if _BARE.fullmatch(compact):
        d = compact
        return d[:7], d[7:9], d[9:13], d[13], d[14:16], d[16:]
    shown = compact if len(compact) <= 40 else compact[:37] + "..."
    raise InvalidCnjError(
        f"not a CNJ number: {shown!r} (expected NNNNNNN-DD.AAAA.J.TR.OOOO or 20 digits)"
    )


def parse_cnj(text: str, *, strict: bool = True) -> Cnj:
    """Parse and validate a CNJ number.

    Accepts ``NNNNNNN-DD.AAAA.J.TR.OOOO`` or the 20 bare digits; whitespace anywhere is
    ignored.

    Args:
        text: the number as typed.
        strict: also check the segment ``J`` (1..9) and that ``TR`` is a court of that
            segment (``VALID_TR``). With ``False`` only the shape and check digits count.

    Raises:
        InvalidCnjError: naming the wrong part; for bad check digits, the expected ones.
    """
    n, dd, a, j, tr, o = _split(text)
    shown = f"{n}-{dd}.{a}.{j}.{tr}.{o}"
    if strict:
        if j not in SEGMENTS:
            raise InvalidCnjError(f"CNJ {shown}: segment J={j} is not 1..9")
        if tr not in VALID_TR[j]:
            raise InvalidCnjError(
                f"CNJ {shown}: TR={tr} is not a court of segment J={j} "
                f"({SEGMENTS[j]}; expected one of {_describe(VALID_TR[j])})"
            )
    expected = check_digits(n, a, j, tr, o)
    if dd != expected:
        raise InvalidCnjError(f"CNJ {shown}: wrong check digits DD={dd}, expected {expected}")
    return Cnj(number=n, check=dd, year=a, segment=j, court=tr, origin=o)


def is_valid_cnj(text: str) -> bool:
    """Whether ``parse_cnj(text)`` would succeed."""
    try:
        parse_cnj(text)
    except InvalidCnjError:
        return False
    return True


def format_cnj(text: str) -> str:
    """The formatted form of a valid CNJ number (see ``parse_cnj``)."""
    return parse_cnj(text).formatted


def _describe(codes: frozenset[str]) -> str:
    ordered = sorted(codes)
    runs: list[str] = []
    start = prev = ordered[0]
    for code in [*ordered[1:], ""]:
        if code and int(code) == int(prev) + 1:
            prev = code
            continue
        runs.append(start if start == prev else f"{start}..{prev}")
        start = prev = code
    return ", ".join(runs)
