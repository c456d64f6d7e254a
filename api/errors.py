"""JSON errors: `{"code": machine-readable, "message": Chinese for the clerk, "detail": ...}`."""

from __future__ import annotations

import logging
import os
import traceback
from typing import Any, TypeVar

import asyncpg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException as StarletteHTTPException

from core.types import CaseErrorCode


class ErrorOut(BaseModel):
    """Every error answer: a machine-readable code, a Chinese message, and details if any."""

    code: str
    message: str
    detail: Any = None


# Declared on every route, so the OpenAPI spec describes the error answers as they are sent.
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    "4XX": {"model": ErrorOut, "description": "请求被拒绝：code 为机器可读的错误码，message 为中文说明"},
}


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, detail: Any = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.detail = status, code, message, detail


def not_found(what: str, code: str) -> ApiError:
    return ApiError(404, code, f"{what}不存在")


T = TypeVar("T")


def found(row: T | None, what: str, code: str) -> T:
    """The row a lookup found; if none, 404 `code` saying `what` does not exist."""
    if row is None:
        raise not_found(what, code)
    return row


def forbidden(message: str = "无权访问该资源", code: str = "forbidden") -> ApiError:
    return ApiError(403, code, message)


CASE_ERROR_STATUS: dict[str, int] = {
    CaseErrorCode.INVALID_STATE: 409,
    CaseErrorCode.SIGNATURE_LIMIT: 409,
    CaseErrorCode.WRONG_SIGNER: 409,
    CaseErrorCode.ALREADY_RATED: 409,
    CaseErrorCode.WRONG_DEPARTMENT: 403,
    CaseErrorCode.UNLISTED_MATERIAL: 422,
    CaseErrorCode.MISSING_MATERIALS: 422,
    CaseErrorCode.UNKNOWN_MEMBER: 404,
    CaseErrorCode.TASK_NOT_OPEN: 409,
}

_HTTP_MESSAGES = {
    401: ("unauthenticated", "请先登录"),
    403: ("forbidden", "无权访问该资源"),
    404: ("not_found", "请求的资源不存在"),
    405: ("method_not_allowed", "不支持该请求方法"),
    413: ("payload_too_large", "请求内容过大，不能超过1 MiB"),
}


log = logging.getLogger("api.errors")
# PostgreSQL out of reach: refused, gone, shutting down or starting up (not a refused query).
_UNREACHABLE = (
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.exceptions.CannotConnectNowError,
    asyncpg.exceptions.AdminShutdownError,
    asyncpg.exceptions.CrashShutdownError,
)


def database_unreachable(exc: BaseException) -> bool:
    seen: BaseException | None = exc
    for _ in range(5):  # the driver's error, wrapped by SQLAlchemy's adapter, wrapped again
        if seen is None:
            return False
        if isinstance(seen, _UNREACHABLE) or _shut_down_under_us(seen):
            return True
        if isinstance(seen, OSError) and _from_the_driver(seen):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _shut_down_under_us(exc: BaseException) -> bool:
    """A pooled connection that PostgreSQL's shutdown notice reached while it was idle: asyncpg
    is still consuming that error (its state 2) when the next query comes, and says only this.
    The connection is discarded once asyncpg sees it closed."""
    return isinstance(exc, asyncpg.InternalClientError) and "another operation (2)" in str(exc)


def _from_the_driver(exc: OSError) -> bool:
    """A socket error while connecting to PostgreSQL (refused, or its socket file gone), not
    another OSError of the application."""
    frames = traceback.extract_tb(exc.__traceback__)
    return any(f"{os.sep}asyncpg{os.sep}" in frame.filename for frame in frames)


def _body(code: str, message: str, detail: Any = None) -> dict:
    return {"code": code, "message": message, "detail": detail}


def install(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        if exc.status == 429 and isinstance(exc.detail, dict):
            headers = {"Retry-After": str(exc.detail["retry_after"])}
        return JSONResponse(_body(exc.code, exc.message, exc.detail), status_code=exc.status, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [{"field": ".".join(str(p) for p in e["loc"]), "problem": e["msg"]} for e in exc.errors()]
        return JSONResponse(
            _body("validation_error", "提交的信息不完整或格式有误，请核对后重新提交", problems),
            status_code=422,
        )

    @app.exception_handler(DBAPIError)
    @app.exception_handler(OSError)
    @app.exception_handler(asyncpg.InterfaceError)
    async def _database(request: Request, exc: Exception) -> JSONResponse:
        if not database_unreachable(exc):
            log.error("%s %s failed", request.method, request.url.path, exc_info=exc)
            return JSONResponse(_body("internal_error", "系统内部错误，请稍后重试"), status_code=500)
        # An outage or a restart: every write here may be sent again (idempotency keys, retried
        # updates), so the answer says to retry, as it does when the engine is out of reach.
        log.warning("%s %s: database unreachable: %s", request.method, request.url.path, type(exc).__name__)
        return JSONResponse(
            _body("database_unavailable", "数据库暂不可用，请稍后用同一请求重试"),
            status_code=503,
            headers={"Retry-After": "5"},
        )

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        # A bug, not a refusal: logged with its traceback by the server; the body keeps the shape.
        return JSONResponse(_body("internal_error", "系统内部错误，请稍后重试"), status_code=500)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code, message = _HTTP_MESSAGES.get(exc.status_code, ("http_error", "请求无法处理"))
        return JSONResponse(
            _body(code, message, exc.detail), status_code=exc.status_code, headers=exc.headers
        )
