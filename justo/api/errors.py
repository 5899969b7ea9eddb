"""HTTP errors of the admin API: each maps to a status and a JSON ``{"error": "..."}``."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

from redis.exceptions import OutOfMemoryError

from engine.client import REDIS_DOWN

T = TypeVar("T")

REDIS_TIMEOUT_S = 1.0
"""Longest wait for one Redis call before the API answers 503."""


class ApiError(Exception):
    """An error answer: ``status`` and a short message safe to show the client."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class BadRequestError(ApiError):
    """400: the request cannot be parsed (malformed JSON, bad encoding)."""

    def __init__(self, message: str) -> None:
        super().__init__(400, message)


class ConflictError(ApiError):
    """409: refused in the current state (e.g. draining in production without force)."""

    def __init__(self, message: str) -> None:
        super().__init__(409, message)


class TooLargeError(ApiError):
    """413: the request body or the job data is over the limit."""

    def __init__(self, message: str) -> None:
        super().__init__(413, message)


class UnsupportedMediaTypeError(ApiError):
    """415: the body is not JSON."""

    def __init__(self, message: str = "the body must be application/json") -> None:
        super().__init__(415, message)


class UnprocessableError(ApiError):
    """422: well-formed but invalid (unknown action or type, missing or bad field)."""

    def __init__(self, message: str) -> None:
        super().__init__(422, message)


class RedisDownError(ApiError):
    """503: Redis did not answer in time, or cannot take writes now."""

    def __init__(self, message: str = "redis unavailable") -> None:
        super().__init__(503, message)


async def timed(call: Awaitable[T], seconds: float = REDIS_TIMEOUT_S) -> T:
    """Await a Redis operation for at most ``seconds``.

    Raises:
        RedisDownError: it timed out, the connection failed, or Redis is out of memory,
            loading or read-only.
    """
    try:
        async with asyncio.timeout(seconds):
            return await call
    except OutOfMemoryError as exc:
        raise RedisDownError("redis out of memory") from exc
    except TimeoutError as exc:
        raise RedisDownError(f"redis did not answer within {seconds:g} s") from exc
    except REDIS_DOWN as exc:
        raise RedisDownError() from exc
