"""Request dependencies: settings, database, Temporal client and the authenticated principal."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import Depends, Header, Request
from fastapi.security import OAuth2PasswordBearer
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel.ext.asyncio.session import AsyncSession
from temporalio.client import Client

from api import audit
from api.errors import ApiError, database_unreachable, forbidden
from api.policy import CaseScopes
from api.throttle import LoginThrottle
from core.config import Settings
from core.security import Principal, read_token
from core.temporal import connect
from core.types import Role

oauth2 = OAuth2PasswordBearer(tokenUrl="/api/v1/auth/token", auto_error=False)


class Services:
    """Process-wide handles, created at start-up and closed at shut-down."""

    def __init__(self, settings: Settings, engine: AsyncEngine) -> None:
        self.settings = settings
        self.engine = engine
        # Same pool, no transactions: for routes whose every write is a single statement.
        self.autocommit_engine = engine.execution_options(isolation_level="AUTOCOMMIT")
        self._client: Client | None = None
        self._lock = asyncio.Lock()
        self.login_throttle = LoginThrottle()
        self.case_scopes = CaseScopes()

    async def temporal(self) -> Client:
        # Connect lazily so the API starts (and /healthz answers) while Temporal is down.
        async with self._lock:
            if self._client is None:
                self._client = await connect(self.settings)
            return self._client


# Dependencies are `async def` although they do not await: FastAPI runs plain `def` ones in a
# thread pool, a hand-off per dependency per request (measured in BENCHMARKS.md).
async def services(request: Request) -> Services:
    return request.app.state.services


async def case_scopes(svc: Services = Depends(services)) -> CaseScopes:
    return svc.case_scopes


async def settings(svc: Services = Depends(services)) -> Settings:
    return svc.settings


async def session(svc: Services = Depends(services)) -> AsyncIterator[AsyncSession]:
    async with _opened(svc.engine) as s:
        yield s


async def autocommit_session(svc: Services = Depends(services)) -> AsyncIterator[AsyncSession]:
    """Each statement commits on its own: no BEGIN/ROLLBACK round trips around reads (under READ
    COMMITTED a transaction gives a read nothing more). Not for writes that must go together."""
    async with _opened(svc.autocommit_engine) as s:
        yield s


@asynccontextmanager
async def _opened(engine: AsyncEngine) -> AsyncIterator[AsyncSession]:
    s = AsyncSession(engine, expire_on_commit=False)
    try:
        yield s
    finally:
        try:
            await s.close()
        except Exception as exc:
            # A connection that died with the database has nothing left to roll back; the
            # request's own error (if any) already says so to the caller.
            if not database_unreachable(exc):
                raise


async def temporal(svc: Services = Depends(services)) -> Client:
    try:
        return await svc.temporal()
    except RuntimeError as exc:
        raise ApiError(503, "workflow_engine_unavailable", "办件引擎暂不可用，请稍后重试") from exc


async def current_principal(
    request: Request, token: str | None = Depends(oauth2), cfg: Settings = Depends(settings)
) -> Principal:
    principal = read_token(token, cfg.jwt_secret) if token else None
    if principal is None:
        raise ApiError(401, "unauthenticated", "登录已失效或未登录，请重新登录")
    setattr(request.state, audit.PRINCIPAL, principal)  # the audit row names the caller from here
    return principal


def require_roles(*roles: Role) -> Callable[[Principal], Awaitable[Principal]]:
    allowed = frozenset(roles)

    async def check(principal: Principal = Depends(current_principal)) -> Principal:
        if principal.role not in allowed:
            raise forbidden("当前角色无权执行此操作", "role_not_allowed")
        return principal

    return check


# The dependencies as parameter types, declared once for every router: `db: Db`, `client: Temporal`.
Svc = Annotated[Services, Depends(services)]
Cfg = Annotated[Settings, Depends(settings)]
Db = Annotated[AsyncSession, Depends(session)]
AutocommitDb = Annotated[AsyncSession, Depends(autocommit_session)]
Temporal = Annotated[Client, Depends(temporal)]
Scopes = Annotated[CaseScopes, Depends(case_scopes)]
Caller = Annotated[Principal, Depends(current_principal)]
Operator = Annotated[Principal, Depends(require_roles(Role.OPERATOR))]
# Who may submit a case, a bundle or open a visit: the applicant online, or a clerk at a window.
Submitter = Annotated[Principal, Depends(require_roles(Role.APPLICANT, Role.CLERK))]

# A POST retried with the same key answers with what its first attempt created, not a second one.
IdempotencyKey = Annotated[str | None, Header(max_length=128)]
