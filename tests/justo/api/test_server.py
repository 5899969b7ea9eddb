"""``serve_api`` inside a running loop, ``parse_listen_address`` and ``bind_socket``."""

from __future__ import annotations

import asyncio
import signal
import socket
import time

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from engine.errors import ConfigError
from justo.api.server import bind_socket, parse_listen_address, serve_api
from tests.support import free_port


async def _hello(request: Request) -> PlainTextResponse:
    return PlainTextResponse("hello")


APP = Starlette(routes=[Route("/", _hello)])


@pytest.mark.parametrize(
    "text,expected",
    [
        ("127.0.0.1:8080", ("127.0.0.1", 8080)),
        ("0.0.0.0:9000", ("0.0.0.0", 9000)),
        (":8080", ("127.0.0.1", 8080)),
        ("8080", ("127.0.0.1", 8080)),
        ("localhost:1", ("localhost", 1)),
        ("[::1]:8443", ("::1", 8443)),
        ("[::]:65535", ("::", 65535)),
        (" api.internal:80 ", ("api.internal", 80)),
    ],
)
def test_parse_listen_address(text: str, expected: tuple[str, int]) -> None:
    assert parse_listen_address(text) == expected


@pytest.mark.parametrize(
    "text", ["", "host", "host:", "host:0", "host:65536", "host:http", "::1:8080", "1.2.3.4:-1"]
)
def test_parse_listen_address_refuses(text: str) -> None:
    with pytest.raises(ConfigError):
        parse_listen_address(text)


async def _first_answer(
    client: httpx.AsyncClient, url: str, timeout: float = 30.0
) -> httpx.Response:
    """GET ``url`` until the server listens; the timeout only guards against a hang."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return await client.get(url)
        except httpx.ConnectError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.02)


async def test_serves_until_stop_and_leaves_signals_alone() -> None:
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    port = free_port()
    stop = asyncio.Event()
    task = asyncio.create_task(serve_api(APP, "127.0.0.1", port, stop=stop))
    async with httpx.AsyncClient() as client:
        response = await _first_answer(client, f"http://127.0.0.1:{port}/")
        assert (response.status_code, response.text) == (200, "hello")
        assert "server" not in response.headers
        assert {sig: signal.getsignal(sig) for sig in handlers} == handlers
    stop.set()
    await asyncio.wait_for(task, 30)
    with pytest.raises(httpx.ConnectError):
        async with httpx.AsyncClient() as client:
            await client.get(f"http://127.0.0.1:{port}/")


async def test_busy_port_raises_oserror() -> None:
    sock = bind_socket("127.0.0.1", 0)
    try:
        with pytest.raises(OSError):
            await serve_api(APP, "127.0.0.1", sock.getsockname()[1], stop=asyncio.Event())
    finally:
        sock.close()


async def test_cancelling_stops_the_server() -> None:
    sock = bind_socket("127.0.0.1", 0)
    port = sock.getsockname()[1]
    task = asyncio.create_task(serve_api(APP, "127.0.0.1", port, stop=asyncio.Event(), sock=sock))
    async with httpx.AsyncClient() as client:
        assert (await client.get(f"http://127.0.0.1:{port}/")).status_code == 200
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, 30)
    assert sock.fileno() == -1


def test_bind_socket_sets_tcp_protocol_for_nodelay() -> None:
    sock = bind_socket("127.0.0.1", 0)
    try:
        assert sock.proto == socket.IPPROTO_TCP
    finally:
        sock.close()
