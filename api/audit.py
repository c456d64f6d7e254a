"""The audit log (审计日志): who changed what, when, and with what result.

Every state-changing request (POST, PUT, PATCH, DELETE) is recorded once its answer is ready,
before it is sent: the caller as the token names them, the method and path, the status. Bodies
are never recorded (they hold personal data). The table refuses updates and deletes.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from http.cookies import SimpleCookie

from fastapi import FastAPI
from sqlalchemy import insert
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from core.models import AuditEntry
from core.security import Principal, read_token

CHANGES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# Where `api.deps.current_principal` leaves the caller in the request's state.
PRINCIPAL = "principal"
_INSERT = insert(AuditEntry)
log = logging.getLogger("api.audit")


def install(app: FastAPI) -> None:
    app.add_middleware(AuditLog)


class AuditLog:
    """Pure ASGI (no per-request task or stream of BaseHTTPMiddleware): the entry is written when
    the answer's status is known and before it is sent, in one autocommitted INSERT."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in CHANGES:
            await self.app(scope, receive, send)
            return

        # Shared with the endpoint (copies of the scope share this dict): the caller it
        # authenticated comes back here, so the token is not read twice.
        scope.setdefault("state", {})

        async def audited(message: Message) -> None:
            if message["type"] == "http.response.start":
                await _record(scope, message["status"])
            await send(message)

        await self.app(scope, receive, audited)


def _caller_token(scope: Scope) -> str:
    headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
    auth = headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:]
    # The Temporal UI's codec calls carry the operator's codec session cookie instead.
    morsel = SimpleCookie(headers.get("cookie", "")).get("codec_session")
    return morsel.value if morsel else ""


def _caller(scope: Scope, secret: str) -> Principal | None:
    """Whom the endpoint authenticated; else whom the token or codec cookie names, if anyone."""
    principal = scope["state"].get(PRINCIPAL)
    if principal is None:
        token = _caller_token(scope)
        principal = read_token(token, secret) if token else None
    return principal


async def _record(scope: Scope, status: int) -> None:
    services = scope["app"].state.services
    principal = _caller(scope, services.settings.jwt_secret)
    client = scope.get("client")
    entry = {
        "at": datetime.now(UTC),
        "username": principal.username if principal else None,
        "role": principal.role.value if principal else None,
        "method": scope["method"],
        "path": scope["path"][:300],
        "status": status,
        "client": client[0] if client else None,
    }
    try:
        async with services.autocommit_engine.connect() as conn:
            await conn.execute(_INSERT, entry)
    except Exception:  # the answer is ready; losing the audit row must be loud, not fatal
        log.exception("audit entry not recorded: %s %s %s", entry["method"], entry["path"], status)
