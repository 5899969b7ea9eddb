"""What a report says, independent of its format: the HTML and the PDF render the same data.

Everything here is plain data read from the database; strings are the users' own text
(client names, movement descriptions, branding) and must be escaped by whoever renders
them. ``Branding.clean`` rejects values that could break out of their place in a document
(a CSS colour that is not a colour, a logo URL that is not http(s)).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

DEFAULT_COLOR = "#2563eb"
"""The original's default primary colour."""

DEFAULT_TEMPLATE = "corporate"
"""The original's default template."""

TEMPLATES = ("corporate", "minimal")
"""Template names a workspace may choose (anything else falls back to the default)."""

_HEX_COLOR = re.compile(r"#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})")

MAX_BRANDING_TEXT = 1000
"""Header and footer texts are cut to this many characters."""

STATUS_LABELS = {
    "ACTIVE": "Ativo",
    "PAUSED": "Pausado",
    "STOPPED": "Encerrado",
    "ERROR": "Erro na consulta",
}
"""How a process's monitoring status reads in a report."""

DATE_FORMAT = "%d/%m/%Y"
DATETIME_FORMAT = "%d/%m/%Y %H:%M"


@dataclass(frozen=True)
class Branding:
    """A workspace's report customization, validated (see ``clean``)."""

    primary_color: str = DEFAULT_COLOR
    logo_url: str | None = None
    template: str = DEFAULT_TEMPLATE
    header: str | None = None
    footer: str | None = None

    @classmethod
    def clean(
        cls,
        primary_color: str | None = None,
        logo_url: str | None = None,
        template: str | None = None,
        header: str | None = None,
        footer: str | None = None,
    ) -> Branding:
        """Branding from stored values: an invalid colour, a non-http(s) logo URL or an
        unknown template is replaced by the default; texts are stripped and cut."""
        color = primary_color if primary_color and _HEX_COLOR.fullmatch(primary_color) else None
        logo = logo_url.strip() if logo_url else None
        if logo and not logo.lower().startswith(("https://", "http://")):
            logo = None
        return cls(
            primary_color=color or DEFAULT_COLOR,
            logo_url=logo or None,
            template=template if template in TEMPLATES else DEFAULT_TEMPLATE,
            header=_text(header),
            footer=_text(footer),
        )

    @property
    def rgb(self) -> tuple[int, int, int]:
        """The primary colour as an RGB triple."""
        digits = self.primary_color[1:]
        if len(digits) == 3:
            digits = "".join(c * 2 for c in digits)
        red, green, blue = (int(digits[i : i + 2], 16) for i in (0, 2, 4))
        return red, green, blue


def _text(value: str | None) -> str | None:
    stripped = (value or "").strip()
    return stripped[:MAX_BRANDING_TEXT] or None


@dataclass(frozen=True)
class ProcessItem:
    """A monitored process in the report."""

    number: str
    court: str | None
    status: str
    last_sync: datetime | None
    new_movements: int = 0


@dataclass(frozen=True)
class MovementItem:
    """A movement recorded in the report's window."""

    process_number: str
    date: datetime | None
    description: str
    category: str
    importance: str


@dataclass(frozen=True)
class DeadlineItem:
    """A movement whose deadline falls in the coming days."""

    process_number: str
    deadline: datetime
    description: str
    requires_action: bool


@dataclass(frozen=True)
class ClientSection:
    """One client's part of the report (or the processes with no client)."""

    name: str
    processes: tuple[ProcessItem, ...]
    movements: tuple[MovementItem, ...] = ()
    deadlines: tuple[DeadlineItem, ...] = ()


@dataclass(frozen=True)
class ReportContent:
    """Everything a report shows.

    Attributes:
        title: the schedule's name.
        workspace_name: the law firm.
        report_type: the schedule's type (``CASE_SUMMARY``, ...).
        period_key: the period's key (the slot's local ISO date).
        slot: the scheduled instant the report is for.
        window_start: new movements are those after this instant ...
        window_end: ... and up to this one (the generation time).
        deadline_until: deadlines up to this instant are listed.
        timezone: the schedule's zone; every date is shown in it.
        sections: one per client.
        total_processes: processes selected, including those left out by the cap.
        omitted_movements: movements of the window left out by the cap.
        branding: the workspace's customization.
    """

    title: str
    workspace_name: str
    report_type: str
    period_key: str
    slot: datetime
    window_start: datetime
    window_end: datetime
    deadline_until: datetime
    timezone: ZoneInfo
    sections: tuple[ClientSection, ...]
    total_processes: int
    omitted_movements: int = 0
    branding: Branding = field(default_factory=Branding)

    @property
    def process_count(self) -> int:
        """Processes listed in the report."""
        return sum(len(s.processes) for s in self.sections)

    @property
    def omitted_processes(self) -> int:
        """Processes left out by the per-report cap."""
        return self.total_processes - self.process_count

    @property
    def movement_count(self) -> int:
        """New movements listed."""
        return sum(len(s.movements) for s in self.sections)

    @property
    def deadline_count(self) -> int:
        """Upcoming deadlines listed."""
        return sum(len(s.deadlines) for s in self.sections)

    @property
    def period_label(self) -> str:
        """The period as people read it: the slot's local date, ``dd/mm/yyyy``."""
        return self.slot.astimezone(self.timezone).strftime(DATE_FORMAT)

    def local(self, instant: datetime | None, *, with_time: bool = True) -> str:
        """``instant`` in the report's zone, Brazilian style (``—`` when unknown)."""
        if instant is None:
            return "—"
        return instant.astimezone(self.timezone).strftime(
            DATETIME_FORMAT if with_time else DATE_FORMAT
        )
