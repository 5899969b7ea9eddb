"""Document processing: job ``process-document`` on queue ``document-processing``.

PDF text extraction (pypdf, in a process pool, under size/page/time limits), CNJ numbers,
dates, R$ amounts and parties found by pattern, an optional AI analysis through an
OpenAI-compatible endpoint with a content-hash cache, and versioned CaseAnalysis rows.
See ``justo.jobs.documents.worker`` for the job's data and result.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from justo.jobs.documents.ai import AiAnswer, AiClient, cache_key
    from justo.jobs.documents.entities import (
        Entities,
        Party,
        find_amounts,
        find_cnjs,
        find_dates,
        find_entities,
        find_parties,
        parse_brl,
    )
    from justo.jobs.documents.errors import (
        AiAuthError,
        AiError,
        AiMalformedResponseError,
        AiRequestError,
        AiTimeoutError,
        AiTruncatedResponseError,
        AiUnavailableError,
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
    from justo.jobs.documents.pdf import Extraction, extract_document
    from justo.jobs.documents.pool import ExtractionPool
    from justo.jobs.documents.store import DocumentStore
    from justo.jobs.documents.worker import (
        EXTRACTION_ONLY,
        JOB_NAME,
        QUEUE,
        DocumentLimits,
        DocumentRequest,
        DocumentWorker,
    )

_MODULES = {
    "ai": ("AiAnswer", "AiClient", "cache_key"),
    "entities": (
        "Entities",
        "Party",
        "find_amounts",
        "find_cnjs",
        "find_dates",
        "find_entities",
        "find_parties",
        "parse_brl",
    ),
    "errors": (
        "AiAuthError",
        "AiError",
        "AiMalformedResponseError",
        "AiRequestError",
        "AiTimeoutError",
        "AiTruncatedResponseError",
        "AiUnavailableError",
        "CorruptPdfError",
        "DocumentError",
        "DocumentFileMissingError",
        "DocumentNotFoundError",
        "DocumentTooLargeError",
        "EncryptedPdfError",
        "ExtractionCrashedError",
        "ExtractionTimeoutError",
        "NoTextError",
    ),
    "pdf": ("Extraction", "extract_document"),
    "pool": ("ExtractionPool",),
    "store": ("DocumentStore",),
    "worker": (
        "EXTRACTION_ONLY",
        "JOB_NAME",
        "QUEUE",
        "DocumentLimits",
        "DocumentRequest",
        "DocumentWorker",
    ),
}
_WHERE = {name: module for module, names in _MODULES.items() for name in names}


def __getattr__(name: str) -> Any:
    """Import public names on first use, so the extraction processes (which import
    ``justo.jobs.documents.pdf``) never load SQLAlchemy, httpx or the worker."""
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)


__all__ = [
    "EXTRACTION_ONLY",
    "JOB_NAME",
    "QUEUE",
    "AiAnswer",
    "AiAuthError",
    "AiClient",
    "AiError",
    "AiMalformedResponseError",
    "AiRequestError",
    "AiTimeoutError",
    "AiTruncatedResponseError",
    "AiUnavailableError",
    "CorruptPdfError",
    "DocumentError",
    "DocumentFileMissingError",
    "DocumentLimits",
    "DocumentNotFoundError",
    "DocumentRequest",
    "DocumentStore",
    "DocumentTooLargeError",
    "DocumentWorker",
    "EncryptedPdfError",
    "Entities",
    "Extraction",
    "ExtractionCrashedError",
    "ExtractionPool",
    "ExtractionTimeoutError",
    "NoTextError",
    "Party",
    "cache_key",
    "extract_document",
    "find_amounts",
    "find_cnjs",
    "find_dates",
    "find_entities",
    "find_parties",
    "parse_brl",
]
