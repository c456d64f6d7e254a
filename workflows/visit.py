"""The visit workflow (一次一评): one rating per on-site visit, then closed.

A clerk opens a visit for an applicant at their window, listing the cases handled in it
(picking up results, submitting, supplementing…). The visit waits for its one rating from an
on-site channel (the window's rating device, a kiosk, the centre's QR code) until its rating
window ends. The rating is an update with a validator: of two concurrent ratings exactly one
is accepted, the other is refused (`already_rated`) and leaves no trace in history. A bad
rating opens the same rectification loop as a bad matter rating (a child RectificationWorkflow,
`rectification-R<visit id>`), owned by the lead department of the first case listed.

A visit rating rates the on-site service; it is separate from each case's own matter rating
(一事一评), which is given online.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

from workflows.common import quick_activity, refuse
from workflows.rating_filing import open_rectification

with workflow.unsafe.imports_passed_through():
    from activities.ratings import RatingActivities
    from core.types import CaseErrorCode
    from workflows.rating_messages import BAD_RATING_MAX
    from workflows.visit_messages import (
        VisitInput,
        VisitRatingRecord,
        VisitRatingRequest,
        VisitRecord,
        VisitStatus,
        VisitView,
    )


def visit_workflow_id(visit_id: str) -> str:
    return f"visit-{visit_id}"


@workflow.defn(name="VisitWorkflow")
class VisitWorkflow:
    @workflow.init
    def __init__(self, inp: VisitInput) -> None:
        self._view = VisitView(**inp.model_dump(), status=VisitStatus.OPEN)

    @workflow.run
    async def run(self, inp: VisitInput) -> VisitView:
        window = max(inp.rating_deadline - workflow.now(), timedelta(seconds=1))
        try:
            await workflow.wait_condition(lambda: self._view.status != VisitStatus.OPEN, timeout=window)
        except TimeoutError:
            self._view.status = VisitStatus.CLOSED_UNRATED
            self._view.closed_at = workflow.now()
            await self._record(None)
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self._view

    @workflow.update
    async def rate(self, req: VisitRatingRequest) -> VisitView:
        view = self._view
        now = workflow.now()
        view.status = VisitStatus.RATED  # before the first await: the next validator sees it
        view.rating_level, view.rating_channel = req.level, req.channel
        view.rater = None if req.anonymous else req.actor.username
        view.rated_at = view.closed_at = now
        if req.level <= BAD_RATING_MAX:  # the loop the rating opens below
            view.rectification_id = f"R{view.visit_id}"
        attributed = {"visit_id", "rater", "clerk", "district", "departments", "item_codes", "case_ids"}
        rating = VisitRatingRecord(
            **view.model_dump(include=attributed), level=req.level, channel=req.channel, at=now
        )
        await self._record(rating)
        await open_rectification(rating, view.lead_department, f"现场办事｜{view.visit_id}")
        return self._view

    @rate.validator
    def _validate_rate(self, req: VisitRatingRequest) -> None:
        if self._view.status == VisitStatus.RATED:
            raise refuse(CaseErrorCode.ALREADY_RATED, "本次办事已评价，一次一评，不能重复评价")
        if self._view.status != VisitStatus.OPEN:
            raise refuse(CaseErrorCode.INVALID_STATE, "本次办事的评价期已过，不能再评价")

    @workflow.query
    def view(self) -> VisitView:
        return self._view

    async def _record(self, rating: VisitRatingRecord | None) -> None:
        await quick_activity(
            RatingActivities.record_visit, VisitRecord(view=self._view.model_copy(deep=True), rating=rating)
        )
