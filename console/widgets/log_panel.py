"""The live log pane: the supervisors' log stream, optionally for one queue only."""

from __future__ import annotations

import collections
from collections.abc import Iterable

from textual.widgets import Log

from console import text as fmt

MAX_LINES = 2000
"""Lines kept for re-filtering."""


def render_line(entry: dict[str, str]) -> str:
    """One stream entry as a plain, literal line (the Log widget never parses markup)."""
    try:
        stamp = fmt.clock(float(entry.get("ts", "0")))
    except ValueError:
        stamp = "--:--:--"
    queue = entry.get("queue") or "supervisor"
    return fmt.literal(
        f"{stamp} {entry.get('level', ''):<7} {queue:<14} {entry.get('msg', '')}",
        keep_newlines=False,
    )


class LogPanel(Log):
    """Tail of the log stream; ``set_filter`` shows one queue's lines or text matches."""

    DEFAULT_CSS = """
    LogPanel { border: round $primary; border-title-color: $text; height: 1fr; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(max_lines=MAX_LINES, id=id, highlight=False)
        self._entries: collections.deque[dict[str, str]] = collections.deque(maxlen=MAX_LINES)
        self.queue_filter: str | None = None
        self.text_filter = ""

    def on_mount(self) -> None:
        self._retitle()

    def add(self, entries: Iterable[dict[str, str]]) -> None:
        """Append new stream entries."""
        lines = []
        for entry in entries:
            self._entries.append(entry)
            if self._matches(entry):
                lines.append(render_line(entry))
        if lines:
            self.write_lines(lines)

    def set_filter(self, *, queue: str | None, text: str) -> None:
        """Show only ``queue``'s lines (``None``: all) containing ``text``."""
        self.queue_filter, self.text_filter = queue, text
        self.clear()
        self.write_lines([render_line(e) for e in self._entries if self._matches(e)])
        self._retitle()

    def _matches(self, entry: dict[str, str]) -> bool:
        if self.queue_filter is not None and entry.get("queue") != self.queue_filter:
            return False
        return not self.text_filter or self.text_filter.lower() in entry.get("msg", "").lower()

    def _retitle(self) -> None:
        parts = ["Log"]
        if self.queue_filter:
            parts.append(f"queue {self.queue_filter}")
        if self.text_filter:
            parts.append(f"matching {fmt.one_line(self.text_filter, 30)!r}")
        self.border_title = " · ".join(parts)
