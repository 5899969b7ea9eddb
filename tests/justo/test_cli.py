"""The CLI as an operator uses it: daemon control, logs, bad input, queue and job commands."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from redis.asyncio import Redis

from engine import JobSpec, Queue
from engine.errors import ConfigError
from engine.logs import redact
from justo.catalog import load as load_settings
from tests.conftest import eventually
from tests.justo.supervisor_helpers import ROOT, cli_env, run_cli, write_config


async def keys_under(redis: Redis, prefix: str) -> list[bytes]:
    return [k async for k in redis.scan_iter(match=f"{prefix}:*")]


async def test_start_status_logs_stop_with_pid_file(
    redis: Redis, redis_url: str, prefix: str, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    env = cli_env(redis_url, prefix, data)
    config = str(write_config(tmp_path / "justo.toml"))
    base = ["--config", config, "--import", "tests.justo.operator_jobs"]
    started = run_cli(env, *base, "start")
    assert started.returncode == 0, started.stderr + started.stdout
    pid_file = data / "pids" / "supervisor.pid"
    try:
        pid = int(pid_file.read_text())
        again = run_cli(env, *base, "start")
        assert again.returncode == 1 and "already running" in again.stderr

        added = run_cli(env, *base, "jobs", "add", "ops", "sleepy", "--data", '{"s": 0.01}')
        assert added.returncode == 0, added.stderr
        job_id = added.stdout.strip()

        async def ran() -> bool:
            return await redis.hget(f"{prefix}:exec", job_id) == b"1"

        await eventually(ran, timeout=20)
        status = run_cli(env, *base, "status")
        assert status.returncode == 0
        assert f"running (pid {pid})" in status.stdout and "ops" in status.stdout

        shown = run_cli(env, *base, "jobs", "show", job_id, "--queue", "ops", "--json")
        assert json.loads(shown.stdout)["state"] == "completed"

        logs = run_cli(env, *base, "logs", "ops", "-n", "100")
        assert logs.returncode == 0
        log_file = data / "logs" / "workers" / "ops.log"
        assert log_file.exists() and (data / "logs" / "workers" / "supervisor.log").exists()
    finally:
        stopped = run_cli(env, *base, "stop")
    assert stopped.returncode == 0 and "stopped" in stopped.stdout
    assert not pid_file.exists()
    status = run_cli(env, *base, "status")
    assert "not running" in status.stdout


async def test_stale_pid_file_is_detected_and_cleaned(
    redis_url: str, prefix: str, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    env = cli_env(redis_url, prefix, data)
    pid_file = data / "pids" / "supervisor.pid"
    pid_file.parent.mkdir(parents=True)
    pid_file.write_text("999999\n")
    result = run_cli(env, "stop")
    assert "stale pid file" in result.stderr and "not running" in result.stdout
    assert not pid_file.exists()


async def test_worker_log_files_redact_secrets(
    redis: Redis, redis_url: str, prefix: str, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    env = cli_env(redis_url, prefix, data) | {"JUDIT_API_KEY": "canary-judit-key-123"}
    config = str(write_config(tmp_path / "justo.toml"))
    base = ["--config", config, "--import", "tests.justo.operator_jobs"]
    assert run_cli(env, *base, "start").returncode == 0
    try:
        queue = Queue(redis, "ops", prefix=prefix)
        await queue.add("nope", {"authorization": "Bearer canary-token-abcdef"})
        await queue.add("nope", "canary-judit-key-123 in data")

        async def logged() -> bool:
            path = data / "logs" / "workers" / "ops.log"
            return path.exists() and path.read_text().count("unknown job type") >= 2

        await eventually(logged, timeout=20)
    finally:
        run_cli(env, *base, "stop")
    text = (data / "logs" / "workers" / "ops.log").read_text()
    everything = text + (data / "logs" / "workers" / "supervisor.log").read_text()
    assert "canary" not in everything


def test_redact_hides_credentials() -> None:
    line = (
        "connect redis://:s3cr3t@cache:6379/0 with password=hunter22 and "
        '{"api_key": "abc123xyz"} Authorization: Bearer eyJhbGciOi.x'
    )
    cleaned = redact(line, ["unlisted-secret-value"])
    for secret in ("s3cr3t", "hunter22", "abc123xyz", "eyJhbGciOi"):
        assert secret not in cleaned
    assert "redis://***@cache:6379/0" in cleaned
    assert redact("token unlisted-secret-value", ["unlisted-secret-value"]) == "token ***"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["jobs", "add", "ops", "x", "--data", "{bad json"], "--data is not valid JSON"),
        (["jobs", "add", "nope", "x"], "unknown queue 'nope'"),
        (["queues", "pause", "nope"], "unknown queue 'nope'"),
        (["queues", "pause"], "give one QUEUE or --all"),
        (["queues", "clean", "ops", "--state", "waiting"], "--state must be completed or failed"),
        (
            ["queues", "clean", "ops", "--state", "failed", "--older-than", "soon"],
            "invalid duration",
        ),
        (["jobs", "list", "ops", "--state", "lost"], "--state must be one of"),
        (["logs", "nobody"], "unknown worker 'nobody'"),
    ],
)
async def test_bad_input_exits_2_and_writes_nothing(
    redis: Redis, redis_url: str, prefix: str, tmp_path: Path, args: list[str], message: str
) -> None:
    env = cli_env(redis_url, prefix, tmp_path / "data")
    config = str(write_config(tmp_path / "justo.toml"))
    result = run_cli(env, "--config", config, *args)
    assert result.returncode == 2, result.stdout + result.stderr
    assert message in result.stderr
    assert await keys_under(redis, prefix) == []


async def test_drain_refused_in_production_without_force(
    redis: Redis, redis_url: str, prefix: str, tmp_path: Path
) -> None:
    env = cli_env(redis_url, prefix, tmp_path / "data") | {"NODE_ENV": "production"}
    config = str(write_config(tmp_path / "justo.toml"))
    queue = Queue(redis, "ops", prefix=prefix)
    await queue.add_bulk([JobSpec("x", i) for i in range(3)])
    refused = run_cli(env, "--config", config, "queues", "drain", "ops")
    assert refused.returncode == 2 and "production" in refused.stderr
    assert (await queue.counts()).waiting == 3
    forced = run_cli(env, "--config", config, "queues", "drain", "ops", "--force")
    assert forced.returncode == 0 and "3 waiting/delayed" in forced.stdout
    assert (await queue.counts()).waiting == 0


async def test_queue_commands_change_redis(
    redis: Redis, redis_url: str, prefix: str, tmp_path: Path
) -> None:
    env = cli_env(redis_url, prefix, tmp_path / "data")
    config = str(write_config(tmp_path / "justo.toml"))
    base = ["--config", config]
    queue = Queue(redis, "ops", prefix=prefix)
    assert run_cli(env, *base, "queues", "pause", "--all").returncode == 0
    assert await queue.is_paused()
    assert run_cli(env, *base, "queues", "resume", "ops").returncode == 0
    assert not await queue.is_paused()
    added = run_cli(env, *base, "jobs", "add", "ops", "x", "--id", "mine", "--priority", "0")
    assert added.stdout.strip() == "mine"
    listed = run_cli(env, *base, "jobs", "list", "ops", "--json")
    assert [j["id"] for j in json.loads(listed.stdout)] == ["mine"]
    removed = run_cli(env, *base, "jobs", "remove", "mine")
    assert removed.returncode == 0 and await queue.get_job("mine") is None
    stats = json.loads(run_cli(env, *base, "stats", "--json").stdout)
    assert {q["name"] for q in stats["queues"]} >= {"sync", "notifications", "ops"}
    assert stats["redis"]["policy"] == "noeviction"
    health = run_cli(env, *base, "health", "--json")
    assert health.returncode == 1
    assert "no live supervisor" in " ".join(json.loads(health.stdout)["reasons"])


def test_health_reports_down_when_redis_is_unreachable(prefix: str, tmp_path: Path) -> None:
    env = cli_env("redis://127.0.0.1:1/0", prefix, tmp_path / "data")
    result = run_cli(env, "health", "--json")
    assert result.returncode == 2
    assert json.loads(result.stdout)["status"] == "down"


def test_settings_from_file_and_environment(tmp_path: Path) -> None:
    config = tmp_path / "justo.toml"
    config.write_text(
        'timezone = "UTC"\nimport = ["a.b"]\n'
        "[queues.sync]\nconcurrency = 9\n"
        "[queues.exports]\nconcurrency = 2\nattempts = 5\n"
        'backoff = { kind = "fixed", delay_ms = 500 }\ntimeout_seconds = 30\n'
        '[[recurring]]\nname = "nightly"\nqueue = "exports"\njob = "export"\n'
        'cron = "0 30 1 * * *"\n'
    )
    env = {
        "JUSTO_QUEUE_NOTIFICATIONS_CONCURRENCY": "20",
        "JUSTO_IMPORT": "c.d",
        "JUSTO_DATA_DIR": str(tmp_path),
    }
    settings = load_settings(env, config)
    assert settings.queue("sync").concurrency == 9
    assert settings.queue("notifications").concurrency == 20
    exports = settings.queue("exports")
    assert (exports.concurrency, exports.options.attempts, exports.options.timeout_s) == (
        2,
        5,
        30.0,
    )
    assert exports.options.backoff.delay_ms == 500
    assert settings.imports == ("a.b", "c.d")
    assert {j.name for j in settings.recurring} >= {"nightly", "sync-apis", "weekly-reports"}
    assert settings.timezone == "UTC"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[queues.sync]\nconcurency = 3\n", "unknown key"),
        ("[queues.sync]\nconcurrency = 0\n", "at least 1"),
        ('timezone = "Mars/Olympus"\n', "unknown time zone"),
        (
            '[[recurring]]\nname = "x"\nqueue = "nope"\njob = "j"\ncron = "* * * * *"\n',
            "unknown queue",
        ),
        (
            '[[recurring]]\nname = "x"\nqueue = "sync"\njob = "j"\ncron = "every day"\n',
            "invalid cron",
        ),
        ("this is = not toml [", "not valid TOML"),
    ],
)
def test_bad_config_is_refused(tmp_path: Path, text: str, message: str) -> None:
    config = tmp_path / "justo.toml"
    config.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_settings({"JUSTO_DATA_DIR": str(tmp_path)}, config)


def test_help_for_every_command(tmp_path: Path) -> None:
    env = {**os.environ, "JUSTO_DATA_DIR": str(tmp_path)}
    commands = [
        [],
        ["start"],
        ["stop"],
        ["restart"],
        ["status"],
        ["logs"],
        ["stats"],
        ["health"],
        ["crons"],
        ["setup-recurring"],
        ["queues"],
        ["queues", "pause"],
        ["queues", "resume"],
        ["queues", "retry-failed"],
        ["queues", "clean"],
        ["queues", "drain"],
        ["jobs"],
        ["jobs", "add"],
        ["jobs", "show"],
        ["jobs", "list"],
        ["jobs", "retry"],
        ["jobs", "remove"],
    ]
    for command in commands:
        result = run_cli(env, *command, "--help")
        assert result.returncode == 0 and "Usage" in result.stdout, command


def test_supervisor_refuses_an_outdated_configured_database(
    redis_url: str, prefix: str, tmp_path: Path
) -> None:
    env = cli_env(redis_url, prefix, tmp_path / "data") | {
        "DATABASE_URL": f"sqlite:///{tmp_path / 'app.db'}"
    }
    refused = run_cli(env, "--headless", "--no-demo")
    assert refused.returncode == 2
    assert "run `justo-console db upgrade`" in refused.stdout
    upgraded = run_cli(env, "db", "upgrade")
    assert upgraded.returncode == 0, upgraded.stderr
    current = run_cli(env, "db", "current")
    assert current.returncode == 0


def test_api_refuses_a_short_token_beyond_loopback(
    redis_url: str, prefix: str, tmp_path: Path
) -> None:
    env = cli_env(redis_url, prefix, tmp_path / "data") | {"JUSTO_ADMIN_TOKEN": "short"}
    result = run_cli(env, "--headless", "--no-demo", "--api", "0.0.0.0:18999")
    assert result.returncode == 2 and "token" in result.stderr.lower()


async def test_headless_serves_the_api(redis_url: str, prefix: str, tmp_path: Path) -> None:
    import signal
    import socket

    import httpx

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    token = "k" * 40
    env = cli_env(redis_url, prefix, tmp_path / "data") | {"JUSTO_ADMIN_TOKEN": token}
    proc = start_headless(env, "--api", f"127.0.0.1:{port}")
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:

            async def up() -> bool:
                try:
                    return (await client.get("/healthz")).status_code == 200
                except httpx.TransportError:
                    return False

            await eventually(up, timeout=30, interval=0.1)
            denied = await client.get("/api/admin/workers", params={"action": "stats"})
            assert denied.status_code == 401
            stats = await client.get(
                "/api/admin/workers",
                params={"action": "stats"},
                headers={"Authorization": f"Bearer {token}"},
            )
            assert stats.status_code == 200
            assert {q["name"] for q in stats.json()["queues"]} >= {"sync", "notifications"}
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0


def start_headless(env: dict[str, str], *args: str) -> subprocess.Popen[bytes]:
    """``justo-console --headless --no-demo ARGS`` in the background."""
    return subprocess.Popen(
        [sys.executable, "-m", "justo.cli", "--headless", "--no-demo", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def test_console_refuses_an_outdated_database_before_opening(
    redis_url: str, prefix: str, tmp_path: Path
) -> None:
    env = cli_env(redis_url, prefix, tmp_path / "data") | {
        "DATABASE_URL": f"sqlite:///{tmp_path / 'app.db'}"
    }
    refused = run_cli(env, "--no-demo")
    assert refused.returncode == 2
    assert "run `justo-console db upgrade`" in refused.stdout + refused.stderr
