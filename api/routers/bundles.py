"""Bundles (办好一件事): one submission for a theme, one contact clerk, one window, one visit.

The bundle and its member cases live in Temporal; reads come from the read model, and a
bundle's timeline merges its own entries with every member case's.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query
from sqlalchemy import func, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from temporalio.client import Client

from api import intake
from api.deps import Caller, Cfg, Db, IdempotencyKey, Submitter, Temporal, require_roles
from api.errors import ApiError, found
from api.pages import Limit, Offset, page_of
from api.policy import (
    BUNDLE_ACTION_ROLES,
    BundleAction,
    bundle_scope,
    ensure_can_act_on_bundle,
    ensure_can_view_bundle,
)
from api.routers.themes import theme_snapshot
from api.schemas import (
    BundleCreate,
    BundleDeliveryIn,
    BundleOut,
    BundlePage,
    BundleRetryIn,
    BundleSummary,
    BundleSupplementNoticeIn,
    BundleSupplyIn,
    BundleTimelineOut,
    RatingIn,
    WithdrawIn,
)
from api.workflow_calls import send_update, start_bundle
from core import form_fields, themes
from core.catalogue import ThemeForm, ThemeSnapshot
from core.models import Account, Bundle, Submission, TimelineEntry
from core.security import Principal
from core.temporal import bundle_workflow_id
from core.types import DISTRICTS, Role
from workflows.bundle import BundleWorkflow
from workflows.bundle_messages import (
    BUNDLE_STATUS_LABELS,
    BundleAcceptRequest,
    BundleDeliveryRequest,
    BundleInput,
    BundleRetryRequest,
    BundleStatus,
    BundleSupplementNotice,
    BundleSupplyRequest,
    BundleView,
    BundleWithdrawRequest,
)
from workflows.case_messages import DeliveryMethod, RatingRequest

router = APIRouter(prefix="/bundles", tags=["bundles"])

BundleId = Annotated[str, Path(max_length=32)]
_OPEN = [
    BundleStatus.SUBMITTED,
    BundleStatus.IN_PROGRESS,
    BundleStatus.SUPPLEMENT_REQUESTED,
    BundleStatus.READY,
]


def _gate(action: BundleAction) -> list:
    return [Depends(require_roles(*BUNDLE_ACTION_ROLES[action]))]


@router.post("", status_code=201, response_model=BundleOut)
async def submit_bundle(
    body: BundleCreate,
    db: Db,
    client: Temporal,
    cfg: Cfg,
    principal: Submitter,
    idempotency_key: IdempotencyKey = None,
) -> BundleOut:
    """上一网、填一表: one form and one set of materials for every item of the theme."""
    theme = await _theme_or_422(db, body.theme_code)
    form = themes.merged_form(theme)
    _check_form(form, body.form)
    _check_materials(form, body.materials)
    if body.district not in DISTRICTS:
        raise ApiError(422, "unknown_district", f"未知的办理区域：{body.district}")
    applicant = await intake.applicant_of(db, principal, body)
    clerk = await _contact_clerk(db, principal, body.district)
    bundle_id = (await intake.record_submission(db, principal, body, idempotency_key, prefix="BD")).id
    inp = BundleInput(
        bundle_id=bundle_id,
        theme=theme,
        applicant_username=applicant,
        contact_clerk=clerk,
        district=body.district,
        channel=intake.default_channel(principal, body),
        form=body.form,
        materials=sorted(set(body.materials)),
        submitted_by=principal.actor(),
        rating_window_days=cfg.rating_window_days,
        history_limit=cfg.bundle_history_limit,
    )
    view = await start_bundle(client, cfg.task_queue, inp)
    if view is None:  # a retry of a bundle whose workflow has already ended
        return await _bundle_out(db, await _load(db, bundle_id))
    return BundleOut.of(view)


@router.get("", response_model=BundlePage)
async def list_bundles(
    db: Db,
    principal: Caller,
    status: BundleStatus | None = None,
    theme_code: str | None = Query(default=None, max_length=64),
    limit: Limit = 20,
    offset: Offset = 0,
) -> BundlePage:
    conditions = [bundle_scope(principal)]
    if status is not None:
        conditions.append(Bundle.status == status.value)
    if theme_code is not None:
        conditions.append(Bundle.theme_code == theme_code)
    newest_first = [col(Bundle.submitted_at).desc(), col(Bundle.bundle_id).desc()]
    rows, total = await page_of(db, select(Bundle).where(*conditions), newest_first, limit, offset)
    return BundlePage(items=[_summary(r) for r in rows], total=total, limit=limit, offset=offset)


@router.get("/{bundle_id}", response_model=BundleOut)
async def get_bundle(bundle_id: BundleId, db: Db, principal: Caller) -> BundleOut:
    """Overall status, every member's status and deadline, and one merged timeline."""
    bundle = await _load(db, bundle_id)
    ensure_can_view_bundle(principal, bundle)
    return await _bundle_out(db, bundle)


