"""Running the admin API over real HTTP in tests: uvicorn on a free loopback port, in the
test's own loop (``running_api``) or in a thread with its own loop (``ThreadedApi``, for
synchronous clients such as schemathesis)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from types import TracebackType
from typing import Any

import httpx
from redis.asyncio import Redis
from starlette.types import ASGIApp

from engine.client import make_client
from engine.runtime.settings import Settings
from justo.api import create_app, serve_api
from justo.api.server import bind_socket

TOKEN = "k9-admin-token-0123456789abcdefXYZ"
"""A valid admin token (34 characters)."""

AUTH = {"Authorization": f"Bearer {TOKEN}"}
"""Headers carrying the right token."""


@asynccontextmanager
async def running_api(app: ASGIApp) -> AsyncIterator[httpx.AsyncClient]:
    """Serve ``app`` on a free 127.0.0.1 port in this loop; yield a client bound to it."""
    sock = bind_socket("127.0.0.1", 0)
    port = sock.getsockname()[1]
    stop = asyncio.Event()
    task = asyncio.create_task(serve_api(app, "127.0.0.1", port, stop=stop, sock=sock))
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            yield client
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)


@asynccontextmanager
async def api_client(
    redis: Redis,
    settings: Settings,
    *,
    token: str | None = TOKEN,
    env: Mapping[str, str] | None = None,
    **options: Any,
) -> AsyncIterator[httpx.AsyncClient]:
    """``create_app`` + ``running_api`` in one step."""
    app = create_app(redis, settings, token=token, env=env or {}, **options)
    async with running_api(app) as client:
        yield client


class ThreadedApi:
    """The API served by uvicorn in a thread with its own loop and Redis client.

    Use as a context manager; ``base_url`` is set once it listens.
    """

    def __init__(self, redis_url: str, settings: Settings, **options: Any) -> None:
        self.redis_url = redis_url
        self.settings = settings
        self.options = options
        self.base_url = ""
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="api-under-test", daemon=True)

    def __enter__(self) -> ThreadedApi:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the API did not start")
        if self._error is not None:
            raise self._error
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(15)

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as exc:  # reported to the test thread
            self._error = exc
            self._ready.set()

    async def _main(self) -> None:
        redis = make_client(self.redis_url)
        try:
            app = create_app(redis, self.settings, token=TOKEN, env={}, **self.options)
            sock = bind_socket("127.0.0.1", 0)
            self.base_url = f"http://127.0.0.1:{sock.getsockname()[1]}"
            self._loop = asyncio.get_running_loop()
            self._stop = asyncio.Event()
            serving = asyncio.create_task(
                serve_api(app, "127.0.0.1", 0, stop=self._stop, sock=sock)
            )
            self._ready.set()
            await serving
        finally:
            await redis.aclose()
