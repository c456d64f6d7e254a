"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("CREATE SEQUENCE case_number_seq")
    op.create_table(
        "accounts",
        sa.Column("username", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("password_hash", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("role", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("department", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
        sa.Column("district", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
        sa.Column("display_name", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.PrimaryKeyConstraint("username"),
    )
    op.create_table(
        "case_timeline",
        sa.Column("case_id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("event", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("actor", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("role", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("message", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("detail", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.PrimaryKeyConstraint("case_id", "seq"),
    )
    op.create_table(
        "cases",
        sa.Column("case_id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("item_code", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("item_name", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("item_version", sa.Integer(), nullable=False),
        sa.Column("departments", postgresql.ARRAY(sa.String(length=32)), nullable=False),
        sa.Column("lead_department", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("applicant_username", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("channel", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("district", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("accepted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("acceptance_deadline", sa.DateTime(timezone=True), nullable=True),
        sa.Column("completion_deadline", sa.DateTime(timezone=True), nullable=True),
        sa.Column("overdue", sa.Boolean(), nullable=False),
        sa.Column("view", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("last_seq", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("case_id"),
    )
    op.create_index("ix_cases_applicant", "cases", ["applicant_username"], unique=False)
    op.create_index("ix_cases_departments", "cases", ["departments"], unique=False, postgresql_using="gin")
    op.create_index("ix_cases_item_code", "cases", ["item_code"], unique=False)
    op.create_index("ix_cases_status", "cases", ["status"], unique=False)
    op.create_index("ix_cases_submitted_at", "cases", ["submitted_at"], unique=False)
    op.create_table(
        "departments",
        sa.Column("code", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.PrimaryKeyConstraint("code"),
    )
    op.create_table(
        "notifications",
        sa.Column("notification_id", sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
        sa.Column("case_id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("recipient", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("message", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("notification_id"),
    )
    op.create_index("ix_notifications_recipient", "notifications", ["recipient", "created_at"], unique=False)
    op.create_table(
        "review_tasks",
        sa.Column("task_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("case_id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("department", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("item_code", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("item_name", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("outcome", sqlmodel.sql.sqltypes.AutoString(length=8), nullable=True),
        sa.Column("opinion", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("completed_by", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("task_token", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("task_id"),
    )
    op.create_index(op.f("ix_review_tasks_case_id"), "review_tasks", ["case_id"], unique=False)
    op.create_index(
        "ix_review_tasks_department_status", "review_tasks", ["department", "status"], unique=False
    )
    op.create_table(
        "service_items",
        sa.Column("code", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("departments", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("materials", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("signature_mode", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("legal_time_limit_days", sa.Integer(), nullable=False),
        sa.Column("promised_time_limit_days", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("code"),
    )
    op.create_table(
        "submissions",
        sa.Column("case_id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("idempotency_key", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=True),
        sa.Column("submitted_by", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("request_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("applicant", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("form", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("delivery_address", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("case_id"),
        sa.UniqueConstraint("submitted_by", "idempotency_key"),
    )


def downgrade() -> None:
    op.execute("DROP SEQUENCE case_number_seq")
    op.drop_table("submissions")
    op.drop_table("service_items")
    op.drop_index("ix_review_tasks_department_status", table_name="review_tasks")
    op.drop_index(op.f("ix_review_tasks_case_id"), table_name="review_tasks")
    op.drop_table("review_tasks")
    op.drop_index("ix_notifications_recipient", table_name="notifications")
    op.drop_table("notifications")
    op.drop_table("departments")
    op.drop_index("ix_cases_submitted_at", table_name="cases")
    op.drop_index("ix_cases_status", table_name="cases")
    op.drop_index("ix_cases_item_code", table_name="cases")
    op.drop_index("ix_cases_departments", table_name="cases", postgresql_using="gin")
    op.drop_index("ix_cases_applicant", table_name="cases")
    op.drop_table("cases")
    op.drop_table("case_timeline")
    op.drop_table("accounts")
