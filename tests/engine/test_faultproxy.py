"""The fault-injection proxy (tests/faultproxy.py) against a real redis-server and redis-py:
each fault does to a command what it promises, and the proxy itself holds up."""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError

from engine.client import make_client
from engine.runtime.embedded import EmbeddedRedis
from tests.faultproxy import Fault, FaultProxy, RespScanner, Upstream, parse_upstream
from tests.support import free_port

SCRIPT = Path(__file__).resolve().parents[1] / "faultproxy.py"


def plain_client(url: str) -> Redis:
    """A client that never retries (redis-py 5's default, spelled out) and sends nothing
    while connecting (no ``CLIENT SETINFO``), so every command the proxy counts is ours."""
    return Redis.from_url(
        url, retry=Retry(NoBackoff(), 0), lib_name=None, lib_version=None, socket_timeout=10
    )


@pytest.fixture
def proxy(redis_server: EmbeddedRedis) -> Iterator[FaultProxy]:
    """A proxy in front of the session's server, stopped after the test."""
    with FaultProxy(redis_server.url) as running:
        yield running


@pytest.fixture
async def client(proxy: FaultProxy) -> AsyncIterator[Redis]:
    """A no-retry client through the proxy."""
    through = plain_client(proxy.url)
    yield through
    await through.aclose()


@pytest.fixture
def key(prefix: str) -> str:
    """A counter key of this test's own."""
    return f"{prefix}:n"


# --- addresses and framing -------------------------------------------------------------------


def test_upstream_forms() -> None:
    assert parse_upstream("unix:///tmp/r/redis.sock") == Upstream(path="/tmp/r/redis.sock")
    assert parse_upstream("unix:/tmp/r.sock?db=0") == Upstream(path="/tmp/r.sock")
    assert parse_upstream("/tmp/r.sock") == Upstream(path="/tmp/r.sock")
    assert parse_upstream("localhost:6380") == Upstream(host="localhost", port=6380)
    assert parse_upstream("[::1]:6380") == Upstream(host="::1", port=6380)
    assert parse_upstream("redis://10.0.0.2/0") == Upstream(host="10.0.0.2", port=6379)
    with pytest.raises(ValueError):
        parse_upstream("localhost")


def feed_bytewise(scanner: RespScanner, stream: bytes) -> list[int]:
    """Message ends found when the stream arrives one byte at a time."""
    return [i + 1 for i in range(len(stream)) if scanner.feed(stream[i : i + 1])]


def test_requests_are_framed_whatever_the_read_boundaries() -> None:
    # A pipeline: a value holding CRLF and "*" bytes, an inline command, a blank line.
    stream = b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$4\r\n\r\n*\n\r\nPING\r\n\r\n*1\r\n$4\r\nPING\r\n"
    first, second, third = stream.index(b"PING"), stream.index(b"\r\n*1"), len(stream)
    assert RespScanner(requests=True).feed(stream) == [first, second, third]
    assert feed_bytewise(RespScanner(requests=True), stream) == [first, second, third]


def test_replies_are_framed_with_nesting_nulls_and_resp3() -> None:
    replies = [
        b"+OK\r\n",
        b"$-1\r\n",
        b"*2\r\n*1\r\n:1\r\n$3\r\nabc\r\n",
        b"*0\r\n",
        b"%1\r\n+k\r\n*2\r\n_\r\n,1.5\r\n",
        b"|1\r\n+ttl\r\n:3\r\n$1\r\nx\r\n",  # an attribute, then the reply it annotates
        b"-ERR no\r\n",
    ]
    push = b">2\r\n+message\r\n+hi\r\n"  # out of band: not a reply
    stream = replies[0] + push + b"".join(replies[1:])
    ends, at = [], 0
    for reply in replies:
        at += len(reply) + (len(push) if reply is replies[0] else 0)
        ends.append(at)
    ends[0] -= len(push)
    assert RespScanner(requests=False).feed(stream) == ends
    assert feed_bytewise(RespScanner(requests=False), stream) == ends


