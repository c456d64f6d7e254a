"""Filing a rating (好差评) from a case or a bundle: record it, and open the rectification loop
for a bad one."""

from __future__ import annotations

from temporalio import workflow

from workflows.common import QUICK, RETRY_FOREVER, lean_history
from workflows.rectification import RectificationWorkflow

with workflow.unsafe.imports_passed_through():
    from activities.ratings import RatingActivities
    from core.types import Role
    from workflows.case_messages import RatingRequest
    from workflows.rating_messages import BAD_RATING_MAX, RatingRecord
    from workflows.rectification_messages import RectificationInput, RectificationSource


def rater_of(req: RatingRequest, applicant: str | None) -> str | None:
    """Who rated: nobody if anonymous; the applicant when a clerk records the window device."""
    if req.anonymous:
        return None
    return applicant if req.actor.role == Role.CLERK else req.actor.username


async def file_rating(rating: RatingRecord, department: str, subject: str) -> bool:
    """Record the rating; a bad one starts its rectification workflow. True if one started."""
    if lean_history():
        await workflow.execute_local_activity_method(
            RatingActivities.record_rating, rating, start_to_close_timeout=QUICK, retry_policy=RETRY_FOREVER
        )
    else:  # a regular activity before, even where other quick activities were already local
        await workflow.execute_activity_method(
            RatingActivities.record_rating, rating, start_to_close_timeout=QUICK, retry_policy=RETRY_FOREVER
        )
    return await open_rectification(rating, department, subject)


async def open_rectification(rating: RatingRecord, department: str, subject: str) -> bool:
    """A bad rating (already recorded) starts its rectification workflow. True if one started."""
    if rating.level > BAD_RATING_MAX:
        return False
    loop = RectificationInput(
        rectification_id=f"R{rating.case_id}",
        source=RectificationSource.RATING,
        case_id=rating.case_id,
        department=department,
        level=rating.level,
        channel=rating.channel,
        rater=rating.rater,
        opened_at=workflow.now(),
    )
    await workflow.start_child_workflow(
        RectificationWorkflow.run,
        loop,
        id=f"rectification-{loop.rectification_id}",
        parent_close_policy=workflow.ParentClosePolicy.ABANDON,
        static_summary=f"差评整改｜{subject}｜办件号 {rating.case_id}",
    )
    return True