@router.post("/{bundle_id}/acceptance", response_model=BundleOut, dependencies=_gate(BundleAction.ACCEPTANCE))
async def accept_bundle(bundle_id: BundleId, db: Db, client: Temporal, principal: Caller) -> BundleOut:
    """进一窗: the contact clerk accepts every member waiting for acceptance at once."""
    req = BundleAcceptRequest(actor=principal.actor())
    return await _act(db, client, principal, bundle_id, BundleAction.ACCEPTANCE, req)


@router.post(
    "/{bundle_id}/supplement-requests",
    response_model=BundleOut,
    dependencies=_gate(BundleAction.SUPPLEMENT_REQUEST),
)
async def request_supplement(
    bundle_id: BundleId, body: BundleSupplementNoticeIn, db: Db, client: Temporal, principal: Caller
) -> BundleOut:
    """一次性告知 for all members together: one notice listing everything missing."""
    req = BundleSupplementNotice(actor=principal.actor(), **body.model_dump())
    return await _act(db, client, principal, bundle_id, BundleAction.SUPPLEMENT_REQUEST, req)


@router.post(
    "/{bundle_id}/supplements", response_model=BundleOut, dependencies=_gate(BundleAction.SUPPLEMENTS)
)
async def supply_materials(
    bundle_id: BundleId, body: BundleSupplyIn, db: Db, client: Temporal, principal: Caller
) -> BundleOut:
    req = BundleSupplyRequest(actor=principal.actor(), materials=body.materials)
    return await _act(db, client, principal, bundle_id, BundleAction.SUPPLEMENTS, req)


@router.post("/{bundle_id}/delivery", response_model=BundleOut, dependencies=_gate(BundleAction.DELIVERY))
async def deliver(
    bundle_id: BundleId, body: BundleDeliveryIn, db: Db, client: Temporal, principal: Caller
) -> BundleOut:
    """办一次: every result handed over together (or, if the applicant asks, what is ready)."""
    if body.method == DeliveryMethod.MAIL:
        if not body.address:
            raise ApiError(422, "address_required", "邮寄送达须填写收件地址")
        ensure_can_act_on_bundle(principal, await _load(db, bundle_id), BundleAction.DELIVERY)
        # The address is personal data: it stays in PostgreSQL, never in the workflow.
        stmt = update(Submission).where(Submission.case_id == bundle_id).values(delivery_address=body.address)
        await db.exec(stmt)
        await db.commit()
    req = BundleDeliveryRequest(actor=principal.actor(), method=body.method, partial=body.partial)
    return await _act(db, client, principal, bundle_id, BundleAction.DELIVERY, req)


@router.post(
    "/{bundle_id}/members/{member_key}/retry",
    response_model=BundleOut,
    dependencies=_gate(BundleAction.RETRY),
)
async def retry_member(
    bundle_id: BundleId,
    member_key: Annotated[str, Path(max_length=32)],
    body: BundleRetryIn,
    db: Db,
    client: Temporal,
    principal: Caller,
) -> BundleOut:
    """After a fix, the failed member runs again; the bundle and the other members go on."""
    bundle = await _load(db, bundle_id)
    form = themes.merged_form(await theme_snapshot(db, bundle.theme_code))
    _check_form(form, body.form, partial=True)
    _check_materials(form, body.materials)
    req = BundleRetryRequest(actor=principal.actor(), member_key=member_key, **body.model_dump())
    return await _act(db, client, principal, bundle_id, BundleAction.RETRY, req)


@router.post("/{bundle_id}/ratings", response_model=BundleOut, dependencies=_gate(BundleAction.RATINGS))
async def rate(bundle_id: BundleId, body: RatingIn, db: Db, client: Temporal, principal: Caller) -> BundleOut:
    """One rating for the whole bundle, attributed to every department involved."""
    if (await _load(db, bundle_id)).view.get("rating_level") is not None:
        raise ApiError(409, "already_rated", "本“一件事”已评价，一次一评，不能重复评价")
    req = RatingRequest(actor=principal.actor(), **body.model_dump())
    return await _act(db, client, principal, bundle_id, BundleAction.RATINGS, req)


@router.post("/{bundle_id}/withdraw", response_model=BundleOut, dependencies=_gate(BundleAction.WITHDRAW))
async def withdraw(
    bundle_id: BundleId, body: WithdrawIn, db: Db, client: Temporal, principal: Caller
) -> BundleOut:
    """Withdraw what is still undecided; results already decided can still be collected."""
    req = BundleWithdrawRequest(actor=principal.actor(), reason=body.reason)
    return await _act(db, client, principal, bundle_id, BundleAction.WITHDRAW, req)


