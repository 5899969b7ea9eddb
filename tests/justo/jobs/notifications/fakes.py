"""Fakes for the notification tests: Resend, SendGrid and WhatsApp Cloud API servers
speaking their documented shapes (served over real loopback TCP by ``LoopbackServer``), a
real local SMTP server (aiosmtpd), a recording ``JobContext`` and a seeded workspace.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager, suppress
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import httpx
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from sqlalchemy.orm import Session as DbSession
from sqlalchemy.orm import sessionmaker

from justo.db.models import Workspace
from tests.justo.jobs.fakes import ScriptedServer, json_response
from tests.support import JobRecorder

RESEND_KEY = "re_canary_resend_key_123"
SENDGRID_KEY = "SG.canary_sendgrid_key_456"
WA_TOKEN = "EAAG_canary_whatsapp_token_789"
PHONE_ID = "106540352242922"
API_VERSION = "v21.0"

PDF = (
    b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
    b"2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"
    + bytes(range(256))
)
"""A small PDF with every byte value in it (attachments must arrive byte-exact)."""


# --- a recording job context ---------------------------------------------------------------


class Job(JobRecorder):
    """A ``send-notification`` job context whose log lines are recorded; ``retry()`` makes
    the next attempt."""

    def __init__(self, data: Any, *, job_id: str = "job-1", attempt: int = 1) -> None:
        super().__init__(
            "send-notification", data, queue="notifications", job_id=job_id, attempt=attempt
        )


def seed_workspace(sessions: sessionmaker[DbSession], slug: str = "firm") -> str:
    """A workspace; returns its id."""
    with sessions.begin() as s:
        ws = Workspace(name=slug.title(), slug=slug)
        s.add(ws)
        s.flush()
        return ws.id


# --- HTTP providers ------------------------------------------------------------------------


def form_parts(request: httpx.Request) -> dict[str, tuple[str | None, bytes]]:
    """A multipart/form-data body as ``{name: (filename, bytes)}``."""
    head = f"Content-Type: {request.headers['content-type']}\r\n\r\n".encode()
    message = message_from_bytes(head + request.content, policy=policy.default)
    parts: dict[str, tuple[str | None, bytes]] = {}
    for part in message.iter_parts():
        assert isinstance(part, EmailMessage)
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        assert isinstance(name, str) and isinstance(payload, bytes)
        parts[name] = (part.get_filename(), payload)
    return parts


class FakeResend(ScriptedServer):
    """``POST /emails``: 401 without the key, 422 ``validation_error`` for a ``to`` on
    ``invalid.test``, else ``{"id": ...}``. Every request is recorded in ``seen`` and
    answered: unlike the real Resend, nothing is deduped on ``Idempotency-Key``, so a
    test counting ``seen`` counts what our code sent."""

    def bodies(self) -> list[dict[str, Any]]:
        return [json.loads(r.content) for r in self.seen]

    def route(self, request: httpx.Request) -> httpx.Response:
        if request.headers.get("authorization") != f"Bearer {RESEND_KEY}":
            return json_response(
                401,
                {
                    "statusCode": 401,
                    "name": "missing_api_key",
                    "message": "Missing API key in the authorization header",
                },
            )
        if (request.method, request.url.path) != ("POST", "/emails"):
            return json_response(
                404, {"statusCode": 404, "name": "not_found", "message": "not found"}
            )
        data = json.loads(request.content)
        if any(t.endswith("@invalid.test") for t in data["to"]):
            return json_response(
                422,
                {
                    "statusCode": 422,
                    "name": "validation_error",
                    "message": f"Invalid `to` field: {data['to'][0]}",
                },
            )
        return json_response(200, {"id": f"re-{len(self.seen)}"})


class FakeSendGrid(ScriptedServer):
    """``POST /v3/mail/send``: 202 with ``X-Message-Id``; 400 for ``invalid.test``."""

    def bodies(self) -> list[dict[str, Any]]:
        return [json.loads(r.content) for r in self.seen]

    def route(self, request: httpx.Request) -> httpx.Response:
        if request.headers.get("authorization") != f"Bearer {SENDGRID_KEY}":
            return json_response(
                401,
                {
                    "errors": [
                        {
                            "message": "The provided authorization "
                            "grant is invalid, expired, or revoked"
                        }
                    ]
                },
            )
        data = json.loads(request.content)
        to = data["personalizations"][0]["to"][0]["email"]
        if to.endswith("@invalid.test"):
            return json_response(
                400,
                {
                    "errors": [
                        {
                            "message": "Does not contain a valid address.",
                            "field": "personalizations.0.to.0.email",
                            "help": None,
                        }
                    ]
                },
            )
        return httpx.Response(202, headers={"X-Message-Id": f"sg-{len(self.seen)}"})


def graph_error(
    status: int, code: int, message: str, details: str = "", headers: dict[str, str] | None = None
) -> httpx.Response:
    """A Graph API error answer."""
    error: dict[str, Any] = {
        "message": message,
        "type": "OAuthException",
        "code": code,
        "fbtrace_id": "AbCdEf",
    }
    if details:
        error["error_data"] = {"messaging_product": "whatsapp", "details": details}
    return json_response(status, {"error": error}, headers)


class FakeWhatsApp(ScriptedServer):
    """``/{version}/{phone id}/messages`` and ``/media``. A number in ``undeliverable``
    gets error 131026; uploads are kept in ``uploads``."""

    def __init__(self) -> None:
        super().__init__()
        self.undeliverable: set[str] = set()
        self.uploads: list[dict[str, tuple[str | None, bytes]]] = []

    def messages(self) -> list[dict[str, Any]]:
        return [json.loads(r.content) for r in self.seen if r.url.path.endswith("/messages")]

    def route(self, request: httpx.Request) -> httpx.Response:
        if request.headers.get("authorization") != f"Bearer {WA_TOKEN}":
            return graph_error(401, 190, "Error validating access token")
        base = f"/{API_VERSION}/{PHONE_ID}"
        if request.url.path == f"{base}/media":
            self.uploads.append(form_parts(request))
            return json_response(200, {"id": f"media-{len(self.uploads)}"})
        if request.url.path != f"{base}/messages":
            return graph_error(400, 100, "Unsupported post request")
        to = json.loads(request.content)["to"]
        if to in self.undeliverable:
            return graph_error(
                400, 131026, "Message undeliverable", f"Unable to deliver message to {to}"
            )
        return json_response(
            200,
            {
                "messaging_product": "whatsapp",
                "contacts": [{"input": to, "wa_id": to}],
                "messages": [{"id": f"wamid.{len(self.seen)}"}],
            },
        )


class SilentServer:
    """Accepts TCP connections on 127.0.0.1 and never answers (for timeouts)."""

    def __init__(self) -> None:
        self.port = 0
        self._done = asyncio.Event()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def _hold(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await self._done.wait()
        writer.close()
        with suppress(OSError):
            await writer.wait_closed()

    @asynccontextmanager
    async def running(self) -> AsyncIterator[SilentServer]:
        server = await asyncio.start_server(self._hold, "127.0.0.1", 0)
        self.port = server.sockets[0].getsockname()[1]
        try:
            yield self
        finally:
            self._done.set()
            server.close()
            await server.wait_closed()


# --- SMTP ----------------------------------------------------------------------------------


@dataclass
class Received:
    """One message the SMTP server accepted."""

    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage


@dataclass
class SmtpRecorder:
    """aiosmtpd handler: records messages; ``refuse`` maps an address to an SMTP reply."""

    received: list[Received] = field(default_factory=list)
    refuse: dict[str, str] = field(default_factory=dict)
    logins: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_RCPT(  # noqa: N802
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        if address in self.refuse:
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(  # noqa: N802
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
    ) -> str:
        raw = envelope.original_content or b""
        message = message_from_bytes(raw, policy=policy.default)
        assert isinstance(message, EmailMessage)
        with self.lock:
            self.received.append(
                Received(str(envelope.mail_from), list(envelope.rcpt_tos), message)
            )
        return "250 Message accepted"


class EphemeralController(Controller):
    """aiosmtpd's threaded controller on an ephemeral port (``port=0``): the real port is
    read from the bound socket before the controller's self-test connects to it."""

    def _trigger_server(self) -> None:
        server: Any = self.server  # an asyncio.Server (typed as AbstractServer)
        self.port = server.sockets[0].getsockname()[1]
        super()._trigger_server()  # type: ignore[no-untyped-call]


USER, PASSWORD = "mailer", "canary-smtp-password-321"


def _authenticator(
    server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
) -> AuthResult:
    ok = (
        isinstance(auth_data, LoginPassword)
        and auth_data.login == USER.encode()
        and auth_data.password == PASSWORD.encode()
    )
    return AuthResult(success=ok, handled=False)  # handled=True would send no reply


@contextmanager
def smtp_server(recorder: SmtpRecorder, *, auth: bool = False) -> Iterator[int]:
    """A real SMTP server on 127.0.0.1; yields its port. With ``auth``, AUTH PLAIN/LOGIN
    is offered without TLS (local test only) and checks ``USER``/``PASSWORD``."""
    options: dict[str, Any] = {}
    if auth:
        options = {"authenticator": _authenticator, "auth_require_tls": False}
    controller = EphemeralController(recorder, hostname="127.0.0.1", port=0, **options)
    controller.start()
    try:
        yield controller.port
    finally:
        controller.stop()
