"""The ``?`` help screen, generated from the binding tables (never hand-written)."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Static


def binding_rows(bindings: list[BindingType]) -> list[tuple[str, str]]:
    """(keys, description) of each binding that has a description."""
    rows = []
    for item in bindings:
        if isinstance(item, Binding):
            keys, description = item.key_display or item.key, item.description
        else:
            keys, description = item[0], item[2] if len(item) > 2 else ""
        if description:
            rows.append((", ".join(k.strip() for k in keys.split(",")), description))
    return rows


class HelpScreen(ModalScreen[None]):
    """Keys of the screen below and of the app."""

    BINDINGS = [Binding("escape,question_mark,q", "close", "Close")]

    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll {
        width: 72; height: auto; max-height: 90%; border: thick $primary;
        background: $surface; padding: 1 2;
    }
    """

    def __init__(self, below: Screen[object], app_bindings: list[BindingType]) -> None:
        super().__init__()
        self.below = below
        self.app_bindings = app_bindings

    def compose(self) -> ComposeResult:
        table = Table(show_header=False, box=None, padding=(0, 2))
        table.add_column(style="bold cyan")
        table.add_column()
        title = type(self.below).__name__.replace("Screen", "") or "Screen"
        table.add_row(Text(title, style="bold underline"), "")
        for keys, description in binding_rows(list(self.below.BINDINGS)):
            table.add_row(keys, description)
        table.add_row("", "")
        table.add_row(Text("Everywhere", style="bold underline"), "")
        for keys, description in binding_rows(self.app_bindings):
            table.add_row(keys, description)
        table.add_row("ctrl+p", "command palette: every action by name")
        with VerticalScroll():
            yield Static(table)

    def action_close(self) -> None:
        self.dismiss(None)
