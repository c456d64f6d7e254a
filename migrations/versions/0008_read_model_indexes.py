"""read-model indexes for filtered case lists

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-25

Measured with `python -m bench.read_model` (100,000 cases, BENCHMARKS.md): lists filtered by
status and the overdue list scanned `ix_cases_submitted_at` backwards and filtered row by row,
and counted their totals from the table.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_cases_status_submitted_at", "cases", ["status", "submitted_at"], unique=False)
    op.create_index(
        "ix_cases_overdue_submitted_at",
        "cases",
        ["submitted_at"],
        unique=False,
        postgresql_where=sa.text("overdue"),
    )


def downgrade() -> None:
    op.drop_index("ix_cases_overdue_submitted_at", table_name="cases")
    op.drop_index("ix_cases_status_submitted_at", table_name="cases")
