"""Fault tests (issue 8, small versions): a crash loses no case and duplicates nothing.

- The worker, a real `python worker.py` process, is killed with SIGKILL while cases are in
  flight (once during submissions, once while they wait on a department) and restarted: every
  case still closes, with each timeline event, task, signature and rating exactly once.
- The API, a real uvicorn process, is killed with SIGKILL mid-submission; retrying with the same
  Idempotency-Key against a restarted API yields exactly one case.

Each runs on its own task queue, against the session's PostgreSQL and Temporal dev server.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
import uvicorn
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from api.main import create_app
from core.config import Settings
from core.models import Case, NotificationRow, ReviewTaskRow, Submission, TimelineEntry
from core.temporal import case_workflow_id
from tests.conftest import Api, _free_port, idempotency_key
from tests.data import SIGN_ONCE, SIGN_ONCE_EVENTS, SIGN_ONCE_UPDATES
from tests.helpers import accept
from worker import build_worker

pytestmark = pytest.mark.faults

ROOT = Path(__file__).resolve().parent.parent
WAIT = 90.0  # s: bound on any wait for something asynchronous (a killed worker's activities
# are retried only when their 30 s start-to-close timeout has passed)
CASES = 5
NOTIFYING_EVENTS = {"submitted", "accepted", "decided", "delivered"}


def _queue() -> str:
    return f"gov-cases-faults-{uuid.uuid4().hex[:8]}"


def _address(client: Client) -> str:
    return client.service_client.config.target_host


def _env(database_url: str, client: Client, queue: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "TEMPORAL_", "TASK_"))}
    env.update(
        DATABASE_URL=database_url,
        TEMPORAL_ADDRESS=_address(client),
        TASK_QUEUE=queue,
        APP_ENV="dev",
        PYTHONUNBUFFERED="1",
    )
    return env


class Process:
    """A child process of the test, its output in a log file; killed for sure at the end."""

    def __init__(self, argv: list[str], env: dict[str, str], log: Path) -> None:
        self.log = log
        with log.open("ab") as out:
            self.proc = subprocess.Popen(
                argv, cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT
            )

    def kill9(self) -> int:
        self.proc.send_signal(signal.SIGKILL)
        return self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)

    def tail(self) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-30:])


async def _until(what: str, check, limit: float = WAIT):
    """Poll `check()` (async) until it returns something truthy; fail after `limit` seconds."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        found = await check()
        if found:
            return found
        await asyncio.sleep(0.1)
    raise AssertionError(f"{what}: not within {limit:.0f} s")


@asynccontextmanager
async def in_process_api(database_url: str, client: Client, queue: str) -> AsyncIterator[Api]:
    """The API on its own task queue, served in this loop as conftest's `api_url` does."""
    settings = Settings(database_url=database_url, temporal_address=_address(client), task_queue=queue)
    port = _free_port()
    config = uvicorn.Config(
        create_app(settings), host="127.0.0.1", port=port, log_level="warning", timeout_keep_alive=600
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    try:
        for _ in range(200):
            if server.started:
                break
            await asyncio.sleep(0.05)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=WAIT + 30) as http:
            yield Api(http)
    finally:
        server.should_exit = True
        await task


# ---- the worker killed -----------------------------------------------------------------------


def _start_worker(database_url: str, client: Client, queue: str, log: Path) -> Process:
    return Process([sys.executable, "worker.py"], _env(database_url, client, queue), log)


async def _submit(api: Api) -> str:
    code, materials = SIGN_ONCE
    body = {"item_code": code, "materials": materials, "district": "chaoyang", "form": {}}
    r = await api.post("/cases", "applicant1", body, headers={"Idempotency-Key": idempotency_key()})
    assert r.status_code == 201, r.text
    return r.json()["case_id"]


async def _pending_task(api: Api, case_id: str) -> str | None:
    r = await api.get("/tasks", "market-staff", params={"status": "pending"})
    assert r.status_code == 200, r.text
    return next((t["task_id"] for t in r.json() if t["case_id"] == case_id), None)


async def _status_is(api: Api, case_id: str, status: str) -> bool:
    r = await api.get(f"/cases/{case_id}", "supervisor1")
    assert r.status_code == 200, r.text
    return r.json()["status"] == status


async def _finish(api: Api, case_id: str, task_id: str) -> dict:
    r = await api.post(f"/tasks/{task_id}/complete", "market-staff", {"outcome": "pass", "opinion": "同意"})
    assert r.status_code == 200, r.text
    await _until(f"{case_id} awaiting signature", lambda: _status_is(api, case_id, "awaiting_signature"))
    r = await api.post(f"/cases/{case_id}/signatures", "market-handler", {"decision": "approve"})
    assert r.status_code == 200, r.text
    r = await api.post(f"/cases/{case_id}/delivery", "clerk1", {"method": "electronic"})
    assert r.status_code == 200, r.text
    r = await api.post(f"/cases/{case_id}/ratings", "applicant1", {"level": 5, "channel": "app"})
    assert r.status_code == 200, r.text
    return r.json()


