"""README promises of the ``justo-console`` CLI, run as a real subprocess.

- "Redis unreachable exits 1" (and ``health``: "Down (exit 2): Redis cannot be reached"),
  with a one-line ``error:`` and no password from the URL.
- "control commands never start one [an embedded redis-server]".
- "At start the supervisor checks ``maxmemory-policy`` (refuses anything but
  ``noeviction`` unless ``--allow-eviction``)".
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import pytest
from redis.asyncio import Redis

from engine.client import make_client
from engine.runtime.supervisor import read_supervisors
from tests.conftest import RedisFactory, eventually, tmp_socket_dir
from tests.justo.supervisor_helpers import ROOT, cli_env, start_supervisor, write_config
from tests.support import closed_port

PASSWORD = "canary-Pa55word-1234"
"""A password in the Redis URL: it must never be echoed."""

COMMANDS = [
    pytest.param(["stats"], id="stats"),
    pytest.param(["queues", "pause", "sync"], id="queues-pause"),
    pytest.param(["jobs", "add", "sync", "manual-sync", "--data", "{}"], id="jobs-add"),
]
"""Control commands that need Redis."""


def run(
    env: dict[str, str], *args: str, module: str = "justo.cli"
) -> subprocess.CompletedProcess[str]:
    """``python -m MODULE ARGS`` from the repository root, to completion."""
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def bare_env(data_dir: Path, prefix: str, **extra: str) -> dict[str, str]:
    """The environment with no Redis configured (no ``REDIS_*``, no ``JUSTO_*``) but a data
    directory and key prefix of the test's own."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REDIS_", "JUSTO_"))}
    env.update({"JUSTO_DATA_DIR": str(data_dir), "JUSTO_PREFIX": prefix, "PYTHONPATH": str(ROOT)})
    env.update(extra)
    return env


@contextmanager
def unreachable_urls() -> Iterator[list[str]]:
    """Redis URLs, each with a password, where nothing answers: a closed TCP port and a
    unix socket that does not exist."""
    with closed_port() as port:
        yield [
            f"redis://:{PASSWORD}@127.0.0.1:{port}/0",
            f"unix://user:{PASSWORD}@/nonexistent/justo-test/redis.sock",
        ]


# ------------------------------------------------------------------ Redis unreachable


@pytest.mark.parametrize("command", COMMANDS)
def test_unreachable_redis_exits_1_with_a_one_line_error(
    command: list[str], prefix: str, tmp_path: Path
) -> None:
    """Promise: "Redis unreachable exits 1": with ``--redis-url`` naming a Redis that does
    not answer, the command exits 1 with one ``error: …`` line on stderr, nothing on
    stdout, and the URL's password appears nowhere."""
    env = bare_env(tmp_path / "data", prefix)
    with unreachable_urls() as urls:
        for url in urls:
            result = run(env, "--redis-url", url, *command)
            shown = f"{url}: rc={result.returncode}\n{result.stdout}\n{result.stderr}"
            assert result.returncode == 1, shown
            lines = result.stderr.strip().splitlines()
            assert len(lines) == 1 and lines[0].startswith("error:"), shown
            assert result.stdout == "", shown
            assert PASSWORD not in result.stdout + result.stderr, shown


def test_health_exits_2_down_when_redis_is_unreachable(prefix: str, tmp_path: Path) -> None:
    """Promise: ``health`` "exit 0 healthy, 1 degraded, 2 down … Down (exit 2): Redis
    cannot be reached": it exits 2 saying ``down`` (text and ``--json``), without the
    URL's password."""
    env = bare_env(tmp_path / "data", prefix)
    with unreachable_urls() as urls:
        for url in urls:
            text = run(env, "--redis-url", url, "health")
            shown = f"{url}: rc={text.returncode}\n{text.stdout}\n{text.stderr}"
            assert text.returncode == 2, shown
            assert text.stdout.splitlines()[0] == "down", shown
            as_json = run(env, "--redis-url", url, "health", "--json")
            assert as_json.returncode == 2, as_json.stdout + as_json.stderr
            document = json.loads(as_json.stdout)
            assert (document["status"], document["code"]) == ("down", 2)
            for result in (text, as_json):
                assert PASSWORD not in result.stdout + result.stderr, shown


# ------------------------------------------------------------------ no embedded Redis


def processes_using(path: Path) -> list[int]:
    """Pids of live processes whose command line or working directory is under ``path``
    (an embedded ``redis-server`` names its socket and runs in ``<data>/redis``)."""
    found = []
    needle = str(path)
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            cwd = os.readlink(entry / "cwd")
        except OSError:
            continue
        if needle in cmdline or cwd.startswith(needle):
            found.append(int(entry.name))
    return found


@pytest.fixture
def data_dir(tmp_path: Path) -> Iterator[Path]:
    """A short data directory (an embedded server's socket must fit in ~100 bytes); any
    process a broken CLI left running there is killed afterwards (by pid)."""
    path = tmp_socket_dir(tmp_path) / "data"
    yield path
    for pid in processes_using(path):
        with suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


