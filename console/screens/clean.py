"""The clean dialog: choose completed or failed and an age; it shows how many will go."""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, RadioButton, RadioSet

from console.source import ConsoleSource, FinishedState
from engine.admin import parse_duration as parse_age


@dataclass(frozen=True)
class CleanRequest:
    """What the dialog returns when confirmed."""

    state: FinishedState
    older_than: float
    count: int


class CleanModal(ModalScreen[CleanRequest | None]):
    """Pick the state and age; the count of jobs it will delete updates as you type."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    DEFAULT_CSS = """
    CleanModal { align: center middle; }
    CleanModal > Vertical {
        width: 64; height: auto; border: thick $error; background: $surface; padding: 1 2;
    }
    CleanModal #title { text-style: bold; margin-bottom: 1; }
    CleanModal RadioSet { width: 100%; margin-bottom: 1; }
    CleanModal Horizontal { height: auto; align: right middle; margin-top: 1; }
    CleanModal Button { margin-left: 2; }
    """

    def __init__(self, source: ConsoleSource, queue: str) -> None:
        super().__init__()
        self.source = source
        self.queue = queue
        self.count: int | None = None

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(Text(f"Clean finished jobs of {self.queue}"), id="title")
            with RadioSet(id="state"):
                yield RadioButton("completed", value=True, id="completed")
                yield RadioButton("failed", id="failed")
            yield Label("older than (e.g. 30m, 1h, 7d):")
            yield Input("1h", id="age")
            yield Label("", id="count")
            with Horizontal():
                yield Button("Cancel", id="cancel", variant="primary")
                yield Button("Clean", id="confirm", variant="error", disabled=True)

    def on_mount(self) -> None:
        self.query_one("#cancel", Button).focus()
        self.recount()

    @property
    def state(self) -> FinishedState:
        """The chosen state."""
        pressed = self.query_one(RadioSet).pressed_button
        return "failed" if pressed is not None and pressed.id == "failed" else "completed"

    @on(RadioSet.Changed)
    @on(Input.Changed)
    def recount(self) -> None:
        """Count what the current choice would delete."""
        age = parse_age(self.query_one("#age", Input).value)
        label = self.query_one("#count", Label)
        self.query_one("#confirm", Button).disabled = True
        if age is None:
            label.update(Text("invalid age", style="red"))
            return
        label.update(Text("counting…", style="dim"))
        self._count(self.state, age)

    @work(exclusive=True, group="clean-count", exit_on_error=False)
    async def _count(self, state: FinishedState, age: float) -> None:
        self.count = await self.source.count_finished(self.queue, state, age)
        self.query_one("#count", Label).update(
            Text(f"will delete {self.count} {state} job(s)", style="bold")
        )
        self.query_one("#confirm", Button).disabled = False

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id != "confirm":
            self.dismiss(None)
            return
        age = parse_age(self.query_one("#age", Input).value)
        if age is None or self.count is None:
            return
        self.dismiss(CleanRequest(self.state, age, self.count))

    def action_cancel(self) -> None:
        self.dismiss(None)
