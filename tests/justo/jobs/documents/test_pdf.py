"""Text extraction from generated PDFs, and the process pool that runs it."""

from __future__ import annotations

import asyncio
import os
import pickle
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from justo.jobs.documents.errors import (
    CorruptPdfError,
    DocumentError,
    DocumentFileMissingError,
    DocumentTooLargeError,
    EncryptedPdfError,
    ExtractionCrashedError,
    ExtractionTimeoutError,
    NoTextError,
)
from justo.jobs.documents.pdf import clean_text, extract_document
from justo.jobs.documents.pool import ExtractionPool
from tests.justo.jobs.documents.pdfs import (
    CNJ_A,
    CNJ_B,
    encrypted_pdf,
    image_only_pdf,
    many_pages_pdf,
    petition_pdf,
    text_pdf,
    truncated,
    write,
)

MB = 1024 * 1024


def test_text_and_entities_of_a_two_page_petition(tmp_path: Path) -> None:
    result = extract_document(str(write(tmp_path, "p.pdf", petition_pdf())), 20 * MB, 300, 30)
    assert result.pages == 2
    assert "Autor: João da Silva" in result.text
    assert result.entities.cnjs == (CNJ_A, CNJ_B)
    assert [str(a) for a in result.entities.amounts] == ["1234567.89", "500.00"]
    assert [p.name for p in result.entities.parties] == [
        "João da Silva",
        "Banco Exemplo S.A.",
        "Maria Souza",
    ]
    data = result.to_json()
    assert data["textLength"] == len(result.text) and data["unreadablePages"] == []
    assert data["dates"] == ["2024-03-12", "2024-06-05"]


def test_pages_are_separated(tmp_path: Path) -> None:
    result = extract_document(str(write(tmp_path, "m.pdf", many_pages_pdf(3))), MB, 10, 30)
    assert result.pages == 3
    assert result.text == "Página 1\n\nPágina 2\n\nPágina 3"


def test_empty_user_password_pdf_is_opened(tmp_path: Path) -> None:
    data = encrypted_pdf(text_pdf(["Autor: Fulano"]), user_password="")
    result = extract_document(str(write(tmp_path, "e.pdf", data)), MB, 10, 30)
    assert "Autor: Fulano" in result.text


@pytest.mark.parametrize(
    ("data", "error", "message"),
    [
        (encrypted_pdf(text_pdf(["segredo"])), EncryptedPdfError, "password-protected"),
        (truncated(petition_pdf()), CorruptPdfError, "unreadable PDF"),
        (b"", CorruptPdfError, "empty file"),
        (b"hello, I am a text file", CorruptPdfError, "not a PDF"),
        (image_only_pdf(), NoTextError, "no extractable text"),
        (text_pdf([]), NoTextError, "no extractable text"),
    ],
)
def test_unusable_pdfs_fail_with_named_errors(
    tmp_path: Path, data: bytes, error: type[DocumentError], message: str
) -> None:
    path = write(tmp_path, "bad.pdf", data)
    with pytest.raises(error, match=message) as caught:
        extract_document(str(path), MB, 10, 30)
    assert not caught.value.retryable


def test_missing_file_and_directory(tmp_path: Path) -> None:
    with pytest.raises(DocumentFileMissingError, match="file not found"):
        extract_document(str(tmp_path / "nope.pdf"), MB, 10, 30)
    with pytest.raises(DocumentFileMissingError, match="not a regular file"):
        extract_document(str(tmp_path), MB, 10, 30)


def test_size_and_page_limits(tmp_path: Path) -> None:
    path = write(tmp_path, "big.pdf", many_pages_pdf(4))
    with pytest.raises(DocumentTooLargeError, match=r"bytes; the limit is 100$"):
        extract_document(str(path), 100, 10, 30)
    with pytest.raises(DocumentTooLargeError, match="4 pages; the limit is 3"):
        extract_document(str(path), MB, 3, 30)
    assert extract_document(str(path), os.path.getsize(path), 4, 30).pages == 4


