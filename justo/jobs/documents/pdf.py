"""PDF text extraction with pypdf, meant to run in a worker process.

``extract_document`` is the module-level (picklable) function the document worker sends
to its process pool: it checks the limits, reads the text page by page under a time
budget, and finds the entities, so nothing CPU-bound runs on the event loop. Every
failure is a named ``DocumentError``; anything unexpected pypdf raises on a damaged file
becomes ``CorruptPdfError``.
"""

from __future__ import annotations

import logging
import os
import re
import stat
import time
import warnings
from dataclasses import dataclass, field
from typing import Any

from pypdf import PasswordType, PdfReader
from pypdf.errors import DependencyError

from justo.jobs.documents.entities import Entities, find_entities
from justo.jobs.documents.errors import (
    CorruptPdfError,
    DocumentFileMissingError,
    DocumentTooLargeError,
    EncryptedPdfError,
    ExtractionTimeoutError,
    NoTextError,
)

PAGE_SEPARATOR = "\n\n"
"""Placed between the texts of consecutive pages."""

HEADER_WINDOW = 1024
"""``%PDF-`` must appear within the first bytes (readers allow leading junk)."""

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_SPACES = re.compile(r"[\xa0\u2000-\u200a\u202f\u205f\u3000]")


@dataclass(frozen=True)
class Extraction:
    """A document's text and what was found in it."""

    text: str
    pages: int
    entities: Entities = field(default_factory=Entities)
    unreadable_pages: tuple[int, ...] = ()
    """1-based numbers of pages whose text could not be extracted (skipped)."""

    def to_json(self) -> dict[str, Any]:
        """The analysis's ``extracted_data``: ``textLength``, ``pages``, ``cnjs``, ``dates``
        (ISO), ``amounts`` (decimal strings), ``parties``, ``unreadablePages``."""
        return {
            "textLength": len(self.text),
            "pages": self.pages,
            **self.entities.to_json(),
            "unreadablePages": list(self.unreadable_pages),
        }


def extract_document(path: str, max_bytes: int, max_pages: int, budget_s: float) -> Extraction:
    """Read the PDF at ``path`` and find its entities (runs in a pool process).

    Args:
        path: the file.
        max_bytes: larger files are refused before being parsed.
        max_pages: PDFs with more pages are refused before any text is read.
        budget_s: time allowed for reading text, checked between pages.

    Raises:
        DocumentFileMissingError, DocumentTooLargeError, EncryptedPdfError,
        CorruptPdfError, NoTextError, ExtractionTimeoutError.
    """
    text, pages, unreadable = read_pdf_text(
        path, max_bytes=max_bytes, max_pages=max_pages, budget_s=budget_s
    )
    return Extraction(text, pages, find_entities(text), unreadable)


def read_pdf_text(
    path: str, *, max_bytes: int, max_pages: int, budget_s: float
) -> tuple[str, int, tuple[int, ...]]:
    """``(text, page count, unreadable page numbers)`` of the PDF at ``path``.

    See ``extract_document`` for the arguments and errors.
    """
    deadline = time.monotonic() + budget_s
    _check_file(path, max_bytes)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reader = _open(path)
        count = _page_count(reader, max_pages)
        texts, unreadable = _page_texts(reader, count, deadline, budget_s)
    text = PAGE_SEPARATOR.join(texts).strip()
    if not text:
        if unreadable:
            raise CorruptPdfError(f"no page could be read ({len(unreadable)} failed)")
        raise NoTextError(
            f"no extractable text in {count} page(s) (scanned images? OCR is not supported)"
        )
    return text, count, tuple(unreadable)


def clean_text(text: str) -> str:
    """Normalise extracted text: unify line ends and odd spaces, drop control characters
    (PostgreSQL refuses NUL in text)."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return _CONTROL.sub("", _SPACES.sub(" ", text))


def _check_file(path: str, max_bytes: int) -> None:
    try:
        info = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        raise DocumentFileMissingError(f"file not found: {path}") from None
    except OSError as exc:
        raise DocumentFileMissingError(f"cannot stat {path}: {exc.strerror}") from None
    if not stat.S_ISREG(info.st_mode):
        raise DocumentFileMissingError(f"not a regular file: {path}")
    if info.st_size > max_bytes:
        raise DocumentTooLargeError(f"file is {info.st_size} bytes; the limit is {max_bytes}")
    if info.st_size == 0:
        raise CorruptPdfError("empty file")
    with open(path, "rb") as handle:
        if b"%PDF-" not in handle.read(HEADER_WINDOW):
            raise CorruptPdfError("not a PDF (no %PDF- header)")


def _open(path: str) -> PdfReader:
    try:
        reader = PdfReader(path, strict=False)
    except Exception as exc:  # pypdf raises many kinds of errors on damaged files
        raise CorruptPdfError(f"unreadable PDF: {_describe(exc)}") from None
    if reader.is_encrypted:
        _decrypt(reader)
    return reader


def _decrypt(reader: PdfReader) -> None:
    """Open PDFs that are encrypted with an empty user password (restrictions only)."""
    try:
        outcome = reader.decrypt("")
    except DependencyError:
        raise EncryptedPdfError(
            "encrypted with AES; install the 'cryptography' package to open it"
        ) from None
    except Exception as exc:
        raise CorruptPdfError(f"broken encryption dictionary: {_describe(exc)}") from None
    if outcome == PasswordType.NOT_DECRYPTED:
        raise EncryptedPdfError("the PDF is password-protected")


def _page_count(reader: PdfReader, max_pages: int) -> int:
    try:
        count = len(reader.pages)
    except Exception as exc:
        raise CorruptPdfError(f"cannot read the page tree: {_describe(exc)}") from None
    if count == 0:
        raise CorruptPdfError("the PDF has no pages")
    if count > max_pages:
        raise DocumentTooLargeError(f"{count} pages; the limit is {max_pages}")
    return count


def _page_texts(
    reader: PdfReader, count: int, deadline: float, budget_s: float
) -> tuple[list[str], list[int]]:
    texts: list[str] = []
    unreadable: list[int] = []
    for number in range(1, count + 1):
        if time.monotonic() >= deadline:
            raise ExtractionTimeoutError(
                f"text extraction exceeded {budget_s:g}s at page {number} of {count}"
            )
        try:
            page_text = reader.pages[number - 1].extract_text() or ""
        except Exception:  # one damaged page should not lose the others
            unreadable.append(number)
            continue
        texts.append(clean_text(page_text).strip())
    return texts, unreadable


def _describe(exc: BaseException) -> str:
    message = str(exc).strip()
    return f"{type(exc).__name__}: {message[:200]}" if message else type(exc).__name__


def quiet_pypdf() -> None:
    """Pool initializer: silence pypdf's logged warnings about damaged files."""
    logging.getLogger("pypdf").setLevel(logging.ERROR)
