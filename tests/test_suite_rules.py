"""Rules the test suite itself keeps (issue 11): unit tests assert outcomes, not durations.

A test waits on a condition (a log line, a state in Redis) with a generous ceiling that only
guards against a hang; how long something takes is measured in ``benchmarks/`` (see
``benchmarks/timings.py``). An assertion that an elapsed time stays *under* a bound fails on a
loaded machine while the code is right, so the suite refuses them. A lower bound ("the backoff
waited at least 0.2 s") stays allowed: load only makes waits longer.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCANNED = ("tests", "snapshots")

CLOCKS = frozenset(
    {"monotonic", "monotonic_ns", "perf_counter", "perf_counter_ns", "time", "time_ns", "now_ms"}
)
"""Calls that read a clock: ``<clock>() - start`` is an elapsed time."""

DURATION_WORD = re.compile(r"(^|_)(elapsed|duration|took|latency)$")
"""Names (variables or attributes) of measured durations: ``elapsed``, ``result.took``..."""

UNIT_SUFFIX = re.compile(r"_(s|ms|seconds)$")
"""Variables named by a time unit, such as ``reclaim_s``, when they are the left side of
``<``/``<=`` (attributes such as ``job.ready_ms`` are often timestamps, so not these)."""

LIMIT_NAME = re.compile(r"(^|_)limit_(s|ms|seconds)$")
"""Names of time limits a value is compared with: ``limit_s``."""

UPPER = (ast.Lt, ast.LtE)
"""``duration < bound``"""

UPPER_MIRRORED = (ast.Gt, ast.GtE)
"""``bound > duration``"""


def _name(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


def _reads_clock(node: ast.expr) -> bool:
    return any(isinstance(call, ast.Call) and _name(call.func) in CLOCKS for call in ast.walk(node))


def _is_duration(node: ast.expr) -> bool:
    """``time.monotonic() - started``, or a name such as ``elapsed`` or ``result.took``."""
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Sub):
        return _reads_clock(node.left)
    name = _name(node)
    return name is not None and DURATION_WORD.search(name) is not None


def _is_unit_variable(node: ast.expr) -> bool:
    return isinstance(node, ast.Name) and UNIT_SUFFIX.search(node.id) is not None


def _is_constant(node: ast.expr) -> bool:
    """Numbers and UPPER_CASE constants, with arithmetic: a fixed bound, not a reading
    (``before_s <= entry["at"]`` brackets a timestamp; ``took_s < 2 * LEASE_S`` bounds)."""
    return all(
        isinstance(leaf, ast.Constant | ast.BinOp | ast.UnaryOp | ast.operator | ast.unaryop)
        or (isinstance(leaf, ast.Name) and leaf.id.isupper())
        or (isinstance(leaf, ast.Attribute) and leaf.attr.isupper())
        or isinstance(leaf, ast.expr_context)
        for leaf in ast.walk(node)
    )


def _is_limit(node: ast.expr) -> bool:
    name = _name(node)
    return name is not None and LIMIT_NAME.search(name) is not None


def _bounds_a_duration_above(compare: ast.Compare) -> bool:
    operands = [compare.left, *compare.comparators]
    for left, op, right in zip(operands[:-1], compare.ops, operands[1:], strict=True):
        if isinstance(op, UPPER) and (
            _is_duration(left)
            or (_is_unit_variable(left) and _is_constant(right))
            or _is_limit(right)
        ):
            return True
        if isinstance(op, UPPER_MIRRORED) and (_is_duration(right) or _is_limit(left)):
            return True
    return False


def duration_upper_bounds(source: str, filename: str = "<test>") -> list[int]:
    """Line numbers of the ``assert`` statements in ``source`` that bound an elapsed time
    from above (anywhere in the asserted expression, e.g. inside ``all(...)``)."""
    lines = []
    for node in ast.walk(ast.parse(source, filename)):
        if isinstance(node, ast.Assert) and any(
            isinstance(sub, ast.Compare) and _bounds_a_duration_above(sub)
            for sub in ast.walk(node.test)
        ):
            lines.append(node.lineno)
    return sorted(lines)


def suite_files() -> Iterator[Path]:
    """Every Python file of the test suite and the snapshot tests."""
    for folder in SCANNED:
        yield from sorted((ROOT / folder).rglob("*.py"))


# --- the rule, on the suite ----------------------------------------------------------------


def test_no_test_asserts_that_an_elapsed_time_stays_under_a_bound() -> None:
    files = list(suite_files())
    assert len(files) > 20, "the scan found no test files"
    found = []
    for path in files:
        text = path.read_text()
        source_lines = text.splitlines()
        for line in duration_upper_bounds(text, str(path)):
            found.append(f"{path.relative_to(ROOT)}:{line}: {source_lines[line - 1].strip()}")
    assert found == [], (
        "unit tests assert outcomes, not durations: wait on a condition with a generous "
        "ceiling instead, and measure the duration in benchmarks/timings.py:\n" + "\n".join(found)
    )


# --- the rule, on examples -----------------------------------------------------------------


@pytest.mark.parametrize(
    "source",
    [
        "assert time.monotonic() - started < 1.0",
        "assert elapsed <= 4",
        "assert elapsed <= 2.0 + 2.0, elapsed",
        "assert time.time() - t0 <= 5.0 + 1.0",
        "assert loop.time() - t0 < 2",
        "assert reclaim_s <= 2 * LEASE_MS / 1000 + 1.0, reclaim_s",
        "assert stop_ms < 500",
        "assert took < 3",
        "assert 1.5 <= wall_duration < 10",
        "assert 3 > time.perf_counter() - started",
        "assert time.monotonic() - started < limit_s, (method, path)",
        "assert result.elapsed < 1",
        "assert all(time.monotonic() - s < 1 for s in starts)",
        "assert (\n    time.monotonic()\n    - started\n    < 1.0\n)",
    ],
)
def test_rule_catches_upper_bounds_on_elapsed_time(source: str) -> None:
    assert duration_upper_bounds(source) == [1]


@pytest.mark.parametrize(
    "source",
    [
        "assert len(x) <= 3",
        "assert time.monotonic() - started >= 0.2",
        "assert elapsed >= 0.2",
        "assert 0.2 <= elapsed",
        "assert all(b - a >= 150 for a, b in zip(starts, starts[1:]))",
        "assert 2.0 <= age <= scraped_by - beat",
        "assert delays == sorted(delays)",
        "assert counts.waiting <= 3",
        "assert ran_at[job_id] >= job.ready_ms",
        "assert job.lease_ms <= 5000",
        "assert 0 < await redis.ttl(key) <= 60",
        "assert before_s <= entry['createdAt'] <= after_s",
        "assert started_ms <= job.processed_ms",
        "if time.monotonic() > deadline:\n    raise AssertionError('hang')",
        "elapsed = time.monotonic() - started\nprint(elapsed < 1)",
    ],
)
def test_rule_allows_lower_bounds_and_other_comparisons(source: str) -> None:
    assert duration_upper_bounds(source) == []


def test_rule_reports_the_line_of_each_offending_assert() -> None:
    source = "x = 1\nassert len(x) <= 3\n\nassert elapsed <= 4\nassert time() - t < 1\n"
    assert duration_upper_bounds(source) == [4, 5]
