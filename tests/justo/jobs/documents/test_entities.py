"""Pattern extraction: CNJ numbers, dates, R$ amounts, parties (pure functions)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from justo.jobs.documents.entities import (
    Party,
    find_amounts,
    find_cnjs,
    find_dates,
    find_entities,
    find_parties,
    parse_brl,
)
from tests.justo.jobs.documents.pdfs import CNJ_A, CNJ_B, CNJ_INVALID


def test_cnjs_valid_only_formatted_and_deduplicated() -> None:
    text = (
        f"Autos {CNJ_A}, apensos {CNJ_B}; citado {CNJ_INVALID}; de novo {CNJ_A}; "
        "bare 08076553120238190211."
    )
    assert find_cnjs(text) == [CNJ_A, CNJ_B, "0807655-31.2023.8.19.0211"]


def test_cnj_with_whitespace_from_pdf_line_breaks() -> None:
    assert find_cnjs("nº 0058967-77.2016.8.19.\n0000 fim") == [CNJ_A]


@pytest.mark.parametrize(
    "text",
    [
        "0058967-78.2016.8.19.0000",  # check digits off by one
        "00589677720168190000123",  # 23 digits: not a CNJ
        "10058967-77.2016.8.19.0000",  # an extra leading digit
        "0058967-77.2016.8.19.00001",
        "1234567-89.2024.0.00.0000",  # segment 0 does not exist
    ],
)
def test_cnj_lookalikes_are_dropped(text: str) -> None:
    assert find_cnjs(text) == []


def test_dates_numeric_and_written() -> None:
    text = (
        "Em 12 de março de 2024, em 1º de abril de 2023, em 05/06/2024, "
        "em 3 de MARCO de 2020, de novo 12/03/2024."
    )
    assert find_dates(text) == [
        date(2024, 3, 12),
        date(2023, 4, 1),
        date(2024, 6, 5),
        date(2020, 3, 3),
    ]


@pytest.mark.parametrize(
    "text",
    [
        "31/02/2024",
        "12/13/2024",
        "01/01/1850",
        "30 de fevereiro de 2024",
        "5/6/20245",
        "1/2/2024/1",
    ],
)
def test_impossible_dates_are_dropped(text: str) -> None:
    assert find_dates(text) == []


@pytest.mark.parametrize(
    ("written", "value"),
    [
        ("1.234.567,89", "1234567.89"),
        ("500,00", "500.00"),
        ("10.000", "10000.00"),
        ("1234,5", "1234.50"),
        ("0,99", "0.99"),
    ],
)
def test_parse_brl(written: str, value: str) -> None:
    assert parse_brl(written) == Decimal(value)


def test_amounts() -> None:
    text = (
        "Valor da causa: R$ 1.234.567,89. Multa de R$500,00 e R$ 10.000; "
        "de novo R$ 1.234.567,89; em dólar US$ 7,00."
    )
    assert find_amounts(text) == [Decimal("1234567.89"), Decimal("500.00"), Decimal("10000.00")]


def test_ambiguous_amounts_are_skipped_not_misread() -> None:
    assert find_amounts("R$ 1.234,5 e R$ 12.34,00") == []


def test_amounts_are_exact_decimals() -> None:
    (amount,) = find_amounts("R$ 0,10")
    assert amount == Decimal("0.10") and amount.as_tuple().exponent == -2


def test_parties() -> None:
    text = "\n".join(
        [
            "Autor: João da Silva, CPF 123.456.789-09, residente em Niterói",
            "RÉU: BANCO EXEMPLO S.A. (CNPJ 12.345.678/0001-90)",
            "Requerente: Maria Souza",
            "Requerida: Empresa X Ltda.",
            "Reclamante: Pedro",
            "Reclamada: Loja Y",
            "Exequente: Fazenda Nacional",
            "Executado: Carlos Lima - OAB/RJ 1234",
            "Autor(a): Ana Souza",
            "Autor: João da Silva",  # duplicate
            "Re: assunto de e-mail",  # not a party
            "O autor: alega que...",  # label not at line start
        ]
    )
    assert find_parties(text) == [
        Party("autor", "active", "João da Silva", "123.456.789-09"),
        Party("reu", "passive", "BANCO EXEMPLO S.A.", "12.345.678/0001-90"),
        Party("requerente", "active", "Maria Souza"),
        Party("requerido", "passive", "Empresa X Ltda."),
        Party("reclamante", "active", "Pedro"),
        Party("reclamado", "passive", "Loja Y"),
        Party("exequente", "active", "Fazenda Nacional"),
        Party("executado", "passive", "Carlos Lima"),
        Party("autor", "active", "Ana Souza"),
    ]


def test_find_entities_json() -> None:
    text = f"Processo {CNJ_A}\nAutor: Fulano\nR$ 1.000,00 em 12/03/2024"
    assert find_entities(text).to_json() == {
        "cnjs": [CNJ_A],
        "dates": ["2024-03-12"],
        "amounts": ["1000.00"],
        "parties": [{"role": "autor", "side": "active", "name": "Fulano", "document": None}],
    }


def test_nothing_found_in_plain_text() -> None:
    assert find_entities("Nada aqui.").to_json() == {
        "cnjs": [],
        "dates": [],
        "amounts": [],
        "parties": [],
    }
