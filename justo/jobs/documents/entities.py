"""Finding CNJ numbers, dates, R$ amounts and parties in a document's text (pure functions).

Everything here is best effort over text extracted from PDFs: line breaks and spaces can
land anywhere, so the patterns allow a little whitespace where PDF extraction tends to
insert it. Only what validates is kept: CNJ numbers must pass ``parse_cnj`` (check digits,
segment and court), dates must exist in the calendar (years 1900..2100). Results keep the
order of first appearance, without duplicates.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from justo.jobs.cnj import parse_cnj
from justo.jobs.lawsuit import InvalidCnjError

_DASHES = "-\u2010\u2011\u2012\u2013"
_CNJ_FORMATTED = re.compile(
    rf"(?<![\d.])(\d{{7}})\s?[{_DASHES}]\s?(\d{{2}})\s?\.\s?(\d{{4}})\s?\.\s?(\d)\s?\.\s?"
    rf"(\d{{2}})\s?\.\s?(\d{{4}})(?![\d])"
)
_CNJ_BARE = re.compile(r"(?<![\d.])\d{20}(?![\d])")

MONTHS: dict[str, int] = {
    "janeiro": 1,
    "fevereiro": 2,
    "março": 3,
    "marco": 3,
    "abril": 4,
    "maio": 5,
    "junho": 6,
    "julho": 7,
    "agosto": 8,
    "setembro": 9,
    "outubro": 10,
    "novembro": 11,
    "dezembro": 12,
}
"""Portuguese month names (with and without the cedilla) → month number."""

_NUMERIC_DATE = re.compile(r"(?<![\d/])(\d{1,2})/(\d{1,2})/(\d{4})(?![\d/])")
_WRITTEN_DATE = re.compile(
    r"(?<!\d)(\d{1,2})\s?[º°]?\s+de\s+(" + "|".join(MONTHS) + r")\s+de\s+(\d{4})(?!\d)",
    re.IGNORECASE,
)
MIN_YEAR, MAX_YEAR = 1900, 2100
"""Dates outside these years are taken for noise."""

_MONEY = re.compile(r"R\$\s?(\d{1,3}(?:\.\d{3})+|\d+)(?:,(\d{2}))?(?!\d)(?![.,]\d)")

ROLES: dict[str, tuple[str, str]] = {
    "autor": ("autor", "active"),
    "autora": ("autor", "active"),
    "autores": ("autor", "active"),
    "autoras": ("autor", "active"),
    "réu": ("reu", "passive"),
    "reu": ("reu", "passive"),
    "ré": ("reu", "passive"),
    "réus": ("reu", "passive"),
    "reus": ("reu", "passive"),
    "rés": ("reu", "passive"),
    "requerente": ("requerente", "active"),
    "requerentes": ("requerente", "active"),
    "requerido": ("requerido", "passive"),
    "requerida": ("requerido", "passive"),
    "requeridos": ("requerido", "passive"),
    "requeridas": ("requerido", "passive"),
    "reclamante": ("reclamante", "active"),
    "reclamantes": ("reclamante", "active"),
    "reclamado": ("reclamado", "passive"),
    "reclamada": ("reclamado", "passive"),
    "reclamados": ("reclamado", "passive"),
    "reclamadas": ("reclamado", "passive"),
    "exequente": ("exequente", "active"),
    "exequentes": ("exequente", "active"),
    "executado": ("executado", "passive"),
    "executada": ("executado", "passive"),
    "executados": ("executado", "passive"),
    "executadas": ("executado", "passive"),
    "apelante": ("apelante", "active"),
    "apelado": ("apelado", "passive"),
    "apelada": ("apelado", "passive"),
    "agravante": ("agravante", "active"),
    "agravado": ("agravado", "passive"),
    "agravada": ("agravado", "passive"),
    "impetrante": ("impetrante", "active"),
    "impetrado": ("impetrado", "passive"),
}
"""Label at the start of a line → (canonical role, side: "active" plaintiff side or
"passive" defendant side)."""

_PARTY_LINE = re.compile(
    r"^[ \t]*(" + "|".join(sorted(ROLES, key=len, reverse=True)) + r")"
    r"[ \t]*(?:\((?:a|as|os|s)\))?[ \t]*:[ \t]*(\S[^\n]*)$",
    re.IGNORECASE | re.MULTILINE,
)
_CPF = r"\d{3}\.?\d{3}\.?\d{3}-?\d{2}"
_CNPJ = r"\d{2}\.?\d{3}\.?\d{3}/?\d{4}-?\d{2}"
_TAX_ID = re.compile(rf"(?<![\d./-])(?:{_CNPJ}|{_CPF})(?![\d])")
_NAME_END = re.compile(
    r"\s*(?:[,(–-]\s*)?\b(?:CPF|CNPJ|inscrit[oa]|portador|residente|domiciliad[oa]|"
    r"com sede|OAB|advogad[oa])\b.*$",
    re.IGNORECASE,
)
MAX_NAME = 200
"""Party names are cut to this many characters."""


@dataclass(frozen=True)
class Party:
    """A party named on a labelled line ("Autor: Fulano")."""

    role: str
    """Canonical role: autor, reu, requerente, requerido, reclamante, reclamado, ..."""
    side: str
    """"active" (the one who sues) or "passive" (the one sued)."""
    name: str
    document: str | None = None
    """A CPF or CNPJ written on the same line, as written (not validated)."""

    def to_json(self) -> dict[str, Any]:
        """JSON form: ``{"role", "side", "name", "document"}``."""
        return {"role": self.role, "side": self.side, "name": self.name, "document": self.document}


@dataclass(frozen=True)
class Entities:
    """What was found in a text."""

    cnjs: tuple[str, ...] = ()
    """Valid CNJ numbers, formatted ``NNNNNNN-DD.AAAA.J.TR.OOOO``."""
    dates: tuple[date, ...] = ()
    amounts: tuple[Decimal, ...] = ()
    """R$ amounts, two decimal places."""
    parties: tuple[Party, ...] = ()

    def to_json(self) -> dict[str, Any]:
        """JSON form: dates as ISO strings, amounts as decimal strings ("1234.56")."""
        return {
            "cnjs": list(self.cnjs),
            "dates": [d.isoformat() for d in self.dates],
            "amounts": [str(a) for a in self.amounts],
            "parties": [p.to_json() for p in self.parties],
        }


def find_entities(text: str) -> Entities:
    """CNJ numbers, dates, R$ amounts and parties found in ``text``."""
    return Entities(
        cnjs=tuple(find_cnjs(text)),
        dates=tuple(find_dates(text)),
        amounts=tuple(find_amounts(text)),
        parties=tuple(find_parties(text)),
    )


def find_cnjs(text: str) -> list[str]:
    """Valid CNJ numbers in ``text`` (formatted or 20 bare digits), formatted, deduplicated.

    Numbers that fail ``parse_cnj`` (wrong check digits, unknown segment or court) are
    dropped.
    """
    candidates = [(m.start(), "".join(m.groups())) for m in _CNJ_FORMATTED.finditer(text)]
    candidates += [(m.start(), m.group()) for m in _CNJ_BARE.finditer(text)]
    found: list[str] = []
    for _, digits in sorted(candidates):
        try:
            formatted = parse_cnj(digits).formatted
        except InvalidCnjError:
            continue
        if formatted not in found:
            found.append(formatted)
    return found


def find_dates(text: str) -> list[date]:
    """Dates written ``dd/mm/yyyy`` or ``12 de março de 2024`` (also ``1º de maio de ...``).

    Impossible dates (31/02/2024) and years outside ``MIN_YEAR..MAX_YEAR`` are dropped.
    """
    candidates: list[tuple[int, int, int, int]] = []
    for m in _NUMERIC_DATE.finditer(text):
        candidates.append((m.start(), int(m[3]), int(m[2]), int(m[1])))
    for m in _WRITTEN_DATE.finditer(text):
        candidates.append((m.start(), int(m[3]), MONTHS[m[2].lower()], int(m[1])))
    found: list[date] = []
    for _, year, month, day in sorted(candidates):
        parsed = _date(year, month, day)
        if parsed is not None and parsed not in found:
            found.append(parsed)
    return found


def _date(year: int, month: int, day: int) -> date | None:
    if not MIN_YEAR <= year <= MAX_YEAR:
        return None
    try:
        return date(year, month, day)
    except ValueError:
        return None


def parse_brl(amount: str) -> Decimal:
    """``"1.234.567,89"`` → ``Decimal("1234567.89")`` (Brazilian "." thousands, "," decimals).

    Without a comma the dots are thousands separators: ``"10.000"`` is ten thousand.
    """
    whole, _, cents = amount.partition(",")
    return Decimal(f"{whole.replace('.', '')}.{cents or '00'}").quantize(Decimal("0.01"))


def find_amounts(text: str) -> list[Decimal]:
    """Amounts written ``R$ 1.234,56`` (space optional), deduplicated, in order."""
    found: list[Decimal] = []
    for m in _MONEY.finditer(text):
        value = parse_brl(m[1] + (f",{m[2]}" if m[2] else ""))
        if value not in found:
            found.append(value)
    return found


def find_parties(text: str) -> list[Party]:
    """Parties on lines starting with a role label ("Autor:", "Réu:", "Requerida:", ...).

    The name runs to the end of the line, cut before "CPF", "CNPJ", "inscrito", "OAB" and
    similar qualifiers; a CPF/CNPJ on the line is kept as ``document``.
    """
    found: list[Party] = []
    seen: set[tuple[str, str]] = set()
    for m in _PARTY_LINE.finditer(text):
        role, side = ROLES[m[1].lower()]
        line = m[2].strip()
        name = _clean_name(line)
        if not name or (role, name.casefold()) in seen:
            continue
        seen.add((role, name.casefold()))
        tax_id = _TAX_ID.search(line)
        found.append(Party(role, side, name, tax_id.group() if tax_id else None))
    return found


def _clean_name(line: str) -> str:
    name = _NAME_END.sub("", line)
    name = _TAX_ID.sub("", name)
    return re.sub(r"\s+", " ", name).strip(" \t,;:-–")[:MAX_NAME].strip()
