"""ratings and rectifications

Revision ID: 0004
Revises: 0002
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "complaints",
        sa.Column("complaint_id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("case_id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
        sa.Column("department", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("content", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("caller", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("received_by", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("complaint_id"),
    )
    op.create_table(
        "ratings",
        sa.Column("rating_id", sqlmodel.sql.sqltypes.AutoString(length=48), nullable=False),
        sa.Column("case_id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("channel", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("rater", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("departments", postgresql.ARRAY(sa.String(length=32)), nullable=False),
        sa.Column("clerk", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("item_code", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("district", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("comment", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("rating_id"),
    )
    op.create_index(op.f("ix_ratings_case_id"), "ratings", ["case_id"], unique=False)
    op.create_index("ix_ratings_created_at", "ratings", ["created_at"], unique=False)
    op.create_index(
        "ix_ratings_departments", "ratings", ["departments"], unique=False, postgresql_using="gin"
    )
    op.create_table(
        "rectifications",
        sa.Column("rectification_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("source", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("case_id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
        sa.Column("department", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("rater", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("outcome", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True),
        sa.Column("deadline", sa.DateTime(timezone=True), nullable=True),
        sa.Column("overdue", sa.Boolean(), nullable=False),
        sa.Column("on_time", sa.Boolean(), nullable=True),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("view", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("last_seq", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("rectification_id"),
    )
    op.create_index(op.f("ix_rectifications_case_id"), "rectifications", ["case_id"], unique=False)
    op.create_index(
        "ix_rectifications_department_status", "rectifications", ["department", "status"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_rectifications_department_status", table_name="rectifications")
    op.drop_index(op.f("ix_rectifications_case_id"), table_name="rectifications")
    op.drop_table("rectifications")
    op.drop_index("ix_ratings_departments", table_name="ratings", postgresql_using="gin")
    op.drop_index("ix_ratings_created_at", table_name="ratings")
    op.drop_index(op.f("ix_ratings_case_id"), table_name="ratings")
    op.drop_table("ratings")
    op.drop_table("complaints")
