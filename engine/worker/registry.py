"""Handlers by job name."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Iterator
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from engine.worker.context import JobContext

Handler = Callable[["JobContext"], Awaitable[Any]] | Callable[["JobContext"], Any]
"""A job handler: ``async def`` or a plain function taking the job's context."""

H = TypeVar("H", bound=Callable[..., Any])


class Registry:
    """Maps job names to handlers.

    Async handlers run on the worker's event loop; plain functions run in a thread so
    they never stall lease renewal.
    """

    def __init__(self) -> None:
        self._handlers: dict[str, Handler] = {}
        self._async: dict[str, bool] = {}

    def register(self, name: str) -> Callable[[H], H]:
        """Decorator: register the function as the handler of job ``name``."""

        def decorate(fn: H) -> H:
            self.add(name, fn)
            return fn

        return decorate

    def add(self, name: str, fn: Handler) -> None:
        """Register ``fn`` for job ``name``, replacing any earlier handler."""
        if not callable(fn):
            raise TypeError(f"handler for {name!r} is not callable")
        self._handlers[name] = fn
        # Decided once here rather than inspected again for every job.
        # An object whose __call__ is async counts as async too.
        call = getattr(fn, "__call__", None)  # noqa: B004
        self._async[name] = inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(call)

    def get(self, name: str) -> Handler | None:
        """The handler of job ``name``, or ``None``."""
        return self._handlers.get(name)

    def is_async(self, name: str) -> bool:
        """Whether the handler of ``name`` is a coroutine function (or an object whose
        ``__call__`` is one)."""
        return self._async.get(name, False)

    def names(self) -> list[str]:
        """Registered job names, sorted."""
        return sorted(self._handlers)

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._handlers)
