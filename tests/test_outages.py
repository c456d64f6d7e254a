"""Outage tests (issue 8, small versions): a server going away loses no case, duplicates nothing.

- PostgreSQL stops while read-model writes are inside their transactions and stays down
  (`PG_OUTAGE_SECONDS`, 12 s here; `PG_OUTAGE_SECONDS=30` for the full drill): the activities
  fail and are retried, no workflow fails, and the read model catches up with every timeline
  row exactly once.
- The Temporal dev server (file-backed, as `make dev` runs it) is restarted twice mid-run, once
  with SIGTERM while submissions wait on their first write and once with SIGKILL while cases
  wait in a department inbox: no case is lost, every case finishes, nothing runs twice.

Each test owns the servers it takes down (its own pgserver data directory, its own dev server
on a free port), so the session's servers, and the tests using them, are never touched.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import asyncpg
import pgserver
import pytest
from pgserver._commands import pg_ctl
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from api.errors import database_unreachable
from core import search_attributes as sa
from core.config import Settings, to_async_url
from core.db import make_engine
from core.models import NotificationRow, TimelineEntry
from core.temporal import case_workflow_id, data_converter
from scripts.bootstrap import bootstrap
from tests.conftest import Api, _free_port, idempotency_key, venv_binary
from tests.data import SIGN_ONCE_EVENTS, SIGN_ONCE_UPDATES
from tests.helpers import (
    accept,
    complete_tasks,
    wait_for_status,
)
from tests.test_faults import (
    CASES,
    NOTIFYING_EVENTS,
    Process,
    _blocked_on_cases,
    _env,
    _pending_task,
    _queue,
    _submit,
    _until,
    in_process_api,
)
from worker import build_worker

pytestmark = pytest.mark.faults

OUTAGE = float(os.environ.get("PG_OUTAGE_SECONDS", "12"))
SIGN_ONCE_BODY = {
    "item_code": "market-001",
    "materials": ["M01", "M02", "M03"],
    "district": "chaoyang",
    "form": {},
}
TEMPORAL_DOWN = float(os.environ.get("TEMPORAL_DOWN_SECONDS", "5"))


# ---- shared checks ---------------------------------------------------------------------------


async def _finish_from(api: Api, case_id: str, status: str, accepted: bool = False) -> dict:
    """Carry a sign-once case from `status` to its rating, as its users would."""
    if status == "submitted":
        if not accepted:
            await accept(api, case_id)
        await complete_tasks(api, case_id, ["market"])
        await wait_for_status(api, case_id, "awaiting_signature")
        status = "awaiting_signature"
    if status == "awaiting_signature":
        r = await api.post(f"/cases/{case_id}/signatures", "market-handler", {"decision": "approve"})
        assert r.status_code == 200, r.text
    r = await api.post(f"/cases/{case_id}/delivery", "clerk1", {"method": "electronic"})
    assert r.status_code == 200, r.text
    r = await api.post(f"/cases/{case_id}/ratings", "applicant1", {"level": 5, "channel": "app"})
    assert r.status_code == 200, r.text
    return r.json()


async def _assert_each_once(api: Api, engine: AsyncEngine, client: Client, case_ids: list[str]) -> None:
    """Every case closed, its nine timeline events and four notifications exactly once."""
    for case_id in case_ids:
        view = (await api.get(f"/cases/{case_id}", "applicant1")).json()
        assert view["status"] == "closed", view
        assert [e["event"] for e in view["timeline"]] == SIGN_ONCE_EVENTS, view["timeline"]
        assert [e["seq"] for e in view["timeline"]] == list(range(1, len(SIGN_ONCE_EVENTS) + 1))
        assert len(view["signatures"]) == 1 and view["rating_level"] == 5, view
    async with engine.connect() as conn:
        rows = (
            await conn.execute(
                select(TimelineEntry.case_id, TimelineEntry.seq).where(TimelineEntry.case_id.in_(case_ids))
            )
        ).all()
        notes = (
            await conn.execute(
                select(NotificationRow.case_id, NotificationRow.message).where(
                    NotificationRow.case_id.in_(case_ids)
                )
            )
        ).all()
    assert sorted(rows) == sorted((c, s) for c in case_ids for s in range(1, len(SIGN_ONCE_EVENTS) + 1))
    assert Counter(c for c, _ in notes) == dict.fromkeys(case_ids, len(NOTIFYING_EVENTS))
    assert len(set(notes)) == len(notes), "a notification was sent twice"
    for case_id in case_ids:
        handle = client.get_workflow_handle(case_workflow_id(case_id))
        assert (await handle.result())["status"] == "closed"
        updates = Counter(
            e.workflow_execution_update_accepted_event_attributes.accepted_request.input.name
            for e in (await handle.fetch_history()).events
            if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED
        )
        # A submission retried after its answer was lost asks `registered` (read-only) again;
        # every update that changes the case is there exactly once.
        assert updates.pop("registered") >= 1
        assert updates == {k: n for k, n in SIGN_ONCE_UPDATES.items() if k != "registered"}


# ---- servers of the test's own -------------------------------------------------------------


class OwnTemporal:
    """A file-backed dev server of this test alone, started as `make dev` starts it."""

    def __init__(self, data_dir: Path) -> None:
        self.db = data_dir / "temporal.db"
        self.log = data_dir / "temporal.log"
        self.address = f"127.0.0.1:{_free_port()}"
        self.proc: Process | None = None

    def start(self) -> None:
        host, port = self.address.split(":")
        argv = [
            venv_binary("temporal"),
            "server",
            "start-dev",
            "--db-filename",
            str(self.db),
            "--ip",
            host,
            "--port",
            port,
            "--headless",
            "--sqlite-pragma",
            "journal_mode=wal",
            "--sqlite-pragma",
            "synchronous=normal",
            "--log-level",
            "error",
            *sa.dev_server_flags(),
        ]
        self.proc = Process(argv, dict(os.environ), self.log)

    def stop(self, sig: signal.Signals) -> int:
        assert self.proc is not None
        self.proc.proc.send_signal(sig)
        return self.proc.proc.wait(timeout=30)

    async def client(self) -> Client:
        async def connected() -> Client | None:
            assert self.proc is not None and self.proc.proc.poll() is None, self.proc.tail()
            try:
                client = await Client.connect(self.address, data_converter=data_converter(Settings()))
                await client.count_workflows()
                return client
            except Exception:  # not up yet
                return None

        return await _until("Temporal dev server up", connected)


@pytest.fixture
def own_temporal(tmp_path: Path) -> Iterator[OwnTemporal]:
    server = OwnTemporal(tmp_path)
    server.start()
    try:
        yield server
    finally:
        if server.proc is not None:
            server.proc.stop()


class OwnPostgres:
    """A pgserver instance of this test alone, stopped and started again on the same socket."""

    def __init__(self, pgdata: Path) -> None:
        self.server = pgserver.get_server(pgdata, cleanup_mode=None)
        self.pgdata = self.server.pgdata
        self.uri = self.server.get_uri()
        self.socket_dir = parse_qs(urlparse(self.uri).query)["host"][0]

    def url(self, database: str) -> str:
        return to_async_url(self.uri.replace("/postgres?", f"/{database}?"))

    def stop(self) -> None:
        pg_ctl(["-w", "-m", "fast", "stop"], pgdata=self.pgdata, user=self.server.system_user, timeout=30)

    def start(self) -> None:
        argv = ["-w", "-o", '-h ""', "-o", f"-k {self.socket_dir}", "-l", str(self.pgdata / "log"), "start"]
        pg_ctl(argv, pgdata=self.pgdata, user=self.server.system_user, timeout=30)

    def close(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            self.stop()
        self.server.cleanup()


@pytest.fixture
def own_postgres(tmp_path: Path) -> Iterator[OwnPostgres]:
    pg = OwnPostgres(tmp_path / "pg")
    try:
        yield pg
    finally:
        pg.close()


# ---- PostgreSQL stopped ----------------------------------------------------------------------


def _failed_attempts(records: list[logging.LogRecord]) -> dict[str, int]:
    """Workflow id → highest attempt of a `record_case` the worker reported as failed."""
    attempts: dict[str, int] = {}
    for record in records:
        info = getattr(record, "temporal_activity", None)
        if info and info["activity_type"] == "record_case" and "as failed" in record.getMessage():
            attempts[info["workflow_id"]] = max(attempts.get(info["workflow_id"], 0), info["attempt"])
    return attempts


async def test_postgres_outage_retries_activities_and_the_read_model_catches_up(
    own_postgres: OwnPostgres, own_temporal: OwnTemporal, caplog: pytest.LogCaptureFixture
) -> None:
    # Its own Temporal server too: case numbers restart in a new database, so their workflow ids
    # would collide with the session's cases on the session's server.
    client = await own_temporal.client()
    own_postgres.server.psql("CREATE DATABASE gov_outage;")
    database_url = own_postgres.url("gov_outage")
    await bootstrap(database_url, with_demo_data=True)
    engine = make_engine(database_url)
    queue = _queue()
    caplog.set_level(logging.WARNING, logger="temporalio")
    try:
        async with build_worker(client, engine, queue), in_process_api(database_url, client, queue) as api:
            for user in ("applicant1", "clerk1", "market-staff", "market-handler", "supervisor1"):
                await api.token(user)  # logins need the database: all before the outage
            signing = list(await asyncio.gather(*(_to_awaiting_signature(api) for _ in range(CASES))))

            # Submissions and signatures in flight, each one's read-model write held inside its
            # transaction by a lock on the case table, when PostgreSQL stops.
            locker = await engine.connect()
            await locker.begin()
            await locker.execute(text("LOCK TABLE cases IN SHARE ROW EXCLUSIVE MODE"))
            submissions = [asyncio.create_task(_submit(api)) for _ in range(CASES)]
            signatures = [asyncio.create_task(_sign(api, c)) for c in signing]
            await _until("writes blocked", lambda: _blocked_on_cases(engine, 2 * CASES))
            caplog.clear()
            own_postgres.stop()
            with contextlib.suppress(Exception):
                await locker.close()
            await _refused_while_down(api, signing[0])
            await asyncio.sleep(OUTAGE)
            in_flight = [*submissions, *signatures]
            assert not any(t.done() for t in in_flight), [t.result() for t in in_flight if t.done()]
            failed = _failed_attempts(caplog.records)
            own_postgres.start()

            submitted = list(await asyncio.gather(*submissions))
            case_ids = [*submitted, *signing]
            assert len(set(case_ids)) == 2 * CASES
            signed = await asyncio.gather(*signatures)
            assert all(s["status"] == "approved" for s in signed), signed
            await asyncio.gather(
                *(_finish_from(api, c, "submitted") for c in submitted),
                *(_finish_from(api, c, "approved") for c in signing),
            )
            await _assert_each_once(api, engine, client, case_ids)
    finally:
        await engine.dispose()
    # Every held write failed with the outage and was attempted again (and again) while it lasted.
    assert set(failed) == {case_workflow_id(c) for c in case_ids}, failed
    assert min(failed.values()) >= 2, failed


async def _refused_while_down(api: Api, case_id: str) -> None:
    """New requests during the outage get a 503 saying to retry, not a 500 and a traceback."""
    answers = [
        await api.get(f"/cases/{case_id}", "applicant1"),
        await api.post(
            "/cases", "applicant1", SIGN_ONCE_BODY, headers={"Idempotency-Key": idempotency_key()}
        ),
    ]
    for r in answers:
        assert r.status_code == 503, r.text
        assert r.json()["code"] == "database_unavailable" and "数据库" in r.json()["message"]
        assert r.headers["Retry-After"] == "5"


async def _to_awaiting_signature(api: Api) -> str:
    case_id = await _submit(api)
    await accept(api, case_id)
    await complete_tasks(api, case_id, ["market"])
    await wait_for_status(api, case_id, "awaiting_signature")
    return case_id


async def _sign(api: Api, case_id: str) -> dict:
    r = await api.post(f"/cases/{case_id}/signatures", "market-handler", {"decision": "approve"})
    assert r.status_code == 200, r.text
    return r.json()


# ---- the Temporal dev server restarted -------------------------------------------------------


async def _submit_retried(api: Api) -> tuple[str, int]:
    """POST /cases, retried with the same Idempotency-Key while the engine answers 503."""
    headers = {"Idempotency-Key": idempotency_key()}
    for attempt in itertools.count(1):
        r = await api.post("/cases", "applicant1", SIGN_ONCE_BODY, headers=headers)
        if r.status_code != 503 or attempt == 20:
            assert r.status_code == 201, r.text
            return r.json()["case_id"], attempt
        assert r.json()["code"].startswith("workflow_engine_"), r.text
        await asyncio.sleep(1)
    raise AssertionError("unreachable")


async def test_temporal_restart_loses_no_case(
    own_temporal: OwnTemporal, database_url: str, engine: AsyncEngine, tmp_path: Path
) -> None:
    client = await own_temporal.client()
    queue = _queue()
    worker = Process(
        [sys.executable, "worker.py"], _env(database_url, client, queue), tmp_path / "worker.log"
    )
    try:
        async with in_process_api(database_url, client, queue) as api:
            for user in ("applicant1", "clerk1", "market-staff", "market-handler", "supervisor1"):
                await api.token(user)
            waiting = [await _submit(api) for _ in range(CASES)]
            await asyncio.gather(*(accept(api, c) for c in waiting))
            await asyncio.gather(
                *(_until(f"task of {c}", lambda c=c: _pending_task(api, c)) for c in waiting)
            )

            # 1. Restarted (SIGTERM) while submissions wait on their first read-model write.
            async with engine.connect() as locker:
                lock = await locker.begin()
                await locker.execute(text("LOCK TABLE cases IN SHARE ROW EXCLUSIVE MODE"))
                submissions = [asyncio.create_task(_submit_retried(api)) for _ in range(CASES)]
                await _until("record_case activities blocked", lambda: _blocked_on_cases(engine, CASES))
                assert own_temporal.stop(signal.SIGTERM) == 0, own_temporal.proc.tail()
                # The held writes commit while the server is down: their completions wait for it.
                await lock.rollback()
                await asyncio.sleep(TEMPORAL_DOWN)
                own_temporal.start()
                await own_temporal.client()
            submitted = [case_id for case_id, _ in await asyncio.gather(*submissions)]

            # 2. Killed (SIGKILL) and started again while cases wait in the department's inbox.
            await asyncio.gather(*(accept(api, c) for c in submitted))
            await asyncio.gather(
                *(_until(f"task of {c}", lambda c=c: _pending_task(api, c)) for c in submitted)
            )
            assert own_temporal.stop(signal.SIGKILL) == -signal.SIGKILL
            await asyncio.sleep(TEMPORAL_DOWN)
            own_temporal.start()
            await own_temporal.client()

            # 3. Every case goes on to the end, on the same worker process.
            case_ids = [*waiting, *submitted]
            assert len(set(case_ids)) == 2 * CASES
            await asyncio.gather(*(_finish_from(api, c, "submitted", accepted=True) for c in case_ids))
            assert worker.proc.poll() is None, worker.tail()
            await _assert_each_once(api, engine, client, case_ids)

            # Temporal knows exactly these cases on the queue: none lost, none started twice.
            expected = {case_workflow_id(c) for c in case_ids}

            async def listed() -> set[str]:
                ids = {w.id async for w in client.list_workflows(f'TaskQueue = "{queue}"')}
                return ids if ids >= expected else set()

            assert await _until("workflows visible", listed) == expected
    finally:
        worker.stop()


async def test_only_a_database_out_of_reach_counts_as_unreachable(tmp_path: Path) -> None:
    """A 503 says "retry"; a bug or a refused query must stay a 500 and be seen."""
    with pytest.raises(OSError) as refused:
        await asyncpg.connect(host=str(tmp_path), port=5432, user="nobody")  # no server's socket here
    assert database_unreachable(refused.value)
    with pytest.raises(OSError) as missing:
        (tmp_path / "missing").read_text()
    assert not database_unreachable(missing.value)
    starting = asyncpg.exceptions.CannotConnectNowError("the database system is starting up")
    assert database_unreachable(starting)
    # A pooled connection that the server's shutdown notice reached while idle (seen in the drill).
    notice = asyncpg.InternalClientError("cannot switch to state 12; another operation (2) is in progress")
    assert database_unreachable(notice)
    assert not database_unreachable(
        asyncpg.InternalClientError("cannot switch to state 12; another operation (12) is in progress")
    )
    assert not database_unreachable(asyncpg.exceptions.UndefinedTableError('relation "x" does not exist'))