# --- faults ----------------------------------------------------------------------------------


async def test_lost_reply_runs_the_command_but_the_client_sees_a_connection_error(
    proxy: FaultProxy, client: Redis, redis: Redis, key: str
) -> None:
    proxy.drop_next_replies(1)
    with pytest.raises(RedisConnectionError):
        await client.incr(key)
    assert await redis.get(key) == b"1"  # Redis ran it
    assert proxy.stats().replies_dropped == 1
    assert await client.incr(key) == 2  # the next call reconnects and goes through


async def test_a_retrying_client_runs_a_command_twice_when_its_reply_is_lost(
    proxy: FaultProxy, redis: Redis, key: str
) -> None:
    # The engine's own client retries on connection errors (redis-py 5 alone does not, 6
    # does): a lost reply makes it send the INCR again, so Redis runs it twice. This is why
    # every engine script must be safe to replay.
    retrying = make_client(proxy.url)
    try:
        await retrying.ping()  # connected, handshake done: the next command is the INCR
        proxy.drop_next_replies(1)
        assert await retrying.incr(key) == 2
    finally:
        await retrying.aclose()
    assert await redis.get(key) == b"2"
    assert proxy.stats().replies_dropped == 1


async def test_reset_before_send_means_the_command_did_not_run(
    proxy: FaultProxy, client: Redis, redis: Redis, key: str
) -> None:
    proxy.reset_next(1)
    with pytest.raises(RedisConnectionError):
        await client.incr(key)
    assert proxy.stats().resets == 1
    assert await client.incr(key) == 1  # only this one ran
    assert await redis.get(key) == b"1"


async def test_reset_after_send_fails_the_call_and_the_proxy_goes_on(
    proxy: FaultProxy, client: Redis, key: str
) -> None:
    proxy.reset_after_send_next(1)
    with pytest.raises(RedisConnectionError):
        await client.incr(key)
    assert proxy.stats().resets == 1
    # It may or may not have run: only that the count moves on from there is certain.
    assert await client.incr(key) in (1, 2)


async def test_delay_adds_latency_to_replies(proxy: FaultProxy, client: Redis) -> None:
    await client.ping()
    proxy.delay(0.2)
    started = time.monotonic()
    assert await client.ping() is True
    assert time.monotonic() - started >= 0.2
    proxy.delay(0)
    assert await client.ping() is True


async def test_a_pipeline_counts_as_one_command_per_command(
    proxy: FaultProxy, client: Redis, redis: Redis, prefix: str
) -> None:
    a, b, c = f"{prefix}:a", f"{prefix}:b", f"{prefix}:c"
    before = proxy.stats().commands
    pipe = client.pipeline(transaction=False)
    for name in (a, b, c):
        pipe.incr(name)
    assert await pipe.execute() == [1, 1, 1]
    assert proxy.stats().commands == before + 3
    async with client.pipeline(transaction=True) as tx:
        tx.incr(a)
        tx.incr(b)
        assert await tx.execute() == [2, 2]
    assert proxy.stats().commands == before + 3 + 4  # MULTI, two INCRs, EXEC

    # Aim at the second command: the first runs, the second runs and loses its reply, the
    # third is cut off with the connection and never reaches Redis.
    proxy.pass_next(1)
    proxy.drop_next_replies(1)
    pipe = client.pipeline(transaction=False)
    for name in (a, b, c):
        pipe.incr(name)
    with pytest.raises(RedisConnectionError):
        await pipe.execute()
    assert await redis.mget(a, b, c) == [b"3", b"3", b"1"]


async def run_chaos(proxy: FaultProxy, client: Redis, key: str, seed: int) -> list[bool]:
    """Run 150 INCRs under chaos; which of them failed."""
    proxy.chaos(0.2, seed=seed, faults=(Fault.LOST_REPLY, Fault.RESET))
    failed = []
    for _ in range(150):
        try:
            await client.incr(key)
            failed.append(False)
        except RedisConnectionError:
            failed.append(True)
    proxy.chaos(0)
    return failed


