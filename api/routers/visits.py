"""Visits (一次办事) and their one on-site rating (一次一评).

A clerk opens a visit at their window for one applicant, listing the cases handled in it; the
applicant rates the visit once from an on-site channel (kiosk, the centre's QR code, the
window's rating device), or the window device relays an anonymous rating through the clerk.
The visit's workflow accepts exactly one rating; a bad one opens the rectification loop.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends
from sqlalchemy import update
from sqlalchemy.dialects.postgresql import insert
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from temporalio.client import Client, RPCTimeoutOrCancelledError
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError

from api.deps import Cfg, Db, IdempotencyKey, Submitter, Temporal, require_roles
from api.errors import ApiError, forbidden, found
from api.policy import can_view
from api.schemas import VisitCreate, VisitRatingIn
from api.workflow_calls import send_update
from core.calendar import BEIJING
from core.config import Settings
from core.models import Case, Visit, VisitRating
from core.security import Principal
from core.types import DISTRICTS, Role
from workflows.rating_messages import ON_SITE_CHANNELS, RatingChannel
from workflows.visit import VisitWorkflow, visit_workflow_id
from workflows.visit_messages import VisitInput, VisitRatingRequest, VisitStatus, VisitView

router = APIRouter(prefix="/visits", tags=["visits"])


@router.post("", status_code=201, response_model=VisitView)
async def open_visit(
    body: VisitCreate,
    db: Db,
    client: Temporal,
    cfg: Cfg,
    principal: Annotated[Principal, Depends(require_roles(Role.CLERK))],
    idempotency_key: IdempotencyKey = None,
) -> VisitView:
    """The clerk of the window opens a visit in their own district; a retry with the same
    Idempotency-Key returns the same visit."""
    district = _district(principal, body)
    cases = await _cases(db, principal, body.case_ids)
    applicants = {c.applicant_username for c in cases}
    if len(applicants) != 1:
        raise ApiError(422, "visit_mixed_applicants", "一次办事只能办理同一申请人的办件")
    digest = hashlib.sha256(json.dumps(body.model_dump(mode="json"), sort_keys=True).encode()).hexdigest()
    if idempotency_key is not None:
        existing = await _by_key(db, principal.username, idempotency_key)
        if existing is not None:
            return await _start(client, cfg, _same_request(existing, digest))
    now = datetime.now(UTC)
    visit_id = f"V{now.astimezone(BEIJING):%Y%m%d}{uuid.uuid4().hex[:8].upper()}"
    departments = list(dict.fromkeys(d for c in cases for d in c.departments))
    view = VisitView(
        visit_id=visit_id,
        status=VisitStatus.OPEN,
        clerk=principal.username,
        district=district,
        applicant_username=applicants.pop(),
        case_ids=[c.case_id for c in cases],
        departments=departments,
        item_codes=list(dict.fromkeys(c.item_code for c in cases)),
        lead_department=cases[0].lead_department,
        opened_at=now,
        rating_deadline=now + timedelta(days=cfg.rating_window_days),
    )
    row = insert(Visit).values(
        visit_id=visit_id,
        idempotency_key=idempotency_key,
        opened_by=principal.username,
        request_hash=digest,
        district=district,
        applicant_username=view.applicant_username,
        case_ids=view.case_ids,
        status=view.status.value,
        view=view.model_dump(mode="json"),
        opened_at=now,
    )
    inserted = (await db.exec(row.on_conflict_do_nothing().returning(Visit.visit_id))).first()
    await db.commit()
    if inserted is None:  # a concurrent request with the same key won the race
        existing = await _by_key(db, principal.username, idempotency_key)
        assert existing is not None
        return await _start(client, cfg, _same_request(existing, digest))
    return await _start(client, cfg, await _load(db, visit_id))


@router.get("/{visit_id}", response_model=VisitView)
async def get_visit(
    visit_id: str,
    db: Db,
    principal: Annotated[
        Principal, Depends(require_roles(Role.APPLICANT, Role.CLERK, Role.SUPERVISOR, Role.OPERATOR))
    ],
) -> VisitView:
    visit = await _load(db, visit_id)
    visible = {
        Role.APPLICANT: visit.applicant_username == principal.username,
        Role.CLERK: principal.district in (None, visit.district),
    }.get(principal.role, True)
    if not visible:
        raise forbidden("无权查看该次办事", "visit_forbidden")
    return VisitView.model_validate(visit.view)


@router.post("/{visit_id}/rating", response_model=VisitView)
async def rate_visit(
    visit_id: str,
    body: VisitRatingIn,
    db: Db,
    client: Temporal,
    cfg: Cfg,
    principal: Submitter,
) -> VisitView:
    """一次一评: the visit's applicant, or the window's rating device through its clerk (always
    anonymous); on-site channels only. A second rating is refused (409 already_rated)."""
    visit = await _load(db, visit_id)
    anonymous = _rater_may_rate(principal, visit, body)
    _still_open(visit)
    if datetime.now(UTC) > VisitView.model_validate(visit.view).rating_deadline:
        raise ApiError(409, "rating_window_closed", "本次办事的评价期已过，不能再评价")
    await _start(client, cfg, visit)  # in case the opening request died before starting it
    req = VisitRatingRequest(
        actor=principal.actor(), level=body.level, channel=body.channel, anonymous=anonymous
    )
    try:
        view = await send_update(client, visit_workflow_id(visit_id), VisitWorkflow.rate, req)
    except ApiError as exc:
        if exc.status == 409:  # lost a race: the workflow may have finished since we looked
            await db.refresh(visit)
            _still_open(visit)
        raise
    if body.comment:  # free text stays in PostgreSQL, out of Temporal
        comment = update(VisitRating).where(col(VisitRating.visit_id) == visit_id)
        await db.exec(comment.values(comment=body.comment))
        await db.commit()
    return view


# ---- helpers -----------------------------------------------------------------------------


def _district(principal: Principal, body: VisitCreate) -> str:
    district = body.district or principal.district
    if district is None:
        raise ApiError(422, "district_required", "请填写办理区域")
    if district not in DISTRICTS:
        raise ApiError(422, "unknown_district", f"未知的办理区域：{district}")
    if principal.district is not None and district != principal.district:
        raise forbidden("只能在本区域的窗口登记办事", "district_forbidden")
    return district


async def _cases(db: AsyncSession, principal: Principal, case_ids: list[str]) -> list[Case]:
    found = {c.case_id: c for c in (await db.exec(select(Case).where(col(Case.case_id).in_(case_ids)))).all()}
    unknown = [c for c in case_ids if c not in found]
    if unknown:
        raise ApiError(422, "unknown_case", f"没有该办件：{'、'.join(unknown)}", {"unknown": unknown})
    cases = [found[c] for c in case_ids]
    if not all(can_view(principal, c) for c in cases):
        raise forbidden("只能登记本区域的办件", "case_forbidden")
    return cases


def _rater_may_rate(principal: Principal, visit: Visit, body: VisitRatingIn) -> bool:
    """Who may rate this visit, and whether the rating is anonymous."""
    if principal.role == Role.APPLICANT:
        if visit.applicant_username != principal.username:
            raise forbidden("只有本次办事的申请人可以评价", "visit_forbidden")
    elif visit.view["clerk"] != principal.username:
        raise forbidden("只有本窗口的评价器可以代为提交评价", "visit_forbidden")
    if body.channel not in ON_SITE_CHANNELS:
        where = "评价器、自助终端、现场二维码"
        raise ApiError(422, "channel_not_on_site", f"一次一评只能在现场评价（{where}）；网上评价请按办件评价")
    if principal.role == Role.APPLICANT:
        return bool(body.anonymous)
    if body.channel != RatingChannel.DEVICE:
        raise ApiError(422, "channel_not_allowed", "窗口代为提交的评价只能来自窗口评价器")
    if body.anonymous is False:
        message = "评价器代为提交的评价为匿名评价；实名评价请申请人本人扫码评价"
        raise ApiError(422, "device_rating_anonymous", message)
    return True


async def rate_the_visit(db: AsyncSession, case_id: str) -> ApiError:
    """The refusal of an on-site rating sent to a case: name the open visits that handled it."""
    query = select(Visit.visit_id).where(
        col(Visit.case_ids).contains([case_id]), Visit.status == VisitStatus.OPEN.value
    )
    open_visits = list((await db.exec(query.order_by(col(Visit.opened_at).desc()))).all())
    return ApiError(
        422,
        "rate_the_visit",
        "现场评价为一次一评，请对本次办事评价（POST /visits/{visit_id}/rating）；网上评价为一事一评",
        {"visits": open_visits},
    )


def _still_open(visit: Visit) -> None:
    if visit.status == VisitStatus.RATED:
        raise ApiError(409, "already_rated", "本次办事已评价，一次一评，不能重复评价")
    if visit.status == VisitStatus.CLOSED_UNRATED:
        raise ApiError(409, "rating_window_closed", "本次办事的评价期已过，不能再评价")


async def _by_key(db: AsyncSession, clerk: str, key: str | None) -> Visit | None:
    query = select(Visit).where(Visit.opened_by == clerk, Visit.idempotency_key == key)
    return (await db.exec(query)).first()


def _same_request(existing: Visit, digest: str) -> Visit:
    if existing.request_hash != digest:
        raise ApiError(422, "idempotency_key_reused", "该幂等键已用于另一次办事登记，请勿重复使用")
    return existing


async def _load(db: AsyncSession, visit_id: str) -> Visit:
    return found(await db.get(Visit, visit_id), "该次办事", "visit_not_found")


async def _start(client: Client, cfg: Settings, visit: Visit) -> VisitView:
    """Start the visit's workflow once (a retry joins it); answer with the recorded visit."""
    view = VisitView.model_validate(visit.view)
    inp = VisitInput(**view.model_dump(include=set(VisitInput.model_fields)))
    try:
        await client.start_workflow(
            VisitWorkflow.run,
            inp,
            id=visit_workflow_id(visit.visit_id),
            task_queue=cfg.task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            static_summary=f"现场办事｜{DISTRICTS.get(view.district, view.district)}｜{visit.visit_id}",
        )
    except WorkflowAlreadyStartedError:
        pass  # it has already ended
    except (RPCError, RPCTimeoutOrCancelledError) as exc:  # recorded: a retry with the key starts it
        raise ApiError(503, "workflow_engine_unavailable", "办件引擎暂不可用，请稍后用同一请求重试") from exc
    return view
