"""Filing a rating (好差评) from a case, a bundle or a visit: the record the read model keeps,
and the rectification loop a bad one opens."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from temporalio import workflow

from workflows.common import refuse
from workflows.rectification import RectificationWorkflow
from workflows.steps import Steps

with workflow.unsafe.imports_passed_through():
    from core.types import CaseErrorCode, Role
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


async def file_rating(
    req: RatingRequest,
    rated: CaseView | BundleView,
    clerk: str | None,
    steps: Steps,
    record: Callable[..., Awaitable[None]],
) -> None:
    """The rating goes with the rated's own record (`record(rating=...)`); a bad one then opens
    its rectification loop under the lead department, and the applicant is told."""
    if isinstance(rated, CaseView):
        rating = rating_record(req, rated, rated.case_id, clerk, rated.item_code)
        summary = f"{rated.item_name}｜办件号 {rated.case_id}"
    else:
        rating = rating_record(req, rated, rated.bundle_id, clerk, rated.theme_code)
        summary = f"{rated.theme_name}｜办件号 {rated.bundle_id}"
    await record(rating=rating)
    if await open_rectification(rating, rated.lead_department, summary):
        steps.log("rectification_opened", None, "差评已转责任部门核实整改（7日内办结）", notify=True)
        await record()


def require_ratable(rated: CaseView | BundleView, subject: str, rule: str) -> None:
    """Rated once (`rule`: 一事一评 / 一次一评), and only after its result was delivered."""
    if rated.rating_level is not None:
        raise refuse(CaseErrorCode.ALREADY_RATED, f"{subject}已评价，{rule}，不能重复评价")
    if rated.status != "delivered":
        raise refuse(CaseErrorCode.INVALID_STATE, f"{subject}的办理结果送达后才能评价")
