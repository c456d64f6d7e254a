"""Async engine and sessions for the read model."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlmodel.ext.asyncio.session import AsyncSession


def make_engine(url: str, pool_size: int = 24) -> AsyncEngine:
    # The pool holds what a busy process uses at once (64 clients in the bench need ~20 in the
    # API, as many local activities in the worker): a connection beyond it is opened and closed
    # per use, and each costs PostgreSQL a backend process and asyncpg its type set-up
    # (~8 % of the API's CPU at 10). Two processes at 24 + 8 stay under PostgreSQL's 100.
    #
    # No pre-ping: it costs a round trip on every checkout (every activity, every request). A
    # connection that died with the server fails its first use instead; SQLAlchemy then discards
    # every pooled connection of that age, activities retry, and tests/test_outages.py shows the
    # stack through a PostgreSQL outage.
    return create_async_engine(url, pool_size=pool_size, max_overflow=8, pool_pre_ping=False)


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False)
