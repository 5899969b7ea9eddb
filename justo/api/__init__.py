"""The admin HTTP API (issue 7): the original's ``/api/admin/workers``, Prometheus
``/metrics`` and ``/healthz``, behind a bearer token.

``create_app`` builds the ASGI app, ``check_token_config`` refuses unsafe tokens before
start, ``serve_api`` runs it with uvicorn inside the caller's loop, and ``redact_payload``
masks secrets in anything shown to an operator.
"""

from __future__ import annotations

from engine.redaction import redact_job, redact_payload
from justo.api.app import create_app
from justo.api.auth import AdminTokenError, check_token_config, token_from_env
from justo.api.server import parse_listen_address, serve_api

__all__ = [
    "AdminTokenError",
    "check_token_config",
    "create_app",
    "parse_listen_address",
    "redact_job",
    "redact_payload",
    "serve_api",
    "token_from_env",
]
