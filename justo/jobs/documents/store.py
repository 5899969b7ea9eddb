"""The SQL side of the document worker (sync SQLAlchemy 2; called from threads).

Each method is one short transaction. Every query filters on the document's workspace.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from justo.db.models import AiCache, AnalysisStatus, CaseAnalysis, CaseDocument, OcrStatus
from justo.db.types import utcnow
from justo.jobs.documents.ai import AiAnswer
from justo.jobs.documents.errors import DocumentError, DocumentNotFoundError

AI_CACHE_MAX_AGE = timedelta(days=7)
"""Cached AI answers are used for this long (the cleanup worker deletes older rows)."""

AI_CACHE_TYPE = "document-analysis"
"""``AiCache.type`` of the rows written here."""

NO_MODEL = "none"
"""``CaseAnalysis.model_used`` when no model was involved."""

VERSION_ATTEMPTS = 3
"""Tries to insert an analysis when a concurrent job took the same version number."""


@dataclass(frozen=True)
class DocumentRef:
    """A CaseDocument, as the worker needs it."""

    id: str
    workspace_id: str
    path: str
    name: str


@dataclass(frozen=True)
class NewAnalysis:
    """An analysis to store as the document's next version."""

    analysis_type: str
    extracted_data: dict[str, Any]
    ai_analysis: dict[str, Any] | None
    model_used: str
    processing_ms: int
    summary: str | None = None
    """Copied to ``CaseDocument.summary`` when set."""


