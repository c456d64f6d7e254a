"""Migration 0003 on a database that already has catalogue items: each becomes its published
guide version, published versions refuse changes, and the downgrade restores the old rows."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from core.catalogue import GuideContent
from tests.conftest import migrate, new_database

pytestmark = pytest.mark.asyncio(loop_scope="session")

LEGACY = {
    "code": "legacy-001",
    "name": "旧版事项",
    "version": 3,
    "departments": json.dumps(["market"]),
    "materials": json.dumps([{"code": "L01", "name": "申请书", "required": True}]),
    "signature_mode": "sign_once",
    "legal_time_limit_days": 10,
    "promised_time_limit_days": 5,
}


async def test_existing_items_become_published_guide_versions_and_back(
    engine: AsyncEngine, database_url: str
) -> None:
    url = await new_database(engine, database_url, "migrate")
    assert url != database_url
    fresh = create_async_engine(url)
    try:
        await migrate(url, "upgrade", "0001")
        async with fresh.begin() as conn:
            await conn.execute(
                text(
                    "INSERT INTO service_items VALUES (:code, :name, :version, "
                    "CAST(:departments AS jsonb), CAST(:materials AS jsonb), :signature_mode, "
                    ":legal_time_limit_days, :promised_time_limit_days)"
                ),
                LEGACY,
            )
        await migrate(url, "upgrade", "head")
        async with fresh.connect() as conn:
            columns = (
                await conn.execute(
                    text(
                        "SELECT column_name FROM information_schema.columns "
                        "WHERE table_name = 'service_items'"
                    )
                )
            ).scalars()
            assert set(columns) == {"code", "created_at"}
            row = (await conn.execute(text("SELECT * FROM guide_versions"))).mappings().one()
            assert (row["item_code"], row["version"], row["status"]) == ("legacy-001", 3, "published")
            assert row["effective_from"] is not None and row["published_by"] == "migration-0003"
            content = GuideContent.model_validate(row["content"])
            assert content.name == "旧版事项" and content.departments == ["market"]
            assert content.materials[0].model_dump() == {
                "code": "L01",
                "name": "申请书",
                "form": "原件",
                "copies": 1,
                "required": True,
                "deferrable": False,
                "note": "",
                "shared_code": None,
            }
            with pytest.raises(DBAPIError, match="immutable"):
                await conn.execute(text("DELETE FROM guide_versions"))
        await migrate(url, "downgrade", "0001")
        async with fresh.connect() as conn:
            restored = (await conn.execute(text("SELECT * FROM service_items"))).mappings().one()
            assert restored["name"] == "旧版事项" and restored["version"] == 3
            assert restored["materials"] == [{"code": "L01", "name": "申请书", "required": True}]
            assert restored["promised_time_limit_days"] == 5
    finally:
        await fresh.dispose()
        async with engine.connect() as conn:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(text(f"DROP DATABASE {fresh.url.database}"))
