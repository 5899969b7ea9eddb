"""Column types that behave the same on SQLite and PostgreSQL.

SQLite has no time zones and no decimals: ``UTCDateTime`` stores UTC and always hands back
aware datetimes, and ``Money`` reads back an exact ``Decimal`` without SQLAlchemy's
"does not support Decimal natively" warning.
"""

from __future__ import annotations

import enum
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import DateTime, Dialect, Enum, Numeric
from sqlalchemy.types import TypeDecorator, TypeEngine


def utcnow() -> datetime:
    """The current time, timezone-aware, in UTC (the default of every timestamp column)."""
    return datetime.now(UTC)


def new_id() -> str:
    """A new primary key: a random UUID as 36-character text."""
    return str(uuid.uuid4())


class UTCDateTime(TypeDecorator[datetime]):
    """``DateTime(timezone=True)`` that refuses naive datetimes and always returns UTC.

    On SQLite the value is stored as UTC text, so comparisons in SQL are correct whatever
    offset the caller used; on PostgreSQL it is a ``timestamptz``.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value.isoformat()} (use an aware datetime)")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        # SQLite gives back the naive UTC text we stored.
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Money(TypeDecorator[Decimal]):
    """``Numeric(precision, scale)`` read back as an exact, quantized ``Decimal``.

    PostgreSQL stores it exactly. SQLite stores a float (at most 15 significant digits,
    which a double round-trips), read as float and turned back into the same ``Decimal``.
    """

    impl = Numeric
    cache_ok = True

    def __init__(self, precision: int = 15, scale: int = 2) -> None:
        super().__init__(precision=precision, scale=scale)
        self.precision = precision
        self.scale = scale
        self._quantum = Decimal(1).scaleb(-scale)

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(Numeric(self.precision, self.scale, asdecimal=False))
        return dialect.type_descriptor(Numeric(self.precision, self.scale))

    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> Decimal | None:
        return None if value is None else Decimal(value).quantize(self._quantum)

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        return Decimal(str(value)).quantize(self._quantum)


def str_enum(cls: type[enum.Enum], name: str, length: int = 32) -> Enum:
    """A portable enum column: ``VARCHAR(length)`` plus a named CHECK of the allowed values.

    The *values* (not the member names) are stored, so ``Channel.EMAIL`` is ``'email'``.
    """
    return Enum(
        cls,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=length,
        validate_strings=True,
        values_callable=lambda members: [m.value for m in members],
    )
