"""Pure console helpers: literal text, sparklines, units, log lines."""

from __future__ import annotations

from console import text as fmt
from console.widgets.log_panel import render_line
from engine.admin import format_ms


def test_literal_makes_escape_sequences_visible() -> None:
    hostile = "a\x1b[31mred\x1b[0m\x07\x9b[bold]x[/]"
    shown = fmt.literal(hostile)
    assert "\x1b" not in shown and "\x07" not in shown and "\x9b" not in shown
    assert shown == "a␛[31mred␛[0m\\x07\\x9b[bold]x[/]"
    assert fmt.literal("line1\nline2") == "line1\nline2"
    assert fmt.literal("line1\nline2", keep_newlines=False) == "line1⏎ line2"


def test_one_line_truncates() -> None:
    assert fmt.one_line("abcdef", 4) == "abc…"
    assert fmt.one_line("ab", 4) == "ab"


def test_sparkline_scales_to_the_peak() -> None:
    assert fmt.sparkline([0, 0, 0]) == "▁▁▁"
    assert fmt.sparkline([0, 5, 10]) == "▁▅█"
    assert len(fmt.sparkline(list(range(100)), 20)) == 20


def test_units() -> None:
    assert fmt.count(999) == "999" and fmt.count(1_250_000) == "1.2M"
    assert format_ms(None) == "-" and format_ms(850) == "850ms"
    assert format_ms(12_500) == "12.5s" and format_ms(90_000) == "1.5m"
    assert fmt.size(2048) == "2.0KB" and fmt.percent(0.034) == "3.4%"
    assert fmt.ago(75) == "1m15s" and fmt.ago(7300) == "2h01m"


def test_log_lines_are_literal_single_lines() -> None:
    line = render_line(
        {
            "ts": "0",
            "level": "ERROR",
            "queue": "sync",
            "msg": "boom [red]x[/]\n\x1b]8;;http://evil\x07",
        }
    )
    assert "\n" not in line and "\x1b" not in line and "[red]x[/]" in line
