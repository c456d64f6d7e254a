"""service guides: versioned guides with the 26 standard elements, district variants

`service_items` keeps only the catalogue code; everything a guide states moves into
`guide_versions` (each existing item becomes its published version, content as far as the old
columns knew it). Published versions are immutable, also for SQL written by hand: a trigger
refuses to update or delete them.

Revision ID: 0003
Revises: 0001
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_IMPORTED_BY = "migration-0003"


def upgrade() -> None:
    op.create_table(
        "guide_versions",
        sa.Column("item_code", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("content", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("content_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("effective_from", sa.DateTime(timezone=True), nullable=True),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("published_by", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["item_code"], ["service_items.code"]),
        sa.PrimaryKeyConstraint("item_code", "version"),
    )
    op.create_index(
        "ix_guide_versions_in_force",
        "guide_versions",
        ["item_code", "status", "effective_from"],
        unique=False,
    )
    op.create_table(
        "district_guides",
        sa.Column("item_code", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("district", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("localized", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.ForeignKeyConstraint(["item_code"], ["service_items.code"]),
        sa.PrimaryKeyConstraint("item_code", "district"),
    )
    op.add_column(
        "service_items",
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    )
    op.alter_column("service_items", "created_at", server_default=None)
    # Existing items become their published version, as far as the old columns describe them.
    op.execute(
        f"""
        INSERT INTO guide_versions (item_code, version, status, content, effective_from, published_at,
                                    published_by, created_at, created_by, updated_at)
        SELECT code, version, 'published',
               jsonb_build_object(
                   'name', name,
                   'legal_time_limit_days', legal_time_limit_days,
                   'promised_time_limit_days', promised_time_limit_days,
                   'signature_mode', signature_mode,
                   'departments', departments,
                   'materials', (SELECT coalesce(jsonb_agg(m || '{{"form": "原件", "copies": 1, "deferrable": false}}'::jsonb), '[]'::jsonb)
                                 FROM jsonb_array_elements(materials) AS m)),
               now(), now(), '{_IMPORTED_BY}', now(), '{_IMPORTED_BY}', now()
        FROM service_items
        """
    )
    for column in (
        "name",
        "version",
        "departments",
        "materials",
        "signature_mode",
        "legal_time_limit_days",
        "promised_time_limit_days",
    ):
        op.drop_column("service_items", column)
    op.execute(
        """
        CREATE FUNCTION guide_versions_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF OLD.status = 'published' THEN
                RAISE EXCEPTION 'published guide version %/% is immutable', OLD.item_code, OLD.version;
            END IF;
            RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
        END $$
        """
    )
    op.execute(
        "CREATE TRIGGER guide_versions_immutable BEFORE UPDATE OR DELETE ON guide_versions "
        "FOR EACH ROW EXECUTE FUNCTION guide_versions_immutable()"
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER guide_versions_immutable ON guide_versions")
    op.execute("DROP FUNCTION guide_versions_immutable()")
    op.add_column(
        "service_items", sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True)
    )
    op.add_column("service_items", sa.Column("version", sa.Integer(), nullable=True))
    op.add_column(
        "service_items", sa.Column("departments", postgresql.JSONB(astext_type=sa.Text()), nullable=True)
    )
    op.add_column(
        "service_items", sa.Column("materials", postgresql.JSONB(astext_type=sa.Text()), nullable=True)
    )
    op.add_column(
        "service_items",
        sa.Column("signature_mode", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True),
    )
    op.add_column("service_items", sa.Column("legal_time_limit_days", sa.Integer(), nullable=True))
    op.add_column("service_items", sa.Column("promised_time_limit_days", sa.Integer(), nullable=True))
    # Back to one row per item: the newest published version's engine fields.
    op.execute(
        """
        UPDATE service_items s SET
            name = g.content->>'name', version = g.version, departments = g.content->'departments',
            materials = (SELECT coalesce(jsonb_agg(jsonb_build_object('code', m->'code', 'name', m->'name',
                                                                       'required', m->'required')), '[]'::jsonb)
                         FROM jsonb_array_elements(g.content->'materials') AS m),
            signature_mode = g.content->>'signature_mode',
            legal_time_limit_days = (g.content->>'legal_time_limit_days')::int,
            promised_time_limit_days = (g.content->>'promised_time_limit_days')::int
        FROM (SELECT DISTINCT ON (item_code) * FROM guide_versions WHERE status = 'published'
              ORDER BY item_code, version DESC) g
        WHERE g.item_code = s.code
        """
    )
    op.drop_table("district_guides")
    op.drop_index("ix_guide_versions_in_force", table_name="guide_versions")
    op.drop_table("guide_versions")
    op.execute("DELETE FROM service_items WHERE name IS NULL")  # items that had only a draft
    for column in (
        "name",
        "version",
        "departments",
        "materials",
        "signature_mode",
        "legal_time_limit_days",
        "promised_time_limit_days",
    ):
        op.alter_column("service_items", column, nullable=False)
    op.drop_column("service_items", "created_at")
