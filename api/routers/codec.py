"""The codec endpoint the Temporal UI speaks (`/codec/decode`, `/codec/encode`), operators only.

Payloads in Temporal are sealed (core/codec.py); this lets an operator's UI open them. Bodies
are the proto3 JSON of `temporal.api.common.v1.Payloads`.

Two ways in: a bearer token (the Temporal CLI's `--codec-auth`), or, for the Temporal UI, which
can send only cookies (its "include cross-origin credentials" setting; it forwards an access
token only when the UI itself has a login), an operator's codec session: `/codec/login` sets an
HttpOnly, SameSite=Strict cookie scoped to `/codec`, honoured only on requests whose `Origin` is
one of the Temporal UI's (TEMPORAL_UI_ORIGINS), so no other page can spend it.
"""

from __future__ import annotations

from datetime import timedelta
from html import escape
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Form, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse
from google.protobuf.json_format import MessageToDict, ParseDict, ParseError
from pydantic import BaseModel
from temporalio.api.common.v1 import Payloads

from api.deps import Cfg, Db, Svc, oauth2
from api.errors import ApiError, forbidden
from api.routers.auth import authenticate
from core.codec import UnknownKeyError
from core.security import Principal, issue_token, read_token
from core.temporal import payload_codec
from core.types import Role

router = APIRouter(prefix="/codec", tags=["codec"])

COOKIE = "codec_session"
SESSION_HOURS = 8


async def codec_operator(
    request: Request,
    token: Annotated[str | None, Depends(oauth2)],
    cfg: Cfg,
) -> Principal:
    if token:
        principal = read_token(token, cfg.jwt_secret)
    else:
        session_token = request.cookies.get(COOKIE)
        from_ui = request.headers.get("origin") in cfg.ui_origins
        principal = read_token(session_token, cfg.jwt_secret) if session_token and from_ui else None
    if principal is None:
        raise ApiError(401, "unauthenticated", "登录已失效或未登录，请重新登录")
    if principal.role != Role.OPERATOR:
        raise forbidden("当前角色无权执行此操作", "role_not_allowed")
    return principal


Operator = Annotated[Principal, Depends(codec_operator)]
PayloadsJson = Annotated[dict[str, Any], Body(examples=[{"payloads": []}])]


def _parse(body: dict[str, Any]) -> Payloads:
    try:
        return ParseDict(body, Payloads())
    except ParseError as exc:
        raise ApiError(422, "invalid_payloads", "载荷格式不正确", str(exc)) from exc


@router.post("/decode")
async def decode(body: PayloadsJson, _: Operator, cfg: Cfg) -> dict[str, Any]:
    payloads = _parse(body)
    try:
        opened = await payload_codec(cfg).decode(payloads.payloads)
    except (UnknownKeyError, ValueError) as exc:
        raise ApiError(422, "undecodable_payload", "载荷无法解密（密钥不符或数据被篡改）", str(exc)) from exc
    return MessageToDict(Payloads(payloads=opened))


@router.post("/encode")
async def encode(body: PayloadsJson, _: Operator, cfg: Cfg) -> dict[str, Any]:
    sealed = await payload_codec(cfg).encode(_parse(body).payloads)
    return MessageToDict(Payloads(payloads=sealed))


# ---- the operator's codec session, for the Temporal UI -------------------------------------------

_LOGIN_PAGE = """<!DOCTYPE html><html lang="zh-CN"><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>解码会话登录</title>
<body style="font-family: sans-serif; max-width: 28em; margin: 3em auto">
<h1>Temporal 界面解码登录（运维人员）</h1>
<p>登录后，在 Temporal 界面的“Codec Server”设置中填写 <code>{endpoint}</code>，
并勾选“Include Cross-Origin Credentials”，即可查看解密后的办件历史。</p>
<form method="post" action="/codec/session">
<p><label>用户名 <input name="username" autocomplete="username" required></label></p>
<p><label>密码 <input name="password" type="password" autocomplete="current-password" required></label></p>
<input type="hidden" name="next" value="{next}">
<p><button type="submit">登录</button></p>
</form></body></html>"""


class CodecSessionOut(BaseModel):
    username: str
    expires_in: int


@router.get("/login", response_class=HTMLResponse)
async def login_page(request: Request, cfg: Cfg) -> HTMLResponse:
    endpoint = str(request.url_for("decode")).rsplit("/", 1)[0]
    return HTMLResponse(_LOGIN_PAGE.format(endpoint=escape(endpoint), next=escape(cfg.ui_origins[0])))


@router.post(
    "/session",
    response_model=CodecSessionOut,
    responses={303: {"description": "已登录，转到 Temporal 界面（next）"}},
)
async def open_session(
    request: Request,
    username: Annotated[str, Form(min_length=1, max_length=64)],
    password: Annotated[str, Form(min_length=1, max_length=256)],
    svc: Svc,
    db: Db,
    cfg: Cfg,
    next_url: Annotated[str | None, Form(alias="next", max_length=500)] = None,
) -> Response:
    """An operator's codec session: sets the cookie; with `next` (a Temporal UI address),
    continues there."""
    if next_url is not None and not any(
        next_url == o or next_url.startswith(o + "/") for o in cfg.ui_origins
    ):
        raise ApiError(422, "invalid_next", "next 只能是 Temporal 界面的地址", {"allowed": cfg.ui_origins})
    principal = await authenticate(request, username, password, svc, db)
    if principal.role != Role.OPERATOR:
        raise forbidden("只有运维人员可以开启解码会话", "role_not_allowed")
    ttl = timedelta(hours=SESSION_HOURS)
    if next_url is not None:
        response: Response = RedirectResponse(next_url, status_code=303)
    else:
        response = JSONResponse({"username": principal.username, "expires_in": int(ttl.total_seconds())})
    response.set_cookie(
        COOKIE,
        issue_token(principal, cfg.jwt_secret, ttl),
        max_age=int(ttl.total_seconds()),
        path="/codec",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return response


@router.delete("/session", status_code=204)
async def close_session() -> Response:
    response = Response(status_code=204)
    response.delete_cookie(COOKIE, path="/codec", httponly=True, samesite="strict")
    return response
