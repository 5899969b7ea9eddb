"""Rendering: HTML (escaped, branded, template choice), PDF read back with pypdf (Unicode
font and the Latin-1 fallback), the e-mail bodies and the notification contract."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from justo.jobs.reports.content import Branding, ClientSection, ProcessItem
from justo.jobs.reports.delivery import (
    ReportEmail,
    email_recipients,
    notification,
    subject_line,
)
from justo.jobs.reports.pdf import (
    BUNDLED_FONTS,
    PdfFont,
    find_unicode_font,
    render_pdf,
    to_latin1,
)
from justo.jobs.reports.rendering import render_html
from tests.justo.jobs.reports.factories import CNJ_A, CNJ_B, HOSTILE, NOW, content, pdf_text

FONT = find_unicode_font()
"""The package's own DejaVu Sans: PDF tests never depend on what the machine has."""


# --- HTML -------------------------------------------------------------------------------


def test_html_shows_the_report() -> None:
    html = render_html(content())
    assert "<title>Relatório semanal — 05/04/2026</title>" in html
    assert "José da Conceição Ações Ltda" in html
    assert CNJ_A in html and "TJRJ" in html
    assert "Juntada de petição — réplica à contestação" in html
    assert "Prazo para manifestação <strong>(requer ação)</strong>" in html
    # Dates in the schedule's zone: the deadline is 2026-04-10 23:00:30 local.
    assert "10/04/2026 23:00" in html
    assert "Silva &amp; Souza Advogados" in html


def test_html_escapes_hostile_user_text() -> None:
    branding = Branding.clean(
        header='<img src=x onerror="alert(1)">', footer="</footer><script>x()</script>"
    )
    report = content(client=HOSTILE, branding=branding)
    html = render_html(report)
    assert "<script>" not in html and 'onerror="' not in html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; Filhos" in html
    assert "&lt;img src=x onerror=&#34;alert(1)&#34;&gt;" in html
    assert "&lt;/footer&gt;&lt;script&gt;x()&lt;/script&gt;" in html


def test_html_uses_the_workspace_branding() -> None:
    branding = Branding.clean(
        primary_color="#0a7f3c",
        logo_url="https://cdn.example/l.png",
        template="minimal",
        header="Confidencial",
    )
    html = render_html(content(branding=branding))
    assert "--primary: #0a7f3c;" in html
    assert '<img src="https://cdn.example/l.png" alt="Silva &amp; Souza Advogados">' in html
    assert 'class="template-minimal"' in html
    assert "Confidencial" in html


@pytest.mark.parametrize(
    ("color", "logo", "template"),
    [
        ("red;} body{display:none", "javascript:alert(1)", "../../../etc/passwd"),
        ("#12345", "data:text/html,<script>", "corporate.html.j2"),
        (None, None, None),
    ],
)
def test_branding_rejects_what_is_not_a_colour_url_or_template(
    color: str | None, logo: str | None, template: str | None
) -> None:
    branding = Branding.clean(primary_color=color, logo_url=logo, template=template)
    assert branding == Branding()
    html = render_html(content(branding=branding))
    assert "--primary: #2563eb;" in html and 'class="template-corporate"' in html
    assert "<img" not in html and "javascript:" not in html


def test_branding_short_colour_and_rgb() -> None:
    assert Branding.clean(primary_color="#0af").rgb == (0, 170, 255)
    assert Branding().rgb == (37, 99, 235)


def test_html_without_processes_or_movements() -> None:
    empty = content(sections=())
    assert "Nenhum processo monitorado." in render_html(empty)
    quiet = content(
        sections=(ClientSection("Cliente", (ProcessItem(CNJ_B, None, "PAUSED", None),)),)
    )
    html = render_html(quiet)
    assert "Nenhuma movimentação nova no período." in html
    assert "Nenhum prazo até 19/04/2026." in html


# --- PDF --------------------------------------------------------------------------------


def test_pdf_text_reads_back_with_unicode_font() -> None:
    payload = render_pdf(content(), FONT)
    assert payload.startswith(b"%PDF-")
    text = pdf_text(payload)
    assert "José da Conceição Ações Ltda" in text
    assert CNJ_A in text
    assert "Juntada de petição — réplica à contestação" in text
    assert "Relatório semanal" in text and "Página 1/1" in text


def test_pdf_draws_hostile_names_as_text() -> None:
    text = pdf_text(render_pdf(content(client=HOSTILE), FONT))
    assert '<script>alert("x")</script> & Filhos' in text


def test_pdf_latin1_fallback_keeps_portuguese() -> None:
    report = content(client="José da Conceição Ações — Ltda ☃ Œuvre")
    text = pdf_text(render_pdf(report, None))
    assert "José da Conceição Ações - Ltda ? OEuvre" in text
    assert CNJ_A in text
    assert "Juntada de petição - réplica à contestação" in text


