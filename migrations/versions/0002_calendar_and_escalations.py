"""calendar and escalations

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "calendar_overrides",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("working", sa.Boolean(), nullable=False),
        sa.Column("reason", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("updated_by", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("day"),
    )
    op.create_table(
        "calendar_schedules",
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("notice", sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
        sa.Column("uploaded_by", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("uploaded_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("year"),
    )
    op.create_table(
        "escalations",
        sa.Column("case_id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("department", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("deadline", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("case_id", "kind"),
    )
    op.create_index("ix_escalations_open", "escalations", ["resolved_at", "created_at"], unique=False)
    op.add_column("cases", sa.Column("warning", sa.Boolean(), nullable=False, server_default=sa.false()))
    op.create_index("ix_cases_acceptance_deadline", "cases", ["acceptance_deadline"], unique=False)
    op.create_index("ix_cases_completion_deadline", "cases", ["completion_deadline"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_cases_completion_deadline", table_name="cases")
    op.drop_index("ix_cases_acceptance_deadline", table_name="cases")
    op.drop_column("cases", "warning")
    op.drop_index("ix_escalations_open", table_name="escalations")
    op.drop_table("escalations")
    op.drop_table("calendar_schedules")
    op.drop_table("calendar_overrides")
