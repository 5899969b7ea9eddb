"""No secret escapes: jobs fail with secrets in their payloads and errors, Redis has a
password in its URL, and every log file, log-stream entry, API answer, CLI output and
console screen is searched for the canary strings."""

from __future__ import annotations

import asyncio
import html
import json
import re
import signal
from pathlib import Path

import httpx

from console.app import JustoConsole
from console.screens.job_detail import JobDetailScreen
from console.source import RedisSource
from engine import JobSpec, Queue
from engine.client import make_client
from justo.catalog import load as load_settings
from tests.conftest import RedisFactory, eventually
from tests.justo.supervisor_helpers import cli_env, run_cli, start_supervisor, write_config
from tests.support import free_port

REDIS_PASSWORD = "canary-redis-pass-7f3a"
ADMIN_TOKEN = "canary-admin-token-" + "x" * 24
JUDIT_KEY = "canary-judit-key-91bd"
PAYLOAD_PASSWORD = "canary-payload-pw-44e1"
PAYLOAD_KEY = "canary-payload-apikey-0c2d"
BEARER = "canary-bearer-5a6b7c8d"
CANARIES = (REDIS_PASSWORD, ADMIN_TOKEN, JUDIT_KEY, PAYLOAD_PASSWORD, PAYLOAD_KEY, BEARER)


async def test_no_canary_escapes(private_redis: RedisFactory, prefix: str, tmp_path: Path) -> None:
    server = private_redis(appendonly=False, password=REDIS_PASSWORD)
    url = f"unix://:{REDIS_PASSWORD}@{server.socket_path}"
    data = tmp_path / "data"
    env = cli_env(url, prefix, data) | {
        "JUSTO_ADMIN_TOKEN": ADMIN_TOKEN,
        "JUDIT_API_KEY": JUDIT_KEY,
    }
    config = write_config(tmp_path / "justo.toml")
    port = free_port()
    output = tmp_path / "supervisor.out"
    redis = make_client(url)
    queue = Queue(redis, "ops", prefix=prefix)
    payload = {
        "password": PAYLOAD_PASSWORD,
        "api_key": PAYLOAD_KEY,
        "authorization": f"Bearer {BEARER}",
        "note": f"token={BEARER}",
    }
    await queue.add_bulk([JobSpec("leaky", payload, attempts=2) for _ in range(3)])
    proc = start_supervisor(env, config, output, "--api", f"127.0.0.1:{port}")
    seen: list[str] = []
    try:

        async def all_failed() -> bool:
            return (await queue.counts()).failed == 3

        await eventually(all_failed, timeout=40)
        seen += await _api_answers(port)
        stream = await redis.xrange(f"{prefix}:logs")
        seen += [json.dumps({k.decode(): v.decode() for k, v in f.items()}) for _, f in stream]
        failed = await queue.jobs("failed", 0, 0)
        seen += _cli_answers(env, str(config), failed[0].id)
        seen.append(await _console_screen(url, env, config, failed[0].id))
    finally:
        proc.send_signal(signal.SIGTERM)
        await asyncio.to_thread(proc.wait, 30)
        await redis.aclose()
        server.stop()
    seen.append(output.read_text())
    seen += [p.read_text() for p in (data / "logs").rglob("*.log")]
    assert len(seen) > 8 and any("login failed" in text for text in seen)
    leaks = [(canary, text[:200]) for text in seen for canary in CANARIES if canary in text]
    assert leaks == [], "\n".join(f"{c}: {t!r}" for c, t in leaks)


async def _api_answers(port: int) -> list[str]:
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    answers = []
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:

        async def up() -> bool:
            try:
                return (await client.get("/healthz")).status_code == 200
            except httpx.TransportError:
                return False

        await eventually(up, timeout=30, interval=0.1)
        for action in ("stats", "health-check", "detailed-stats"):
            answer = await client.get(
                "/api/admin/workers", params={"action": action}, headers=headers
            )
            answers.append(answer.text)
        answers.append((await client.get("/metrics", headers=headers)).text)
        bad = await client.get(
            "/api/admin/workers",
            params={"action": "stats"},
            headers={"Authorization": f"Bearer {BEARER}"},
        )
        answers.append(bad.text + json.dumps(dict(bad.headers)))
    assert "login failed" in answers[2]
    return answers


def _cli_answers(env: dict[str, str], config: str, job_id: str) -> list[str]:
    results = [
        run_cli(env, "--config", config, "jobs", "show", job_id, "--queue", "ops"),
        run_cli(env, "--config", config, "jobs", "show", job_id, "--queue", "ops", "--json"),
        run_cli(env, "--config", config, "jobs", "list", "ops", "--state", "failed"),
        run_cli(env, "--config", config, "stats", "--json"),
    ]
    assert all(r.returncode == 0 for r in results), [r.stderr for r in results]
    return [r.stdout + r.stderr for r in results]


async def _console_screen(url: str, env: dict[str, str], config: Path, job_id: str) -> str:
    settings = load_settings(env, config)
    client = make_client(url)
    app = JustoConsole(RedisSource(client, settings), refresh_s=None)
    try:
        async with app.run_test(size=(160, 60)) as pilot:
            await app.push_screen(JobDetailScreen("ops", job_id))
            await app.workers.wait_for_complete()
            await pilot.pause()
            svg = app.export_screenshot()
            screen = html.unescape(re.sub(r"<[^>]+>", "", svg)).replace("\xa0", " ")
    finally:
        await client.aclose()
    assert "login failed" in screen
    return screen
