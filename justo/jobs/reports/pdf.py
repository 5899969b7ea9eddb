"""The report as a PDF (fpdf2), with the same content as the HTML.

Text is drawn with a Unicode TrueType font so Portuguese, and anything else users type,
comes out right: DejaVu Sans, shipped in the package (``fonts/``, with its licence), so a
PDF looks the same on every machine. Only if those files were removed would fpdf2's core
Helvetica be used, with the text reduced to Latin-1 (``to_latin1``): Portuguese letters
survive, other characters become their closest Latin-1 form or ``?``.

The logo is not drawn: fetching a URL while rendering would make the worker depend on,
and reach into, arbitrary hosts. The PDF shows the workspace's name instead.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from fpdf import FPDF
from fpdf.fonts import FontFace

from justo.jobs.reports.content import ClientSection, ReportContent

BUNDLED_FONTS = Path(__file__).with_name("fonts")
"""DejaVu Sans as shipped with the package (Bitstream Vera licence, see ``LICENSE``)."""

FONT_CANDIDATES = (
    (BUNDLED_FONTS / "DejaVuSans.ttf", BUNDLED_FONTS / "DejaVuSans-Bold.ttf"),
    (
        Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"),
        Path("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"),
    ),
    (
        Path("/usr/share/fonts/dejavu/DejaVuSans.ttf"),
        Path("/usr/share/fonts/dejavu/DejaVuSans-Bold.ttf"),
    ),
    (Path("/usr/share/fonts/TTF/DejaVuSans.ttf"), Path("/usr/share/fonts/TTF/DejaVuSans-Bold.ttf")),
    (
        Path("/usr/local/share/fonts/DejaVuSans.ttf"),
        Path("/usr/local/share/fonts/DejaVuSans-Bold.ttf"),
    ),
    (Path("/Library/Fonts/DejaVuSans.ttf"), Path("/Library/Fonts/DejaVuSans-Bold.ttf")),
)
"""Where DejaVu Sans (regular, bold) is: the package's own, then common systems' places;
the first found wins."""

MAX_CELL_TEXT = 400
"""Longer descriptions are cut (with an ellipsis) in the PDF."""

_PUNCTUATION = str.maketrans(
    {
        "\u2014": "-",
        "\u2013": "-",
        "\u2012": "-",
        "\u2212": "-",
        "\u2018": "'",
        "\u2019": "'",
        "\u201a": "'",
        "\u201c": '"',
        "\u201d": '"',
        "\u201e": '"',
        "\u2026": "...",
        "\u2022": "*",
        "\u2009": " ",
        "\u202f": " ",
        "\u20ac": "EUR",
        "\u0141": "L",
        "\u0142": "l",
        "\u0152": "OE",
        "\u0153": "oe",
        "\u0110": "D",
        "\u0111": "d",
    }
)


@dataclass(frozen=True)
class PdfFont:
    """A Unicode TrueType font: its regular and (optionally) bold faces."""

    regular: Path
    bold: Path | None = None


def find_unicode_font(
    candidates: Sequence[tuple[Path, Path]] = FONT_CANDIDATES,
) -> PdfFont | None:
    """The first installed candidate (bold used only when present), or ``None``."""
    for regular, bold in candidates:
        if regular.is_file():
            return PdfFont(regular, bold if bold.is_file() else None)
    return None


def to_latin1(text: str) -> str:
    """``text`` reduced to Latin-1 for fpdf2's core fonts.

    Latin-1 characters (all Portuguese letters) are kept; typographic punctuation becomes
    its ASCII form; other letters lose their accents when that makes them Latin-1
    (``ő`` → ``o``); anything else becomes ``?``.
    """
    out: list[str] = []
    for char in text.translate(_PUNCTUATION):
        if ord(char) < 256:
            out.append(char)
            continue
        base = "".join(
            c
            for c in unicodedata.normalize("NFKD", char)
            if ord(c) < 256 and not unicodedata.combining(c)
        )
        out.append(base or "?")
    return "".join(out)


def _cut(text: str, limit: int = MAX_CELL_TEXT) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


class _ReportPdf(FPDF):
    """An A4 page with the report's footer and page numbers."""

    def __init__(self, report: ReportContent, font: PdfFont | None) -> None:
        super().__init__(orientation="portrait", unit="mm", format="A4")
        self.report = report
        self.unicode = font is not None
        self.family = "DejaVu" if font is not None else "helvetica"
        self.has_bold = font is None or font.bold is not None
        if font is not None:
            self.add_font(self.family, "", str(font.regular))
            if font.bold is not None:
                self.add_font(self.family, "B", str(font.bold))
        self.set_margins(15, 15, 15)
        self.set_auto_page_break(auto=True, margin=18)
        self.set_title(self.t(report.title))
        self.set_creator("justo-console")

    def t(self, text: str) -> str:
        """Text the current font can draw."""
        return text if self.unicode else to_latin1(text)

    def use(self, size: float, *, bold: bool = False) -> None:
        """Select the report font at ``size`` points."""
        self.set_font(self.family, "B" if bold and self.has_bold else "", size)

    def footer(self) -> None:
        """The workspace's footer text and the page number."""
        self.set_y(-14)
        self.use(7)
        self.set_text_color(107, 114, 128)
        footer = self.report.branding.footer or ""
        line = f"{_cut(footer, 160)}   " if footer else ""
        self.cell(0, 5, self.t(f"{line}Página {self.page_no()}/{{nb}}"), align="R")


