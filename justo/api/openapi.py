"""The OpenAPI 3.0 document of the admin API, served at ``/openapi.json``.

Written by hand (Starlette generates none) and kept next to the routes; a test checks
that every route of the app is described and the fuzz test drives the app from it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from engine.options import MAX_JOB_ID, MAX_PRIORITY
from justo.api.commands import ACTIONS, MAX_ATTEMPTS, MAX_DELAY_MS
from justo.catalog import JOB_TYPES

GET_ACTIONS = ("stats", "health-check", "detailed-stats")
"""Values of ``GET /api/admin/workers?action=``."""

JSON = "application/json"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {JSON: {"schema": schema}}}


def _error(description: str) -> dict[str, Any]:
    return _json(_ref("Error"), description)


COMMON_ERRORS: dict[str, Any] = {
    "401": _error(
        "Missing, malformed or wrong bearer token, or a token in the query string "
        "(always the same body)."
    ),
    "429": {
        **_error("Too many failed authentications from this client."),
        "headers": {
            "Retry-After": {"schema": {"type": "integer"}, "description": "Seconds to wait."}
        },
    },
}


def _object(
    required: Sequence[str], properties: dict[str, Any], *, extra: bool = True
) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        schema["required"] = list(required)
    if not extra:
        schema["additionalProperties"] = False
    return schema


def _text(min_length: int = 1) -> dict[str, Any]:
    return {"type": "string", "minLength": min_length}


def _job_request(kind: str, data: dict[str, Any]) -> dict[str, Any]:
    return _object(
        ["type", "data"],
        {"type": {"type": "string", "enum": [kind]}, "data": data, "options": _ref("JobOptions")},
        extra=False,
    )


def _job_requests() -> list[dict[str, Any]]:
    data = {
        "sync-manual": _object(
            ["workspaceId"], {"workspaceId": _text(), "forceUpdate": {"type": "boolean"}}
        ),
        "generate-report": _object(["scheduleId"], {"scheduleId": _text()}),
        "process-document": _object(
            ["documentId"], {"documentId": _text(), "analysisType": _text()}
        ),
        "send-notification": _object(["type"], {"type": _text(), "data": {}}),
    }
    assert set(data) == set(JOB_TYPES)
    return [_job_request(kind, schema) for kind, schema in data.items()]


def _schemas(queues: Sequence[str]) -> dict[str, Any]:
    queue_name = {"type": "string", "enum": list(queues)}
    return {
        "Error": _object(["error"], {"error": {"type": "string"}}),
        "Stats": _object(
            ["taken_at", "queues", "redis", "supervisors"],
            {
                "taken_at": {"type": "number"},
                "queues": {
                    "type": "array",
                    "items": _object(
                        [
                            "name",
                            "paused",
                            "workers",
                            "waiting",
                            "active",
                            "delayed",
                            "failed",
                            "completed",
                        ],
                        {"name": {"type": "string"}},
                    ),
                },
                "redis": {"type": "object"},
                "supervisors": {"type": "array", "items": {"type": "object"}},
            },
        ),
        "Health": _object(
            ["status", "code", "reasons"],
            {
                "status": {"type": "string", "enum": ["healthy", "degraded", "down"]},
                "code": {"type": "integer", "enum": [0, 1, 2]},
                "reasons": {"type": "array", "items": {"type": "string"}},
            },
        ),
        "DetailedStats": {
            "allOf": [
                _ref("Stats"),
                _object(
                    ["health", "crons", "events", "failed_jobs"],
                    {
                        "health": _ref("Health"),
                        "crons": {"type": "array", "items": {"type": "object"}},
                        "events": {
                            "type": "object",
                            "additionalProperties": {"type": "array", "items": {"type": "object"}},
                        },
                        "failed_jobs": {
                            "type": "object",
                            "additionalProperties": {"type": "array", "items": {"type": "object"}},
                        },
                    },
                ),
            ]
        },
        "ControlRequest": {
            "oneOf": [
                _object(
                    ["action"],
                    {
                        "action": {
                            "type": "string",
                            "enum": [a for a in ACTIONS if a != "retry-failed"],
                            "description": "pause/resume without queueName: every queue.",
                        },
                        "queueName": queue_name,
                    },
                    extra=False,
                ),
                _object(
                    ["action", "queueName"],
                    {
                        "action": {"type": "string", "enum": ["retry-failed"]},
                        "queueName": queue_name,
                    },
                    extra=False,
                ),
            ]
        },
        "JobOptions": _object(
            [],
            {
                "priority": {
                    "type": "integer",
                    "minimum": 0,
                    "maximum": MAX_PRIORITY,
                    "description": "Lower runs first.",
                },
                "delay": {
                    "type": "number",
                    "minimum": 0,
                    "maximum": MAX_DELAY_MS,
                    "description": "Milliseconds before the job may run (as Bull).",
                },
                "attempts": {"type": "integer", "minimum": 1, "maximum": MAX_ATTEMPTS},
                "jobId": {"type": "string", "minLength": 1, "maxLength": MAX_JOB_ID},
            },
            extra=False,
        ),
        "JobRequest": {"oneOf": _job_requests()},
        "ControlResult": _object(
            ["action"],
            {
                "action": {"type": "string"},
                "queues": {"type": "array", "items": {"type": "object"}},
                "crons": {"type": "array", "items": {"type": "object"}},
            },
        ),
        "Enqueued": _object(
            ["jobId", "queue", "created"],
            {
                "jobId": {"type": "string"},
                "queue": {"type": "string"},
                "created": {"type": "boolean"},
            },
        ),
        "Drained": _object(
            ["drained", "total"],
            {
                "drained": {"type": "object", "additionalProperties": {"type": "integer"}},
                "total": {"type": "integer"},
            },
        ),
    }


def _workers_get() -> dict[str, Any]:
    return {
        "summary": "Statistics, health or detailed statistics of every queue.",
        "parameters": [
            {
                "name": "action",
                "in": "query",
                "required": False,
                "schema": {"type": "string", "enum": list(GET_ACTIONS), "default": "stats"},
            }
        ],
        "responses": {
            "200": _json(
                {"anyOf": [_ref("DetailedStats"), _ref("Stats"), _ref("Health")]},
                "stats: the `stats --json` shape; health-check: the `health --json` "
                "shape when healthy; detailed-stats: stats plus health, crons, "
                "recent events and failed jobs (redacted).",
            ),
            "422": _error("Unknown action."),
            "503": _json(
                {"anyOf": [_ref("Health"), _ref("Error")]},
                "Redis unavailable (health-check: degraded or down).",
            ),
            **COMMON_ERRORS,
        },
    }


def _workers_post() -> dict[str, Any]:
    return {
        "summary": "A control action, or a job to enqueue.",
        "requestBody": {
            "required": True,
            "content": {JSON: {"schema": {"oneOf": [_ref("ControlRequest"), _ref("JobRequest")]}}},
        },
        "responses": {
            "200": _json(
                {"anyOf": [_ref("ControlResult"), _ref("Enqueued")]},
                "The action's result, or the job that already had this jobId.",
            ),
            "201": _json(_ref("Enqueued"), "The job was enqueued."),
            "400": _error("Malformed JSON."),
            "413": _error("The body or the job data is over the limit."),
            "415": _error("The body is not JSON."),
            "422": _error("Unknown action or type, unknown queue, or invalid data."),
            "503": _error("Redis unavailable."),
            **COMMON_ERRORS,
        },
    }


def _workers_delete() -> dict[str, Any]:
    return {
        "summary": "Drain every queue (delete waiting and delayed jobs).",
        "parameters": [
            {
                "name": "force",
                "in": "query",
                "required": False,
                "schema": {"type": "boolean", "default": False},
                "description": "Needed in production.",
            }
        ],
        "responses": {
            "200": _json(_ref("Drained"), "Jobs deleted per queue."),
            "409": _error("Production without force=true."),
            "422": _error("force is not a boolean."),
            "503": _error("Redis unavailable."),
            **COMMON_ERRORS,
        },
    }


def _plain(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"text/plain": {"schema": {"type": "string"}}}}


def openapi_document(queues: Sequence[str]) -> dict[str, Any]:
    """The OpenAPI document for an app serving ``queues``."""
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "justo-console admin API",
            "version": "1.0.0",
            "description": "JustoAI V2's /api/admin/workers on the justo engine.",
        },
        "security": [{"bearer": []}],
        "paths": {
            "/api/admin/workers": {
                "get": _workers_get(),
                "post": _workers_post(),
                "delete": _workers_delete(),
            },
            "/metrics": {
                "get": {
                    "summary": "Prometheus metrics (one snapshot per scrape).",
                    "responses": {
                        "200": _plain("Prometheus text format 0.0.4."),
                        "503": _error("Redis unavailable."),
                        **COMMON_ERRORS,
                    },
                }
            },
            "/healthz": {
                "get": {
                    "summary": "Liveness: Redis answers (no detail, no token).",
                    "security": [],
                    "responses": {"200": _plain("ok"), "503": _plain("unavailable")},
                }
            },
            "/openapi.json": {
                "get": {
                    "summary": "This document.",
                    "responses": {
                        "200": _json({"type": "object"}, "The OpenAPI document."),
                        **COMMON_ERRORS,
                    },
                }
            },
        },
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": _schemas(queues),
        },
    }
