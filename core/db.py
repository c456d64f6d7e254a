"""Async engine and sessions for the read model."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlmodel.ext.asyncio.session import AsyncSession


def make_engine(url: str, pool_size: int = 10) -> AsyncEngine:
    # No pre-ping: it costs a round trip on every checkout (every activity, every request). A
    # connection that died with the server fails its first use instead; SQLAlchemy then discards
    # every pooled connection of that age, activities retry, and tests/test_outages.py shows the
    # stack through a PostgreSQL outage.
    return create_async_engine(url, pool_size=pool_size, max_overflow=10, pool_pre_ping=False)


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False)
