"""personal data sealed at rest: submissions.applicant / delivery_address, complaints.caller

Existing plaintext rows are sealed with the active field key (FIELD_KEYS, core/fields.py), and
walk-in applicants' ID numbers get their lookup token; the downgrade opens them again.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-27
"""

import json
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op
from sqlalchemy.dialects import postgresql

from core.fields import ID_NUMBER, cipher

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (table, key column, sealed column, was JSONB, was NOT NULL)
SEALED = [
    ("submissions", "case_id", "applicant", True, True),
    ("submissions", "case_id", "delivery_address", False, False),
    ("complaints", "complaint_id", "caller", True, True),
]


def _seal(value) -> bytes | None:
    return None if value is None else json.dumps(value, ensure_ascii=False, sort_keys=True).encode()


def upgrade() -> None:
    conn = op.get_bind()
    box = cipher()
    op.add_column(
        "submissions",
        sa.Column("applicant_id_token", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    )
    for table, key, column, was_json, not_null in SEALED:
        op.add_column(table, sa.Column(f"{column}_sealed", sa.LargeBinary(), nullable=True))
        rows = conn.execute(sa.text(f"SELECT {key}, {column}::text FROM {table}")).all()
        for row_key, text in rows:
            value = json.loads(text) if was_json and text is not None else text
            plaintext = _seal(value)
            params = {
                "k": row_key,
                "v": None if plaintext is None else box.seal(plaintext, f"{table}.{column}"),
            }
            conn.execute(sa.text(f"UPDATE {table} SET {column}_sealed = :v WHERE {key} = :k"), params)
            if column == "applicant" and (value or {}).get("id_number"):
                token = box.token(value["id_number"], ID_NUMBER)
                conn.execute(
                    sa.text("UPDATE submissions SET applicant_id_token = :t WHERE case_id = :k"),
                    {"t": token, "k": row_key},
                )
        op.drop_column(table, column)
        op.alter_column(table, f"{column}_sealed", new_column_name=column, nullable=not not_null)
    op.create_index(
        op.f("ix_submissions_applicant_id_token"), "submissions", ["applicant_id_token"], unique=False
    )


def downgrade() -> None:
    conn = op.get_bind()
    box = cipher()
    op.drop_index(op.f("ix_submissions_applicant_id_token"), table_name="submissions")
    op.drop_column("submissions", "applicant_id_token")
    for table, key, column, was_json, not_null in reversed(SEALED):
        plain_type = postgresql.JSONB(astext_type=sa.Text()) if was_json else sa.VARCHAR(length=500)
        op.add_column(table, sa.Column(f"{column}_plain", plain_type, nullable=True))
        rows = conn.execute(sa.text(f"SELECT {key}, {column} FROM {table}")).all()
        for row_key, blob in rows:
            value = None if blob is None else json.loads(box.open(bytes(blob), f"{table}.{column}"))
            if was_json:
                value = json.dumps(value, ensure_ascii=False)
            cast = "CAST(:v AS JSONB)" if was_json else ":v"
            update = f"UPDATE {table} SET {column}_plain = {cast} WHERE {key} = :k"
            conn.execute(sa.text(update), {"k": row_key, "v": value})
        op.drop_column(table, column)
        op.alter_column(table, f"{column}_plain", new_column_name=column, nullable=not not_null)
