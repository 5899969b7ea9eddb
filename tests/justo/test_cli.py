"""The CLI as an operator uses it: daemon control, logs, bad input, queue and job commands."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from redis.asyncio import Redis

from engine import JobSpec, Queue
from engine.errors import ConfigError
from engine.logs import redact
from justo import catalog
from justo.catalog import load as load_settings
from justo.db.migrate import head_revision
from tests.conftest import eventually
from tests.justo.supervisor_helpers import ROOT, cli_env, run_cli, write_config
from tests.support import free_port

HEAD = head_revision()
"""The database revision the code needs."""

CATALOG_QUEUES = tuple(q.name for q in catalog.QUEUES)
"""The application's queues, in their configured order (the test config adds ``ops``)."""

CONFIGURED = ", ".join([*CATALOG_QUEUES, "ops"])
"""How the CLI lists the configured queues."""

TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} ")


def log_lines(text: str) -> list[str]:
    """Log lines without their timestamps (each line must start with one)."""
    lines = text.splitlines()
    assert all(TIMESTAMP.match(line) for line in lines), lines
    return [TIMESTAMP.sub("", line, count=1) for line in lines]


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
        assert (again.returncode, again.stdout, again.stderr) == (
            1,
            "",
            f"error: already running (pid {pid}); use 'justo-console restart'\n",
        )

        added = run_cli(env, *base, "jobs", "add", "ops", "sleepy", "--data", '{"s": 0.01}')
        assert added.returncode == 0, added.stderr
        job_id = added.stdout.strip()

        async def ran() -> bool:
            return await redis.hget(f"{prefix}:exec", job_id) == b"1"

        await eventually(ran, timeout=20)
        shown = run_cli(env, *base, "jobs", "show", job_id, "--queue", "ops", "--json")
        assert json.loads(shown.stdout)["state"] == "completed"

        status = run_cli(env, *base, "status")
        assert status.returncode == 0
        daemon, _, supervisor, *table = status.stdout.splitlines()
        assert daemon == f"daemon: running (pid {pid})"
        assert re.match(rf"supervisor [^:]+:{pid}:\w+  host \S+  pid {pid}  up ", supervisor)
        rows = {
            cells[0]: cells[1:]
            for cells in ([c.strip() for c in line.split("│")[1:-1]] for line in table)
            if len(cells) == 5
        }
        assert list(rows) == [*CATALOG_QUEUES, "ops"]
        # ops: 4 workers, no failure (the other counts follow the supervisor's heartbeat).
        assert (rows["ops"][0], rows["ops"][3]) == ("4", "0")

        # A job that went well logs nothing: the queue's log exists and is empty.
        logs = run_cli(env, *base, "logs", "ops", "-n", "100")
        assert (logs.returncode, logs.stdout, logs.stderr) == (0, "", "")
        assert (data / "logs" / "workers" / "ops.log").read_text() == ""
        # The supervisor's start-up, as its log file has it.
        logs = run_cli(env, *base, "logs")
        assert (logs.returncode, logs.stderr) == (0, "")
        assert logs.stdout == (data / "logs" / "workers" / "supervisor.log").read_text()
        lines = log_lines(logs.stdout)
        assert lines[:3] == [
            f"INFO    justo: Redis: {redis_url}",
            "WARNING engine.runtime.connection: Redis has no append-only file: a Redis crash "
            "loses recent jobs (set appendonly yes)",
            "INFO    justo: loaded handlers: gated, leaky, sleepy, tick",
        ]
        assert re.fullmatch(
            rf"INFO    justo\.supervisor: supervisor [^:]+:{pid}:\w+ running: .*, ops×4", lines[3]
        ), lines[3]
        assert len(lines) == 4
    finally:
        stopped = run_cli(env, *base, "stop")
    assert (stopped.returncode, stopped.stdout) == (0, f"supervisor stopped (pid {pid})\n")
    assert not pid_file.exists()
    status = run_cli(env, *base, "status")
    assert status.stdout == (
        "daemon: not running\nno live supervisor (no heartbeat in the last 15 s)\n"
    )


