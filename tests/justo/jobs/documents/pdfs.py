"""PDFs generated for the tests: text (one or many pages), encrypted, truncated, image-only."""

from __future__ import annotations

import io
from pathlib import Path

from fpdf import FPDF
from PIL import Image
from pypdf import PdfReader, PdfWriter

CNJ_A = "0058967-77.2016.8.19.0000"
"""Valid (TJRJ)."""
CNJ_B = "5074025-50.2025.4.02.5101"
"""Valid (TRF2)."""
CNJ_INVALID = "0009999-99.9999.8.26.9999"
"""Wrong check digits (should be 78)."""

PETITION = [
    "EXCELENTISSIMO SENHOR DOUTOR JUIZ DE DIREITO DA 1a VARA CIVEL",
    f"Processo nº {CNJ_A}",
    "Autor: João da Silva, CPF 123.456.789-09",
    "Réu: Banco Exemplo S.A., CNPJ 12.345.678/0001-90",
    "Valor da causa: R$ 1.234.567,89",
    "Distribuído em 12 de março de 2024; audiência em 05/06/2024.",
]
"""Page 1 of the standard test petition (latin-1 only: the PDF core fonts)."""

PETITION_PAGE_2 = [
    f"Processo relacionado: {CNJ_B}; número inválido citado: {CNJ_INVALID}.",
    "Multa diária de R$ 500,00 em caso de descumprimento.",
    "Requerente: Maria Souza",
]


def text_pdf(*pages: list[str]) -> bytes:
    """A PDF with one page per list of lines (Helvetica: latin-1 text)."""
    pdf = FPDF()
    pdf.set_font("Helvetica", size=11)
    for lines in pages:
        pdf.add_page()
        for line in lines:
            pdf.cell(0, 8, line, new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())


def petition_pdf() -> bytes:
    """The standard two-page test petition."""
    return text_pdf(PETITION, PETITION_PAGE_2)


def many_pages_pdf(count: int) -> bytes:
    """``count`` pages, each saying its number."""
    return text_pdf(*([f"Página {n}"] for n in range(1, count + 1)))


def image_only_pdf() -> bytes:
    """One page holding a picture and no text (like a scan)."""
    picture = Image.new("RGB", (120, 60), (200, 30, 30))
    pdf = FPDF()
    pdf.add_page()
    pdf.image(picture, x=20, y=20, w=120)
    return bytes(pdf.output())


def encrypted_pdf(data: bytes, user_password: str = "segredo") -> bytes:
    """``data`` encrypted with RC4-128 (pure Python in pypdf: no extra library needed)."""
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(data)))
    writer.encrypt(user_password=user_password, owner_password="dono", algorithm="RC4-128")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def truncated(data: bytes, fraction: float = 0.5) -> bytes:
    """The first ``fraction`` of the bytes (a broken upload)."""
    return data[: int(len(data) * fraction)]


def write(directory: Path, name: str, data: bytes) -> Path:
    """Save ``data`` as ``directory/name``; the path."""
    path = directory / name
    path.write_bytes(data)
    return path
