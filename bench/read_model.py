"""Benchmark: the case read model at scale — list and filter vs primary-key lookup.

    .venv/bin/python -m bench.read_model [--cases 100000] [--repeats 200]

Starts its own PostgreSQL (pgserver, throw-away directory), applies the migrations, loads N
synthetic cases (13 items, 8 statuses, 16 districts, 5,000 applicants, two years of submissions;
each with its nine timeline rows) and times the API's own handlers (`api/routers/cases.py`, called
directly with a session, so HTTP is left out) against a bare primary-key lookup of the same table,
one query at a time. Prints p50/p95/p99 in ms, the ratio of p50s, and the plan PostgreSQL chose.
Asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import re
import shutil
import statistics
import tempfile
import time
import warnings
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from api.policy import case_scope
from api.routers.cases import get_case, list_cases
from bench.common import table
from core.config import to_async_url
from core.db import make_engine
from core.models import Case
from core.security import Principal
from core.types import DISTRICTS, Role
from scripts.bootstrap import bootstrap
from scripts.seed import ITEMS, seed_snapshot
from workflows.case_messages import CaseStatus, CaseView

STATUSES = {  # share of cases in each status
    CaseStatus.CLOSED: 0.55,
    CaseStatus.UNDER_REVIEW: 0.12,
    CaseStatus.SUBMITTED: 0.05,
    CaseStatus.AWAITING_SIGNATURE: 0.05,
    CaseStatus.APPROVED: 0.08,
    CaseStatus.DELIVERED: 0.05,
    CaseStatus.REJECTED: 0.05,
    CaseStatus.WITHDRAWN: 0.05,
}
APPLICANTS = 5000
EVENTS = ["submitted", "accepted", "task_completed", "review_finished", "signed", "decided", "delivered"]
CASE_COLUMNS = [
    "case_id",
    "status",
    "item_code",
    "item_name",
    "item_version",
    "departments",
    "lead_department",
    "applicant_username",
    "channel",
    "district",
    "submitted_at",
    "accepted_at",
    "decided_at",
    "acceptance_deadline",
    "completion_deadline",
    "overdue",
    "warning",
    "view",
    "last_seq",
    "updated_at",
]
TIMELINE_COLUMNS = ["case_id", "seq", "at", "event", "actor", "role", "message", "detail"]


def _rows(n: int, rng: random.Random) -> tuple[list[tuple], list[tuple]]:
    snapshots = {i["code"]: seed_snapshot(i["code"]) for i in ITEMS}
    statuses, weights = list(STATUSES), list(STATUSES.values())
    districts = list(DISTRICTS)
    start = datetime(2025, 1, 1, tzinfo=UTC)
    cases, timeline = [], []
    for i in range(n):
        item = snapshots[rng.choice(list(snapshots))]
        status = rng.choices(statuses, weights)[0]
        submitted = start + timedelta(seconds=rng.randrange(2 * 365 * 86400))
        case_id = f"BJ{submitted:%Y%m%d}{i:07d}"
        applicant = "applicant1" if i % 5000 == 0 else f"applicant{rng.randrange(2, APPLICANTS + 2)}"
        overdue = rng.random() < 0.02
        view = CaseView(
            case_id=case_id,
            status=status,
            item_code=item.code,
            item_name=item.name,
            item_version=item.version,
            departments=[d.code for d in item.departments],
            lead_department=item.lead_department,
            signature_mode=item.signature_mode,
            applicant_username=applicant,
            channel="online",
            district=rng.choice(districts),
            materials=[m.code for m in item.materials],
            submitted_at=submitted,
            acceptance_deadline=submitted + timedelta(days=1),
            completion_deadline=submitted + timedelta(days=20),
            overdue=overdue,
        )
        events = 1 if status == CaseStatus.SUBMITTED else rng.randrange(2, len(EVENTS) + 3)
        cases.append(
            (
                case_id,
                status.value,
                item.code,
                item.name,
                item.version,
                view.departments,
                view.lead_department,
                applicant,
                "online",
                view.district,
                submitted,
                submitted + timedelta(hours=2),
                None,
                view.acceptance_deadline,
                view.completion_deadline,
                overdue,
                False,
                json.dumps(view.model_dump(mode="json"), ensure_ascii=False),
                events,
                submitted,
            )
        )
        for seq in range(1, events + 1):
            event = EVENTS[min(seq - 1, len(EVENTS) - 1)]
            at = submitted + timedelta(hours=seq)
            timeline.append((case_id, seq, at, event, "system", "system", f"{event}：示例消息", "{}"))
    return cases, timeline


async def load(engine: AsyncEngine, n: int, rng: random.Random) -> float:
    started = time.perf_counter()
    cases, timeline = _rows(n, rng)
    async with engine.begin() as conn:
        raw = (await conn.get_raw_connection()).driver_connection
        assert raw is not None  # asyncpg's connection, for COPY
        await raw.copy_records_to_table("cases", records=cases, columns=CASE_COLUMNS)
        await raw.copy_records_to_table("case_timeline", records=timeline, columns=TIMELINE_COLUMNS)
    async with engine.connect() as conn:
        await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.execute(text("VACUUM ANALYZE cases"))
        await conn.execute(text("VACUUM ANALYZE case_timeline"))
    return time.perf_counter() - started


def _principal(username: str, role: Role, department: str | None = None, district: str | None = None):
    return Principal(username=username, role=role, department=department, district=district)


SUPERVISOR = _principal("supervisor1", Role.SUPERVISOR)
APPLICANT = _principal("applicant1", Role.APPLICANT)
STAFF = _principal("market-staff", Role.DEPARTMENT, department="market")
CLERK = _principal("clerk1", Role.CLERK, district="chaoyang")
LIST_DEFAULTS = {"status": None, "item_code": None, "department": None, "overdue": None, "offset": 0}


def _list(principal: Principal, **filters) -> Callable[[AsyncSession, str], Awaitable[object]]:
    async def call(db: AsyncSession, case_id: str) -> object:
        page = await list_cases(db, principal, **{**LIST_DEFAULTS, "limit": 20, **filters})
        return page

    call.filters = filters  # type: ignore[attr-defined]
    call.principal = principal  # type: ignore[attr-defined]
    return call


async def _pk(db: AsyncSession, case_id: str) -> object:
    return await db.get(Case, case_id)


async def _get(db: AsyncSession, case_id: str) -> object:
    return await get_case(case_id, db, SUPERVISOR)


QUERIES: list[tuple[str, Callable[[AsyncSession, str], Awaitable[object]]]] = [
    ("primary key: session.get(Case, id)", _pk),
    ("GET /cases/{id} (row + timeline)", _get),
    ("supervisor, no filter", _list(SUPERVISOR)),
    (
        "supervisor, status=approved&item_code",
        _list(SUPERVISOR, status=CaseStatus.APPROVED, item_code="market-001"),
    ),
    ("supervisor, overdue=true", _list(SUPERVISOR, overdue=True)),
    ("supervisor, department=market", _list(SUPERVISOR, department="market")),
    ("applicant's own cases", _list(APPLICANT)),
    ("department staff, status=under_review", _list(STAFF, status=CaseStatus.UNDER_REVIEW)),
    ("district clerk, status=submitted", _list(CLERK, status=CaseStatus.SUBMITTED)),
    ("supervisor, page 50 (offset 1000)", _list(SUPERVISOR, offset=1000)),
]


async def measure(engine: AsyncEngine, ids: list[str], repeats: int, rng: random.Random) -> list[tuple]:
    results = []
    for label, query in QUERIES:
        samples = []
        async with AsyncSession(engine, expire_on_commit=False) as db:
            for _ in range(5):  # warm the statement cache and the buffers
                await query(db, rng.choice(ids))
                db.expunge_all()
            for _ in range(repeats):
                case_id = rng.choice(ids)
                t0 = time.perf_counter()
                await query(db, case_id)
                samples.append(time.perf_counter() - t0)
                db.expunge_all()
        results.append((label, samples))
    return results


def _ms(v: float) -> str:
    return f"{v * 1000:.2f}"


def report(n: int, load_s: float, results: list[tuple], plans: dict[str, str]) -> str:
    base = statistics.median(results[0][1])
    head = ["query", "p50", "p95", "p99", "vs PK p50"]
    rows = []
    for label, samples in results:
        q = statistics.quantiles(samples, n=100, method="inclusive")
        rows.append([label, _ms(q[49]), _ms(q[94]), _ms(q[98]), f"{q[49] / base:.1f}x"])
    lines = [
        f"Read model with {n:,} cases (loaded in {load_s:.0f} s), ms per call, one at a time",
        table(rows, head),
    ]
    lines += ["", "Plans of the page queries (below their Limit):"]
    lines += [f"  {label}: {plan}" for label, plan in plans.items()]
    return "\n".join(lines)


async def plans(engine: AsyncEngine) -> dict[str, str]:
    """The top of the plan PostgreSQL picks for each list query's page (not its count)."""
    out = {}
    async with engine.connect() as conn:
        for label, query in QUERIES[2:]:
            principal, filters = query.principal, query.filters  # type: ignore[attr-defined]
            conditions = [case_scope(principal)]
            if filters.get("status"):
                conditions.append(col(Case.status) == filters["status"].value)
            if filters.get("item_code"):
                conditions.append(col(Case.item_code) == filters["item_code"])
            if filters.get("department"):
                conditions.append(col(Case.departments).contains([filters["department"]]))
            if filters.get("overdue") is not None:
                conditions.append(col(Case.overdue) == filters["overdue"])
            stmt = (
                select(Case.case_id)
                .where(*conditions)
                .order_by(col(Case.submitted_at).desc(), col(Case.case_id).desc())
                .limit(20)
                .offset(filters.get("offset", 0))
            )
            compiled = str(stmt.compile(conn.engine, compile_kwargs={"literal_binds": True}))
            compiled = re.sub(
                r"ARRAY\[([^\]]*)\]", r"ARRAY[\1]::varchar[]", compiled
            )  # literals lose the type
            plan = (await conn.execute(text(f"EXPLAIN {compiled}"))).scalars().all()
            nodes = [p.strip().removeprefix("->").strip().split("  (")[0] for p in plan]
            nodes = [n for i, n in enumerate(nodes) if i == 0 or plan[i].strip().startswith("->")]
            out[label] = " > ".join(nodes[1:5])  # below the Limit
    return out


async def run(cases: int, repeats: int, seed: int) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pgserver

    data = Path(tempfile.mkdtemp(prefix="bench-read-model-"))
    pg = pgserver.get_server(data / "pg", cleanup_mode="stop")
    try:
        await bootstrap(pg.get_uri(), with_demo_data=True)
        engine = make_engine(to_async_url(pg.get_uri()))
        rng = random.Random(seed)
        load_s = await load(engine, cases, rng)
        async with engine.connect() as conn:
            ids = list((await conn.execute(text("SELECT case_id FROM cases"))).scalars())
        results = await measure(engine, ids, repeats, rng)
        print(report(cases, load_s, results, await plans(engine)))
        await engine.dispose()
    finally:
        pg.cleanup()
        shutil.rmtree(data, ignore_errors=True)


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m bench.read_model", description=__doc__.split("\n\n")[0])
    p.add_argument("--cases", type=int, default=100_000, help="cases in the read model (100000)")
    p.add_argument("--repeats", type=int, default=200, help="calls per query (200)")
    p.add_argument("--seed", type=int, default=8, help="random seed of the synthetic data (8)")
    opts = p.parse_args()
    asyncio.run(run(opts.cases, opts.repeats, opts.seed))


if __name__ == "__main__":
    main()
