"""Recipients are partly masked wherever they are logged."""

from __future__ import annotations

import pytest

from justo.jobs.notifications import mask_email, mask_phone, mask_recipient
from justo.jobs.notifications.masking import mask_in_text


@pytest.mark.parametrize(
    ("address", "masked"),
    [
        ("a@b.com", "a***@b.com"),
        ("joao.silva@escritorio.adv.br", "j***@escritorio.adv.br"),
        ("  Maria@x.io ", "M***@x.io"),
        ("@nolocal.com", "***@nolocal.com"),
        ("no-at-sign", "n***"),
        ("", ""),
    ],
)
def test_mask_email(address: str, masked: str) -> None:
    assert mask_email(address) == masked


@pytest.mark.parametrize(
    ("number", "masked"),
    [
        ("+5511999998888", "+55119****8888"),
        ("+55 (11) 99999-8888", "+55119****8888"),
        ("5511999998888", "55119****8888"),
        ("+551133334444", "+55113***4444"),
        ("+12025550123", "+12025**0123"),
        ("12345", "***45"),
        ("", ""),
    ],
)
def test_mask_phone(number: str, masked: str) -> None:
    assert mask_phone(number) == masked


def test_mask_recipient_picks_by_shape() -> None:
    assert mask_recipient("a@b.com") == "a***@b.com"
    assert mask_recipient("+5511999998888") == "+55119****8888"


def test_mask_in_text_masks_addresses_and_bare_phone_digits() -> None:
    text = "Invalid `to` field: a@b.com; Unable to deliver message to 5511999998888"
    assert mask_in_text(text, ["a@b.com", "+5511999998888"]) == (
        "Invalid `to` field: a***@b.com; Unable to deliver message to 55119****8888"
    )
    assert mask_in_text("nothing here", ["", "a@b.com"]) == "nothing here"