# ---- helpers -----------------------------------------------------------------------------

_UPDATES = {
    BundleAction.ACCEPTANCE: BundleWorkflow.accept,
    BundleAction.SUPPLEMENT_REQUEST: BundleWorkflow.request_supplement,
    BundleAction.SUPPLEMENTS: BundleWorkflow.supply,
    BundleAction.DELIVERY: BundleWorkflow.deliver,
    BundleAction.RETRY: BundleWorkflow.retry_member,
    BundleAction.RATINGS: BundleWorkflow.rate,
    BundleAction.WITHDRAW: BundleWorkflow.withdraw,
}


async def _act(
    db: AsyncSession, client: Client, principal: Principal, bundle_id: str, action: BundleAction, request: Any
) -> BundleOut:
    bundle = await _load(db, bundle_id)
    ensure_can_act_on_bundle(principal, bundle, action)
    view = await send_update(client, bundle_workflow_id(bundle_id), _UPDATES[action], request)
    return BundleOut.of(view)


async def _theme_or_422(db: AsyncSession, code: str) -> ThemeSnapshot:
    try:
        return await theme_snapshot(db, code)
    except ApiError as exc:
        if exc.code == "theme_not_found":
            raise ApiError(422, "unknown_theme", f"没有该主题服务：{code}") from exc
        raise


def _check_form(form: ThemeForm, values: dict[str, str], partial: bool = False) -> None:
    """Every field asked exactly once: none unknown, none the applicant need not give, none missing."""
    fields = {f.key: f for f in form.fields}
    unknown = sorted(k for k in values if k not in fields)
    if unknown:
        raise ApiError(422, "unknown_form_field", f"申请表中没有这些字段：{'、'.join(unknown)}", unknown)
    provided = sorted(k for k in values if fields[k].provided_by)
    if provided:
        names = "、".join(fields[k].label for k in provided)
        raise ApiError(
            422, "form_field_provided", f"以下字段由前置事项的办理结果自动填写，无需填报：{names}", provided
        )
    asked = [f for f in form.fields if not f.provided_by]
    missing = [f for f in asked if f.key not in values]
    if missing and not partial:
        names = "、".join(f.label for f in missing)
        raise ApiError(422, "form_field_missing", f"申请表尚未填写：{names}", [f.key for f in missing])
    problems = {k: p for k, v in values.items() if (p := form_fields.problem(k, v))}
    if problems:
        raise ApiError(422, "invalid_form_field", "；".join(problems.values()), problems)


def _check_materials(form: ThemeForm, materials: list[str]) -> None:
    intake.refuse_unlisted(materials, {m.code for m in form.materials}, "本主题材料清单")


async def _contact_clerk(db: AsyncSession, principal: Principal, district: str) -> str:
    """找一人: the clerk who takes it at the window, else the district's least-loaded clerk."""
    if principal.role == Role.CLERK:
        return principal.username
    load = func.count(Bundle.bundle_id)
    query = (
        select(Account.username)
        .outerjoin(Bundle, (Bundle.contact_clerk == Account.username) & Bundle.status.in_(_OPEN))
        .where(Account.role == Role.CLERK.value, Account.district == district)
        .group_by(Account.username)
        .order_by(load, Account.username)
        .limit(1)
    )
    clerk = (await db.exec(query)).first()
    if clerk is None:
        raise ApiError(
            422, "no_contact_clerk", "该区域政务服务中心暂无可指派的综窗人员，请选择其他区域或到窗口办理"
        )
    return clerk


async def _load(db: AsyncSession, bundle_id: str) -> Bundle:
    return found(await db.get(Bundle, bundle_id), "“一件事”", "bundle_not_found")


async def _bundle_out(db: AsyncSession, bundle: Bundle) -> BundleOut:
    ids = [bundle.bundle_id, *bundle.case_ids]
    query = select(TimelineEntry).where(TimelineEntry.case_id.in_(ids))
    rows = (await db.exec(query.order_by(TimelineEntry.at, TimelineEntry.case_id, TimelineEntry.seq))).all()
    timeline = [BundleTimelineOut.model_validate(r, from_attributes=True) for r in rows]
    return BundleOut.of(BundleView.model_validate(bundle.view), timeline)


def _summary(bundle: Bundle) -> BundleSummary:
    return BundleSummary(
        **bundle.model_dump(include=set(BundleSummary.model_fields) - {"status_label"}),
        status_label=BUNDLE_STATUS_LABELS[BundleStatus(bundle.status)],
    )
