"""Authentication: OAuth2 password login → expiring bearer token."""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, Depends, Request
from fastapi.security import OAuth2PasswordRequestForm
from sqlmodel.ext.asyncio.session import AsyncSession

from api.deps import Caller, Db, Services, services, session, settings
from api.errors import ApiError
from api.schemas import MeOut, TokenOut
from core.config import Settings
from core.models import Account
from core.security import Principal, issue_token, verify_password
from core.types import Role

router = APIRouter(prefix="/auth", tags=["auth"])


@router.post("/token", response_model=TokenOut)
async def login(
    request: Request,
    form: OAuth2PasswordRequestForm = Depends(),
    svc: Services = Depends(services),
    db: AsyncSession = Depends(session),
    cfg: Settings = Depends(settings),
) -> TokenOut:
    principal = await authenticate(request, form.username, form.password, svc, db)
    account = await db.get(Account, principal.username)
    assert account is not None
    ttl = timedelta(minutes=cfg.token_ttl_minutes)
    return TokenOut(
        access_token=issue_token(principal, cfg.jwt_secret, ttl),
        expires_in=int(ttl.total_seconds()),
        role=account.role,
        department=account.department,
        district=account.district,
    )


async def authenticate(
    request: Request, username: str, password: str, svc: Services, db: AsyncSession
) -> Principal:
    """Password check with login throttling (per account and per address); also used by the
    operators' codec session (api/routers/codec.py)."""
    throttle = svc.login_throttle
    keys = (f"user:{username}", f"ip:{request.client.host if request.client else '-'}")
    wait = throttle.retry_after(*keys)
    if wait:
        raise ApiError(429, "too_many_attempts", f"登录失败次数过多，请{wait}秒后再试", {"retry_after": wait})
    account = await db.get(Account, username)
    if account is None or not verify_password(account.password_hash, password):
        throttle.failed(*keys)
        raise ApiError(401, "invalid_credentials", "用户名或密码错误")
    throttle.succeeded(keys[0])
    return Principal(
        username=account.username,
        role=Role(account.role),
        department=account.department,
        district=account.district,
    )


@router.get("/me", response_model=MeOut)
async def me(principal: Caller, db: Db) -> MeOut:
    account = await db.get(Account, principal.username)
    if account is None:
        raise ApiError(401, "unauthenticated", "账号不存在，请重新登录")
    return MeOut(**account.model_dump(exclude={"password_hash"}))
