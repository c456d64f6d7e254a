"""The FastAPI application: `uvicorn api.main:app` (reads DATABASE_URL, TEMPORAL_ADDRESS)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from api import audit, errors
from api.deps import Services
from api.limits import BodyLimit
from api.routers import (
    audit as audit_router,
)
from api.routers import (
    auth,
    bundles,
    calendar,
    cases,
    catalogue,
    codec,
    complaints,
    guides,
    health,
    items,
    notifications,
    personal_data,
    rectifications,
    supervision,
    tasks,
    themes,
    visits,
)
from core import fields, logmask
from core.config import Settings, require_production_secrets
from core.db import make_engine
from core.heap import collect_young_less_often, freeze_startup_heap

API_PREFIX = "/api/v1"


def create_app(settings: Settings | None = None) -> FastAPI:
    cfg = settings or Settings.from_env()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if not cfg.database_url:
            raise RuntimeError("DATABASE_URL is not set")
        require_production_secrets(cfg)
        fields.configure(cfg)
        logmask.install()
        engine = make_engine(cfg.database_url)
        app.state.services = Services(cfg, engine)
        freeze_startup_heap()
        collect_young_less_often()
        yield
        await engine.dispose()

    app = FastAPI(
        title="北京市政务服务标准化办件平台 API",
        version="0.1.0",
        description="Cases from submission to rating, run as durable Temporal workflows.",
        lifespan=lifespan,
    )
    errors.install(app)
    app.add_middleware(BodyLimit)  # inside the audit log, which records the 413
    audit.install(app)
    # The Temporal UI calls the codec endpoint from the operator's browser.
    app.add_middleware(
        CORSMiddleware,
        allow_origins=cfg.ui_origins,
        allow_methods=["POST", "OPTIONS"],
        allow_headers=["Authorization", "Content-Type", "X-Namespace"],
        allow_credentials=True,
    )
    app.include_router(health.router)
    app.include_router(guides.router, responses=errors.ERROR_RESPONSES)
    app.include_router(codec.router, responses=errors.ERROR_RESPONSES)
    routers = (auth, items, catalogue, cases, tasks, notifications, calendar, supervision)
    for module in (
        *routers,
        themes,
        bundles,
        rectifications,
        complaints,
        visits,
        audit_router,
        personal_data,
    ):
        app.include_router(module.router, prefix=API_PREFIX, responses=errors.ERROR_RESPONSES)
    return app


app = create_app() if __name__ != "__main__" else None
