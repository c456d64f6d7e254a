"""The migrations own the schema; the sqlmodel tables must describe exactly what they create."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import SQLModel

import core.models  # noqa: F401

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_models_match_migrations(engine: AsyncEngine) -> None:
    def diff(sync_conn) -> list:
        return compare_metadata(MigrationContext.configure(sync_conn), SQLModel.metadata)

    async with engine.connect() as conn:
        assert await conn.run_sync(diff) == []
