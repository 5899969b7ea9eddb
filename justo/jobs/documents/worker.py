"""The document worker: job ``process-document`` on queue ``document-processing``.

Job data: ``{"documentId": str, "analysisType"?: str = "complete", "workspaceId"?: str}``
(the original's ``{"documentId", "type": "pdf-analysis"}`` is accepted too: ``type`` stands
in for ``analysisType``). With ``workspaceId`` the document must belong to that workspace.

Steps:
1. load the CaseDocument; ``ocr_status`` PROCESSING;
2. extract its text with pypdf in a process pool under ``DocumentLimits`` (bytes, pages,
   time) and find CNJ numbers, dates, R$ amounts and parties; store the text (capped),
   the page count and ``ocr_status`` COMPLETED. A permanent ``DocumentError`` (missing
   file, too large, encrypted, corrupt, no text, timeout) sets ``ocr_status`` FAILED,
   records the reason as a FAILED analysis version and is re-raised;
3. analyse the text with the AI endpoint, through a two-level cache keyed by content
   hash: Redis ``<prefix>ai:analysis:<sha256>`` = ``{"result", "createdAt", "model",
   "tokens"}`` (no TTL: the cleanup worker's ``ai:*`` 7-day rule expires it by
   ``createdAt``; older entries are also ignored here), then the workspace's AiCache row.
   A hit makes no HTTP call and increments the row's ``hits``. AI errors are re-raised
   (the document keeps its text; ``processed`` stays false);
4. store a COMPLETED CaseAnalysis as the document's next version and mark the document
   processed (summary from the AI).

Without AI (``ai=None``) the analysis is **extraction-only**: ``ai_analysis`` is
``{"mode": "extraction-only", ...}``, ``model_used`` is ``"none"``, the requested
``analysis_type`` is kept, and the result's ``mode`` is ``"extraction-only"``.

Result: ``{"documentId", "workspaceId", "analysisId", "version", "analysisType", "pages",
"textLength", "cnjs", "dates", "amounts", "partyCount", "aiCached", "mode", "model",
"processingMs"}``; ``mode`` is ``"ai"`` or ``"extraction-only"``.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis
from sqlalchemy.orm import Session, sessionmaker

from engine.errors import ConfigError, InvalidJobError
from engine.worker.context import JobContext
from justo.db.models import OcrStatus
from justo.jobs.documents.ai import AiAnswer, AiClient, cache_key
from justo.jobs.documents.errors import AiError, DocumentError
from justo.jobs.documents.pdf import Extraction, extract_document
from justo.jobs.documents.pool import DEFAULT_WORKERS, ExtractionPool
from justo.jobs.documents.store import (
    AI_CACHE_MAX_AGE,
    NO_MODEL,
    DocumentRef,
    DocumentStore,
    NewAnalysis,
)

QUEUE = "document-processing"
"""The queue of document jobs."""

JOB_NAME = "process-document"
"""The job name the worker handles."""

DEFAULT_ANALYSIS_TYPE = "complete"

EXTRACTION_ONLY = "extraction-only"
"""``mode`` of an analysis made without AI."""

HARD_TIMEOUT_GRACE_S = 5.0
"""Added to the extraction budget before the process is killed (covers process start;
the budget itself is checked between pages inside the process)."""

MAX_SUMMARY = 10_000
"""Characters of the AI summary copied to ``CaseDocument.summary``."""

_ANALYSIS_TYPE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,49}")


@dataclass(frozen=True)
class DocumentLimits:
    """What the worker accepts and keeps."""

    max_bytes: int = 20 * 1024 * 1024
    """Files above this size fail with ``DocumentTooLargeError``."""
    max_pages: int = 300
    """PDFs with more pages fail with ``DocumentTooLargeError``."""
    extract_timeout_s: float = 120.0
    """Text extraction longer than this fails with ``ExtractionTimeoutError``."""
    max_stored_chars: int = 1_000_000
    """``CaseDocument.extracted_text`` is cut to this many characters."""
    max_ai_chars: int = 100_000
    """Characters of text sent to the AI (about 25k tokens)."""
    max_parallel: int = DEFAULT_WORKERS
    """Extraction processes, and extractions in flight at once."""

    def __post_init__(self) -> None:
        numbers = {
            "max_bytes": self.max_bytes,
            "max_pages": self.max_pages,
            "extract_timeout_s": self.extract_timeout_s,
            "max_stored_chars": self.max_stored_chars,
            "max_ai_chars": self.max_ai_chars,
            "max_parallel": self.max_parallel,
        }
        for name, value in numbers.items():
            if value <= 0:
                raise ConfigError(f"DocumentLimits.{name} must be positive, not {value}")


DEFAULT_LIMITS = DocumentLimits()


@dataclass(frozen=True)
class DocumentRequest:
    """A job's data, validated."""

    document_id: str
    analysis_type: str = DEFAULT_ANALYSIS_TYPE
    workspace_id: str | None = None

    @classmethod
    def from_data(cls, data: Any) -> DocumentRequest:
        """Parse ``{"documentId", "analysisType"?, "workspaceId"?}`` (``type`` accepted
        for ``analysisType``).

        Raises:
            InvalidJobError: not an object, no ``documentId``, bad ``analysisType``.
        """
        if not isinstance(data, dict):
            raise InvalidJobError("job data must be an object with a documentId")
        document_id = data.get("documentId")
        if not isinstance(document_id, str) or not document_id.strip():
            raise InvalidJobError("job data has no documentId")
        kind = data.get("analysisType") or data.get("type") or DEFAULT_ANALYSIS_TYPE
        if not isinstance(kind, str) or not _ANALYSIS_TYPE.fullmatch(kind):
            raise InvalidJobError(
                f"invalid analysisType {kind!r} (letters, digits, -_.:, at most 50)"
            )
        workspace_id = data.get("workspaceId")
        if workspace_id is not None and not isinstance(workspace_id, str):
            raise InvalidJobError("workspaceId must be a string")
        return cls(document_id.strip(), kind, workspace_id or None)


