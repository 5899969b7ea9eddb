"""CNJ numbers: spellings, check digits, segment/court rules, and every example of the
project's domain notes (``../shared/docs/DOMAIN.md`` §4, beside the repository)."""

from __future__ import annotations

import pytest

from justo.jobs.cnj import (
    UF_BY_TR,
    Cnj,
    check_digits,
    court_acronym,
    format_cnj,
    is_valid_cnj,
    parse_cnj,
)
from justo.jobs.lawsuit import InvalidCnjError

VALID = [
    ("0058967-77.2016.8.19.0000", "TJRJ"),
    ("3000133-12.2025.8.19.0001", "TJRJ"),
    ("3000233-64.2025.8.19.0001", "TJRJ"),
    ("0003695-16.2019.8.26.0189", "TJSP"),
    ("0001716-28.1990.8.11.0003", "TJMT"),
    ("0000001-93.1979.8.26.0495", "TJSP"),
    ("0807655-31.2023.8.19.0211", "TJRJ"),
    ("5074025-50.2025.4.02.5101", "TRF2"),
]
"""§4's valid examples (``08076553120238190211`` written formatted) and their courts."""


@pytest.mark.parametrize(("text", "court"), VALID)
def test_valid_examples_parse_and_round_trip(text: str, court: str) -> None:
    cnj = parse_cnj(text)
    assert cnj.formatted == text
    assert cnj.digits == "".join(c for c in text if c.isdigit())
    assert parse_cnj(cnj.digits) == cnj
    assert cnj.court_acronym == court
    assert is_valid_cnj(text)
    assert str(cnj) == text


def test_bare_digits_and_stray_whitespace() -> None:
    assert parse_cnj("08076553120238190211").formatted == "0807655-31.2023.8.19.0211"
    assert format_cnj("  0058967-77.2016.8.19.0000\n") == "0058967-77.2016.8.19.0000"
    assert format_cnj("0058967-77. 2016.8.19 .0000") == "0058967-77.2016.8.19.0000"
    assert format_cnj("\t0058 9677 7201 6819 0000 ") == "0058967-77.2016.8.19.0000"


def test_fields() -> None:
    cnj = parse_cnj("5074025-50.2025.4.02.5101")
    assert cnj == Cnj(
        number="5074025", check="50", year="2025", segment="4", court="02", origin="5101"
    )
    assert cnj.segment_name == "Justiça Federal"


def test_judit_placeholder_has_right_check_digits_but_no_such_stf_court() -> None:
    """§4 lists ``1111111-04.1111.1.11.1111`` (Judit's placeholder) as valid: its check
    digits are right, but segment 1 (STF) has only TR 00, so strict parsing refuses it."""
    assert check_digits("1111111", "1111", "1", "11", "1111") == "04"
    with pytest.raises(InvalidCnjError, match=r"TR=11 is not a court of segment J=1 \(STF"):
        parse_cnj("1111111-04.1111.1.11.1111")
    lenient = parse_cnj("1111111-04.1111.1.11.1111", strict=False)
    assert lenient.court_acronym == ""


def test_invalid_example_names_the_expected_check_digits() -> None:
    with pytest.raises(InvalidCnjError, match="wrong check digits DD=99, expected 78"):
        parse_cnj("0009999-99.9999.8.26.9999")
    assert not is_valid_cnj("0009999-99.9999.8.26.9999")
    assert parse_cnj("0009999-78.9999.8.26.9999").court_acronym == "TJSP"


def test_check_digit_formula_matches_validation() -> None:
    for text, _ in VALID:
        cnj = parse_cnj(text)
        assert check_digits(cnj.number, cnj.year, cnj.segment, cnj.court, cnj.origin) == cnj.check
        assert (
            int(cnj.number + cnj.year + cnj.segment + cnj.court + cnj.origin + cnj.check) % 97 == 1
        )


@pytest.mark.parametrize(
    "text",
    [
        "",
        "abc",
        "0058967-77.2016.8.19",
        "0058967-77.2016.8.19.00000",
        "005896777201681900001",
        "0058967/77.2016.8.19.0000",
        "0058967-77-2016-8-19-0000",
    ],
)
def test_malformed_text_is_refused_with_the_expected_shape(text: str) -> None:
    with pytest.raises(InvalidCnjError, match="expected NNNNNNN-DD.AAAA.J.TR.OOOO"):
        parse_cnj(text)


def test_long_garbage_is_shortened_in_the_message() -> None:
    with pytest.raises(InvalidCnjError) as caught:
        parse_cnj("x" * 500)
    assert len(str(caught.value)) < 150


def test_segment_zero_is_refused() -> None:
    text = f"0000001-{check_digits('0000001', '2020', '0', '00', '0000')}.2020.0.00.0000"
    with pytest.raises(InvalidCnjError, match="segment J=0 is not 1..9"):
        parse_cnj(text)


def _valid(segment: str, court: str) -> str:
    return (
        f"0000100-{check_digits('0000100', '2020', segment, court, '0001')}"
        f".2020.{segment}.{court}.0001"
    )


@pytest.mark.parametrize(
    ("segment", "court", "acronym"),
    [
        ("1", "00", "STF"),
        ("2", "00", "CNJ"),
        ("3", "00", "STJ"),
        ("4", "01", "TRF1"),
        ("4", "06", "TRF6"),
        ("4", "90", "CJF"),
        ("5", "00", "TST"),
        ("5", "15", "TRT15"),
        ("5", "24", "TRT24"),
        ("5", "90", "CSJT"),
        ("6", "00", "TSE"),
        ("6", "19", "TRE-RJ"),
        ("7", "00", "STM"),
        ("7", "03", "CJM3"),
        ("8", "05", "TJBA"),
        ("8", "07", "TJDFT"),
        ("8", "26", "TJSP"),
        ("8", "27", "TJTO"),
        ("9", "13", "TJMMG"),
        ("9", "21", "TJMRS"),
        ("9", "26", "TJMSP"),
        ("9", "05", ""),
    ],
)
def test_court_acronyms(segment: str, court: str, acronym: str) -> None:
    assert parse_cnj(_valid(segment, court)).court_acronym == acronym


@pytest.mark.parametrize(
    ("segment", "court"),
    [
        ("1", "01"),
        ("3", "90"),
        ("4", "00"),
        ("4", "07"),
        ("5", "25"),
        ("6", "28"),
        ("7", "13"),
        ("8", "00"),
        ("8", "28"),
        ("8", "90"),
        ("9", "00"),
    ],
)
def test_courts_outside_their_segment_are_refused(segment: str, court: str) -> None:
    with pytest.raises(InvalidCnjError, match=f"TR={court} is not a court of segment J={segment}"):
        parse_cnj(_valid(segment, court))
    assert parse_cnj(_valid(segment, court), strict=False).court == court


def test_state_table_is_the_27_ufs_in_order() -> None:
    assert len(UF_BY_TR) == 27
    assert (UF_BY_TR["05"], UF_BY_TR["19"], UF_BY_TR["26"]) == ("BA", "RJ", "SP")
    assert court_acronym("8", "99") == ""
    assert court_acronym("x", "01") == ""
