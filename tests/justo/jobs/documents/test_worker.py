"""The document worker on SQLite and PostgreSQL: extraction, AI over a local HTTP server,
the two-level cache, versions, and every way a document can fail."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import BrokenExecutor, Executor, Future, ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from engine.errors import ConfigError, InvalidJobError
from justo.db.models import (
    AiCache,
    AnalysisStatus,
    CaseAnalysis,
    CaseDocument,
    OcrStatus,
    Workspace,
)
from justo.db.types import utcnow
from justo.jobs.documents.ai import AiClient, cache_key
from justo.jobs.documents.errors import (
    AiMalformedResponseError,
    AiTimeoutError,
    CorruptPdfError,
    DocumentError,
    DocumentFileMissingError,
    DocumentNotFoundError,
    DocumentTooLargeError,
    EncryptedPdfError,
    ExtractionCrashedError,
    ExtractionTimeoutError,
    NoTextError,
)
from justo.jobs.documents.worker import DocumentLimits, DocumentRequest, DocumentWorker
from tests.justo.jobs.documents.openai_stub import ANALYSIS, OpenAiStub, Reply
from tests.justo.jobs.documents.pdfs import (
    CNJ_A,
    CNJ_B,
    PETITION,
    PETITION_PAGE_2,
    encrypted_pdf,
    image_only_pdf,
    many_pages_pdf,
    petition_pdf,
    truncated,
    write,
)
from tests.support import JobRecorder

KEY = "sk-worker-SECRET-42"
PETITION_TEXT = "\n".join(PETITION) + "\n\n" + "\n".join(PETITION_PAGE_2)
"""What extraction reads from ``petition_pdf()``: its lines, pages apart by a blank line."""
EXTRACTED = f"extracted {len(PETITION_TEXT)} characters from 2 page(s); 2 CNJ number(s)"
"""The log line of that extraction."""
MODEL = "gpt-test"
Sessions = sessionmaker[Session]


class Job(JobRecorder):
    """A ``process-document`` job context whose progress and log lines are recorded."""

    def __init__(self, data: Any) -> None:
        super().__init__("process-document", data, queue="document-processing")


@pytest.fixture
def executor() -> Iterator[ThreadPoolExecutor]:
    """Extraction in a thread: the same picklable function, without process start-up."""
    with ThreadPoolExecutor(2) as pool:
        yield pool


@pytest.fixture
async def stub() -> AsyncIterator[OpenAiStub]:
    async with OpenAiStub().running() as server:
        yield server


def seed(sessions: Sessions, path: Path, slug: str = "a") -> tuple[str, str]:
    """A workspace and a PENDING document at ``path``: ``(workspace id, document id)``."""
    with sessions.begin() as s:
        workspace = Workspace(name=slug.upper(), slug=slug)
        s.add(workspace)
        s.flush()
        size = path.stat().st_size if path.exists() else 0
        doc = CaseDocument(
            workspace_id=workspace.id,
            name=path.name,
            mime="application/pdf",
            size=size,
            path=str(path),
        )
        s.add(doc)
        s.flush()
        return workspace.id, doc.id


def document(sessions: Sessions, doc_id: str) -> CaseDocument:
    with sessions() as s:
        row = s.get(CaseDocument, doc_id)
        assert row is not None
        return row


def analyses(sessions: Sessions, doc_id: str) -> list[CaseAnalysis]:
    with sessions() as s:
        return list(
            s.scalars(
                select(CaseAnalysis)
                .where(CaseAnalysis.document_id == doc_id)
                .order_by(CaseAnalysis.version)
            )
        )


def cache_rows(sessions: Sessions) -> list[AiCache]:
    with sessions() as s:
        return list(s.scalars(select(AiCache).order_by(AiCache.created_at)))


MakeWorker = Callable[..., DocumentWorker]


@pytest.fixture
async def make_worker(
    sessions: Sessions, redis: Redis, prefix: str, executor: ThreadPoolExecutor
) -> AsyncIterator[MakeWorker]:
    """Build workers (extraction in ``executor`` unless told otherwise); closed after."""
    workers: list[DocumentWorker] = []
    clients: list[AiClient] = []

    def build(
        ai_url: str | None = None,
        timeout_s: float = 5.0,
        pool: Executor | None = None,
        use_pool: bool = True,
        **limits: Any,
    ) -> DocumentWorker:
        ai = AiClient(ai_url, KEY, MODEL, timeout_s=timeout_s) if ai_url else None
        if ai:
            clients.append(ai)
        worker = DocumentWorker(
            sessions,
            redis,
            ai=ai,
            cache_prefix=f"{prefix}:",
            limits=DocumentLimits(**limits),
            pool=(pool or executor) if use_pool else None,
        )
        workers.append(worker)
        return worker

    yield build
    for worker in workers:
        worker.close()
    for client in clients:
        await client.aclose()


async def run(worker: DocumentWorker, doc_id: str, **data: Any) -> tuple[dict[str, Any], Job]:
    job = Job({"documentId": doc_id, **data})
    result = await worker(job.ctx)
    return result, job


# --- extraction only ---------------------------------------------------------------------


async def test_extraction_only_analysis(
    sessions: Sessions, tmp_path: Path, make_worker: MakeWorker
) -> None:
    workspace_id, doc_id = seed(sessions, write(tmp_path, "p.pdf", petition_pdf()))
    result, job = await run(make_worker(), doc_id)
    (row,) = analyses(sessions, doc_id)
    assert result == {
        "documentId": doc_id,
        "workspaceId": workspace_id,
        "analysisId": row.id,
        "version": 1,
        "analysisType": "complete",
        "pages": 2,
        "textLength": row.extracted_data["textLength"],
        "cnjs": [CNJ_A, CNJ_B],
        "dates": ["2024-03-12", "2024-06-05"],
        "amounts": ["1234567.89", "500.00"],
        "partyCount": 3,
        "aiCached": False,
        "mode": "extraction-only",
        "model": "none",
        "processingMs": row.processing_ms,
    }
    assert row.status == AnalysisStatus.COMPLETED and not row.is_temporary
    assert row.ai_analysis == {"mode": "extraction-only", "reason": "AI is not configured"}
    assert row.model_used == "none" and row.analysis_type == "complete"
    data = row.extracted_data
    assert data["cnjs"] == [CNJ_A, CNJ_B] and data["amounts"] == ["1234567.89", "500.00"]
    assert data["pages"] == 2 and data["textTruncated"] is False
    assert data["parties"][0] == {
        "role": "autor",
        "side": "active",
        "name": "João da Silva",
        "document": "123.456.789-09",
    }
    doc = document(sessions, doc_id)
    assert doc.ocr_status == OcrStatus.COMPLETED and doc.processed and doc.pages == 2
    assert doc.extracted_text == PETITION_TEXT and result["textLength"] == len(PETITION_TEXT)
    assert doc.summary is None
    assert job.progress == [5, 50, 90, 100]
    assert job.logs == [EXTRACTED, "stored analysis version 1 (extraction-only)"]


async def test_each_run_is_a_new_version_and_original_type_field_is_accepted(
    sessions: Sessions, tmp_path: Path, make_worker: MakeWorker
) -> None:
    _, doc_id = seed(sessions, write(tmp_path, "p.pdf", petition_pdf()))
    worker = make_worker()
    first, _ = await run(worker, doc_id)
    second, _ = await run(worker, doc_id, type="pdf-analysis")
    assert (first["version"], second["version"]) == (1, 2)
    assert [a.analysis_type for a in analyses(sessions, doc_id)] == ["complete", "pdf-analysis"]


async def test_stored_text_is_capped(
    sessions: Sessions, tmp_path: Path, make_worker: MakeWorker
) -> None:
    _, doc_id = seed(sessions, write(tmp_path, "p.pdf", petition_pdf()))
    result, _ = await run(make_worker(max_stored_chars=40), doc_id)
    doc = document(sessions, doc_id)
    assert doc.extracted_text == PETITION_TEXT[:40]
    (row,) = analyses(sessions, doc_id)
    assert row.extracted_data["textTruncated"] is True
    # Only the stored copy is capped: the analysis saw the whole text.
    assert result["textLength"] == len(PETITION_TEXT) and result["cnjs"] == [CNJ_A, CNJ_B]


async def test_real_process_pool(
    sessions: Sessions, tmp_path: Path, make_worker: MakeWorker
) -> None:
    _, doc_id = seed(sessions, write(tmp_path, "p.pdf", petition_pdf()))
    worker = make_worker(use_pool=False, max_parallel=1)
    result, _ = await run(worker, doc_id)
    assert result["cnjs"] == [CNJ_A, CNJ_B] and worker.extractor.started is True


# --- AI and the cache ------------------------------------------------------------------


async def test_ai_analysis_then_cache_hit_without_http(
    sessions: Sessions,
    redis: Redis,
    prefix: str,
    tmp_path: Path,
    stub: OpenAiStub,
    make_worker: MakeWorker,
) -> None:
    workspace_id, doc_id = seed(sessions, write(tmp_path, "p.pdf", petition_pdf()))
    worker = make_worker(stub.base_url)
    before, before_s = utcnow(), time.time()
    first, job = await run(worker, doc_id)
    after, after_s = utcnow(), time.time()
    assert (first["mode"], first["aiCached"], first["model"]) == ("ai", False, MODEL)
    assert len(stub.requests) == 1 and job.progress == [5, 50, 60, 90, 100]
    assert job.logs == [
        EXTRACTED,
        f"AI analysis by {MODEL} (123 tokens)",
        "stored analysis version 1 (ai)",
    ]
    (row,) = analyses(sessions, doc_id)
    assert row.ai_analysis == ANALYSIS and row.model_used == MODEL
    assert document(sessions, doc_id).summary == ANALYSIS["summary"]
    (cached,) = cache_rows(sessions)
    assert (cached.workspace_id, cached.hits, cached.model, cached.tokens) == (
        workspace_id,
        0,
        MODEL,
        123,
    )
    assert cached.result == ANALYSIS
    assert cached.cache_key == cache_key(PETITION_TEXT, MODEL, "complete")
    assert before <= cached.created_at <= after
    assert cached.expires_at == cached.created_at + timedelta(days=7)
    entry = json.loads(await redis.get(f"{prefix}:{cached.cache_key}"))
    assert (entry["result"], entry["model"], entry["tokens"]) == (ANALYSIS, MODEL, 123)
    assert before_s <= entry["createdAt"] <= after_s
    assert await redis.ttl(f"{prefix}:{cached.cache_key}") == -1  # the cleanup rule expires it

    before = utcnow()
    second, job2 = await run(worker, doc_id)
    after = utcnow()
    assert (second["aiCached"], second["version"], second["mode"]) == (True, 2, "ai")
    assert len(stub.requests) == 1  # no HTTP call
    assert analyses(sessions, doc_id)[1].ai_analysis == ANALYSIS
    (cached,) = cache_rows(sessions)
    last_used = cached.last_used  # the hit's time
    assert cached.hits == 1 and last_used is not None and before <= last_used <= after
    assert job2.logs == [EXTRACTED, "AI analysis found in cache", "stored analysis version 2 (ai)"]


async def test_database_cache_serves_when_redis_lost_the_entry(
    sessions: Sessions,
    redis: Redis,
    prefix: str,
    tmp_path: Path,
    stub: OpenAiStub,
    make_worker: MakeWorker,
) -> None:
    _, doc_id = seed(sessions, write(tmp_path, "p.pdf", petition_pdf()))
    worker = make_worker(stub.base_url)
    await run(worker, doc_id)
    (cached,) = cache_rows(sessions)
    await redis.delete(f"{prefix}:{cached.cache_key}")
    result, _ = await run(worker, doc_id)
    assert result["aiCached"] is True and len(stub.requests) == 1
    assert cache_rows(sessions)[0].hits == 1
    entry = json.loads(await redis.get(f"{prefix}:{cached.cache_key}"))  # written back
    assert (entry["result"], entry["model"], entry["tokens"]) == (ANALYSIS, MODEL, 123)


async def test_entries_older_than_seven_days_are_not_used(
    sessions: Sessions,
    redis: Redis,
    prefix: str,
    tmp_path: Path,
    stub: OpenAiStub,
    make_worker: MakeWorker,
) -> None:
    _, doc_id = seed(sessions, write(tmp_path, "p.pdf", petition_pdf()))
    worker = make_worker(stub.base_url)
    await run(worker, doc_id)
    (cached,) = cache_rows(sessions)
    key = f"{prefix}:{cached.cache_key}"
    entry = json.loads(await redis.get(key))
    await redis.set(key, json.dumps({**entry, "createdAt": time.time() - 8 * 86400}))
    with sessions.begin() as s:
        s.execute(update(AiCache).values(created_at=utcnow() - timedelta(days=8)))
    before = utcnow()
    result, _ = await run(worker, doc_id)
    after = utcnow()
    assert result["aiCached"] is False and len(stub.requests) == 2
    (cached,) = cache_rows(sessions)  # refreshed in place
    assert before <= cached.created_at <= after
    assert cached.expires_at == cached.created_at + timedelta(days=7)


async def test_redis_hit_from_another_workspace_gets_its_own_row(
    sessions: Sessions, tmp_path: Path, stub: OpenAiStub, make_worker: MakeWorker
) -> None:
    a_ws, a_doc = seed(sessions, write(tmp_path, "a.pdf", petition_pdf()), "a")
    b_ws, b_doc = seed(sessions, write(tmp_path, "b.pdf", petition_pdf()), "b")
    worker = make_worker(stub.base_url)
    await run(worker, a_doc, workspaceId=a_ws)
    result, _ = await run(worker, b_doc, workspaceId=b_ws)
    assert result["aiCached"] is True and len(stub.requests) == 1
    hits = {row.workspace_id: row.hits for row in cache_rows(sessions)}
    assert hits == {a_ws: 0, b_ws: 1}


async def test_malformed_ai_answer_fails_the_job_and_a_retry_succeeds(
    sessions: Sessions, redis: Redis, prefix: str, tmp_path: Path, make_worker: MakeWorker
) -> None:
    _, doc_id = seed(sessions, write(tmp_path, "p.pdf", petition_pdf()))
    replies = [Reply(content="isto não é JSON"), Reply()]
    async with OpenAiStub(replies).running() as stub:
        worker = make_worker(stub.base_url)
        job = Job({"documentId": doc_id})
        with pytest.raises(AiMalformedResponseError) as caught:
            await worker(job.ctx)
        assert caught.value.retryable is True
        assert job.logs == [
            EXTRACTED,
            f"AI analysis failed (retryable): {caught.value.title}: {caught.value}",
        ]
        assert str(caught.value) == "assistant content is not a JSON object: 'isto não é JSON'"
        doc = document(sessions, doc_id)
        assert doc.ocr_status == OcrStatus.COMPLETED and not doc.processed  # text kept
        assert analyses(sessions, doc_id) == [] and cache_rows(sessions) == []
        assert await redis.keys(f"{prefix}:ai:*") == []  # nothing cached
        result, _ = await run(worker, doc_id)
    assert (result["version"], result["aiCached"], len(stub.requests)) == (1, False, 2)
    assert document(sessions, doc_id).processed


async def test_ai_timeout_fails_the_job_as_retryable(
    sessions: Sessions, tmp_path: Path, make_worker: MakeWorker
) -> None:
    _, doc_id = seed(sessions, write(tmp_path, "p.pdf", petition_pdf()))
    async with OpenAiStub([Reply(delay_s=0.5)]).running() as stub:
        worker = make_worker(stub.base_url, timeout_s=0.1)
        with pytest.raises(AiTimeoutError) as caught:
            await run(worker, doc_id)
    assert caught.value.retryable is True and analyses(sessions, doc_id) == []
    assert document(sessions, doc_id).ocr_status == OcrStatus.COMPLETED


# --- documents that fail -----------------------------------------------------------------


FAILURES: list[tuple[str, Callable[[], bytes], dict[str, Any], type[DocumentError]]] = [
    ("encrypted", lambda: encrypted_pdf(petition_pdf()), {}, EncryptedPdfError),
    ("corrupt", lambda: truncated(petition_pdf(), 0.6), {}, CorruptPdfError),
    ("no_text", image_only_pdf, {}, NoTextError),
    ("too_large", petition_pdf, {"max_bytes": 500}, DocumentTooLargeError),
    ("too_large", lambda: many_pages_pdf(3), {"max_pages": 2}, DocumentTooLargeError),
    ("timeout", petition_pdf, {"extract_timeout_s": 1e-9}, ExtractionTimeoutError),
]


@pytest.mark.parametrize(
    ("code", "make", "limits", "error"),
    FAILURES,
    ids=[f"{f[0]}-{i}" for i, f in enumerate(FAILURES)],
)
async def test_unusable_documents_fail_permanently(
    sessions: Sessions,
    tmp_path: Path,
    stub: OpenAiStub,
    make_worker: MakeWorker,
    code: str,
    make: Callable[[], bytes],
    limits: dict[str, Any],
    error: type[DocumentError],
) -> None:
    _, doc_id = seed(sessions, write(tmp_path, "bad.pdf", make()))
    worker = make_worker(stub.base_url, **limits)
    job = Job({"documentId": doc_id})
    with pytest.raises(error) as caught:
        await worker(job.ctx)
    assert caught.value.retryable is False and stub.requests == []
    doc = document(sessions, doc_id)
    assert doc.ocr_status == OcrStatus.FAILED and not doc.processed
    (row,) = analyses(sessions, doc_id)
    assert row.status == AnalysisStatus.FAILED and row.extracted_data == {"error": code}
    assert row.error == f"{error.title}: {caught.value}"
    assert job.logs == [f"document failed: {error.title}: {caught.value}"]
    with pytest.raises(error):  # the queue retries it: same failure, no second version
        await run(worker, doc_id)
    assert len(analyses(sessions, doc_id)) == 1


async def test_missing_file(sessions: Sessions, tmp_path: Path, make_worker: MakeWorker) -> None:
    _, doc_id = seed(sessions, tmp_path / "gone.pdf")
    with pytest.raises(DocumentFileMissingError, match="gone.pdf"):
        await run(make_worker(), doc_id)
    assert document(sessions, doc_id).ocr_status == OcrStatus.FAILED
    assert analyses(sessions, doc_id)[0].extracted_data == {"error": "file_missing"}


async def test_unknown_document_and_other_workspace(
    sessions: Sessions, tmp_path: Path, make_worker: MakeWorker
) -> None:
    _, doc_id = seed(sessions, write(tmp_path, "a.pdf", petition_pdf()), "a")
    other_ws, _ = seed(sessions, write(tmp_path, "b.pdf", petition_pdf()), "b")
    worker = make_worker()
    with pytest.raises(DocumentNotFoundError, match="no document nope"):
        await run(worker, "nope")
    with pytest.raises(DocumentNotFoundError, match=f"in workspace {other_ws}"):
        await run(worker, doc_id, workspaceId=other_ws)
    assert document(sessions, doc_id).ocr_status == OcrStatus.PENDING  # untouched


class BrokenPool(Executor):
    """An executor whose pool has died (what a killed ProcessPoolExecutor raises)."""

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        raise BrokenExecutor("a child process terminated abruptly")


async def test_crashed_extraction_gives_the_document_back(
    sessions: Sessions, tmp_path: Path, make_worker: MakeWorker
) -> None:
    _, doc_id = seed(sessions, write(tmp_path, "p.pdf", petition_pdf()))
    with pytest.raises(ExtractionCrashedError) as caught:
        await run(make_worker(pool=BrokenPool()), doc_id)
    assert caught.value.retryable is True
    assert document(sessions, doc_id).ocr_status == OcrStatus.PENDING
    assert analyses(sessions, doc_id) == []


# --- job data ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        None,
        [],
        {},
        {"documentId": ""},
        {"documentId": 7},
        {"documentId": "d", "analysisType": "no spaces"},
        {"documentId": "d", "analysisType": "x" * 51},
        {"documentId": "d", "workspaceId": 3},
    ],
)
def test_invalid_job_data(data: Any) -> None:
    with pytest.raises(InvalidJobError):
        DocumentRequest.from_data(data)


def test_job_data_defaults_and_aliases() -> None:
    assert DocumentRequest.from_data({"documentId": " d1 "}) == DocumentRequest("d1")
    assert DocumentRequest.from_data(
        {"documentId": "d", "type": "pdf-analysis", "workspaceId": "w"}
    ) == DocumentRequest("d", "pdf-analysis", "w")


def test_limits_must_be_positive() -> None:
    with pytest.raises(ConfigError, match="max_pages must be positive"):
        DocumentLimits(max_pages=0)