def render_pdf(report: ReportContent, font: PdfFont | None) -> bytes:
    """The report as PDF bytes; ``font`` ``None`` uses Helvetica and Latin-1 text."""
    pdf = _ReportPdf(report, font)
    pdf.add_page()
    _masthead(pdf)
    _summary(pdf)
    for section in report.sections:
        _section(pdf, section)
    if not report.sections:
        _note(pdf, "Nenhum processo monitorado.")
    _paragraph(pdf, f"Gerado em {report.local(report.window_end)}.", size=8)
    return bytes(pdf.output())


def _masthead(pdf: _ReportPdf) -> None:
    report = pdf.report
    pdf.set_fill_color(*report.branding.rgb)
    pdf.set_text_color(255, 255, 255)
    pdf.use(16, bold=True)
    pdf.multi_cell(
        0,
        9,
        pdf.t(_cut(report.title, 200)),
        fill=True,
        new_x="LMARGIN",
        new_y="NEXT",
        padding=(3, 4, 0, 4),
    )
    pdf.use(10)
    pdf.multi_cell(
        0,
        6,
        pdf.t(f"{_cut(report.workspace_name, 200)} · {report.period_label}"),
        fill=True,
        new_x="LMARGIN",
        new_y="NEXT",
        padding=(0, 4, 3, 4),
    )
    pdf.set_text_color(31, 41, 55)
    pdf.ln(3)
    if report.branding.header:
        _paragraph(pdf, report.branding.header, size=9)


def _summary(pdf: _ReportPdf) -> None:
    report = pdf.report
    _paragraph(
        pdf,
        f"Movimentações de {report.local(report.window_start)} a "
        f"{report.local(report.window_end)} (horário de {report.timezone.key}).",
        size=9,
    )
    _paragraph(
        pdf,
        f"{report.total_processes} processos monitorados · "
        f"{report.movement_count + report.omitted_movements} novas movimentações · "
        f"{report.deadline_count} prazos nos próximos dias",
        size=11,
        bold=True,
    )
    if report.omitted_processes:
        _note(pdf, f"Mostrando {report.process_count} de {report.total_processes} processos.")
    if report.omitted_movements:
        _note(
            pdf,
            f"{report.omitted_movements} movimentações mais antigas do período não foram listadas.",
        )


def _section(pdf: _ReportPdf, section: ClientSection) -> None:
    report = pdf.report
    pdf.ln(2)
    pdf.set_text_color(*report.branding.rgb)
    pdf.use(13, bold=True)
    pdf.multi_cell(0, 7, pdf.t(_cut(section.name, 200)), new_x="LMARGIN", new_y="NEXT")
    pdf.set_text_color(31, 41, 55)
    _heading(pdf, "Processos")
    _table(
        pdf,
        ("Número", "Tribunal", "Situação", "Últ. sincronização", "Novas"),
        (52, 38, 26, 36, 28),
        [
            (p.number, p.court or "—", p.status, report.local(p.last_sync), str(p.new_movements))
            for p in section.processes
        ],
    )
    _heading(pdf, "Novas movimentações")
    if section.movements:
        _table(
            pdf,
            ("Data", "Processo", "Descrição"),
            (28, 52, 100),
            [
                (report.local(m.date), m.process_number, _cut(m.description))
                for m in section.movements
            ],
        )
    else:
        _note(pdf, "Nenhuma movimentação nova no período.")
    _heading(pdf, "Prazos próximos")
    if section.deadlines:
        _table(
            pdf,
            ("Prazo", "Processo", "Descrição"),
            (28, 52, 100),
            [
                (
                    report.local(d.deadline),
                    d.process_number,
                    _cut(d.description) + (" (requer ação)" if d.requires_action else ""),
                )
                for d in section.deadlines
            ],
        )
    else:
        _note(pdf, f"Nenhum prazo até {report.local(report.deadline_until, with_time=False)}.")


def _heading(pdf: _ReportPdf, text: str) -> None:
    pdf.use(10, bold=True)
    pdf.cell(0, 7, pdf.t(text), new_x="LMARGIN", new_y="NEXT")


def _paragraph(pdf: _ReportPdf, text: str, *, size: float, bold: bool = False) -> None:
    pdf.use(size, bold=bold)
    pdf.multi_cell(0, size * 0.5, pdf.t(text), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(1)


def _note(pdf: _ReportPdf, text: str) -> None:
    pdf.set_text_color(107, 114, 128)
    _paragraph(pdf, text, size=9)
    pdf.set_text_color(31, 41, 55)


def _table(
    pdf: _ReportPdf, headings: Sequence[str], widths: Sequence[float], rows: Sequence[Sequence[str]]
) -> None:
    pdf.use(8)
    style = FontFace(
        emphasis="BOLD" if pdf.has_bold else None,
        color=(255, 255, 255),
        fill_color=pdf.report.branding.rgb,
    )
    with pdf.table(
        col_widths=tuple(widths),
        width=sum(widths),
        align="LEFT",
        text_align="LEFT",
        headings_style=style,
        line_height=4.5,
        padding=1,
    ) as table:
        for values in (headings, *rows):
            row = table.row()
            for value in values:
                row.cell(pdf.t(value))
    pdf.ln(2)
