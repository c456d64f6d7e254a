"""Filing a rating (好差评) from a case, a bundle or a visit: the record the read model keeps,
and the rectification loop a bad one opens."""

from __future__ import annotations

from temporalio import workflow

from workflows.rectification import RectificationWorkflow

with workflow.unsafe.imports_passed_through():
    from core.types import Role
    from workflows.bundle_messages import BundleView
    from workflows.case_messages import CaseView, RatingRequest
    from workflows.rating_messages import BAD_RATING_MAX, RatingRecord
    from workflows.rectification_messages import RectificationInput, RectificationSource
    from workflows.visit_messages import VisitRatingRecord


def rater_of(req: RatingRequest, applicant: str | None) -> str | None:
    """Who rated: nobody if anonymous; the applicant when a clerk records the window device."""
    if req.anonymous:
        return None
    return applicant if req.actor.role == Role.CLERK else req.actor.username


def rating_record(
    req: RatingRequest, rated: CaseView | BundleView, rated_id: str, clerk: str | None, item_code: str
) -> RatingRecord:
    """One rating per matter (一事一评) or per bundle, attributed to its departments and clerk."""
    scope = "matter" if isinstance(rated, CaseView) else "bundle"
    return RatingRecord(
        rating_id=f"{rated_id}:{scope}",
        case_id=rated_id,
        level=req.level,
        channel=req.channel,
        rater=rater_of(req, rated.applicant_username),
        departments=rated.departments,
        clerk=clerk,
        item_code=item_code,
        district=rated.district,
        at=workflow.now(),
    )


async def open_rectification(rating: RatingRecord | VisitRatingRecord, department: str, summary: str) -> bool:
    """A bad rating (already recorded) starts its rectification loop, owned by `department`, as a
    child that outlives its parent. True if one started."""
    if rating.level > BAD_RATING_MAX:
        return False
    case_id = rating.case_id if isinstance(rating, RatingRecord) else None
    visit_id = rating.visit_id if isinstance(rating, VisitRatingRecord) else None
    loop = RectificationInput(
        rectification_id=f"R{case_id or visit_id}",
        source=RectificationSource.RATING,
        case_id=case_id,
        visit_id=visit_id,
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
        static_summary=f"差评整改｜{summary}",
    )
    return True