@dataclass(frozen=True)
class AiOutcome:
    """The analysis part of a run."""

    mode: str
    ai_analysis: dict[str, Any]
    model: str
    cached: bool = False


class DocumentWorker:
    """Runs ``process-document`` jobs (see the module docstring).

    Args:
        sessions: a session factory on the application database.
        redis: for the AI answer cache.
        ai: the AI client; ``None`` gives extraction-only analyses.
        cache_prefix: namespace of the Redis cache keys.
        limits: size, page, time and text limits.
        pool: run extraction in this executor instead of an owned process pool (tests);
            the function sent is picklable, so any executor works.
    """

    def __init__(
        self,
        sessions: sessionmaker[Session],
        redis: Redis,
        *,
        ai: AiClient | None,
        cache_prefix: str = "",
        limits: DocumentLimits = DEFAULT_LIMITS,
        pool: Executor | None = None,
    ) -> None:
        self.store = DocumentStore(sessions)
        self.redis = redis
        self.ai = ai
        self.cache_prefix = cache_prefix
        self.limits = limits
        self.extractor = ExtractionPool(pool, max_workers=limits.max_parallel)

    async def __call__(self, job: JobContext) -> dict[str, Any]:
        """The handler: extract, analyse, store; the result dict."""
        clock = time.monotonic()
        request = DocumentRequest.from_data(job.data)
        job.progress(5)
        doc = await asyncio.to_thread(self.store.load, request.document_id, request.workspace_id)
        extraction = await self._extract(job, doc, request, clock)
        job.progress(50)
        outcome = await self._analyze(job, doc, extraction, request.analysis_type)
        job.progress(90)
        analysis = self._new_analysis(extraction, outcome, request.analysis_type, clock)
        analysis_id, version = await asyncio.to_thread(self.store.save_analysis, doc, analysis)
        job.log(f"stored analysis version {version} ({outcome.mode})")
        job.progress(100)
        return _result(
            doc, request, extraction, outcome, analysis_id, version, analysis.processing_ms
        )

    def close(self) -> None:
        """Shut the owned extraction pool down."""
        self.extractor.close()

    async def _extract(
        self, job: JobContext, doc: DocumentRef, request: DocumentRequest, clock: float
    ) -> Extraction:
        await asyncio.to_thread(self.store.set_ocr_status, doc, OcrStatus.PROCESSING)
        limits = self.limits
        try:
            extraction = await self.extractor.run(
                extract_document,
                doc.path,
                limits.max_bytes,
                limits.max_pages,
                limits.extract_timeout_s,
                timeout_s=limits.extract_timeout_s + HARD_TIMEOUT_GRACE_S,
            )
        except Exception as exc:
            await self._extraction_failed(job, doc, request, exc, clock)
            raise
        await asyncio.to_thread(
            self.store.save_text, doc, extraction.text[: limits.max_stored_chars], extraction.pages
        )
        job.log(
            f"extracted {len(extraction.text)} characters from {extraction.pages} "
            f"page(s); {len(extraction.entities.cnjs)} CNJ number(s)"
        )
        return extraction

    async def _extraction_failed(
        self,
        job: JobContext,
        doc: DocumentRef,
        request: DocumentRequest,
        exc: Exception,
        clock: float,
    ) -> None:
        try:
            if isinstance(exc, DocumentError) and not exc.retryable:
                job.log(f"document failed: {exc.title}: {exc}")
                await asyncio.to_thread(
                    self.store.mark_failed, doc, request.analysis_type, exc, _ms_since(clock)
                )
            else:
                job.log(f"extraction interrupted ({type(exc).__name__}); may be retried")
                await asyncio.to_thread(self.store.set_ocr_status, doc, OcrStatus.PENDING)
        except Exception as db_exc:  # never hide the extraction error behind this one
            job.log(f"could not record the failure: {type(db_exc).__name__}: {db_exc}")

    async def _analyze(
        self, job: JobContext, doc: DocumentRef, extraction: Extraction, analysis_type: str
    ) -> AiOutcome:
        if self.ai is None:
            return AiOutcome(
                EXTRACTION_ONLY,
                {"mode": EXTRACTION_ONLY, "reason": "AI is not configured"},
                NO_MODEL,
            )
        text = extraction.text[: self.limits.max_ai_chars]
        key = cache_key(text, self.ai.model, analysis_type)
        cached = await self._cached(doc.workspace_id, key)
        if cached is not None:
            job.log("AI analysis found in cache")
            return AiOutcome("ai", cached.result, cached.model, cached=True)
        job.progress(60)
        try:
            answer = await self.ai.analyze(text, analysis_type, _hints(extraction))
        except AiError as exc:
            kind = "retryable" if exc.retryable else "permanent"
            job.log(f"AI analysis failed ({kind}): {exc.title}: {exc}")
            raise
        await self._remember(doc.workspace_id, key, answer)
        job.log(f"AI analysis by {answer.model} ({answer.tokens} tokens)")
        return AiOutcome("ai", answer.result, answer.model)

    async def _cached(self, workspace_id: str, key: str) -> AiAnswer | None:
        r: Any = self.redis
        answer = _from_redis(await r.get(self.cache_prefix + key))
        if answer is not None:
            await asyncio.to_thread(self.store.cache_hit, workspace_id, key, answer)
            return answer
        answer = await asyncio.to_thread(self.store.cache_lookup, workspace_id, key)
        if answer is not None:
            await self._write_redis(key, answer)
        return answer

    async def _remember(self, workspace_id: str, key: str, answer: AiAnswer) -> None:
        await self._write_redis(key, answer)
        await asyncio.to_thread(self.store.cache_store, workspace_id, key, answer)

    async def _write_redis(self, key: str, answer: AiAnswer) -> None:
        r: Any = self.redis
        entry = {
            "result": answer.result,
            "createdAt": time.time(),
            "model": answer.model,
            "tokens": answer.tokens,
        }
        await r.set(self.cache_prefix + key, json.dumps(entry, ensure_ascii=False))

    def _new_analysis(
        self, extraction: Extraction, outcome: AiOutcome, analysis_type: str, clock: float
    ) -> NewAnalysis:
        data = extraction.to_json()
        data["textTruncated"] = len(extraction.text) > self.limits.max_stored_chars
        summary = outcome.ai_analysis.get("summary") if outcome.mode == "ai" else None
        return NewAnalysis(
            analysis_type=analysis_type,
            extracted_data=data,
            ai_analysis=outcome.ai_analysis,
            model_used=outcome.model[:100],
            processing_ms=_ms_since(clock),
            summary=summary[:MAX_SUMMARY] if isinstance(summary, str) and summary else None,
        )


