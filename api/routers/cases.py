"""Cases (办件): submission, the live view, lists, and every action on a case."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Depends
from sqlalchemy import update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from temporalio.client import Client

from api import intake
from api.deps import AutocommitDb as Db
from api.deps import (  # every write here is one statement: no transactions
    Caller,
    Cfg,
    IdempotencyKey,
    Scopes,
    Submitter,
    Temporal,
    require_roles,
)
from api.errors import ApiError, found
from api.pages import Limit, Offset, page_of
from api.policy import (
    ACTION_ROLES,
    CaseAction,
    CaseScope,
    CaseScopes,
    case_scope,
    ensure_can_act,
    ensure_can_view,
)
from api.routers import visits
from api.schemas import (
    AcceptanceIn,
    CaseCreate,
    CaseOut,
    CasePage,
    CaseSummary,
    DeliveryIn,
    RatingIn,
    SignatureIn,
    SupplementIn,
    SupplementNoticeIn,
    TimelineOut,
    WithdrawIn,
)
from api.workflow_calls import send_update, start_case
from core.calendar import count_due
from core.models import Case, Submission, TimelineEntry
from core.security import Principal
from core.temporal import case_workflow_id
from workflows.calendar_messages import DeadlineSpec
from workflows.case import CaseWorkflow
from workflows.case_messages import (
    STATUS_LABELS,
    AcceptanceDecision,
    AcceptanceRequest,
    CaseInput,
    CaseStatus,
    CaseView,
    DeliveryMethod,
    DeliveryRequest,
    RatingRequest,
    SignatureRequest,
    SupplementNotice,
    SupplementRequest,
    WithdrawRequest,
)
from workflows.rating_messages import ON_SITE_CHANNELS

router = APIRouter(prefix="/cases", tags=["cases"])


def _gate(action: CaseAction) -> list:
    """The role half of the policy, checked before anything else; scope follows in `_act`."""
    return [Depends(require_roles(*ACTION_ROLES[action]))]


@router.post("", status_code=201, response_model=CaseOut)
async def submit_case(
    body: CaseCreate,
    db: Db,
    client: Temporal,
    cfg: Cfg,
    principal: Submitter,
    idempotency_key: IdempotencyKey = None,
) -> CaseOut:
    item = await intake.validated_item(db, body)
    applicant = await intake.applicant_of(db, principal, body)
    case_id, received = await intake.record_submission(db, principal, body, idempotency_key)
    inp = CaseInput(
        case_id=case_id,
        item=intake.snapshot(item),
        applicant_username=applicant,
        channel=intake.default_channel(principal, body),
        district=body.district,
        materials=sorted(set(body.materials)),
        submitted_by=principal.actor(),
        rating_window_days=cfg.rating_window_days,
        submitted_at=received,
        acceptance_due=await intake.acceptance_due(db, received),
    )
    view = await start_case(client, cfg.task_queue, inp)
    if view is None:  # a retry of a case whose workflow has already ended
        return await _case_out(db, await _load(db, case_id))
    return CaseOut.of(view)


@router.get("", response_model=CasePage)
async def list_cases(
    db: Db,
    principal: Caller,
    status: CaseStatus | None = None,
    item_code: str | None = None,
    department: str | None = None,
    overdue: bool | None = None,
    limit: Limit = 20,
    offset: Offset = 0,
) -> CasePage:
    conditions = [case_scope(principal)]
    if status is not None:
        conditions.append(Case.status == status.value)
    if item_code is not None:
        conditions.append(Case.item_code == item_code)
    if department is not None:
        conditions.append(Case.departments.contains([department]))
    if overdue is not None:
        conditions.append(Case.overdue == overdue)
    newest_first = [col(Case.submitted_at).desc(), col(Case.case_id).desc()]
    rows, total = await page_of(db, select(Case).where(*conditions), newest_first, limit, offset)
    return CasePage(items=[_summary(r) for r in rows], total=total, limit=limit, offset=offset)


@router.get("/{case_id}", response_model=CaseOut)
async def get_case(case_id: str, db: Db, principal: Caller) -> CaseOut:
    case = await _load(db, case_id)
    ensure_can_view(principal, case)
    return await _case_out(db, case)


@router.post("/{case_id}/acceptance", response_model=CaseOut, dependencies=_gate(CaseAction.ACCEPTANCE))
async def decide_acceptance(
    case_id: str, body: AcceptanceIn, db: Db, client: Temporal, principal: Caller, scopes: Scopes
) -> CaseOut:
    req = AcceptanceRequest(actor=principal.actor(), **body.model_dump())
    time_limit = Case.view["time_limit_days"].as_integer()
    scope, (days,) = await _scope_of(db, scopes, case_id, time_limit)
    ensure_can_act(principal, scope, CaseAction.ACCEPTANCE)
    if req.decision == AcceptanceDecision.ACCEPT and days is not None:  # else the workflow counts
        req.accepted_at = datetime.now(UTC)
        req.completion_due = await count_due(db.bind, DeadlineSpec(start=req.accepted_at, working_days=days))
    return await _send(db, client, case_id, CaseAction.ACCEPTANCE, req)


@router.post("/{case_id}/supplements", response_model=CaseOut, dependencies=_gate(CaseAction.SUPPLEMENTS))
async def supply_materials(
    case_id: str, body: SupplementIn, db: Db, client: Temporal, principal: Caller, scopes: Scopes
) -> CaseOut:
    req = SupplementRequest(actor=principal.actor(), materials=body.materials)
    return await _act(db, scopes, client, principal, case_id, CaseAction.SUPPLEMENTS, req)


@router.post(
    "/{case_id}/supplement-requests",
    response_model=CaseOut,
    dependencies=_gate(CaseAction.SUPPLEMENT_REQUEST),
)
async def request_supplement(
    case_id: str, body: SupplementNoticeIn, db: Db, client: Temporal, principal: Caller, scopes: Scopes
) -> CaseOut:
    """During review: tell the applicant once what is missing; the completion clock pauses."""
    req = SupplementNotice(actor=principal.actor(), **body.model_dump())
    return await _act(db, scopes, client, principal, case_id, CaseAction.SUPPLEMENT_REQUEST, req)


@router.post("/{case_id}/signatures", response_model=CaseOut, dependencies=_gate(CaseAction.SIGNATURES))
async def sign(
    case_id: str, body: SignatureIn, db: Db, client: Temporal, principal: Caller, scopes: Scopes
) -> CaseOut:
    req = SignatureRequest(actor=principal.actor(), **body.model_dump())
    return await _act(db, scopes, client, principal, case_id, CaseAction.SIGNATURES, req)


@router.post("/{case_id}/delivery", response_model=CaseOut, dependencies=_gate(CaseAction.DELIVERY))
async def deliver(
    case_id: str, body: DeliveryIn, db: Db, client: Temporal, principal: Caller, scopes: Scopes
) -> CaseOut:
    if body.method == DeliveryMethod.MAIL:
        if not body.address:
            raise ApiError(422, "address_required", "邮寄送达须填写收件地址")
        case = await _load(db, case_id)
        ensure_can_act(principal, case, CaseAction.DELIVERY)
        # The address is personal data: it stays in PostgreSQL, never in the workflow.
        await db.exec(
            update(Submission).where(Submission.case_id == case_id).values(delivery_address=body.address)
        )
        await db.commit()
    req = DeliveryRequest(actor=principal.actor(), method=body.method)
    return await _act(db, scopes, client, principal, case_id, CaseAction.DELIVERY, req)


@router.post("/{case_id}/ratings", response_model=CaseOut, dependencies=_gate(CaseAction.RATINGS))
async def rate(
    case_id: str, body: RatingIn, db: Db, client: Temporal, principal: Caller, scopes: Scopes
) -> CaseOut:
    scope, (rated,) = await _scope_of(db, scopes, case_id, Case.view["rating_level"].as_integer())
    ensure_can_act(principal, scope, CaseAction.RATINGS)
    if body.channel in ON_SITE_CHANNELS:  # on site one rating per visit, not per matter
        raise await visits.rate_the_visit(db, case_id)
    if rated is not None:
        raise ApiError(409, "already_rated", "本办件已评价，一事一评，不能重复评价")
    req = RatingRequest(actor=principal.actor(), **body.model_dump())
    return await _send(db, client, case_id, CaseAction.RATINGS, req)


@router.post("/{case_id}/withdraw", response_model=CaseOut, dependencies=_gate(CaseAction.WITHDRAW))
async def withdraw(
    case_id: str, body: WithdrawIn, db: Db, client: Temporal, principal: Caller, scopes: Scopes
) -> CaseOut:
    req = WithdrawRequest(actor=principal.actor(), reason=body.reason)
    return await _act(db, scopes, client, principal, case_id, CaseAction.WITHDRAW, req)


# ---- helpers -----------------------------------------------------------------------------

_UPDATES = {
    CaseAction.ACCEPTANCE: CaseWorkflow.decide_acceptance,
    CaseAction.SUPPLEMENTS: CaseWorkflow.supply_materials,
    CaseAction.SUPPLEMENT_REQUEST: CaseWorkflow.request_supplement,
    CaseAction.SIGNATURES: CaseWorkflow.sign,
    CaseAction.DELIVERY: CaseWorkflow.deliver,
    CaseAction.RATINGS: CaseWorkflow.rate,
    CaseAction.WITHDRAW: CaseWorkflow.withdraw,
}


async def _act(
    db: AsyncSession,
    scopes: CaseScopes,
    client: Client,
    principal: Principal,
    case_id: str,
    action: CaseAction,
    request: Any,
) -> CaseOut:
    scope, _ = await _scope_of(db, scopes, case_id)
    ensure_can_act(principal, scope, action)
    return await _send(db, client, case_id, action, request)


async def _send(db: AsyncSession, client: Client, case_id: str, action: CaseAction, request: Any) -> CaseOut:
    await db.close()  # the connection goes back to the pool while the workflow works
    view = await send_update(client, case_workflow_id(case_id), _UPDATES[action], request)
    return CaseOut.of(view)


async def _load(db: AsyncSession, case_id: str) -> Case:
    return found(await db.get(Case, case_id), "办件", "case_not_found")


async def _scope_of(
    db: AsyncSession, scopes: CaseScopes, case_id: str, *also: Any
) -> tuple[CaseScope, list[Any]]:
    """Only what the policy reads (a write's check need not load the whole view), and `also`;
    nothing when `also` is empty and the scope was read before."""
    if not also and (known := scopes.get(case_id)) is not None:
        return known, []
    columns = [getattr(Case, c) for c in CaseScope._fields]
    query = select(*columns, *also).where(Case.case_id == case_id)
    row = found((await db.exec(query)).first(), "办件", "case_not_found")
    fields = len(CaseScope._fields)
    scope = CaseScope(*row[:fields])
    scopes.put(case_id, scope)
    return scope, list(row[fields:])


async def _case_out(db: AsyncSession, case: Case) -> CaseOut:
    query = select(TimelineEntry).where(TimelineEntry.case_id == case.case_id)
    rows = (await db.exec(query.order_by(TimelineEntry.seq))).all()
    timeline = [TimelineOut.model_validate(r, from_attributes=True) for r in rows]
    return CaseOut.of(CaseView.model_validate(case.view), timeline)


def _summary(case: Case) -> CaseSummary:
    return CaseSummary(
        **case.model_dump(include=set(CaseSummary.model_fields) - {"status_label"}),
        status_label=STATUS_LABELS[CaseStatus(case.status)],
    )