async def _blocked_on_cases(engine: AsyncEngine, count: int) -> bool:
    query = text("SELECT count(*) FROM pg_locks WHERE NOT granted AND relation = 'cases'::regclass")
    async with engine.connect() as conn:
        return await conn.scalar(query) >= count


async def test_worker_killed_mid_flight_loses_and_duplicates_nothing(
    database_url: str, client: Client, engine: AsyncEngine, tmp_path: Path
) -> None:
    queue = _queue()
    log = tmp_path / "worker.log"
    worker = _start_worker(database_url, client, queue, log)
    kills: list[int] = []
    try:
        async with in_process_api(database_url, client, queue) as api:
            await api.token("applicant1")  # logins (argon2) before the clock matters

            # 1. Killed while every submission's first read-model write is inside its transaction:
            #    a lock on the case table holds the `record_case` activities there.
            async with engine.connect() as locker:
                lock = await locker.begin()
                await locker.execute(text("LOCK TABLE cases IN SHARE ROW EXCLUSIVE MODE"))
                submissions = [asyncio.create_task(_submit(api)) for _ in range(CASES)]
                await _until("record_case activities blocked", lambda: _blocked_on_cases(engine, CASES))
                kills.append(worker.kill9())
                await lock.rollback()
            assert not any(t.done() for t in submissions)
            worker = _start_worker(database_url, client, queue, log)
            case_ids = list(await asyncio.gather(*submissions))

            # 2. Killed while every case waits in the department's inbox (workflows cached in it).
            await asyncio.gather(*(accept(api, c) for c in case_ids))
            tasks = await asyncio.gather(
                *(_until(f"task of {c}", lambda c=c: _pending_task(api, c)) for c in case_ids)
            )
            kills.append(worker.kill9())
            worker = _start_worker(database_url, client, queue, log)

            # 3. The new worker carries every case to the end.
            finals = await asyncio.gather(*(_finish(api, c, t) for c, t in zip(case_ids, tasks, strict=True)))
            views = [(await api.get(f"/cases/{c}", "applicant1")).json() for c in case_ids]
    finally:
        worker.stop()

    assert kills == [-signal.SIGKILL, -signal.SIGKILL], worker.tail()
    assert len(set(case_ids)) == CASES
    for final, view in zip(finals, views, strict=True):
        case_id = view["case_id"]
        assert final["status"] == "closed" and view["status"] == "closed", view
        assert [e["event"] for e in view["timeline"]] == SIGN_ONCE_EVENTS, view["timeline"]
        assert [e["seq"] for e in view["timeline"]] == list(range(1, len(SIGN_ONCE_EVENTS) + 1))
        assert len(view["signatures"]) == 1 and view["rating_level"] == 5, view
        assert [t["status"] for t in view["tasks"]] == ["completed"], view["tasks"]

    async with engine.connect() as conn:
        timeline = Counter(
            (await conn.execute(select(TimelineEntry.case_id).where(TimelineEntry.case_id.in_(case_ids))))
            .scalars()
            .all()
        )
        tasks_rows = (
            await conn.execute(
                select(ReviewTaskRow.case_id, ReviewTaskRow.status).where(ReviewTaskRow.case_id.in_(case_ids))
            )
        ).all()
        notes = (
            await conn.execute(
                select(NotificationRow.case_id, NotificationRow.message).where(
                    NotificationRow.case_id.in_(case_ids)
                )
            )
        ).all()
        case_rows = await conn.scalar(
            select(func.count()).select_from(Case).where(Case.case_id.in_(case_ids))
        )
    assert timeline == dict.fromkeys(case_ids, len(SIGN_ONCE_EVENTS))
    assert sorted(tasks_rows) == sorted((c, "completed") for c in case_ids)
    assert Counter(c for c, _ in notes) == dict.fromkeys(case_ids, len(NOTIFYING_EVENTS))
    assert len(set(notes)) == len(notes), "a notification was sent twice"
    assert case_rows == CASES

    # Temporal's own record: each workflow completed, each action accepted exactly once.
    for case_id in case_ids:
        handle = client.get_workflow_handle(case_workflow_id(case_id))
        assert (await handle.result())["status"] == "closed"
        history = await handle.fetch_history()
        updates = Counter(
            e.workflow_execution_update_accepted_event_attributes.accepted_request.input.name
            for e in history.events
            if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED
        )
        assert updates == SIGN_ONCE_UPDATES  # no activity waits for the department any more
        scheduled = [
            e.activity_task_scheduled_event_attributes.activity_type.name
            for e in history.events
            if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
        ]
        assert "department_review" not in scheduled, scheduled


# ---- the API killed --------------------------------------------------------------------------


class ApiProcess(Process):
    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.port = _free_port()
        argv = [sys.executable, "-m", "uvicorn", "api.main:app", "--host", "127.0.0.1"]
        super().__init__([*argv, "--port", str(self.port), "--log-level", "warning"], env, log)
        self.url = f"http://127.0.0.1:{self.port}"

    async def ready(self) -> None:
        async def answers() -> bool:
            assert self.proc.poll() is None, f"API exited with {self.proc.returncode}:\n{self.tail()}"
            try:
                async with httpx.AsyncClient(base_url=self.url, timeout=5) as http:
                    return (await http.get("/readyz")).status_code == 200
            except httpx.TransportError:
                return False

        await _until("API ready", answers)


