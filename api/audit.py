"""The audit log (审计日志): who changed what, when, and with what result.

Every state-changing request (POST, PUT, PATCH, DELETE) is recorded after it is answered:
the caller as the token names them, the method and path, the status. Bodies are never
recorded (they hold personal data). The table refuses updates and deletes.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from fastapi import FastAPI, Request, Response
from sqlalchemy import insert

from core.models import AuditEntry
from core.security import read_token

CHANGES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
log = logging.getLogger("api.audit")


def install(app: FastAPI) -> None:
    @app.middleware("http")
    async def audit(request: Request, call_next) -> Response:
        response = await call_next(request)
        if request.method in CHANGES:
            await _record(request, response.status_code)
        return response


async def _record(request: Request, status: int) -> None:
    # Read the caller from the token again: the endpoint runs in another task, so nothing it
    # learns comes back to this middleware.
    auth = request.headers.get("authorization", "")
    # The Temporal UI's codec calls carry the operator's codec session cookie instead.
    token = auth[7:] if auth.lower().startswith("bearer ") else request.cookies.get("codec_session", "")
    services = request.app.state.services
    principal = read_token(token, services.settings.jwt_secret) if token else None
    entry = {
        "at": datetime.now(UTC),
        "username": principal.username if principal else None,
        "role": principal.role.value if principal else None,
        "method": request.method,
        "path": request.url.path[:300],
        "status": status,
        "client": request.client.host if request.client else None,
    }
    engine = services.engine
    try:
        async with engine.begin() as conn:
            await conn.execute(insert(AuditEntry).values(**entry))
    except Exception:  # the answer has been given; losing the audit row must be loud, not fatal
        log.exception("audit entry not recorded: %s %s %s", entry["method"], entry["path"], status)
