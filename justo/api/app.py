"""The admin API: the original's ``/api/admin/workers`` plus ``/metrics`` and ``/healthz``.

Routes (every one but ``/healthz`` needs ``Authorization: Bearer <token>``, see
``justo.api.auth``):

* ``GET /api/admin/workers?action=stats|health-check|detailed-stats`` (default ``stats``)
* ``POST /api/admin/workers`` with ``{"action": ...}`` or ``{"type": ..., "data": ...}``
  (see ``justo.api.commands``)
* ``DELETE /api/admin/workers[?force=true]``: drain every queue (production needs force)
* ``GET /metrics``: Prometheus text; ``GET /healthz``: ``ok``/``unavailable``
* ``GET /openapi.json``: the OpenAPI document

Errors are JSON ``{"error": "..."}``: 400 malformed JSON, 413 body or job data over the
limit, 415 not JSON, 422 invalid, 409 refused, 503 Redis unavailable (every Redis call is
bounded by a 1 s timeout). Everything is validated before the first write, so an error
answer means nothing was written. Job data, errors and event text in answers are redacted.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import time
import traceback
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import asdict
from typing import Any

from redis.asyncio import Redis
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from engine.job import JobState
from engine.logs import redact, secret_values
from engine.queue.queue import Queue
from engine.redaction import redact_job, redact_payload
from engine.runtime.scheduler import CronScheduler, read_schedules
from engine.runtime.settings import Settings
from engine.runtime.stats import DOWN, EngineSnapshot, assess, collect
from engine.scripts import Scripts
from justo.api.auth import AuthMiddleware, FailureLimiter, TokenCheck
from justo.api.commands import ControlCommand, JobCommand, parse_command
from justo.api.errors import (
    ApiError,
    BadRequestError,
    ConflictError,
    RedisDownError,
    TooLargeError,
    UnprocessableError,
    UnsupportedMediaTypeError,
    timed,
)
from justo.api.metrics import CONTENT_TYPE, read_scrape, render
from justo.api.openapi import GET_ACTIONS, openapi_document

log = logging.getLogger("justo.api")

BODY_MARGIN = 64 * 1024
"""Room for the envelope around job data in a request body."""

BULK_TIMEOUT_S = 30.0
"""Budget of drain and retry-failed, which loop over batches (after a 1 s ping)."""

DISCARD_LIMIT = 32 * 1024 * 1024
"""Largest refused body that is still read (and thrown away) so the client gets its 413."""

DISCARD_TIMEOUT_S = 2.0
"""Longest time spent reading a refused body."""

EVENTS_PER_QUEUE = 20
"""Newest events per queue in detailed-stats."""

FAILED_PER_QUEUE = 5
"""Newest failed jobs per queue in detailed-stats."""

Endpoint = Callable[[Request], Awaitable[Response]]


class AdminApi:
    """The endpoints, over one Redis client and the resolved settings.

    Args:
        redis: the client (``decode_responses`` off).
        settings: queues, prefix, recurring jobs, environment.
        secrets: literal values to redact from every text answer.
    """

    def __init__(self, redis: Redis, settings: Settings, secrets: Sequence[str]) -> None:
        self.redis = redis
        self._r: Any = redis  # redis-py types async commands as unions mypy can't await
        self.settings = settings
        self.secrets = tuple(secrets)
        scripts = Scripts(redis)
        self.queues = {
            c.name: Queue(redis, c.name, prefix=settings.prefix, options=c.options, scripts=scripts)
            for c in settings.queues
        }
        self.max_body = (
            max((c.options.max_payload for c in settings.queues), default=0) + BODY_MARGIN
        )
        self.document = openapi_document(list(self.queues))

    # ----------------------------------------------------------------- open

    async def healthz(self, request: Request) -> Response:
        """``ok`` when Redis answers a PING within 1 s, else 503 ``unavailable``."""
        only_params(request)
        try:
            await timed(self._r.ping())
        except RedisDownError:
            return PlainTextResponse("unavailable", status_code=503)
        return PlainTextResponse("ok")

    async def openapi(self, request: Request) -> Response:
        """The OpenAPI document."""
        only_params(request)
        return JSONResponse(self.document)

    # ---------------------------------------------------------------- reads

    async def metrics(self, request: Request) -> Response:
        """Prometheus text from one snapshot read."""
        only_params(request)
        scrape = await timed(read_scrape(self.redis, list(self.queues.values()), time.time()))
        return Response(render(scrape), media_type=CONTENT_TYPE)

    async def _snapshot(self) -> EngineSnapshot:
        return await timed(collect(self.redis, list(self.queues.values())))

    async def workers(self, request: Request) -> Response:
        """``/api/admin/workers``: GET, POST or DELETE (one route, so 405 lists them all)."""
        if request.method == "POST":
            return await self.workers_post(request)
        if request.method == "DELETE":
            return await self.workers_delete(request)
        return await self.workers_get(request)

    async def workers_get(self, request: Request) -> Response:
        """``stats``, ``health-check`` or ``detailed-stats``."""
        action = only_params(request, "action").get("action", "stats")
        if action not in GET_ACTIONS:
            raise UnprocessableError(f"unknown action {action!r} (known: {', '.join(GET_ACTIONS)})")
        if action == "health-check":
            return await self._health()
        snapshot = await self._snapshot()
        if action == "stats":
            return JSONResponse(snapshot.to_json())
        return JSONResponse(await self._detailed(snapshot))

    async def _health(self) -> Response:
        try:
            health = assess(await self._snapshot())
        except RedisDownError:
            health = DOWN
        return JSONResponse(health.to_json(), status_code=200 if health.code == 0 else 503)

    async def _detailed(self, snapshot: EngineSnapshot) -> dict[str, Any]:
        queues = list(self.queues.values())
        crons, events, failed = await timed(
            asyncio.gather(
                read_schedules(self.redis, self.settings.prefix),
                asyncio.gather(*(q.events(EVENTS_PER_QUEUE) for q in queues)),
                asyncio.gather(*(q.jobs(JobState.FAILED, 0, FAILED_PER_QUEUE - 1) for q in queues)),
            )
        )
        return snapshot.to_json() | {
            "health": assess(snapshot).to_json(),
            "crons": [asdict(c) for c in crons],
            "events": {
                q.name: redact_payload(e, self.secrets) for q, e in zip(queues, events, strict=True)
            },
            "failed_jobs": {
                q.name: [redact_job(j, self.secrets) for j in jobs]
                for q, jobs in zip(queues, failed, strict=True)
            },
        }

    # --------------------------------------------------------------- writes

    async def workers_post(self, request: Request) -> Response:
        """A control action or a job, validated completely before anything is written."""
        only_params(request)
        _check_json_type(request)
        body = parse_json(await read_body(request, self.max_body))
        command = parse_command(body, self.settings)
        if isinstance(command, JobCommand):
            return await self._enqueue(command)
        return JSONResponse(await self._control(command))

    async def _enqueue(self, command: JobCommand) -> Response:
        queue = self.queues[command.queue]
        enqueued = await timed(
            queue.add(
                command.job,
                command.data,
                job_id=command.job_id,
                priority=command.priority,
                delay=command.delay_s,
                attempts=command.attempts,
            )
        )
        return JSONResponse(
            {"jobId": enqueued.id, "queue": command.queue, "created": enqueued.created},
            status_code=201 if enqueued.created else 200,
        )

    async def _control(self, command: ControlCommand) -> dict[str, Any]:
        targets = [self.queues[name] for name in command.queues]
        if command.action in ("pause", "resume"):
            pause = command.action == "pause"
            changed = await timed(
                asyncio.gather(*((q.pause() if pause else q.resume()) for q in targets))
            )
            return {
                "action": command.action,
                "queues": [
                    {"name": q.name, "changed": c} for q, c in zip(targets, changed, strict=True)
                ],
            }
        if command.action == "retry-failed":
            await timed(self._r.ping())
            moved = [await timed(q.retry_failed(), BULK_TIMEOUT_S) for q in targets]
            return {
                "action": command.action,
                "queues": [
                    {"name": q.name, "retried": n} for q, n in zip(targets, moved, strict=True)
                ],
            }
        return {"action": command.action, "crons": await timed(self._setup_recurring())}

    async def _setup_recurring(self) -> list[dict[str, Any]]:
        s = self.settings
        scheduler = CronScheduler(
            self.redis,
            self.queues,
            s.recurring,
            zone=s.zone,
            prefix=s.prefix,
            owner="api",
            misfire_grace_s=s.misfire_grace_s,
        )
        await scheduler.register()
        return [asdict(c) for c in await read_schedules(self.redis, s.prefix)]

    async def workers_delete(self, request: Request) -> Response:
        """Drain every queue; in production only with ``force=true``."""
        force = parse_flag(only_params(request, "force").get("force"))
        if self.settings.environment == "production" and not force:
            raise ConflictError("refusing to drain in production without force=true")
        await timed(self._r.ping())
        drained = {name: await timed(q.drain(), BULK_TIMEOUT_S) for name, q in self.queues.items()}
        return JSONResponse({"drained": drained, "total": sum(drained.values())})


# ------------------------------------------------------------------ helpers


def only_params(request: Request, *names: str) -> dict[str, str]:
    """The query parameters, when each is one of ``names`` and given once.

    Raises:
        UnprocessableError: an unknown or repeated parameter.
    """
    items = request.query_params.multi_items()
    unknown = sorted({key for key, _ in items if key not in names})
    if unknown:
        raise UnprocessableError(f"unknown query parameter(s): {', '.join(unknown)}")
    params = dict(items)
    if len(params) != len(items):
        raise UnprocessableError("a query parameter is repeated")
    return params


def _check_json_type(request: Request) -> None:
    content_type = request.headers.get("content-type")
    if content_type is None:
        return
    media = content_type.split(";", 1)[0].strip().lower()
    if media != "application/json" and not media.endswith("+json"):
        raise UnsupportedMediaTypeError()


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refused with 413 as soon as it is known to exceed ``limit`` bytes
    (from ``Content-Length`` before reading, else while streaming).

    A refused body is read and discarded up to ``DISCARD_LIMIT`` bytes first (unless the
    client waits for ``100 Continue``), because closing a connection with unread data
    resets it and the client would lose the 413.
    """
    length = request.headers.get("content-length")
    if length is not None:
        if not length.isdigit():
            raise BadRequestError("invalid Content-Length")
        if int(length) > limit:
            await _discard(request, int(length))
            raise TooLargeError(f"request body over {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            await _discard(request, DISCARD_LIMIT)
            raise TooLargeError(f"request body over {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


async def _discard(request: Request, expected: int) -> None:
    if expected > DISCARD_LIMIT or "100-continue" in request.headers.get("expect", "").lower():
        return
    seen = 0
    try:
        async with asyncio.timeout(DISCARD_TIMEOUT_S):
            async for chunk in request.stream():
                seen += len(chunk)
                if seen > DISCARD_LIMIT:
                    return
    except (TimeoutError, ClientDisconnect):
        return


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def parse_json(body: bytes) -> Any:
    """Decode a JSON body (UTF-8, no NaN or Infinity).

    Raises:
        BadRequestError: not UTF-8 or not JSON (too deeply nested included).
    """
    try:
        return json.loads(body.decode("utf-8"), parse_constant=_no_constants)
    except UnicodeDecodeError as exc:
        raise BadRequestError("the body is not UTF-8") from exc
    except (ValueError, RecursionError) as exc:
        raise BadRequestError("malformed JSON") from exc


def parse_flag(value: str | None) -> bool:
    """A boolean query parameter: absent, ``false`` or ``0`` → False; ``true``/``1`` → True.

    Raises:
        UnprocessableError: any other value.
    """
    if value is None or value.lower() in ("false", "0"):
        return False
    if value.lower() in ("true", "1"):
        return True
    raise UnprocessableError("force must be true or false")


def _guard(endpoint: Endpoint, secrets: Sequence[str]) -> Endpoint:
    """Map unexpected exceptions to a bare 500, logging the traceback redacted."""

    @functools.wraps(endpoint)
    async def guarded(request: Request) -> Response:
        try:
            return await endpoint(request)
        except (ApiError, HTTPException):
            raise
        except Exception:
            log.error(
                "api: %s %s failed:\n%s",
                request.method,
                request.url.path,
                redact(traceback.format_exc(), secrets),
            )
            return JSONResponse({"error": "internal error"}, status_code=500)

    return guarded


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    headers = {"connection": "close"} if exc.status == 413 else None
    return JSONResponse({"error": exc.message}, status_code=exc.status, headers=headers)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    return JSONResponse(
        {"error": str(exc.detail).lower()}, status_code=exc.status_code, headers=exc.headers
    )


def create_app(
    redis: Redis,
    settings: Settings,
    *,
    token: str | None,
    env: Mapping[str, str],
    clock: Callable[[], float] = time.monotonic,
    limiter: FailureLimiter | None = None,
) -> Starlette:
    """The admin API as an ASGI app.

    Args:
        redis: an async client (``engine.runtime.connection.make_client``).
        settings: the resolved settings (queues, prefix, recurring jobs, environment).
        token: the admin token (``justo.api.auth.token_from_env``); ``None``: every route
            but ``/healthz`` answers 401. Check it with ``check_token_config`` first.
        env: the environment, for the secret values to redact from answers.
        clock: monotonic seconds for the failed-authentication limiter.
        limiter: a custom limiter (default: 10 failures per 60 s per client IP).
    """
    secrets = sorted({*secret_values(env), *([token] if token else [])}, key=len, reverse=True)
    api = AdminApi(redis, settings, secrets)

    def route(path: str, endpoint: Endpoint, *methods: str) -> Route:
        return Route(path, _guard(endpoint, secrets), methods=list(methods))

    routes = [
        route("/healthz", api.healthz, "GET"),
        route("/openapi.json", api.openapi, "GET"),
        route("/metrics", api.metrics, "GET"),
        route("/api/admin/workers", api.workers, "GET", "POST", "DELETE"),
    ]
    auth = Middleware(
        AuthMiddleware, check=TokenCheck(token), limiter=limiter or FailureLimiter(clock=clock)
    )
    return Starlette(
        routes=routes,
        middleware=[auth],
        exception_handlers={ApiError: _api_error, HTTPException: _http_error},
    )
