"""Report content and PDF text helpers shared by the report tests."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from pypdf import PdfReader

from justo.jobs.reports.content import (
    Branding,
    ClientSection,
    DeadlineItem,
    MovementItem,
    ProcessItem,
    ReportContent,
)

NOW = datetime(2026, 4, 6, 2, 0, 30, tzinfo=UTC)
"""Sunday 2026-04-05 23:00:30 in São Paulo: the weekly cron tick."""

CNJ_A = "0058967-77.2016.8.19.0000"
CNJ_B = "3000133-12.2025.8.19.0001"
HOSTILE = '<script>alert("x")</script> & Filhos'


def content(
    *,
    client: str = "José da Conceição Ações Ltda",
    branding: Branding | None = None,
    sections: tuple[ClientSection, ...] | None = None,
) -> ReportContent:
    """A one-client report with a process, a movement and a deadline."""
    default = (
        ClientSection(
            name=client,
            processes=(ProcessItem(CNJ_A, "TJRJ", "Ativo", NOW - timedelta(hours=3), 1),),
            movements=(
                MovementItem(
                    CNJ_A,
                    NOW - timedelta(days=2),
                    "Juntada de petição — réplica à contestação",
                    "PETITION",
                    "MEDIUM",
                ),
            ),
            deadlines=(
                DeadlineItem(CNJ_A, NOW + timedelta(days=5), "Prazo para manifestação", True),
            ),
        ),
    )
    return ReportContent(
        title="Relatório semanal",
        workspace_name="Silva & Souza Advogados",
        report_type="CASE_SUMMARY",
        period_key="2026-04-05",
        slot=datetime(2026, 4, 6, 2, 0, tzinfo=UTC),
        window_start=NOW - timedelta(days=7),
        window_end=NOW,
        deadline_until=NOW + timedelta(days=14),
        timezone=ZoneInfo("America/Sao_Paulo"),
        sections=default if sections is None else sections,
        total_processes=1,
        branding=branding or Branding(),
    )


def read_report(path: str | None) -> str:
    """The text of a report file: HTML as is, a PDF through ``pdf_text``."""
    assert path is not None
    file = Path(path)
    return pdf_text(file.read_bytes()) if file.suffix == ".pdf" else file.read_text("utf-8")


def mtime(path: str) -> int:
    """When the file was last written (ns)."""
    return Path(path).stat().st_mtime_ns


def pdf_text(payload: bytes) -> str:
    """All text of a PDF, pages joined, whitespace collapsed."""
    reader = PdfReader(io.BytesIO(payload))
    return " ".join(" ".join((page.extract_text() or "").split()) for page in reader.pages)
