"""Serving the admin API with uvicorn inside an already running asyncio loop.

``serve_api`` binds the socket itself (so a busy port raises ``OSError`` here instead of
uvicorn's ``sys.exit``), leaves signal handling to the host process (uvicorn's own
handlers would steal the supervisor's SIGTERM), keeps uvicorn's logging configuration
and access log off (an access log would write query strings, tokens included) and does
not trust ``X-Forwarded-For`` (the failed-authentication limit counts the peer address).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Generator

import uvicorn
from starlette.types import ASGIApp

from engine.errors import ConfigError

log = logging.getLogger("justo.api")

DEFAULT_HOST = "127.0.0.1"
"""Where the API listens unless told otherwise: loopback only."""

GRACEFUL_S = 5.0
"""How long open requests may finish when the server stops."""


def parse_listen_address(text: str) -> tuple[str, int]:
    """``HOST:PORT``, ``:PORT``, ``PORT`` or ``[IPv6]:PORT`` → ``(host, port)``; the host
    defaults to ``127.0.0.1``.

    Raises:
        ConfigError: no valid port (1-65535), or an unbracketed IPv6 address.
    """
    value = text.strip()
    host, sep, port = value.rpartition(":")
    if not sep:
        host, port = "", value
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    elif ":" in host:
        raise ConfigError(f"invalid address {text!r}: write IPv6 hosts as [::1]:PORT")
    if not port.isdigit() or not 1 <= int(port) <= 65535:
        raise ConfigError(f"invalid address {text!r}: expected HOST:PORT with a port 1-65535")
    return host or DEFAULT_HOST, int(port)


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port`` (port 0: any free port).

    The socket is created with ``IPPROTO_TCP`` so that asyncio sets ``TCP_NODELAY`` on
    accepted connections (it checks the protocol number; ``socket.create_server`` leaves
    it 0, and Nagle then delays every response body by the client's delayed ACK).

    Raises:
        OSError: the address cannot be bound (in use, unknown host, ...).
    """
    family, kind, proto, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
    )[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(128)
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock


class _EmbeddedServer(uvicorn.Server):
    """A uvicorn server that leaves signals to the process that embeds it."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


def _config(app: ASGIApp) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        log_config=None,
        access_log=False,
        proxy_headers=False,
        server_header=False,
        lifespan="off",
        http="h11",
        ws="none",
        timeout_graceful_shutdown=int(GRACEFUL_S),
        timeout_keep_alive=5,
        limit_concurrency=200,
    )


async def serve_api(
    app: ASGIApp, host: str, port: int, *, stop: asyncio.Event, sock: socket.socket | None = None
) -> None:
    """Serve ``app`` on ``host:port`` until ``stop`` is set (or this task is cancelled).

    Args:
        sock: an already bound listening socket to use instead of binding ``host:port``
            (tests bind port 0 and read the port from it).

    Raises:
        OSError: the address cannot be bound.
    """
    listener = sock or bind_socket(host, port)
    server = _EmbeddedServer(_config(app))
    serving = asyncio.create_task(server.serve(sockets=[listener]), name="admin-api")
    stopping = asyncio.create_task(stop.wait(), name="admin-api-stop")
    address = listener.getsockname()
    log.info("admin API listening on %s:%s", address[0], address[1])
    try:
        await asyncio.wait({serving, stopping}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopping.cancel()
        server.should_exit = True
        try:
            if not serving.done():
                await asyncio.shield(serving)
        finally:
            listener.close()
    serving.result()
