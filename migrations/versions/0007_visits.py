"""visits and their ratings (一次一评)

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "visits",
        sa.Column("visit_id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("idempotency_key", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=True),
        sa.Column("opened_by", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("request_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("district", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("applicant_username", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("case_ids", postgresql.ARRAY(sa.String(length=32)), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("view", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("visit_id"),
        sa.UniqueConstraint("opened_by", "idempotency_key"),
    )
    op.create_index("ix_visits_applicant", "visits", ["applicant_username"], unique=False)
    op.create_index("ix_visits_case_ids", "visits", ["case_ids"], unique=False, postgresql_using="gin")
    op.create_table(
        "visit_ratings",
        sa.Column("visit_id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("channel", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("rater", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("clerk", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("district", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("departments", postgresql.ARRAY(sa.String(length=32)), nullable=False),
        sa.Column("item_codes", postgresql.ARRAY(sa.String(length=64)), nullable=False),
        sa.Column("case_ids", postgresql.ARRAY(sa.String(length=32)), nullable=False),
        sa.Column("comment", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["visit_id"], ["visits.visit_id"]),
        sa.PrimaryKeyConstraint("visit_id"),
    )
    op.create_index("ix_visit_ratings_created_at", "visit_ratings", ["created_at"], unique=False)
    op.create_index(
        "ix_visit_ratings_departments", "visit_ratings", ["departments"], unique=False, postgresql_using="gin"
    )
    op.create_index(
        "ix_visit_ratings_item_codes", "visit_ratings", ["item_codes"], unique=False, postgresql_using="gin"
    )


def downgrade() -> None:
    op.drop_index("ix_visit_ratings_item_codes", table_name="visit_ratings", postgresql_using="gin")
    op.drop_index("ix_visit_ratings_departments", table_name="visit_ratings", postgresql_using="gin")
    op.drop_index("ix_visit_ratings_created_at", table_name="visit_ratings")
    op.drop_table("visit_ratings")
    op.drop_index("ix_visits_case_ids", table_name="visits", postgresql_using="gin")
    op.drop_index("ix_visits_applicant", table_name="visits")
    op.drop_table("visits")
