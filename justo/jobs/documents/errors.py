"""Errors of the document worker: named, with ``retryable`` saying whether a retry can help.

``DocumentError`` covers the document itself (missing, too large, encrypted, corrupt, no
text, extraction too slow): all permanent except ``ExtractionCrashedError``. The worker
marks the document's ``ocr_status`` FAILED with the reason for the permanent ones and
re-raises, so the job fails with the named error.

``AiError`` covers the AI endpoint. Timeouts, connection errors, 429/5xx and malformed JSON
are retryable; rejected credentials, other 4xx and answers cut off at the model's output
limit are not.

Every error takes one message argument only, so they pickle across the extraction process
pool. Messages never contain the AI API key.
"""

from __future__ import annotations

from engine.errors import EngineError


class DocumentError(EngineError):
    """Base of the document worker's errors about a document."""

    title = "Document error"
    code = "document_error"
    """Short machine-readable reason, stored with the failed analysis."""
    retryable = False
    """Whether running the job again may succeed."""


class DocumentNotFoundError(DocumentError):
    """No CaseDocument with that id (in that workspace, when the job names one)."""

    title = "Document not found"
    code = "not_found"


class DocumentFileMissingError(DocumentError):
    """The document's file is not on disk (or is not a regular file)."""

    title = "Document file missing"
    code = "file_missing"


class DocumentTooLargeError(DocumentError):
    """The file has more bytes or pages than ``DocumentLimits`` allows."""

    title = "Document too large"
    code = "too_large"


class EncryptedPdfError(DocumentError):
    """The PDF needs a password (or an encryption the installed libraries cannot open)."""

    title = "Encrypted PDF"
    code = "encrypted"


class CorruptPdfError(DocumentError):
    """The file is not a readable PDF (truncated, damaged, empty, not a PDF at all)."""

    title = "Corrupt PDF"
    code = "corrupt"


class NoTextError(DocumentError):
    """The PDF has no extractable text (scanned images only; OCR is not done here)."""

    title = "No extractable text"
    code = "no_text"


class ExtractionTimeoutError(DocumentError):
    """Text extraction took longer than ``DocumentLimits.extract_timeout_s``."""

    title = "Extraction timed out"
    code = "timeout"


class ExtractionCrashedError(DocumentError):
    """The extraction process died (killed, out of memory, pool shut down); retryable."""

    title = "Extraction process crashed"
    code = "crashed"
    retryable = True


class AiError(EngineError):
    """Base of the AI client's errors."""

    title = "AI error"
    retryable = False
    """Whether running the job again may succeed."""


class AiTimeoutError(AiError):
    """The endpoint did not answer within the client's timeout; retryable."""

    title = "AI timeout"
    retryable = True


class AiUnavailableError(AiError):
    """Connection failure, 408, 429 or 5xx from the endpoint; retryable."""

    title = "AI unavailable"
    retryable = True


class AiAuthError(AiError):
    """The endpoint rejected the credentials (401/403); a retry cannot help."""

    title = "AI credentials rejected"


class AiRequestError(AiError):
    """The endpoint refused the request (another 4xx: unknown model, bad parameters)."""

    title = "AI request refused"


class AiMalformedResponseError(AiError):
    """The answer is not the expected JSON object.

    Retryable: the model's output is sampled, so with ``response_format: json_object``
    a second call almost always yields valid JSON. Nothing is cached, and the queue's
    ``attempts`` bounds what the retries cost.
    """

    title = "Malformed AI answer"
    retryable = True


class AiTruncatedResponseError(AiMalformedResponseError):
    """The JSON was cut off at the model's output limit (``finish_reason: length``).

    Not retryable: the same input hits the same limit again.
    """

    title = "Truncated AI answer"
    retryable = False