def test_pdf_without_bold_face() -> None:
    assert FONT is not None
    text = pdf_text(render_pdf(content(), PdfFont(FONT.regular, None)))
    assert "José da Conceição Ações Ltda" in text


def test_pdf_with_many_rows_spans_pages() -> None:
    processes = tuple(
        ProcessItem(f"{i:07d}-00.2024.8.26.0100", "TJSP", "Ativo", NOW, 0) for i in range(80)
    )
    report = content(sections=(ClientSection("Cliente grande", processes),))
    text = pdf_text(render_pdf(report, FONT))
    assert "0000079-00.2024.8.26.0100" in text and "Página 2/" in text


def test_find_unicode_font(tmp_path: Path) -> None:
    regular = tmp_path / "R.ttf"
    assert find_unicode_font([(regular, tmp_path / "B.ttf")]) is None
    regular.write_bytes(b"")
    assert find_unicode_font(
        [(tmp_path / "x.ttf", tmp_path / "y.ttf"), (regular, tmp_path / "B.ttf")]
    ) == PdfFont(regular, None)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Ação, citação, órgão, Ângela", "Ação, citação, órgão, Ângela"),
        ("“aspas” ‘simples’ — travessão…", "\"aspas\" 'simples' - travessão..."),
        ("Łódź Œ ő", "Lódz OE o"),
        ("☃ 漢", "? ?"),
    ],
)
def test_to_latin1(text: str, expected: str) -> None:
    assert to_latin1(text) == expected
    to_latin1(text).encode("latin-1")


# --- e-mail -----------------------------------------------------------------------------


def email(**overrides: object) -> ReportEmail:
    values: dict[str, object] = {
        "schedule_id": "s1",
        "workspace_id": "w1",
        "workspace_name": "Silva & Souza",
        "title": "Semanal <b>",
        "period_key": "2026-04-05",
        "period_label": "05/04/2026",
        "pdf_path": "/srv/reports/w1/s1/2026-04-05.pdf",
        "process_count": 3,
        "movement_count": 2,
        "deadline_count": 1,
        "primary_color": "#2563eb",
    }
    values.update(overrides)
    return ReportEmail(**values)  # type: ignore[arg-type]


def test_notification_contract() -> None:
    data = notification(email(), ["a@x.com.br"])
    assert set(data) == {
        "type",
        "workspaceId",
        "to",
        "subject",
        "html",
        "text",
        "attachments",
        "idempotencyKey",
    }
    assert data["type"] == "email-report" and data["workspaceId"] == "w1"
    assert data["to"] == ["a@x.com.br"]
    assert data["subject"] == "Relatório Semanal <b> — 05/04/2026"
    assert data["attachments"] == [
        {
            "filename": "relatorio-2026-04-05.pdf",
            "path": "/srv/reports/w1/s1/2026-04-05.pdf",
            "contentType": "application/pdf",
        }
    ]
    assert data["idempotencyKey"] == "report:s1:2026-04-05"
    assert "Semanal &lt;b&gt;" in data["html"] and "Silva &amp; Souza" in data["html"]
    assert "Semanal <b>" in data["text"] and "Silva & Souza" in data["text"]
    assert "3 processos monitorados" in data["text"]
    assert "relatorio-2026-04-05.pdf" in data["text"]


def test_subject_is_one_bounded_line() -> None:
    assert subject_line("a\r\nBcc: x@y.z", "05/04/2026") == ("Relatório a Bcc: x@y.z — 05/04/2026")
    long = subject_line("x" * 500, "05/04/2026")
    assert len(long) == 200 and long.endswith("…")


def test_email_recipients_keeps_valid_distinct_addresses() -> None:
    assert email_recipients(
        [
            " a@x.com ",
            "A@X.com",
            "not-an-email",
            "b@y.com.br",
            {"email": "c@z.org"},
            {"phone": "+55"},
            42,
            None,
            "x@y.com\nBcc: z@w.com",
            "<evil>@x.com",
        ]
    ) == ["a@x.com", "b@y.com.br", "c@z.org"]


def test_deadline_window_label_uses_the_zone() -> None:
    report = content()
    assert report.local(NOW + timedelta(days=14), with_time=False) == "19/04/2026"
    assert report.local(None) == "—"


def test_the_package_ships_its_unicode_font() -> None:
    assert PdfFont(BUNDLED_FONTS / "DejaVuSans.ttf", BUNDLED_FONTS / "DejaVuSans-Bold.ttf") == FONT
    assert "Bitstream Vera" in (BUNDLED_FONTS / "LICENSE").read_text()
