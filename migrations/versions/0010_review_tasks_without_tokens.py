"""review tasks without activity tokens

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04

Department results reach the case as workflow updates; no review task is an asynchronously
completed activity any more, so the inbox keeps no task token.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_column("review_tasks", "task_token")


def downgrade() -> None:
    op.add_column(
        "review_tasks",
        sa.Column("task_token", sa.LargeBinary(), nullable=False, server_default=sa.text("''::bytea")),
    )
    op.alter_column("review_tasks", "task_token", server_default=None)
