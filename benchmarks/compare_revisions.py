"""Throughput of two revisions of the engine, measured in one run, interleaved.

    .venv/bin/python benchmarks/compare_revisions.py --before 9d97311 --after HEAD \\
        --rounds 5 --jobs 20000 --concurrency 50

Each revision is exported (``git archive``) to a temporary directory, and
``benchmarks/throughput.py`` of the *after* revision runs against each export's engine in
turn (before, after, before, after, ...), so both see the same machine load over time.
Printed: every run's figures and, per figure, the median of each side and the change.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
FIGURES = ("process_per_s", "process_acked_per_s", "enqueue_per_s", "enqueue_bulk_per_s")


def export(rev: str, into: Path) -> str:
    """Write the tree of ``rev`` under ``into``; returns its short commit id."""
    commit = subprocess.run(
        ["git", "rev-parse", "--short", rev], cwd=ROOT, check=True, capture_output=True, text=True
    ).stdout.strip()
    archive = subprocess.run(
        ["git", "archive", "--format=tar", commit], cwd=ROOT, check=True, capture_output=True
    ).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    return commit


def run_once(tree: Path, jobs: int, concurrency: int) -> dict[str, Any]:
    """One throughput run with ``tree``'s engine first on the import path."""
    env = os.environ | {"PYTHONPATH": str(tree)}
    script = ROOT / "benchmarks" / "throughput.py"
    args = ["--jobs", str(jobs), "--concurrency", str(concurrency), "--latency-jobs", "50"]
    out = subprocess.run(
        [sys.executable, str(script), *args, "--json"],
        cwd=tree,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--before", required=True)
    ap.add_argument("--after", default="HEAD")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--jobs", type=int, default=20000)
    ap.add_argument("--concurrency", type=int, default=50)
    opts = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="justo-ab-") as tmp:
        sides = {}
        for side, rev in (("before", opts.before), ("after", opts.after)):
            tree = Path(tmp) / side
            tree.mkdir()
            sides[side] = (export(rev, tree), tree)
        runs: dict[str, list[dict[str, Any]]] = {"before": [], "after": []}
        for round_no in range(opts.rounds):
            for side, (commit, tree) in sides.items():
                result = run_once(tree, opts.jobs, opts.concurrency)
                runs[side].append(result)
                shown = ", ".join(f"{f}={result[f]:,.0f}" for f in FIGURES)
                print(f"round {round_no + 1} {side} ({commit}): {shown}", flush=True)
    print()
    print(
        f"| figure (median of {opts.rounds}) | before {sides['before'][0]} "
        f"| after {sides['after'][0]} | change |"
    )
    print("|---|---|---|---|")
    for figure in FIGURES:
        before = statistics.median(r[figure] for r in runs["before"])
        after = statistics.median(r[figure] for r in runs["after"])
        print(f"| {figure} | {before:,.0f} | {after:,.0f} | {(after / before - 1) * 100:+.1f} % |")


if __name__ == "__main__":
    main()