async def test_chaos_with_a_seed_is_deterministic(
    proxy: FaultProxy, client: Redis, redis: Redis, prefix: str
) -> None:
    first = await run_chaos(proxy, client, f"{prefix}:1", seed=7)
    after_first = proxy.stats()
    second = await run_chaos(proxy, client, f"{prefix}:2", seed=7)
    after_second = proxy.stats()
    assert first == second
    assert 0 < sum(first) < len(first)
    assert after_first.faults == sum(first)
    assert after_second.faults - after_first.faults == sum(second)
    # What ran: every success and every lost reply, never a reset command.
    succeeded = len(first) - sum(first)
    assert int(await redis.get(f"{prefix}:1")) == succeeded + after_first.replies_dropped
    assert await run_chaos(proxy, client, f"{prefix}:3", seed=8) != first


async def test_pause_holds_replies_until_resume(
    proxy: FaultProxy, client: Redis, redis: Redis, key: str
) -> None:
    await redis.set(key, "v")
    proxy.pause()
    call = asyncio.ensure_future(client.get(key))
    done, _ = await asyncio.wait({call}, timeout=0.3)
    assert not done  # a frozen server: nothing answers
    assert proxy.paused
    proxy.resume()
    assert await call == b"v"


async def test_tcp_upstream(proxy: FaultProxy) -> None:
    with FaultProxy(f"127.0.0.1:{proxy.port}") as front:
        chained = plain_client(front.url)
        try:
            assert await chained.ping() is True
        finally:
            await chained.aclose()
    assert proxy.stats().commands == 1


async def test_many_connections_then_stop_closes_everything(redis_server: EmbeddedRedis) -> None:
    proxy = FaultProxy(redis_server.url).start()
    clients = [plain_client(proxy.url) for _ in range(40)]
    try:
        assert all(await asyncio.gather(*(c.ping() for c in clients)))
        assert proxy.stats().connections == 40
        proxy.stop()
        for c in clients[:3]:
            with pytest.raises(RedisConnectionError):
                await c.ping()
        with (
            pytest.raises(ConnectionRefusedError),
            socket.create_connection(("127.0.0.1", proxy.port), timeout=5),
        ):
            pass
    finally:
        proxy.stop()
        await asyncio.gather(*(c.aclose() for c in clients))


async def test_the_command_line_proxy_pauses_on_sigusr1_and_reports_on_sigterm(
    redis_server: EmbeddedRedis,
) -> None:
    port = free_port()
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(SCRIPT),
        "--upstream",
        redis_server.url,
        "--listen-port",
        str(port),
        "--seed",
        "1",
        stdout=asyncio.subprocess.PIPE,
    )
    assert process.stdout is not None
    try:

        async def line() -> str:
            assert process.stdout is not None
            return (await asyncio.wait_for(process.stdout.readline(), 10)).decode().strip()

        url = await line()
        assert url == f"redis://127.0.0.1:{port}/0"
        through = plain_client(url)
        try:
            assert await through.ping() is True
            process.send_signal(signal.SIGUSR1)
            assert await line() == "paused"
            call = asyncio.ensure_future(through.ping())
            done, _ = await asyncio.wait({call}, timeout=0.3)
            assert not done
            process.send_signal(signal.SIGUSR1)
            assert await line() == "resumed"
            assert await call is True
        finally:
            await through.aclose()
        process.send_signal(signal.SIGTERM)
        stats = json.loads(await line())
        assert (stats["commands"], stats["faults"]) == (2, 0)
        assert await asyncio.wait_for(process.wait(), 10) == 0
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


def test_bad_arguments_are_refused() -> None:
    proxy = FaultProxy("unix:/nowhere")
    with pytest.raises(ValueError):
        proxy.drop_next_replies(-1)
    with pytest.raises(ValueError):
        proxy.chaos(1.5)
    with pytest.raises(RuntimeError):
        _ = proxy.url  # not started
    assert proxy.stats().faults == 0
