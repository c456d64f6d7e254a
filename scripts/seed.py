"""Seeding the demo data (dev only): departments, catalogue items with their guides, themes and
one account per role. The data itself is in `demo/` (read and validated by scripts.demo_data)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlmodel import col

from core import guides
from core.catalogue import GuideContent, GuideStatus, ItemSnapshot
from core.models import Account, Department, GuideVersion, ServiceItem, Theme
from core.security import hash_password
from scripts import demo_data

# Read when this module is imported: invalid demo data fails loudly, naming its file.
DEMO = demo_data.load()
DEPARTMENTS: dict[str, str] = DEMO.departments
# The items as the seed publishes them: {"code": ..., "content": GuideContent as JSON}.
ITEMS: list[dict] = [{"code": i.code, "content": i.content.model_dump(mode="json")} for i in DEMO.items]

SEEDED_BY = "seed"
# Versions the seed may supersede with its own content (never an operator's).
_SEED_OWNED = {SEEDED_BY, "migration-0003"}


def demo_accounts() -> list[dict]:
    """The demo accounts as rows of `accounts` without the password hash."""
    return [a.model_dump(mode="json") for a in DEMO.accounts]


async def seed(engine: AsyncEngine) -> None:
    """Idempotent: re-running refreshes reference data and adds missing accounts."""
    async with engine.begin() as conn:
        for code, name in DEPARTMENTS.items():
            stmt = insert(Department).values(code=code, name=name)
            await conn.execute(stmt.on_conflict_do_update(index_elements=["code"], set_={"name": name}))
        for item in DEMO.items:
            await _seed_guide(conn, item.code, item.content)
        await _seed_themes(conn)
        existing = set((await conn.execute(select(col(Account.username)))).scalars())
        for account in demo_accounts():
            if account["username"] in existing:
                continue
            await conn.execute(
                insert(Account)
                .values(password_hash=hash_password(DEMO.password), **account)
                .on_conflict_do_nothing()
            )


async def _seed_guide(conn: AsyncConnection, code: str, content: GuideContent) -> None:
    """Publish the seed's guide as a new version unless it is already the newest one; versions
    an operator has published or is drafting are left alone (published ones never change).
    The guide has passed publication's checks on load (scripts.demo_data)."""
    now = datetime.now(UTC)
    await conn.execute(insert(ServiceItem).values(code=code, created_at=now).on_conflict_do_nothing())
    query = (
        select(GuideVersion)
        .where(col(GuideVersion.item_code) == code)
        .order_by(col(GuideVersion.version).desc())
    )
    latest = (await conn.execute(query.limit(1))).first()
    digest = guides.content_hash(content)
    if latest is not None:
        if latest.status != GuideStatus.PUBLISHED or latest.published_by not in _SEED_OWNED:
            return
        if latest.content_hash == digest:
            return
    await conn.execute(
        insert(GuideVersion).values(
            item_code=code,
            version=(latest.version + 1) if latest else 1,
            status=GuideStatus.PUBLISHED.value,
            content=content.model_dump(mode="json"),
            content_hash=digest,
            effective_from=now,
            published_at=now,
            published_by=SEEDED_BY,
            created_at=now,
            created_by=SEEDED_BY,
            updated_at=now,
        )
    )


async def _seed_themes(conn: AsyncConnection) -> None:
    """Define the seeded themes (checked against the items on load, scripts.demo_data); a theme an
    operator has since redefined is left alone."""
    now = datetime.now(UTC)
    for code, theme in DEMO.themes.items():
        row = {"code": code, "name": theme.name, "definition": theme.model_dump(mode="json")}
        stmt = insert(Theme).values(**row, updated_at=now, updated_by=SEEDED_BY)
        await conn.execute(
            stmt.on_conflict_do_update(
                index_elements=["code"], set_=row, where=col(Theme.updated_by) == SEEDED_BY
            )
        )


def seed_snapshot(code: str, version: int = 1) -> ItemSnapshot:
    """A seeded item as a case would hold it (for tests that start workflows directly)."""
    return DEMO.snapshot(code, version)