def test_time_budget_is_checked_between_pages(tmp_path: Path) -> None:
    path = write(tmp_path, "m.pdf", many_pages_pdf(2))
    with pytest.raises(ExtractionTimeoutError, match="exceeded 0s at page 1 of 2"):
        extract_document(str(path), MB, 10, 0)


def test_errors_pickle_across_processes() -> None:
    error = pickle.loads(pickle.dumps(EncryptedPdfError("the PDF is password-protected")))
    assert isinstance(error, EncryptedPdfError) and str(error) == "the PDF is password-protected"


def test_clean_text() -> None:
    assert clean_text("a\x00b\r\nc\rd\xa0e\u202ff\x0cg") == "ab\nc\nd e fg"


# --- the pool --------------------------------------------------------------------------


def _process_gone(pid: int) -> bool:
    """Whether process ``pid`` has exited (it may linger as a zombie until reaped)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] in {"Z", "X"}


async def _until(condition: Callable[[], bool], timeout: float = 30.0) -> None:
    """Wait for ``condition``; the timeout only guards against a hang."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        await asyncio.sleep(0.02)


async def test_real_process_pool_extracts_and_restarts_after_a_hard_timeout(tmp_path: Path) -> None:
    path = str(write(tmp_path, "p.pdf", petition_pdf()))
    pool = ExtractionPool(max_workers=1)
    try:
        assert not pool.started
        result = await pool.run(extract_document, path, MB, 10, 30.0, timeout_s=30)
        assert result.entities.cnjs == (CNJ_A, CNJ_B)
        with pytest.raises(CorruptPdfError):  # errors raised in the child come back named
            await pool.run(
                extract_document, str(write(tmp_path, "x.pdf", b"x")), MB, 10, 30.0, timeout_s=30
            )
        first = pool.executor()
        child = await pool.run(os.getpid, timeout_s=30)
        with pytest.raises(ExtractionTimeoutError, match="no result within 0.2s"):
            # A call that will not finish: the pool must give up on it, not wait for it
            # (the outer ceiling, far below the call's hour, guards exactly that).
            await asyncio.wait_for(pool.run(time.sleep, 3600, timeout_s=0.2), 60)
        assert not pool.started  # the stuck process was killed with its pool
        await _until(lambda: _process_gone(child))
        again = await pool.run(extract_document, path, MB, 10, 30.0, timeout_s=30)
        assert again.pages == 2 and pool.executor() is not first
    finally:
        pool.close()


async def test_injected_executor_is_used_and_never_killed(tmp_path: Path) -> None:
    path = str(write(tmp_path, "p.pdf", petition_pdf()))
    with ThreadPoolExecutor(1) as executor:
        pool = ExtractionPool(executor)
        assert (await pool.run(extract_document, path, MB, 10, 30.0, timeout_s=30)).pages == 2
        with pytest.raises(ExtractionTimeoutError):
            await pool.run(time.sleep, 0.1, timeout_s=0.02)
        assert pool.executor() is executor
        pool.close()
        assert (await pool.run(extract_document, path, MB, 10, 30.0, timeout_s=30)).pages == 2


async def test_broken_pool_is_a_retryable_crash() -> None:
    pool = ExtractionPool(max_workers=1)
    try:
        with pytest.raises(ExtractionCrashedError) as caught:
            await pool.run(os._exit, 3, timeout_s=30)  # the process dies mid-call
        assert caught.value.retryable and not pool.started
    finally:
        pool.close()


async def test_calls_in_flight_are_bounded() -> None:
    with ThreadPoolExecutor(4) as executor:
        pool = ExtractionPool(executor, max_workers=1)
        active = peak = 0

        def work() -> None:
            nonlocal active, peak
            active += 1
            peak = max(peak, active)
            time.sleep(0.02)
            active -= 1

        await asyncio.gather(*(pool.run(work, timeout_s=5) for _ in range(3)))
        assert peak == 1
