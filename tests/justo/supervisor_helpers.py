"""Running ``justo-console`` as a real subprocess in tests (and in
``benchmarks/timings.py``, so nothing here needs pytest)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

OPS_CONFIG = """
grace_seconds = {grace}
misfire_grace_seconds = 60

[queues.ops]
concurrency = 4
attempts = 3
backoff = {{ kind = "fixed", delay_ms = 200 }}
lease_ms = 2000
{recurring}
"""

EVERY_SECOND = """
[[recurring]]
name = "every-second"
queue = "ops"
job = "tick"
cron = "* * * * * *"
"""


def write_config(path: Path, *, grace: float = 2.0, every_second: bool = False) -> Path:
    """A TOML config with an ``ops`` queue (and optionally a one-second cron)."""
    path.write_text(OPS_CONFIG.format(grace=grace, recurring=EVERY_SECOND if every_second else ""))
    return path


def cli_env(redis_url: str, prefix: str, data_dir: Path) -> dict[str, str]:
    """Environment for a CLI subprocess on the test's Redis and prefix."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REDIS_", "JUSTO_"))}
    env.update(
        {
            "REDIS_URL": redis_url,
            "JUSTO_PREFIX": prefix,
            "JUSTO_DATA_DIR": str(data_dir),
            "PYTHONPATH": str(ROOT),
        }
    )
    return env


def start_supervisor(
    env: dict[str, str], config: Path, output: Path, *extra: str
) -> subprocess.Popen[bytes]:
    """``justo-console --headless`` with the operator module loaded; stdout to ``output``."""
    with output.open("ab") as handle:
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "justo.cli",
                "--config",
                str(config),
                "--headless",
                "--no-demo",
                "--import",
                "tests.justo.operator_jobs",
                *extra,
            ],
            cwd=ROOT,
            env=env,
            stdout=handle,
            stderr=subprocess.STDOUT,
        )


def log_text(output: Path) -> str:
    """What the supervisor has written to ``output`` so far ("" before it starts)."""
    try:
        return output.read_text(errors="replace")
    except FileNotFoundError:
        return ""


async def wait_for_log(output: Path, text: str, *, count: int = 1, timeout: float = 30.0) -> None:
    """Wait until ``text`` appears ``count`` times in the supervisor's output. The timeout
    only guards against a hang; it is not a bound the test asserts."""

    deadline = time.monotonic() + timeout
    while log_text(output).count(text) < count:
        if time.monotonic() > deadline:
            raise AssertionError(f"{text!r} not logged in {timeout}s; output:\n{log_text(output)}")
        await asyncio.sleep(0.02)


def run_cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """Run one CLI command to completion."""
    return subprocess.run(
        [sys.executable, "-m", "justo.cli", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
