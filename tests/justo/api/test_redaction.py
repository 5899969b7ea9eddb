"""``redact_payload`` and the job view: secrets masked by key (recursively, any case),
free text through ``engine.logs.redact``, key names and other values kept."""

from __future__ import annotations

import json
from typing import Any

import pytest

from engine.job import Job, JobState
from engine.redaction import (
    MASK,
    PREVIEW_BYTES,
    is_secret_key,
    preview_payload,
    redact_job,
    redact_payload,
    redact_text,
)


@pytest.mark.parametrize(
    "key",
    [
        "password",
        "PASSWORD",
        "userPassword",
        "token",
        "accessToken",
        "refresh_token",
        "api_key",
        "API-KEY",
        "x-api-key",
        "apikey",
        "ApiKey",
        "secret",
        "clientSecret",
        "client_secret",
        "Authorization",
        "proxy-authorization",
        "passwd",
    ],
)
def test_secret_keys(key: str) -> None:
    assert is_secret_key(key)
    assert redact_payload({key: "s3cr3t-value"}) == {key: MASK}


@pytest.mark.parametrize("key", ["to", "subject", "workspaceId", "authorId", "key", "name"])
def test_ordinary_keys(key: str) -> None:
    assert not is_secret_key(key)
    assert redact_payload({key: "plain"}) == {key: "plain"}


def test_recursive_and_pure() -> None:
    value: dict[str, Any] = {
        "user": {"name": "ana", "credentials": {"password": "p", "token": {"a": 1}}},
        "items": [{"apiKey": 123}, ("tuple", {"secret": None}), 5, True, None, 1.5],
        "Authorization": ["Bearer abc"],
    }
    before = json.dumps(value)
    assert redact_payload(value) == {
        "user": {"name": "ana", "credentials": MASK},
        "items": [{"apiKey": MASK}, ["tuple", {"secret": MASK}], 5, True, None, 1.5],
        "Authorization": MASK,
    }
    assert json.dumps(value) == before  # the input is untouched


def test_free_text_is_redacted_in_string_values() -> None:
    value = {
        "note": "see redis://admin:hunter2@db:6379/0",
        "log": "Authorization: Bearer abc.def.ghi",
        "raw": "password=letmein&user=ana",
        "env": "leaked LITERAL-SECRET-1 here",
    }
    clean = redact_payload(value, secrets=["LITERAL-SECRET-1"])
    text = json.dumps(clean)
    for secret in ("hunter2", "abc.def.ghi", "letmein", "LITERAL-SECRET-1"):
        assert secret not in text
    assert clean["note"] == "see redis://***@db:6379/0"
    assert "user=ana" in clean["raw"]


def test_scalars_pass_through() -> None:
    assert redact_payload(None) is None
    assert redact_payload(42) == 42
    assert redact_payload("token=abc") == "token=***"
    assert redact_payload([1, "x"]) == [1, "x"]


def test_preview_caps_large_payloads() -> None:
    assert preview_payload({"a": "b"}) == {"a": "b"}
    big = preview_payload({"password": "p", "blob": "x" * 10_000})
    assert big["truncated"] is True and big["bytes"] > PREVIEW_BYTES
    assert len(big["preview"].encode()) <= PREVIEW_BYTES
    assert '"password": "***"' in big["preview"]


def test_redact_text_keeps_the_end() -> None:
    text = "x" * 10_000 + " token=abc"
    clean = redact_text(text)
    assert clean.endswith("token=***") and len(clean) == PREVIEW_BYTES + 1


def test_job_view() -> None:
    job = Job(
        id="1",
        queue="q",
        name="send",
        state=JobState.FAILED,
        raw_data='{"to":"a","api_key":"k"}',
        data={"to": "a", "api_key": "k"},
        priority=1,
        created_ms=1,
        ready_ms=None,
        attempts_made=1,
        stalls=0,
        options={},
        error="failed with token=zzz",
        traceback="Traceback ...\nError: password=pw",
    )
    view = redact_job(job)
    assert view["data"] == {"to": "a", "api_key": MASK}
    assert "zzz" not in view["error"] and "pw" not in view["traceback"].split("=")[-1]
    malformed = redact_job(
        Job(
            id="2",
            queue="q",
            name="x",
            state=JobState.FAILED,
            raw_data="{not json secret=abc",
            data=None,
            priority=0,
            created_ms=0,
            ready_ms=None,
            attempts_made=0,
            stalls=0,
            options={},
        )
    )
    assert malformed["data"] == "{not json secret=***"
