"""The catalog: the original's queues, crons and job types, and settings built from them."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from engine.errors import InvalidJobError
from justo import catalog

SP = ZoneInfo("America/Sao_Paulo")


def at(text: str) -> float:
    """Epoch seconds of a São Paulo wall-clock time."""
    return datetime.fromisoformat(text).replace(tzinfo=SP).timestamp()


def test_the_five_queues_with_the_original_concurrency() -> None:
    concurrency = {q.name: q.concurrency for q in catalog.QUEUES}
    assert concurrency == {
        "sync": 5,
        "reports": 3,
        "cache-cleanup": 1,
        "document-processing": 2,
        "notifications": 10,
    }
    assert catalog.queue_config("notifications").options.attempts == 5


def test_recurring_jobs_tick_in_sao_paulo_time() -> None:
    ticks = {j.name: j for j in catalog.RECURRING}
    assert set(ticks) == {"sync-apis", "weekly-reports", "cache-cleanup", "ai-cache-cleanup"}
    # Sunday 2026-11-29 23:00 in São Paulo is 02:00 UTC on Monday.
    weekly = ticks["weekly-reports"].next_tick(at("2026-11-29T12:00:00"), SP)
    assert weekly == at("2026-11-29T23:00:00")
    assert ticks["cache-cleanup"].next_tick(at("2026-11-29T12:00:00"), SP) == at(
        "2026-11-30T02:00:00"
    )
    assert ticks["sync-apis"].next_tick(at("2026-11-29T12:00:00"), SP) == at("2026-11-29T18:00:00")


def test_every_job_type_names_a_catalog_queue() -> None:
    names = {q.name for q in catalog.QUEUES}
    assert {t.queue for t in catalog.JOB_TYPES.values()} <= names
    assert {j.queue for j in catalog.RECURRING} <= names


def test_job_type_data_is_checked_and_shaped() -> None:
    sync = catalog.job_type("sync-manual")
    assert sync.build({"workspaceId": "w1"}) == {
        "workspaceId": "w1",
        "type": "manual-sync",
        "forceUpdate": False,
    }
    with pytest.raises(InvalidJobError, match="data.workspaceId is required"):
        sync.build({})
    with pytest.raises(InvalidJobError, match="data.forceUpdate must be a boolean"):
        sync.build({"workspaceId": "w1", "forceUpdate": "yes"})
    with pytest.raises(InvalidJobError, match="unknown type 'nope'"):
        catalog.job_type("nope")


def test_load_uses_the_catalog_as_defaults_and_the_file_over_it(tmp_path: Path) -> None:
    config = tmp_path / "justo.toml"
    config.write_text("[queues.sync]\nconcurrency = 8\n[queues.exports]\nconcurrency = 2\n")
    settings = catalog.load({"JUSTO_DATA_DIR": str(tmp_path)}, config)
    assert [q.name for q in settings.queues] == [*(q.name for q in catalog.QUEUES), "exports"]
    assert settings.queue("sync").concurrency == 8
    assert settings.queue("reports").concurrency == 3
    assert {j.name for j in settings.recurring} == {j.name for j in catalog.RECURRING}
