"""Partial masking of recipients for logs: enough to tell deliveries apart, not to contact.

``a@b.com`` → ``a***@b.com``; ``+5511999998888`` → ``+55119****8888``.
"""

from __future__ import annotations

from collections.abc import Iterable

PHONE_HEAD = 5
"""Leading digits of a phone kept (country code, area code and one more)."""

PHONE_TAIL = 4
"""Trailing digits of a phone kept."""


def mask_email(address: str) -> str:
    """``a***@b.com``: the first character of the local part, then the domain."""
    local, at, domain = address.strip().rpartition("@")
    if not at:
        return mask_phone(address) if _looks_like_phone(address) else _mask_opaque(address)
    return f"{local[:1]}***@{domain}"


def mask_phone(number: str) -> str:
    """``+55119****8888``: a long number keeps its first 5 and last 4 digits; a short one
    only its last 2. A leading ``+`` is kept; other punctuation is dropped."""
    digits = "".join(c for c in number if c.isdigit())
    plus = "+" if number.strip().startswith("+") else ""
    if len(digits) > PHONE_HEAD + PHONE_TAIL:
        hidden = len(digits) - PHONE_HEAD - PHONE_TAIL
        return f"{plus}{digits[:PHONE_HEAD]}{'*' * hidden}{digits[-PHONE_TAIL:]}"
    return f"{plus}{'*' * max(0, len(digits) - 2)}{digits[-2:]}"


def mask_recipient(recipient: str) -> str:
    """An email address or a phone number, masked as such."""
    return mask_email(recipient) if "@" in recipient else mask_phone(recipient)


def mask_in_text(text: str, recipients: Iterable[str]) -> str:
    """``text`` with every occurrence of the recipients (and of a phone's bare digits, as
    providers echo them) replaced by their masked form."""
    for recipient in sorted(set(recipients), key=len, reverse=True):
        if not recipient:
            continue
        masked = mask_recipient(recipient)
        text = text.replace(recipient, masked)
        digits = "".join(c for c in recipient if c.isdigit())
        if "@" not in recipient and len(digits) > PHONE_TAIL:
            text = text.replace(digits, masked.lstrip("+"))
    return text


def _looks_like_phone(value: str) -> bool:
    stripped = value.strip()
    return bool(stripped) and all(c.isdigit() or c in "+-() ." for c in stripped)


def _mask_opaque(value: str) -> str:
    return f"{value[:1]}***" if value else ""