async def test_stale_pid_file_is_detected_and_cleaned(
    redis_url: str, prefix: str, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    env = cli_env(redis_url, prefix, data)
    pid_file = data / "pids" / "supervisor.pid"
    pid_file.parent.mkdir(parents=True)
    pid_file.write_text("999999\n")
    result = run_cli(env, "stop")
    assert (result.stdout, result.stderr) == (
        "supervisor is not running\n",
        f"removed stale pid file {pid_file} (process 999999 is gone)\n",
    )
    assert not pid_file.exists()


async def test_worker_log_files_redact_secrets(
    redis: Redis, redis_url: str, prefix: str, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    env = cli_env(redis_url, prefix, data) | {"JUDIT_API_KEY": "canary-judit-key-123"}
    config = str(write_config(tmp_path / "justo.toml"))
    base = ["--config", config, "--import", "tests.justo.operator_jobs"]
    log_file = data / "logs" / "workers" / "ops.log"
    assert run_cli(env, *base, "start").returncode == 0
    try:
        queue = Queue(redis, "ops", prefix=prefix)
        a = await queue.add("nope", {"authorization": "Bearer canary-token-abcdef"})
        b = await queue.add("nope", "canary-judit-key-123 in data")
        # Fails with the payload's password and the API key in its error message.
        c = await queue.add("leaky", {"password": "canary-password-789"}, attempts=1)

        async def logged() -> bool:  # every job failed for good
            return log_file.exists() and log_file.read_text().count("failed after") == 3

        await eventually(logged, timeout=20)
        printed = run_cli(env, *base, "logs", "ops", "-n", "100")
        last = run_cli(env, *base, "logs", "ops", "-n", "1")
        text = log_file.read_text()
    finally:
        run_cli(env, *base, "stop")
    assert (printed.returncode, printed.stdout, printed.stderr) == (0, text, "")
    assert (last.returncode, last.stdout) == (0, text.splitlines(keepends=True)[-1])
    unknown = "UnknownJobTypeError: unknown job type 'nope' on queue 'ops'"
    expected = [
        f"ERROR   justo.queue.ops: job {c.id} (leaky) failed after 1 attempt(s): "
        "ValueError: login failed: password=*** key=***"
    ]
    for job in (a, b):  # the two run at once: their lines interleave
        expected += [
            f"WARNING justo.queue.ops: job {job.id} (nope) attempt {n}/3 failed: {unknown}; "
            "retrying in 200 ms"
            for n in (1, 2)
        ]
        expected.append(
            f"ERROR   justo.queue.ops: job {job.id} (nope) failed after 3 attempt(s): {unknown}"
        )
    assert sorted(log_lines(printed.stdout)) == sorted(expected)
    assert "canary" not in text + (data / "logs" / "workers" / "supervisor.log").read_text()


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
        (
            ["jobs", "add", "ops", "x", "--data", "{bad json"],
            "--data is not valid JSON: Expecting property name enclosed in double quotes: "
            "line 1 column 2 (char 1)",
        ),
        (["jobs", "add", "nope", "x"], f"unknown queue 'nope' (configured: {CONFIGURED})"),
        (["queues", "pause", "nope"], f"unknown queue 'nope' (configured: {CONFIGURED})"),
        (["queues", "pause"], "give one QUEUE or --all"),
        (
            ["queues", "clean", "ops", "--state", "waiting"],
            "--state must be completed or failed, not 'waiting'",
        ),
        (
            ["queues", "clean", "ops", "--state", "failed", "--older-than", "soon"],
            "invalid duration 'soon' (use e.g. 30s, 15m, 1h, 7d)",
        ),
        (
            ["jobs", "list", "ops", "--state", "lost"],
            "--state must be one of waiting, delayed, active, completed, failed",
        ),
        (["logs", "nobody"], f"unknown worker 'nobody' (known: supervisor, {CONFIGURED})"),
    ],
)
async def test_bad_input_exits_2_and_writes_nothing(
    redis: Redis, redis_url: str, prefix: str, tmp_path: Path, args: list[str], message: str
) -> None:
    env = cli_env(redis_url, prefix, tmp_path / "data")
    config = str(write_config(tmp_path / "justo.toml"))
    result = run_cli(env, "--config", config, *args)
    assert (result.returncode, result.stdout, result.stderr) == (2, "", f"error: {message}\n")
    assert await keys_under(redis, prefix) == []


