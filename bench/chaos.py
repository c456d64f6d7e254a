"""`python -m bench.chaos`: the fault drill at scale (issue 8; `tests/test_faults.py` and
`tests/test_outages.py` are the small versions that run in `make test`).

It starts its own stack as `make dev` does, drives sign-once case lifecycles through the REST API
by concurrent clients that act as users do when a request fails (retry, the submission with the
same Idempotency-Key), and meanwhile, every `--interval` seconds, injects the next fault of the
plan: SIGKILL of the worker, SIGKILL of the API, PostgreSQL stopped for `--pg-outage` seconds,
SIGKILL of the Temporal dev server; each is started again at once. Clients keep starting cases
until `--cases` are done and every fault ran `--rounds` times. Then it checks, in PostgreSQL and
in Temporal, that no case was lost and nothing was duplicated, prints a table, and exits 1 if any
check failed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import shutil
import signal
import sys
import tempfile
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO
from urllib.parse import parse_qs, urlparse

import httpx
from pgserver._commands import pg_ctl  # type: ignore[attr-defined]  # pgserver setattr()s its commands
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import col
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from bench.common import stack_config, table
from bench.http import API, APPROVE, SIGN_ONCE, SIGN_ONCE_EVENTS, SIGN_ONCE_UPDATES, USERS, BenchError
from core.config import Settings, to_async_url
from core.db import make_engine
from core.models import Case, NotificationRow, Rating, ReviewTaskRow, Submission, TimelineEntry
from core.temporal import case_workflow_id, data_converter
from scripts.dev import HOST, Child, Stack, _signal_group

FAULTS = ("worker", "api", "postgres", "temporal")
FAULT_LABELS = {
    "worker": "worker killed (SIGKILL), started again",
    "api": "API killed (SIGKILL), started again",
    "postgres": "PostgreSQL stopped (fast shutdown), started again",
    "temporal": "Temporal dev server killed (SIGKILL), started again",
}
NOTIFYING = 4  # submitted, accepted, decided, delivered
# Updates that change the case, and that it refuses a second time. Not `registered` (read-only,
# asked again by a retried POST) nor `complete_task` (the same result sent again is taken as a
# retry and changes nothing: the timeline shows the one that did).
RESENT_TAKEN = ("registered", "complete_task")
CHANGING_UPDATES = {name: n for name, n in SIGN_ONCE_UPDATES.items() if name not in RESENT_TAKEN}
PROGRESS = ["submitted", "under_review", "awaiting_signature", "approved", "delivered", "closed"]
STEP_LIMIT = 180.0  # s a single step may take to get through, faults included
RETRY_PAUSE = 0.5  # s between a failed request and its retry


@dataclass
class Options:
    cases: int
    clients: int
    interval: float
    pg_outage: float
    rounds: int
    faults: list[str]
    keep: bool


def parse_args(argv: list[str] | None = None) -> Options:
    p = argparse.ArgumentParser(prog="python -m bench.chaos", description=__doc__.split("\n\n")[0])
    p.add_argument("--cases", type=int, default=100, help="case lifecycles, at least (100)")
    p.add_argument("--clients", type=int, default=8, help="concurrent REST clients (8)")
    p.add_argument("--interval", type=float, default=10.0, help="seconds between faults (10)")
    p.add_argument("--pg-outage", type=float, default=30.0, help="seconds PostgreSQL stays down (30)")
    p.add_argument("--rounds", type=int, default=2, help="times each fault is injected, at least (2)")
    p.add_argument("--faults", default=",".join(FAULTS), help=f"which, in order ({','.join(FAULTS)})")
    p.add_argument("--keep", action="store_true", help="keep the data directory and the stack log")
    ns = p.parse_args(argv)
    faults = [f for f in ns.faults.split(",") if f]
    if not faults or set(faults) - set(FAULTS):
        p.error(f"--faults: a comma-separated list of {', '.join(FAULTS)}")
    if min(ns.cases, ns.clients, ns.rounds) < 1 or ns.interval <= 0 or ns.pg_outage < 0:
        p.error("counts must be at least 1, --interval positive, --pg-outage not negative")
    return Options(ns.cases, ns.clients, ns.interval, ns.pg_outage, ns.rounds, faults, ns.keep)


@dataclass
class Tally:
    """What the clients went through, and what the drill did."""

    failures: Counter[str] = field(default_factory=Counter)  # failed attempts, by what was seen
    faults: Counter[str] = field(default_factory=Counter)
    down: dict[str, float] = field(default_factory=lambda: defaultdict(float))  # seconds, by fault
    cases: list[str] = field(default_factory=list)
    keys: list[str] = field(default_factory=list)


class Users:
    """The REST API as patient users see it: a failed request is retried, a lost answer is
    looked up (did my action happen?) before the action is sent again."""

    def __init__(self, base_url: str, tally: Tally) -> None:
        self.http = httpx.AsyncClient(base_url=base_url, timeout=30)
        self.tally = tally
        self.tokens: dict[str, str] = {}

    async def close(self) -> None:
        await self.http.aclose()

    async def attempt(self, method: str, path: str, as_: str | None, **kw) -> httpx.Response | None:
        """One try: the answer, or None for a failure worth retrying (no answer, or a 5xx)."""
        headers = dict(kw.pop("headers", {}))
        if as_ is not None:
            headers["Authorization"] = f"Bearer {self.tokens[as_]}"
        try:
            r = await self.http.request(method, API + path, headers=headers, **kw)
        except httpx.TransportError as exc:
            self.tally.failures[f"no answer ({type(exc).__name__})"] += 1
            return None
        if r.status_code >= 500:
            code = r.json().get("code", "") if "json" in r.headers.get("content-type", "") else ""
            self.tally.failures[f"{r.status_code} {code}".strip()] += 1
            return None
        return r

    async def until_answered(self, method: str, path: str, as_: str | None, **kw) -> httpx.Response:
        deadline = time.monotonic() + STEP_LIMIT
        while time.monotonic() < deadline:
            r = await self.attempt(method, path, as_, **kw)
            if r is not None:
                return r
            await asyncio.sleep(RETRY_PAUSE)
        raise BenchError(f"{method} {path}: no answer in {STEP_LIMIT:.0f} s")

    async def login(self) -> None:
        for user in USERS:
            r = await self.until_answered(
                "POST", "/auth/token", None, data={"username": user, "password": "demo"}
            )
            _expect(r, 200)
            self.tokens[user] = r.json()["access_token"]

    async def status(self, case_id: str) -> str:
        r = await self.until_answered("GET", f"/cases/{case_id}", "applicant1")
        _expect(r, 200)
        return r.json()["status"]

    async def act(self, case_id: str, path: str, as_: str, body: dict, goal: str) -> None:
        """Send the action until the case has reached `goal`: a 409 after a lost answer is the
        first attempt having worked."""
        deadline = time.monotonic() + STEP_LIMIT
        while time.monotonic() < deadline:
            r = await self.attempt("POST", path, as_, json=body)
            if r is not None and r.status_code == 200:
                return
            if r is not None and r.status_code != 409:
                _expect(r, 200)
            if PROGRESS.index(await self.status(case_id)) >= PROGRESS.index(goal):
                if r is not None:
                    self.tally.failures["409 for an action done before its answer was lost"] += 1
                return
            await asyncio.sleep(RETRY_PAUSE)
        raise BenchError(f"{case_id} did not reach {goal} in {STEP_LIMIT:.0f} s")

    async def submit(self) -> str:
        key = uuid.uuid4().hex
        self.tally.keys.append(key)
        code, materials = SIGN_ONCE
        body = {"item_code": code, "materials": materials, "district": "chaoyang", "form": {}}
        r = await self.until_answered(
            "POST", "/cases", "applicant1", json=body, headers={"Idempotency-Key": key}
        )
        _expect(r, 201)
        return r.json()["case_id"]

    async def task_of(self, case_id: str) -> str:
        deadline = time.monotonic() + STEP_LIMIT
        while time.monotonic() < deadline:
            r = await self.until_answered("GET", "/tasks", "market-staff", params={"status": "pending"})
            _expect(r, 200)
            for task in r.json():
                if task["case_id"] == case_id:
                    return task["task_id"]
            if PROGRESS.index(await self.status(case_id)) >= PROGRESS.index("awaiting_signature"):
                return ""  # completed by an attempt whose answer was lost
            await asyncio.sleep(0.1)
        raise BenchError(f"the task of {case_id} never reached the inbox")

    async def lifecycle(self) -> str:
        case_id = await self.submit()
        await self.act(
            case_id, f"/cases/{case_id}/acceptance", "clerk1", {"decision": "accept"}, "under_review"
        )
        task_id = await self.task_of(case_id)
        if task_id:
            done = {"outcome": "pass", "opinion": "同意"}
            await self.act(case_id, f"/tasks/{task_id}/complete", "market-staff", done, "awaiting_signature")
        await self.act(case_id, f"/cases/{case_id}/signatures", "market-handler", APPROVE, "approved")
        delivery = {"method": "electronic"}
        await self.act(case_id, f"/cases/{case_id}/delivery", "clerk1", delivery, "delivered")
        await self.act(
            case_id, f"/cases/{case_id}/ratings", "applicant1", {"level": 5, "channel": "app"}, "closed"
        )
        return case_id


def _expect(r: httpx.Response, status: int) -> None:
    if r.status_code != status:
        raise BenchError(f"{r.request.method} {r.request.url.path} -> {r.status_code}: {r.text[:300]}")


# ---- faults -----------------------------------------------------------------------------------


class Faults:
    """Takes one part of the stack away and brings it back, as a crash and a restart would."""

    def __init__(self, stack: Stack, tally: Tally, pg_outage: float) -> None:
        self.stack = stack
        self.tally = tally
        self.pg_outage = pg_outage

    async def inject(self, kind: str) -> None:
        started = time.monotonic()
        await getattr(self, kind)()
        self.tally.faults[kind] += 1
        self.tally.down[kind] += time.monotonic() - started

    def _child(self, name: str) -> Child:
        return next(c for c in reversed(self.stack.children) if c.name == name)

    async def _kill(self, name: str) -> int:
        """SIGKILL the child's process group; returns its place among the stack's children."""
        child = self._child(name)
        _signal_group(child.proc.pid, signal.SIGKILL)
        await child.exited
        child.output.cancel()
        index = self.stack.children.index(child)
        self.stack.children.remove(child)
        return index

    async def _respawn(self, name: str, argv: list[str], index: int) -> None:
        child = await self.stack.spawn(name, argv)
        self.stack.children.remove(child)
        self.stack.children.insert(index, child)  # shutdown stops them in the original order

    async def worker(self) -> None:
        await self._respawn("worker", self.stack.worker_argv(), await self._kill("worker"))

    async def api(self) -> None:
        await self._respawn("api", self.stack.api_argv(), await self._kill("api"))
        await self.stack.wait_for_api()

    async def temporal(self) -> None:
        index = await self._kill("temporal")
        await self.stack.start_temporal()
        self.stack.children.insert(index, self.stack.children.pop())
        await self.stack.prepare_temporal()

    async def postgres(self) -> None:
        server = self.stack.pg
        socket_dir = parse_qs(urlparse(server.get_uri()).query)["host"][0]
        run = {"pgdata": server.pgdata, "user": server.system_user, "timeout": 60}
        await asyncio.to_thread(pg_ctl, ["-w", "-m", "fast", "stop"], **run)
        await asyncio.sleep(self.pg_outage)
        argv = ["-w", "-o", '-h ""', "-o", f"-k {socket_dir}", "-l", str(server.pgdata / "log"), "start"]
        await asyncio.to_thread(pg_ctl, argv, **run)


# ---- the drill ------------------------------------------------------------------------------


class Drill:
    def __init__(self, opts: Options, stack: Stack, out: TextIO) -> None:
        self.opts = opts
        self.stack = stack
        self.out = out
        self.tally = Tally()
        self.faults = Faults(stack, self.tally, opts.pg_outage)
        self.users = Users(f"http://{HOST}:{stack.cfg.api_port}", self.tally)
        self.seconds = 0.0

    def say(self, message: str) -> None:
        print(f"chaos | {message}", file=self.out, flush=True)

    def plan_done(self) -> bool:
        return all(self.tally.faults[k] >= self.opts.rounds for k in self.opts.faults)

    async def run(self) -> None:
        await self.users.login()
        started = time.monotonic()
        clients = [asyncio.ensure_future(self._client()) for _ in range(self.opts.clients)]
        try:
            # A client ends when the drill is complete, or when it failed: then stop injecting.
            await self._inject_until(lambda: self.plan_done() or any(c.done() for c in clients))
            await asyncio.gather(*clients)
        finally:
            for c in clients:
                c.cancel()
        self.seconds = time.monotonic() - started

    async def _client(self) -> None:
        while len(self.tally.cases) < self.opts.cases or not self.plan_done():
            self.tally.cases.append(await self.users.lifecycle())

    async def _inject_until(self, finished: Callable[[], bool]) -> None:
        n = 0
        while not finished():
            await asyncio.sleep(self.opts.interval)
            if finished():
                return
            kind = self.opts.faults[n % len(self.opts.faults)]
            n += 1
            self.say(f"{FAULT_LABELS[kind]} ({len(self.tally.cases)} cases done)")
            await self.faults.inject(kind)

    async def checks(self, engine: AsyncEngine, client: Client) -> list[tuple[str, int, int]]:
        """(what, expected, found) for each invariant of a drill that lost and duplicated nothing."""
        ids, n = self.tally.cases, len(self.tally.cases)
        rows: list[tuple[str, int, int]] = []
        async with engine.connect() as conn:

            async def count(query) -> int:
                return int((await conn.execute(query)).scalar_one())

            closed = (
                select(func.count())
                .select_from(Case)
                .where(col(Case.case_id).in_(ids), col(Case.status) == "closed")
            )
            rows.append(("cases closed in the read model", n, await count(closed)))
            rows.append(
                ("cases in the read model, all told", n, await count(select(func.count()).select_from(Case)))
            )
            keys = (
                select(func.count())
                .select_from(Submission)
                .where(col(Submission.idempotency_key).in_(self.tally.keys))
            )
            rows.append(("submissions, one per Idempotency-Key", len(self.tally.keys), await count(keys)))
            timeline = (
                await conn.execute(
                    select(col(TimelineEntry.case_id), col(TimelineEntry.seq), col(TimelineEntry.event))
                )
            ).all()
            expected = {(c, s, e) for c in ids for s, e in enumerate(SIGN_ONCE_EVENTS, start=1)}
            rows.append(
                (
                    f"timeline rows ({len(SIGN_ONCE_EVENTS)} per case, seq 1-{len(SIGN_ONCE_EVENTS)})",
                    len(expected),
                    len(timeline),
                )
            )
            rows.append(("  of them as expected, each once", len(expected), len(expected & set(timeline))))
            notes = (
                await conn.execute(select(col(NotificationRow.case_id), col(NotificationRow.message)))
            ).all()
            rows.append((f"notifications ({NOTIFYING} per case)", NOTIFYING * n, len(notes)))
            rows.append(("  distinct", NOTIFYING * n, len(set(notes))))
            tasks = (
                select(func.count())
                .select_from(ReviewTaskRow)
                .where(col(ReviewTaskRow.status) == "completed")
            )
            rows.append(("review tasks completed (1 per case)", n, await count(tasks)))
            rows.append(
                ("review tasks, all told", n, await count(select(func.count()).select_from(ReviewTaskRow)))
            )
            rows.append(("ratings (1 per case)", n, await count(select(func.count()).select_from(Rating))))
        changing: Counter[str] = Counter()
        for case_id in ids:
            history = await client.get_workflow_handle(case_workflow_id(case_id)).fetch_history()
            changing.update(
                name
                for e in history.events
                if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED
                and (
                    name := e.workflow_execution_update_accepted_event_attributes.accepted_request.input.name
                )
                in SIGN_ONCE_UPDATES
            )
        for name, per_case in CHANGING_UPDATES.items():
            rows.append((f"`{name}` updates accepted by Temporal", per_case * n, changing[name]))
        resent = changing["complete_task"] - n
        self.say(f"`complete_task` results sent again and taken as retries: {resent}")
        listed = await client.count_workflows("WorkflowType = 'CaseWorkflow'")
        rows.append(("case workflows in Temporal", n, listed.count))
        return rows

    def report(self, checks: list[tuple[str, int, int]]) -> str:
        o, t = self.opts, self.tally
        n = len(t.cases)
        out = [
            f"Fault drill: {n} sign-once cases through the REST API by {o.clients} clients in "
            f"{self.seconds:.0f} s, a fault every {o.interval:g} s",
            "",
            table(
                [[FAULT_LABELS[k], str(t.faults[k]), f"{t.down[k]:.1f}"] for k in o.faults],
                ["fault", "times", "seconds down and up again"],
            ),
            "",
            "Failed attempts the clients retried:",
        ]
        out += [f"  {v:5d}  {k}" for k, v in sorted(t.failures.items())] or ["      0"]
        out += [
            "",
            table(
                [[what, str(e), str(f), "ok" if e == f else "FAILED"] for what, e, f in checks],
                ["check", "expected", "found", ""],
            ),
        ]
        return "\n".join(out)


async def main(opts: Options, out: TextIO) -> int:
    data_dir = Path(tempfile.mkdtemp(prefix="gov-chaos-"))
    log_path = data_dir / "stack.log"
    stack = Stack(stack_config(data_dir))
    status = 1
    with log_path.open("w") as log, contextlib.redirect_stdout(log):
        try:
            print(f"chaos | starting the stack in {data_dir} (log: {log_path})", file=out, flush=True)
            await stack.start()
            drill = Drill(opts, stack, out)
            try:
                await asyncio.wait_for(drill.run(), _limit(opts))
            finally:
                await drill.users.close()
            drill.say("checking what PostgreSQL and Temporal hold")
            engine = make_engine(to_async_url(stack.database_url))
            client = await Client.connect(stack.temporal_address, data_converter=data_converter(Settings()))
            try:
                checks = await drill.checks(engine, client)
            finally:
                await engine.dispose()
            print("", file=out)
            print(drill.report(checks), file=out, flush=True)
            status = 0 if all(e == f for _, e, f in checks) else 1
            if any(seen.startswith("500") for seen in drill.tally.failures):
                # A 500 is a bug, not a fault's symptom: keep its traceback for whoever looks.
                print(f"chaos | the API answered 500: its traceback is in {log_path}", file=out)
                opts.keep = True
        except Exception as exc:
            print(f"chaos | ERROR: {type(exc).__name__}: {exc}; see {log_path}", file=out, flush=True)
            opts.keep = True
        finally:
            await stack.shutdown()
    if opts.keep or status:
        print(f"chaos | kept {data_dir}", file=out)
    else:
        shutil.rmtree(data_dir, ignore_errors=True)
    return status


def _limit(opts: Options) -> float:
    """The whole drill is bounded: the faults' own time, plus generous time per case."""
    faults = len(opts.faults) * opts.rounds * (opts.interval + opts.pg_outage + 30)
    return 300 + faults + 10 * opts.cases / opts.clients


def run(argv: list[str] | None = None) -> None:
    sys.exit(asyncio.run(main(parse_args(argv), sys.stdout)))


if __name__ == "__main__":
    run()