class DocumentStore:
    """Reads and writes CaseDocument, CaseAnalysis and AiCache rows.

    Args:
        sessions: a session factory (``justo.db.session_factory``).
    """

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.sessions = sessions

    def load(self, document_id: str, workspace_id: str | None) -> DocumentRef:
        """The document, which must belong to ``workspace_id`` when one is given.

        Raises:
            DocumentNotFoundError: no such document (in that workspace).
        """
        query = select(CaseDocument).where(CaseDocument.id == document_id)
        if workspace_id is not None:
            query = query.where(CaseDocument.workspace_id == workspace_id)
        with self.sessions() as session:
            row = session.scalars(query).one_or_none()
            if row is None:
                where = f" in workspace {workspace_id}" if workspace_id else ""
                raise DocumentNotFoundError(f"no document {document_id}{where}")
            return DocumentRef(row.id, row.workspace_id, row.path, row.name)

    def set_ocr_status(self, doc: DocumentRef, status: OcrStatus) -> None:
        """Set the document's ``ocr_status`` (PROCESSING at start, PENDING to give back)."""
        with self.sessions.begin() as session:
            session.execute(_document_update(doc).values(ocr_status=status))

    def save_text(self, doc: DocumentRef, text: str, pages: int) -> None:
        """Store the extracted text and page count; ``ocr_status`` COMPLETED."""
        with self.sessions.begin() as session:
            session.execute(
                _document_update(doc).values(
                    extracted_text=text, pages=pages, ocr_status=OcrStatus.COMPLETED
                )
            )

    def mark_failed(
        self, doc: DocumentRef, analysis_type: str, error: DocumentError, processing_ms: int
    ) -> None:
        """``ocr_status`` FAILED, and the reason as a FAILED analysis version.

        A retry failing the same way does not add another identical version.
        """
        reason = f"{error.title}: {error}"
        with self.sessions.begin() as session:
            session.execute(
                _document_update(doc).values(ocr_status=OcrStatus.FAILED, processed=False)
            )
            latest = session.scalars(
                select(CaseAnalysis)
                .where(CaseAnalysis.document_id == doc.id)
                .order_by(CaseAnalysis.version.desc())
                .limit(1)
            ).one_or_none()
            if (
                latest is not None
                and latest.status == AnalysisStatus.FAILED
                and latest.error == reason
            ):
                return
            session.add(
                CaseAnalysis(
                    document_id=doc.id,
                    workspace_id=doc.workspace_id,
                    version=(latest.version + 1) if latest else 1,
                    analysis_type=analysis_type,
                    extracted_data={"error": error.code},
                    ai_analysis=None,
                    model_used=NO_MODEL,
                    processing_ms=processing_ms,
                    status=AnalysisStatus.FAILED,
                    error=reason,
                    is_temporary=False,
                )
            )

    def save_analysis(self, doc: DocumentRef, analysis: NewAnalysis) -> tuple[str, int]:
        """Store ``analysis`` as the next version (COMPLETED) and mark the document
        processed; ``(analysis id, version)``.

        Two jobs racing for the same version number: the loser retries with the next.
        """
        for attempt in range(1, VERSION_ATTEMPTS + 1):
            try:
                return self._insert_analysis(doc, analysis)
            except IntegrityError:
                if attempt == VERSION_ATTEMPTS:
                    raise
        raise AssertionError("unreachable")

    def _insert_analysis(self, doc: DocumentRef, analysis: NewAnalysis) -> tuple[str, int]:
        with self.sessions.begin() as session:
            version = 1 + (
                session.scalar(
                    select(func.max(CaseAnalysis.version)).where(CaseAnalysis.document_id == doc.id)
                )
                or 0
            )
            row = CaseAnalysis(
                document_id=doc.id,
                workspace_id=doc.workspace_id,
                version=version,
                analysis_type=analysis.analysis_type,
                extracted_data=analysis.extracted_data,
                ai_analysis=analysis.ai_analysis,
                model_used=analysis.model_used,
                processing_ms=analysis.processing_ms,
                status=AnalysisStatus.COMPLETED,
                is_temporary=False,
            )
            session.add(row)
            values: dict[str, Any] = {"processed": True}
            if analysis.summary is not None:
                values["summary"] = analysis.summary
            session.execute(_document_update(doc).values(**values))
            session.flush()
            return row.id, version

    def cache_lookup(self, workspace_id: str, key: str) -> AiAnswer | None:
        """The workspace's cached answer under ``key`` if fresh, counting the hit."""
        now = utcnow()
        with self.sessions.begin() as session:
            row = session.scalars(
                select(AiCache).where(
                    AiCache.workspace_id == workspace_id,
                    AiCache.cache_key == key,
                    AiCache.created_at >= now - AI_CACHE_MAX_AGE,
                    or_(AiCache.expires_at.is_(None), AiCache.expires_at > now),
                )
            ).one_or_none()
            if row is None or not isinstance(row.result, dict):
                return None
            answer = AiAnswer(row.result, row.model or NO_MODEL, row.tokens)
            session.execute(
                update(AiCache)
                .where(AiCache.id == row.id)
                .values(hits=AiCache.hits + 1, last_used=now)
            )
            return answer

    def cache_hit(self, workspace_id: str, key: str, answer: AiAnswer) -> None:
        """Count a hit found in Redis (creating the workspace's row if it has none)."""
        self._upsert(workspace_id, key, answer, hit=True)

    def cache_store(self, workspace_id: str, key: str, answer: AiAnswer) -> None:
        """Store a fresh answer (replacing a stale row; its hit count is kept)."""
        self._upsert(workspace_id, key, answer, hit=False)

    def _upsert(self, workspace_id: str, key: str, answer: AiAnswer, *, hit: bool) -> None:
        for attempt in (1, 2):  # a concurrent insert of the same key: update it instead
            try:
                self._upsert_once(workspace_id, key, answer, hit)
                return
            except IntegrityError:
                if attempt == 2:
                    raise

    def _upsert_once(self, workspace_id: str, key: str, answer: AiAnswer, hit: bool) -> None:
        now = utcnow()
        with self.sessions.begin() as session:
            row_id = session.scalar(
                select(AiCache.id).where(
                    AiCache.workspace_id == workspace_id, AiCache.cache_key == key
                )
            )
            if row_id is None:
                session.add(_cache_row(workspace_id, key, answer, now, hits=int(hit)))
                return
            values: dict[str, Any] = {"last_used": now}
            if hit:
                values["hits"] = AiCache.hits + 1
            else:
                values.update(
                    result=answer.result,
                    model=answer.model,
                    tokens=answer.tokens,
                    created_at=now,
                    expires_at=now + AI_CACHE_MAX_AGE,
                )
            session.execute(update(AiCache).where(AiCache.id == row_id).values(**values))


def _document_update(doc: DocumentRef) -> Any:
    return update(CaseDocument).where(
        CaseDocument.id == doc.id, CaseDocument.workspace_id == doc.workspace_id
    )


def _cache_row(workspace_id: str, key: str, answer: AiAnswer, now: datetime, hits: int) -> AiCache:
    return AiCache(
        workspace_id=workspace_id,
        cache_key=key,
        type=AI_CACHE_TYPE,
        prompt=None,
        result=answer.result,
        model=answer.model,
        tokens=answer.tokens,
        cost=None,
        hits=hits,
        last_used=now,
        created_at=now,
        expires_at=now + AI_CACHE_MAX_AGE,
    )