@pytest.fixture(scope="module")
def nothing_on_localhost_6379() -> str:
    """The module that runs the CLI as on a machine where nothing answers on
    localhost:6379, checked first: in a process it sets up, the CLI's own probe finds
    nothing on 6379 (whatever this machine runs there) and still reaches other ports, so
    no command can reach (let alone write to) a shared Redis on 6379."""
    code = (
        "from tests.justo.no_local_redis import refuse_local_redis; refuse_local_redis(); "
        "from engine.runtime.connection import localhost_redis_answers as probe; "
        "import socket; s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen(1); "
        "print(probe(6379), probe(s.getsockname()[1]))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.stdout.split() == ["False", "True"], result.stdout + result.stderr
    return "tests.justo.no_local_redis"


@pytest.mark.parametrize("command", COMMANDS)
def test_control_commands_never_start_an_embedded_redis(
    command: list[str], prefix: str, data_dir: Path, nothing_on_localhost_6379: str
) -> None:
    """Promise: "control commands never start one": with no Redis configured, no
    supervisor socket in the data directory and nothing answering on localhost:6379, the
    command exits 1 ("no Redis found") and neither creates ``<data>/redis`` nor leaves a
    ``redis-server`` running there."""
    result = run(bare_env(data_dir, prefix), *command, module=nothing_on_localhost_6379)
    shown = f"rc={result.returncode}\n{result.stdout}\n{result.stderr}"
    assert result.returncode == 1, shown
    assert "no Redis found" in result.stderr, shown
    assert not (data_dir / "redis").exists(), shown
    assert processes_using(data_dir) == [], shown


@pytest.mark.parametrize("command", COMMANDS)
def test_control_commands_use_a_configured_redis_host_and_never_embed_one(
    command: list[str], prefix: str, data_dir: Path
) -> None:
    """Promise: with ``REDIS_HOST``/``REDIS_PORT`` naming a Redis that does not answer, a
    control command exits 1 (Redis unreachable) and never falls back to an embedded
    server."""
    with closed_port() as port:
        env = bare_env(
            data_dir, prefix, REDIS_HOST="127.0.0.1", REDIS_PORT=str(port), REDIS_PASSWORD=PASSWORD
        )
        result = run(env, *command)
    shown = f"rc={result.returncode}\n{result.stdout}\n{result.stderr}"
    assert result.returncode == 1, shown
    assert result.stderr.startswith("error: Redis unavailable"), shown
    assert PASSWORD not in result.stdout + result.stderr, shown
    assert not (data_dir / "redis").exists(), shown
    assert processes_using(data_dir) == [], shown


# ------------------------------------------------------------------ --allow-eviction


async def started_or_exited(proc: subprocess.Popen[bytes], redis: Redis, prefix: str) -> bool:
    """Wait until the supervisor either publishes its heartbeat (True) or exits (False)."""
    outcome: list[bool] = []

    async def settled() -> bool:
        if await read_supervisors(redis, prefix):
            outcome.append(True)
        elif proc.poll() is not None:
            outcome.append(False)
        return bool(outcome)

    await eventually(settled, timeout=60, interval=0.1)
    return outcome[0]


async def test_evicting_redis_is_refused_unless_eviction_is_allowed(
    private_redis: RedisFactory, prefix: str, tmp_path: Path
) -> None:
    """Promise: the supervisor refuses a Redis whose ``maxmemory-policy`` is not
    ``noeviction`` (exit 2, a configuration error, naming the policy and the way out),
    and with ``--allow-eviction`` it starts (its heartbeat appears in Redis) and a SIGTERM
    then stops it with exit 0."""
    server = private_redis(extra_args=["--maxmemory-policy", "allkeys-lru"])
    env = cli_env(server.url, prefix, tmp_path / "data")
    config = write_config(tmp_path / "justo.toml")
    redis = make_client(server.url)
    try:
        assert (await redis.config_get("maxmemory-policy"))["maxmemory-policy"] == "allkeys-lru"

        refused_log = tmp_path / "refused.log"
        refused = start_supervisor(env, config, refused_log)
        try:
            started = await started_or_exited(refused, redis, prefix)
        finally:
            if refused.poll() is None:
                refused.kill()
            code = await asyncio.to_thread(refused.wait, 60)
        output = refused_log.read_text()
        assert not started, "the supervisor started on an allkeys-lru Redis\n" + output
        assert code == 2, output
        assert "maxmemory-policy is 'allkeys-lru', so Redis may evict queued jobs" in output
        assert "--allow-eviction" in output

        allowed_log = tmp_path / "allowed.log"
        allowed = start_supervisor(env, config, allowed_log, "--allow-eviction")
        try:
            started = await started_or_exited(allowed, redis, prefix)
            allowed.send_signal(signal.SIGTERM)
            code = await asyncio.to_thread(allowed.wait, 60)
        finally:
            if allowed.poll() is None:
                allowed.kill()
                allowed.wait()
        output = allowed_log.read_text()
        assert started, "the supervisor did not start with --allow-eviction\n" + output
        assert code == 0, output
        assert "continuing because eviction was explicitly allowed" in output
        assert await read_supervisors(redis, prefix) == []
    finally:
        await redis.aclose()