async def test_drain_refused_in_production_without_force(
    redis: Redis, redis_url: str, prefix: str, tmp_path: Path
) -> None:
    env = cli_env(redis_url, prefix, tmp_path / "data") | {"NODE_ENV": "production"}
    config = str(write_config(tmp_path / "justo.toml"))
    queue = Queue(redis, "ops", prefix=prefix)
    await queue.add_bulk([JobSpec("x", i) for i in range(3)])
    refused = run_cli(env, "--config", config, "queues", "drain", "ops")
    assert (refused.returncode, refused.stderr) == (
        2,
        "error: refusing to drain in production without --force\n",
    )
    assert (await queue.counts()).waiting == 3
    forced = run_cli(env, "--config", config, "queues", "drain", "ops", "--force")
    assert (forced.returncode, forced.stdout) == (0, "ops: 3 waiting/delayed job(s) deleted\n")
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
    assert [q["name"] for q in stats["queues"]] == [*CATALOG_QUEUES, "ops"]
    assert stats["redis"]["policy"] == "noeviction"
    health = run_cli(env, *base, "health", "--json")
    assert health.returncode == 1
    assert json.loads(health.stdout) == {
        "status": "degraded",
        "code": 1,
        "reasons": ["no live supervisor (no heartbeat in the last 15 s)"],
    }


def test_health_reports_down_when_redis_is_unreachable(prefix: str, tmp_path: Path) -> None:
    env = cli_env("redis://127.0.0.1:1/0", prefix, tmp_path / "data")
    result = run_cli(env, "health", "--json")
    assert (result.returncode, result.stderr) == (2, "error: Redis unavailable: ConnectionError\n")
    assert json.loads(result.stdout) == {
        "status": "down",
        "code": 2,
        "reasons": ["redis unreachable"],
    }


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
    assert [j.name for j in settings.recurring] == [*(j.name for j in catalog.RECURRING), "nightly"]
    assert settings.timezone == "UTC"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[queues.sync]\nconcurency = 3\n", "[queues.sync]: unknown key(s) concurency"),
        ("[queues.sync]\nconcurrency = 0\n", "queue 'sync': concurrency must be at least 1"),
        ('timezone = "Mars/Olympus"\n', "unknown time zone 'Mars/Olympus'"),
        (
            '[[recurring]]\nname = "x"\nqueue = "nope"\njob = "j"\ncron = "* * * * *"\n',
            "recurring job 'x' names unknown queue 'nope'",
        ),
        (
            '[[recurring]]\nname = "x"\nqueue = "sync"\njob = "j"\ncron = "every day"\n',
            "recurring job 'x': invalid cron 'every day'",
        ),
        (
            "this is = not toml [",
            "config file {path} is not valid TOML: Expected '=' after a key in a key/value "
            "pair (at line 1, column 6)",
        ),
    ],
)
def test_bad_config_is_refused(tmp_path: Path, text: str, message: str) -> None:
    config = tmp_path / "justo.toml"
    config.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_settings({"JUSTO_DATA_DIR": str(tmp_path)}, config)
    assert str(caught.value) == message.format(path=config)


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
    assert (refused.returncode, refused.stderr) == (2, "")
    assert log_lines(refused.stdout)[-1] == (
        f"ERROR   justo: database schema is at (none), code needs {HEAD}: "
        "run `justo-console db upgrade`"
    )
    url = f"sqlite:///{tmp_path / 'app.db'}"
    behind = run_cli(env, "db", "current")
    assert (behind.returncode, behind.stdout, behind.stderr) == (
        1,
        f"database: {url}\ncurrent:  (none)\nhead:     {HEAD}\n",
        f"error: database schema is at (none), code needs {HEAD}: run `justo-console db upgrade`\n",
    )
    upgraded = run_cli(env, "db", "upgrade")
    assert (upgraded.returncode, upgraded.stdout) == (
        0,
        f"{url}: upgraded from (none) to {HEAD}\n",
    ), upgraded.stderr
    current = run_cli(env, "db", "current")
    assert (current.returncode, current.stdout, current.stderr) == (
        0,
        f"database: {url}\ncurrent:  {HEAD}\nhead:     {HEAD}\n",
        "",
    )


def test_api_refuses_a_short_token_beyond_loopback(
    redis_url: str, prefix: str, tmp_path: Path
) -> None:
    env = cli_env(redis_url, prefix, tmp_path / "data") | {"JUSTO_ADMIN_TOKEN": "short"}
    result = run_cli(env, "--headless", "--no-demo", "--api", "0.0.0.0:18999")
    assert (result.returncode, result.stderr) == (
        2,
        "error: the admin API listens on 0.0.0.0, beyond loopback: the admin token must be "
        "at least 32 characters\n",
    )


async def test_headless_serves_the_api(redis_url: str, prefix: str, tmp_path: Path) -> None:
    import signal

    import httpx

    port = free_port()
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
            assert [q["name"] for q in stats.json()["queues"]] == list(CATALOG_QUEUES)
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
    assert (refused.returncode, refused.stdout, refused.stderr) == (
        2,
        f"error: database schema is at (none), code needs {HEAD}: run `justo-console db upgrade`\n",
        "",
    )
