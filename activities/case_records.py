"""Writes of the case read model: the case row, its timeline and its notification outbox.

Each write is idempotent: timeline and outbox rows are keyed by the workflow's event
sequence, and the case row only moves forward (`last_seq`), so retries and out-of-order
completions never duplicate or regress anything.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from functools import cache
from typing import Any

from sqlalchemy import Table, TextClause, text
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio import activity

from activities.read_model import insert_new, table_of
from core.models import Case, Escalation, NotificationRow, Rating, ReviewTaskRow, TimelineEntry
from workflows.case_messages import CaseView, Notification, RecordRequest, ReviewTask, TaskStatus
from workflows.case_messages import Escalation as EscalationRequest
from workflows.rating_messages import RatingRecord

# What each part of a record writes, column by column: the statement and the rows both follow these.
CASE_COLUMNS = tuple(c.name for c in table_of(Case).columns)
TIMELINE_COLUMNS = tuple(c.name for c in table_of(TimelineEntry).columns)
NOTIFICATION_COLUMNS = ("notification_id", "case_id", "recipient", "message", "created_at")
TASK_COLUMNS = (
    "task_id",
    "case_id",
    "department",
    "item_code",
    "item_name",
    "status",
    "opinion",
    "created_at",
)
RATING_COLUMNS = tuple(c.name for c in table_of(Rating).columns)


def _rows_of(table: Table, columns: tuple[str, ...], param: str) -> str:
    cols = ", ".join(columns)
    return f"SELECT {cols} FROM jsonb_populate_recordset(NULL::{table.name}, CAST(:{param} AS jsonb))"


def _insert_new(table: Table, columns: tuple[str, ...], param: str) -> str:
    rows = _rows_of(table, columns, param)
    return f"INSERT INTO {table.name} ({', '.join(columns)}) {rows} ON CONFLICT DO NOTHING"


@cache
def record_statement() -> TextClause:
    """The whole record in one statement (one round trip, atomic without a transaction block).

    Its parts share one snapshot: the inbox rows it opens are not yet visible to the part that
    closes completed ones, so a record never carries both (`record_case` splits such a request).
    """
    case = table_of(Case)
    updated = ", ".join(f"{c} = EXCLUDED.{c}" for c in CASE_COLUMNS if c != "case_id")
    tasks = table_of(ReviewTaskRow)
    sql = f"""
WITH case_row AS (
  INSERT INTO {case.name} ({", ".join(CASE_COLUMNS)}) {_rows_of(case, CASE_COLUMNS, "case")}
  ON CONFLICT (case_id) DO UPDATE SET {updated} WHERE {case.name}.last_seq <= EXCLUDED.last_seq
),
timeline AS ({_insert_new(table_of(TimelineEntry), TIMELINE_COLUMNS, "events")}),
outbox AS ({_insert_new(table_of(NotificationRow), NOTIFICATION_COLUMNS, "notifications")}),
inbox AS ({_insert_new(tasks, TASK_COLUMNS, "open_tasks")}),
rating AS ({_insert_new(table_of(Rating), RATING_COLUMNS, "rating")}),
closing AS (
  SELECT * FROM jsonb_populate_recordset(NULL::{tasks.name}, CAST(:closed AS jsonb))
),
closed AS (
  UPDATE {tasks.name} AS t
  SET status = d.status, outcome = d.outcome, opinion = d.opinion,
      completed_by = d.completed_by, completed_at = now()
  FROM closing AS d
  WHERE t.task_id = d.task_id AND t.status = '{TaskStatus.PENDING.value}'
)
SELECT 1"""
    return text(sql)


def _json(rows: list[dict[str, Any]]) -> str:
    return json.dumps(rows, ensure_ascii=False)


def _case_row(view: CaseView) -> dict[str, Any]:
    dumped = view.model_dump(mode="json")
    row = {c: dumped[c] for c in CASE_COLUMNS if c in dumped}
    return {**row, "view": dumped, "updated_at": datetime.now(UTC).isoformat()}


def _closed_tasks(req: RecordRequest) -> list[dict[str, Any]]:
    """The inbox follows the case: a result the case holds closes its task row, even if the
    request that sent it died before marking the row itself; a withdrawal cancels the open ones."""
    if not any(e.event in ("task_completed", "withdrawn") for e in req.events):
        return []
    return [
        {
            "task_id": t.task_id,
            "status": t.status.value,
            "outcome": t.outcome.value if t.outcome else None,
            "opinion": t.opinion,
            "completed_by": t.completed_by,
        }
        for t in req.view.tasks
        if t.status in (TaskStatus.COMPLETED, TaskStatus.CANCELLED)
    ]


def record_parameters(req: RecordRequest, closed: list[dict[str, Any]]) -> dict[str, str]:
    """The statement's parameters: each part's rows as one JSON array."""
    now = datetime.now(UTC).isoformat()
    case_id = req.view.case_id
    rating = req.rating
    return {
        "case": _json([_case_row(req.view)]),
        "events": _json([{"case_id": case_id, **e.model_dump(mode="json")} for e in req.events]),
        "notifications": _json([_created_at(n) for n in req.notifications]),
        "open_tasks": _json([_inbox_row(t, now) for t in req.open_tasks]),
        "rating": _json([] if rating is None else [_rating_row(rating)]),
        "closed": _json(closed),
    }


def _inbox_row(task: ReviewTask, now: str) -> dict[str, Any]:
    return {
        **task.model_dump(mode="json"),
        "status": TaskStatus.PENDING.value,
        "opinion": "",
        "created_at": now,
    }


def _rating_row(rating: RatingRecord) -> dict[str, Any]:
    return {**_created_at(rating), "comment": ""}


def _created_at(message: Notification | RatingRecord) -> dict[str, Any]:
    """The message's row: its `at` is the row's `created_at`."""
    row = message.model_dump(mode="json")
    row["created_at"] = row.pop("at")
    return row


class CaseRecordActivities:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        # One statement needs no transaction block: no BEGIN/COMMIT round trips.
        self._autocommit = engine.execution_options(isolation_level="AUTOCOMMIT")

    @activity.defn
    async def record_case(self, req: RecordRequest) -> None:
        closed = _closed_tasks(req)
        if req.open_tasks and closed:  # one snapshot cannot close the rows it opens: two writes
            await self._write(record_parameters(req, []))
        await self._write(record_parameters(req, closed))

    async def _write(self, parameters: dict[str, str]) -> None:
        async with self._autocommit.connect() as conn:
            await conn.execute(record_statement(), parameters)

    @activity.defn
    async def escalate(self, req: EscalationRequest) -> None:
        """Put a missed deadline in the supervisors' inbox (督办), once per case and kind."""
        async with self._engine.begin() as conn:
            await insert_new(conn, Escalation, [{**req.model_dump(), "created_at": datetime.now(UTC)}])
