"""Report executions: a period key, unique per schedule (one run per schedule and period).

A unique index rather than a constraint: SQLite can add one without rebuilding the table.
Rows from before this migration keep a NULL key, and NULLs never collide.

Revision ID: 0002
Revises: 0001
Create Date: 2026-04-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "report_executions"
INDEX = "uq_report_executions_schedule_period"


def upgrade() -> None:
    """Add ``period_key`` and the unique (schedule_id, period_key) index."""
    op.add_column(TABLE, sa.Column("period_key", sa.String(32), nullable=True))
    op.create_index(INDEX, TABLE, ["schedule_id", "period_key"], unique=True)


def downgrade() -> None:
    """Drop the index, then the column."""
    op.drop_index(INDEX, table_name=TABLE)
    op.drop_column(TABLE, "period_key")
