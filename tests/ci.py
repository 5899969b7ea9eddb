"""Whether this run is CI, read one way everywhere."""

from __future__ import annotations

import os


def under_ci() -> bool:
    """``CI`` is ``true`` or ``1`` (any other value, ``CI=false`` included, is not CI)."""
    return os.environ.get("CI", "").strip().lower() in ("true", "1")
