"""Benchmark: how long re-arming N open cases takes after a calendar change.

    .venv/bin/python bench/calendar_rearm.py [--cases 1000]

Starts its own PostgreSQL (pgserver) and Temporal dev server, opens N cases waiting for
acceptance, declares their acceptance-deadline day a holiday, and times the
`CalendarChangeWorkflow` (page through the read model, signal every case) and the moment the
last case's new deadline is in the read model. Prints a table; asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pgserver
from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert
from sqlmodel import col
from temporalio.testing import WorkflowEnvironment

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from api.workflow_calls import start_case  # noqa: E402
from core import search_attributes as sa  # noqa: E402
from core.calendar import BEIJING  # noqa: E402
from core.config import Settings, to_async_url  # noqa: E402
from core.db import make_engine  # noqa: E402
from core.models import CalendarOverride, Case  # noqa: E402
from core.temporal import data_converter  # noqa: E402
from core.types import Actor, Role  # noqa: E402
from scripts.bootstrap import bootstrap  # noqa: E402
from scripts.seed import seed_snapshot  # noqa: E402
from worker import build_worker  # noqa: E402
from workflows.calendar_change import CalendarChangeWorkflow  # noqa: E402
from workflows.calendar_messages import CalendarChange  # noqa: E402
from workflows.case_messages import CaseInput  # noqa: E402

QUEUE = "bench-rearm"


def _case(item_code: str) -> CaseInput:
    return CaseInput(
        case_id=f"BR{uuid.uuid4().hex[:12].upper()}",
        item=seed_snapshot(item_code),
        applicant_username="applicant1",
        channel="online",
        district="chaoyang",
        materials=[],
        submitted_by=Actor(username="applicant1", role=Role.APPLICANT),
    )


async def _open_cases(client, n: int, concurrency: int = 64) -> datetime:
    gate = asyncio.Semaphore(concurrency)
    deadlines: list[datetime] = []

    async def one() -> None:
        async with gate:
            view = await start_case(client, QUEUE, _case("market-001"))
            assert view is not None and view.acceptance_deadline is not None  # a new case, just submitted
            deadlines.append(view.acceptance_deadline)

    await asyncio.gather(*(one() for _ in range(n)))
    return min(deadlines)


async def run(cases: int) -> None:
    data = Path(tempfile.mkdtemp(prefix="bench-rearm-"))
    pg = pgserver.get_server(data / "pg", cleanup_mode="stop")
    await bootstrap(pg.get_uri(), with_demo_data=True)
    engine = make_engine(to_async_url(pg.get_uri()), pool_size=20)
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=str(Path(sys.executable).parent / "temporal"),
        search_attributes=sa.ALL,
        data_converter=data_converter(Settings()),
        dev_server_log_level="error",
    )
    try:
        async with build_worker(env.client, engine, QUEUE):
            t0 = time.perf_counter()
            deadline = await _open_cases(env.client, cases)
            opened = time.perf_counter() - t0
            day = deadline.astimezone(BEIJING).date()
            async with engine.begin() as conn:
                await conn.execute(
                    insert(CalendarOverride).values(
                        day=day,
                        working=False,
                        reason="基准测试",
                        updated_by="bench",
                        updated_at=datetime.now(UTC),
                    )
                )
            t1 = time.perf_counter()
            signalled = await env.client.execute_workflow(
                CalendarChangeWorkflow.run,
                CalendarChange(change_id="bench", first_day=day, last_day=day),
                id=f"bench-rearm-{uuid.uuid4().hex}",
                task_queue=QUEUE,
                execution_timeout=timedelta(minutes=30),
            )
            signalled_in = time.perf_counter() - t1
            moved = select(func.count()).select_from(Case).where(col(Case.acceptance_deadline) > deadline)
            for _ in range(6000):
                async with engine.connect() as conn:
                    if (await conn.execute(moved)).scalar_one() >= cases:
                        break
                await asyncio.sleep(0.1)
            rearmed_in = time.perf_counter() - t1
    finally:
        await env.shutdown()
        await engine.dispose()
        pg.cleanup()
    rows = [
        ("open cases", f"{cases}"),
        ("opening them (s)", f"{opened:.1f}  ({cases / opened:.0f} cases/s)"),
        ("cases signalled", f"{signalled}"),
        ("signal phase (s)", f"{signalled_in:.1f}  ({signalled / signalled_in:.0f} cases/s)"),
        ("all deadlines moved in read model (s)", f"{rearmed_in:.1f}  ({cases / rearmed_in:.0f} cases/s)"),
    ]
    width = max(len(k) for k, _ in rows)
    print("\nCalendar change → re-arm of open cases")
    for key, value in rows:
        print(f"  {key:<{width}}  {value}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cases", type=int, default=1000)
    asyncio.run(run(parser.parse_args().cases))


if __name__ == "__main__":
    main()