_BODY = {"item_code": SIGN_ONCE[0], "materials": SIGN_ONCE[1], "district": "chaoyang", "form": {}}


async def _post_case(api: ApiProcess, token: str, key: str) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": key}
    async with httpx.AsyncClient(base_url=api.url, timeout=WAIT) as http:
        return await http.post("/api/v1/cases", json=_BODY, headers=headers)


async def _login(api: ApiProcess) -> str:
    async with httpx.AsyncClient(base_url=api.url, timeout=30) as http:
        r = await http.post("/api/v1/auth/token", data={"username": "applicant1", "password": "demo"})
        assert r.status_code == 200, r.text
        return r.json()["access_token"]


async def _submission_of(engine: AsyncEngine, key: str) -> str | None:
    async with engine.connect() as conn:
        query = select(Submission.case_id).where(
            Submission.submitted_by == "applicant1", Submission.idempotency_key == key
        )
        return (await conn.execute(query)).scalar_one_or_none()


async def test_api_killed_mid_submission_then_retried_yields_one_case(
    database_url: str, client: Client, engine: AsyncEngine, tmp_path: Path
) -> None:
    queue = _queue()
    env = _env(database_url, client, queue)
    log = tmp_path / "api.log"
    apis: list[ApiProcess] = []
    try:
        # 1. No worker polls the queue yet, so the POST records the submission, starts the
        #    workflow and then waits for the case to register: the API is killed right there.
        apis.append(ApiProcess(env, log))
        await apis[-1].ready()
        token = await _login(apis[-1])
        key = idempotency_key()
        first = asyncio.create_task(_post_case(apis[-1], token, key))
        case_id = await _until("submission recorded", lambda: _submission_of(engine, key))

        async def workflow_started() -> bool:
            try:
                await client.get_workflow_handle(case_workflow_id(case_id)).describe()
                return True
            except Exception:  # not found yet
                return False

        await _until("workflow started", workflow_started)
        assert not first.done()
        assert apis[-1].kill9() == -signal.SIGKILL
        try:
            await first
            raise AssertionError("the killed API answered")
        except httpx.TransportError:
            pass

        async with build_worker(client, engine, queue):
            # 2. The retry against a new API process finds the same case.
            apis.append(ApiProcess(env, log))
            await apis[-1].ready()
            retried = await _post_case(apis[-1], token, key)
            assert retried.status_code == 201, retried.text
            assert retried.json()["case_id"] == case_id

            # 3. A burst of submissions, the API killed as soon as one is answered, all retried.
            keys = [idempotency_key() for _ in range(CASES)]
            burst = [asyncio.create_task(_post_case(apis[-1], token, k)) for k in keys]
            await asyncio.wait(burst, return_when=asyncio.FIRST_COMPLETED, timeout=WAIT)
            assert apis[-1].kill9() == -signal.SIGKILL
            before = await asyncio.gather(*burst, return_exceptions=True)
            answered = {
                k: r.json()["case_id"]
                for k, r in zip(keys, before, strict=True)
                if isinstance(r, httpx.Response) and r.status_code == 201
            }
            assert answered, before
            assert all(isinstance(r, httpx.Response | httpx.TransportError) for r in before), before

            apis.append(ApiProcess(env, log))
            await apis[-1].ready()
            retries = await asyncio.gather(*(_post_case(apis[-1], token, k) for k in keys))
    finally:
        for api in apis:
            api.stop()

    assert [r.status_code for r in retries] == [201] * CASES, [r.text for r in retries]
    burst_ids = [r.json()["case_id"] for r in retries]
    assert len(set(burst_ids)) == CASES
    assert all(dict(zip(keys, burst_ids, strict=True))[k] == c for k, c in answered.items())

    all_keys = [key, *keys]
    async with engine.connect() as conn:
        rows = (
            await conn.execute(
                select(Submission.idempotency_key, Submission.case_id).where(
                    Submission.idempotency_key.in_(all_keys)
                )
            )
        ).all()
        cases = (
            await conn.execute(select(Case.case_id).where(Case.case_id.in_([case_id, *burst_ids])))
        ).all()
    assert sorted(rows) == sorted(zip(all_keys, [case_id, *burst_ids], strict=True))
    assert len(cases) == CASES + 1

    # On Temporal: one workflow per case on this queue, no other.
    expected = {case_workflow_id(c) for c in [case_id, *burst_ids]}
    for wid in expected:
        assert (await client.get_workflow_handle(wid).describe()).status is not None

    async def listed() -> set[str]:
        ids = {w.id async for w in client.list_workflows(f'TaskQueue = "{queue}"')}
        return ids if ids >= expected else set()

    assert await _until("workflows visible", listed) == expected
