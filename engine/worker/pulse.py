"""A thread with its own event loop and its own Redis connection.

The loops that must keep time run here: lease renewal, the supervisor's heartbeat and the
event-loop watchdog. A handler that blocks the workers' event loop (``time.sleep`` in an
``async def``, a CPU-bound parse) then delays other jobs, but cannot make the leases it
holds lapse: without this, another supervisor's reaper took such a job back and ran it
again while the first run was still inside its handler.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Awaitable, Callable
from typing import Any

from redis.asyncio import ConnectionPool, Redis

from engine.loops import supervised

STOP_TIMEOUT_S = 5.0
"""Longest a stop waits for the pulse's loops to end."""


def clone_client(redis: Redis) -> Redis:
    """A new client with ``redis``'s settings (URL, password, timeouts, retries) and a
    pool of its own: an asyncio client belongs to one event loop."""
    pool = redis.connection_pool
    own = ConnectionPool(connection_class=pool.connection_class, **pool.connection_kwargs)
    return Redis(connection_pool=own)


class Pulse:
    """Runs supervised loops on a daemon thread with its own loop and Redis client.

    Args:
        redis: the client whose settings the pulse's own client copies.
        name: the thread's name.
    """

    def __init__(self, redis: Redis, name: str = "pulse") -> None:
        self.redis = clone_client(redis)
        """The pulse's own client: use it only from loops spawned here."""
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name=name, daemon=True)
        self._futures: list[concurrent.futures.Future[None]] = []

    def start(self) -> None:
        """Start the thread."""
        self._thread.start()

    def spawn(
        self, name: str, body: Callable[[], Awaitable[None]]
    ) -> concurrent.futures.Future[None]:
        """Run ``body`` on the pulse, supervised (restarted with backoff if it crashes).
        Cancel the returned future to end it."""
        future = asyncio.run_coroutine_threadsafe(supervised(name, body), self._loop)
        self._futures.append(future)
        return future

    async def aclose(self) -> None:
        """End every loop, close the client and the thread (from the caller's loop)."""
        if not self._thread.is_alive():
            return
        done = asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop)
        try:
            await asyncio.wait_for(asyncio.wrap_future(done), STOP_TIMEOUT_S)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            await asyncio.to_thread(self._thread.join, STOP_TIMEOUT_S)
            if not self._thread.is_alive():
                self._loop.close()

    async def _shutdown(self) -> None:
        for future in self._futures:
            future.cancel()
        tasks: Any = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        await asyncio.gather(*tasks, return_exceptions=True)
        await self.redis.aclose(close_connection_pool=True)  # its pool was given, not owned
