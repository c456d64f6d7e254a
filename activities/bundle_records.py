"""Writes of the bundle read model: the bundle row, its own timeline and notices.

The timeline and the outbox are the case tables keyed by the bundle id, so a bundle's merged
timeline is one query over the bundle and its member cases.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio import activity

from activities.read_model import add_notifications, add_rating, forward_upsert, insert_new
from core.models import Bundle, TimelineEntry
from workflows.bundle_messages import BundleRecordRequest, BundleView


def _bundle_row(view: BundleView) -> dict[str, Any]:
    return {
        "bundle_id": view.bundle_id,
        "theme_code": view.theme_code,
        "status": view.status.value,
        "applicant_username": view.applicant_username,
        "contact_clerk": view.contact_clerk,
        "district": view.district,
        "departments": view.departments,
        "case_ids": [c for m in view.members for c in [*m.earlier_case_ids, m.case_id] if c],
        "submitted_at": view.submitted_at,
        "deadline": view.deadline,
        "view": view.model_dump(mode="json"),
        "last_seq": view.last_seq,
        "updated_at": datetime.now(UTC),
    }


class BundleRecordActivities:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    @activity.defn
    async def record_bundle(self, req: BundleRecordRequest) -> None:
        async with self._engine.begin() as conn:
            await forward_upsert(conn, Bundle, "bundle_id", _bundle_row(req.view))
            events = [{"case_id": req.view.bundle_id, **e.model_dump()} for e in req.events]
            await insert_new(conn, TimelineEntry, events)
            await add_notifications(conn, req.notifications)
            if req.rating is not None:
                await add_rating(conn, req.rating)
