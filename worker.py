"""The Temporal worker: runs case workflows and their activities.

Run on its own with `python worker.py` (reads DATABASE_URL, TEMPORAL_ADDRESS, TASK_QUEUE).
"""

from __future__ import annotations

import asyncio
import logging
import signal

import uvloop
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import Client
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from activities.bundle_records import BundleRecordActivities
from activities.calendar import CalendarActivities
from activities.case_records import CaseRecordActivities
from activities.ratings import RatingActivities
from core import fields, logmask
from core.config import Settings, require_production_secrets
from core.db import make_engine
from core.heap import freeze_startup_heap
from core.temporal import connect
from workflows.bundle import BundleWorkflow
from workflows.calendar_change import CalendarChangeWorkflow
from workflows.case import CaseWorkflow
from workflows.rectification import RectificationWorkflow
from workflows.visit import VisitWorkflow

WORKFLOWS = [CaseWorkflow, BundleWorkflow, CalendarChangeWorkflow, RectificationWorkflow, VisitWorkflow]
# The sandbox checks workflow code for clock, randomness and I/O calls at run time, at ~40 % of a
# worker's CPU per workflow task (BENCHMARKS.md). That check lives in the replay test instead
# (tests/test_replay.py replays every recorded and fresh history in the full sandbox), so the
# worker runs workflows unsandboxed: they keep no module-level state, and the rule stays — no
# clock, randomness or I/O in workflow code.
RUNNER = UnsandboxedWorkflowRunner()


def build_worker(client: Client, engine: AsyncEngine, task_queue: str) -> Worker:
    records = CaseRecordActivities(engine)
    calendar = CalendarActivities(engine, client)
    ratings = RatingActivities(engine)
    bundles = BundleRecordActivities(engine)
    return Worker(
        client,
        task_queue=task_queue,
        workflows=WORKFLOWS,
        workflow_runner=RUNNER,
        activities=[
            calendar.deadline,
            calendar.affected_cases,
            calendar.signal_calendar_changed,
            calendar.affected_rectifications,
            calendar.signal_rectifications,
            records.record_case,
            records.escalate,
            bundles.record_bundle,
            ratings.record_rectification,
            ratings.record_visit,
        ],
    )


async def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s worker %(levelname)s %(message)s")
    settings = Settings.from_env()
    if not settings.database_url:
        raise SystemExit("DATABASE_URL is not set")
    require_production_secrets(settings)
    logmask.install()
    fields.configure(settings)
    engine = make_engine(settings.database_url)
    client = await connect(settings)
    worker = build_worker(client, engine, settings.task_queue)
    freeze_startup_heap()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    logging.info("worker polling task queue %s at %s", settings.task_queue, settings.temporal_address)
    async with worker:
        await stop.wait()
    # Shut down explicitly before the loop closes (avoids an abort at interpreter exit).
    await engine.dispose()
    logging.info("worker stopped")


if __name__ == "__main__":
    # uvloop, as the API runs under uvicorn: the SDK hands every activation and activity between
    # its threads and this loop, and asyncpg writes to its socket per statement. Both cost less on
    # uvloop (worker CPU per signature -15 %, BENCHMARKS.md). Workflows run on the SDK's own loop.
    uvloop.run(main())
