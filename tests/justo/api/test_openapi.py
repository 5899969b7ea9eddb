"""The OpenAPI document: it describes every route, and a bounded schemathesis run driven
by it against the live server (real HTTP) finds no 5xx and no answer the document does not
describe."""

from __future__ import annotations

import json
from typing import Any

import httpx
import hypothesis
import schemathesis
from hypothesis import HealthCheck, Phase, given
from redis import Redis as SyncRedis
from redis.asyncio import Redis
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Ok
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    positive_data_acceptance,
    response_schema_conformance,
    status_code_conformance,
)
from starlette.routing import Route

from engine.runtime.settings import Settings
from justo.api import create_app
from justo.api.auth import FailureLimiter
from tests.justo.api.helpers import AUTH, TOKEN, ThreadedApi

EXAMPLES_PER_OPERATION = 25
"""Hypothesis examples per operation and generation mode (keeps the run to a few seconds)."""

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    negative_data_rejection,
    positive_data_acceptance,
]


async def test_document_describes_every_route(
    api: httpx.AsyncClient, redis: Redis, settings: Settings
) -> None:
    document = (await api.get("/openapi.json", headers=AUTH)).json()
    app = create_app(redis, settings, token=TOKEN, env={})
    for route in app.routes:
        assert isinstance(route, Route)
        for method in (route.methods or set()) - {"HEAD"}:
            operation = document["paths"][route.path][method.lower()]
            assert operation["responses"], (method, route.path)
    assert document["paths"]["/healthz"]["get"]["security"] == []
    for variant in document["components"]["schemas"]["ControlRequest"]["oneOf"]:
        assert variant["properties"]["queueName"]["enum"] == [c.name for c in settings.queues]


def _fuzz(operation: Any, mode: schemathesis.GenerationMode, base_url: str) -> None:
    @given(case=operation.as_strategy(generation_mode=mode))
    @hypothesis.settings(
        max_examples=EXAMPLES_PER_OPERATION,
        deadline=None,
        database=None,
        derandomize=True,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def run(case: schemathesis.Case[Any]) -> None:
        response = case.call(base_url=base_url, headers=AUTH, timeout=10)
        assert response.status_code < 500, (case.as_curl_command(), response.text)
        case.validate_response(response, checks=CHECKS, headers=AUTH)

    try:
        run()
    except hypothesis.errors.Unsatisfiable:
        # nothing of this operation can be made invalid (e.g. /healthz: no input at all)
        assert mode is schemathesis.GenerationMode.NEGATIVE


def _beat(redis_url: str, settings: Settings) -> None:
    """A live supervisor heartbeat serving every queue, so health-check answers 200."""
    client = SyncRedis.from_url(redis_url)
    try:
        seconds, micros = client.time()
        beat = seconds + micros / 1e6
        client.hset(
            f"{settings.prefix}:supervisors",
            "fuzz:1:x",
            json.dumps(
                {
                    "id": "fuzz:1:x",
                    "host": "fuzz",
                    "pid": 1,
                    "started": beat,
                    "beat": beat + 60,
                    "queues": {c.name: 1 for c in settings.queues},
                    "in_flight": {},
                    "completed": {},
                    "failed": {},
                }
            ),
        )
    finally:
        client.close()


def test_schemathesis_finds_no_server_error(redis_url: str, settings: Settings) -> None:
    _beat(redis_url, settings)
    with ThreadedApi(redis_url, settings, limiter=FailureLimiter(max_failures=1_000_000)) as api:
        schema = schemathesis.openapi.from_url(
            f"{api.base_url}/openapi.json", headers=AUTH, timeout=10
        )
        operations = [
            result.ok() for result in schema.get_all_operations() if isinstance(result, Ok)
        ]
        # schemathesis leaves out the document's own route
        assert {op.label for op in operations} == {
            "GET /api/admin/workers",
            "POST /api/admin/workers",
            "DELETE /api/admin/workers",
            "GET /metrics",
            "GET /healthz",
        }
        for operation in operations:
            for mode in (
                schemathesis.GenerationMode.POSITIVE,
                schemathesis.GenerationMode.NEGATIVE,
            ):
                _fuzz(operation, mode, api.base_url)