def _from_redis(raw: Any) -> AiAnswer | None:
    """The answer in a Redis cache entry, if it is well-formed and younger than 7 days."""
    if not raw:
        return None
    try:
        entry = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(entry, dict) or not isinstance(entry.get("result"), dict):
        return None
    created = entry.get("createdAt")
    if (
        not isinstance(created, int | float)
        or time.time() - created > AI_CACHE_MAX_AGE.total_seconds()
    ):
        return None
    tokens = entry.get("tokens")
    return AiAnswer(
        entry["result"],
        str(entry.get("model") or NO_MODEL),
        tokens if isinstance(tokens, int) else 0,
    )


def _hints(extraction: Extraction) -> str:
    entities = extraction.entities
    parts = []
    if entities.cnjs:
        parts.append("CNJ numbers " + ", ".join(entities.cnjs[:10]))
    if entities.amounts:
        parts.append("amounts R$ " + ", ".join(str(a) for a in entities.amounts[:20]))
    return "; ".join(parts)


def _result(
    doc: DocumentRef,
    request: DocumentRequest,
    extraction: Extraction,
    outcome: AiOutcome,
    analysis_id: str,
    version: int,
    processing_ms: int,
) -> dict[str, Any]:
    entities = extraction.entities
    return {
        "documentId": doc.id,
        "workspaceId": doc.workspace_id,
        "analysisId": analysis_id,
        "version": version,
        "analysisType": request.analysis_type,
        "pages": extraction.pages,
        "textLength": len(extraction.text),
        "cnjs": list(entities.cnjs),
        "dates": [d.isoformat() for d in entities.dates],
        "amounts": [str(a) for a in entities.amounts],
        "partyCount": len(entities.parties),
        "aiCached": outcome.cached,
        "mode": outcome.mode,
        "model": outcome.model,
        "processingMs": processing_ms,
    }


def _ms_since(start: float) -> int:
    return int((time.monotonic() - start) * 1000)
