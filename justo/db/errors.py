"""Errors of the data layer, in the engine's error tree (``engine.errors``)."""

from __future__ import annotations

from engine.errors import ConfigError, EngineError


class DatabaseUnavailableError(EngineError):
    """The database could not be reached (wrong host, refused, bad credentials)."""

    title = "Database unavailable"


class SchemaOutdatedError(ConfigError):
    """The database schema is older than the code (or empty): run ``justo-console db upgrade``.

    ``current`` is the database's revision (``None`` when it has none), ``head`` the one the
    code needs.
    """

    title = "Database schema outdated"

    def __init__(self, current: str | None, head: str) -> None:
        super().__init__(
            f"database schema is at {current or '(none)'}, code needs {head}: "
            "run `justo-console db upgrade`"
        )
        self.current = current
        self.head = head


class UnknownSchemaError(ConfigError):
    """The database is at a revision this code does not know (written by a newer version)."""

    title = "Unknown database schema"

    def __init__(self, current: str, head: str) -> None:
        super().__init__(
            f"database schema is at {current}, which this version does not know "
            f"(code needs {head}): upgrade justo-console, or point DATABASE_URL "
            "at another database"
        )
        self.current = current
        self.head = head
