"""HTML of a report and of its e-mail, from the Jinja2 templates shipped in this package.

Autoescaping is on for every template except ``*.txt.j2`` (the plain-text e-mail body):
client names, movement descriptions and branding texts are the users' own and are always
escaped in HTML. The workspace chooses the template by name among ``TEMPLATES`` only.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from justo.jobs.reports.content import TEMPLATES, ReportContent

EMAIL_TEMPLATES = ("email.html.j2", "email.txt.j2")


@cache
def environment() -> Environment:
    """The Jinja2 environment of the report templates (autoescape on, strict undefined)."""
    return Environment(
        loader=PackageLoader("justo.jobs.reports", "templates"),
        autoescape=select_autoescape(
            enabled_extensions=("html.j2",),
            disabled_extensions=("txt.j2",),
            default=True,
            default_for_string=True,
        ),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def render_html(report: ReportContent) -> str:
    """The report as a standalone HTML page, in the workspace's template."""
    name = report.branding.template if report.branding.template in TEMPLATES else TEMPLATES[0]
    template = environment().get_template(f"{name}.html.j2")
    return template.render(report=report, branding=report.branding)


@dataclass(frozen=True)
class EmailBody:
    """The two bodies of a report e-mail."""

    html: str
    text: str


def render_email(
    *,
    subject: str,
    title: str,
    workspace_name: str,
    period_label: str,
    process_count: int,
    movement_count: int,
    deadline_count: int,
    filename: str,
    primary_color: str,
) -> EmailBody:
    """The short e-mail that carries the report PDF as an attachment."""
    values = {
        "subject": subject,
        "title": title,
        "workspace_name": workspace_name,
        "period_label": period_label,
        "process_count": process_count,
        "movement_count": movement_count,
        "deadline_count": deadline_count,
        "filename": filename,
        "primary_color": primary_color,
    }
    html, text = (environment().get_template(name).render(**values) for name in EMAIL_TEMPLATES)
    return EmailBody(html=html, text=text)
