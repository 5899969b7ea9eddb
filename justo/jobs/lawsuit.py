"""The one internal lawsuit shape every court-data provider maps to, and provider errors.

Judit and Codilo (and the demo sandbox) each return their own JSON; their clients turn it
into a ``Lawsuit`` so the sync worker never sees provider formats. ``to_json``/``from_json``
round-trip it for the 6 h Redis cache.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, Protocol


@dataclass(frozen=True)
class Lawyer:
    """A party's lawyer."""

    name: str
    oab: str = ""
    """OAB registration (e.g. "SP123456"), when the provider gives it."""


@dataclass(frozen=True)
class Party:
    """A party to the lawsuit."""

    name: str
    side: str
    """"active", "passive", "interested" or "unknown"."""
    document: str = ""
    """Main CPF/CNPJ, digits only, when known."""
    lawyers: tuple[Lawyer, ...] = ()


@dataclass(frozen=True)
class Movement:
    """One step (movimentação) of the lawsuit.

    ``step_id`` is the provider's stable id of the step (Judit ``step_id``, Codilo step
    ``id``); change detection and idempotent upserts key on (provider, step_id).
    """

    step_id: str
    date: datetime | None
    content: str
    step_type: str = ""


@dataclass(frozen=True)
class Lawsuit:
    """A lawsuit as any provider describes it."""

    cnj: str
    """Formatted CNJ number ``NNNNNNN-DD.AAAA.J.TR.OOOO``."""
    provider: str
    """"judit", "codilo" or "demo"."""
    court: str = ""
    """Court acronym, e.g. "TJSP"."""
    instance: int | None = None
    cover: dict[str, str] = field(default_factory=dict)
    """Cover fields: class, subject, judge, distribution_date, status, area, amount, … ."""
    parties: tuple[Party, ...] = ()
    movements: tuple[Movement, ...] = ()
    """Newest first."""

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (dates as ISO strings)."""
        data = asdict(self)
        data["movements"] = [
            {**asdict(m), "date": m.date.isoformat() if m.date else None} for m in self.movements
        ]
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Lawsuit:
        """Inverse of ``to_json``."""
        return cls(
            cnj=data["cnj"],
            provider=data["provider"],
            court=data.get("court", ""),
            instance=data.get("instance"),
            cover=dict(data.get("cover", {})),
            parties=tuple(
                Party(
                    p["name"],
                    p["side"],
                    p.get("document", ""),
                    tuple(Lawyer(**lw) for lw in p.get("lawyers", ())),
                )
                for p in data.get("parties", ())
            ),
            movements=tuple(
                Movement(
                    m["step_id"],
                    datetime.fromisoformat(m["date"]) if m.get("date") else None,
                    m["content"],
                    m.get("step_type", ""),
                )
                for m in data.get("movements", ())
            ),
        )


class ProviderError(Exception):
    """A provider could not return the lawsuit. Messages never contain credentials."""

    retryable = False
    """Whether trying again later may succeed (the sync worker retries these after 30 s)."""


class TransientProviderError(ProviderError):
    """429, 5xx, timeouts, connection errors: worth retrying later."""

    retryable = True

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        """Seconds the provider asked to wait (``Retry-After``), if it said."""


class LawsuitNotFoundError(ProviderError):
    """The provider has no such lawsuit (or it is under secrecy)."""


class InvalidCnjError(ProviderError):
    """The CNJ number is malformed or its check digits are wrong; never sent to a provider."""


class ProviderAuthError(ProviderError):
    """Missing or rejected credentials (401/403)."""


class LawsuitProvider(Protocol):
    """Anything that returns a lawsuit by CNJ number."""

    name: str

    async def fetch(self, cnj: str) -> Lawsuit:
        """The lawsuit with formatted CNJ ``cnj``.

        Raises:
            ProviderError: one of the subclasses above.
        """
        ...
