"""Apply the Alembic migrations programmatically (used by `make dev`, the worker and tests)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy.ext.asyncio import create_async_engine

from core.config import to_async_url

ROOT = Path(__file__).resolve().parent.parent


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(ROOT / "migrations"))
    cfg.set_main_option("sqlalchemy.url", url)
    return cfg


async def upgrade(url: str) -> None:
    """Migrate to head; an advisory lock keeps concurrent starters from racing."""
    engine = create_async_engine(to_async_url(url))
    try:
        async with engine.begin() as conn:
            await conn.exec_driver_sql("SELECT pg_advisory_xact_lock(727001)")
            cfg = alembic_config(url)

            def _upgrade(sync_conn) -> None:
                cfg.attributes["connection"] = sync_conn
                command.upgrade(cfg, "head")

            await conn.run_sync(_upgrade)
    finally:
        await engine.dispose()


if __name__ == "__main__":
    import os

    asyncio.run(upgrade(os.environ["DATABASE_URL"]))
