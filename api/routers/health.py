"""Liveness (/healthz) and readiness (/readyz: Temporal and PostgreSQL reachable)."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy import text

from api.deps import Services, Svc

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> dict:
    return {"status": "ok"}


async def _check_database(svc: Services) -> None:
    async with svc.engine.connect() as conn:
        await conn.execute(text("SELECT 1"))


async def _check_temporal(svc: Services) -> None:
    client = await svc.temporal()
    await client.service_client.check_health()


@router.get("/readyz")
async def readyz(svc: Svc) -> JSONResponse:
    checks = {"database": _check_database(svc), "temporal": _check_temporal(svc)}
    results: dict[str, str] = {}
    for name, check in checks.items():
        try:
            await asyncio.wait_for(check, timeout=3)
            results[name] = "ok"
        except Exception as exc:  # readiness reports any failure, whatever its kind
            results[name] = f"unavailable: {type(exc).__name__}"
    ready = all(v == "ok" for v in results.values())
    return JSONResponse({"status": "ok" if ready else "unavailable", **results}, 200 if ready else 503)
