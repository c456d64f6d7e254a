"""Rectifications (差评整改): list them, and the department's, rater's and supervisor's steps."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from api.deps import Db, Temporal, require_roles
from api.errors import ApiError, forbidden, found
from api.schemas import ExplainIn, FeedbackIn, RectifyIn, ReviewIn, VerifyIn
from api.workflow_calls import send_update
from core.models import Rectification
from core.security import Principal
from core.types import DEPARTMENT_ROLES, Role
from workflows.rectification import RectificationWorkflow
from workflows.rectification_messages import (
    DepartmentAnswer,
    ExplainRequest,
    FeedbackRequest,
    RectificationStatus,
    RectificationView,
    RectifyRequest,
    ReviewRequest,
    VerifyRequest,
)

router = APIRouter(prefix="/rectifications", tags=["rectifications"])

_READERS = (*DEPARTMENT_ROLES, Role.APPLICANT, Role.SUPERVISOR, Role.OPERATOR)
Reader = Annotated[Principal, Depends(require_roles(*_READERS))]
_RATER = frozenset({Role.APPLICANT})
_SUPERVISOR = frozenset({Role.SUPERVISOR})


def _gate(roles) -> list:
    return [Depends(require_roles(*roles))]


def _scope(principal: Principal):
    if principal.role in (Role.SUPERVISOR, Role.OPERATOR):
        return None
    if principal.role in DEPARTMENT_ROLES:
        return col(Rectification.department) == principal.department
    if principal.role == Role.APPLICANT:  # a rater sees the reply to their own rating only
        return col(Rectification.rater) == principal.username
    raise forbidden("当前角色无权查看整改", "role_not_allowed")  # unreachable behind the gate


@router.get("", response_model=list[RectificationView])
async def list_rectifications(
    db: Db,
    principal: Reader,
    case_id: str | None = None,
    status: RectificationStatus | None = None,
    overdue: bool | None = None,
) -> list[RectificationView]:
    query = select(Rectification).order_by(col(Rectification.opened_at).desc()).limit(200)
    scope = _scope(principal)
    if scope is not None:
        query = query.where(scope)
    if case_id is not None:
        query = query.where(Rectification.case_id == case_id)
    if status is not None:
        query = query.where(Rectification.status == status.value)
    if overdue is not None:
        query = query.where(Rectification.overdue == overdue)
    return [RectificationView.model_validate(r.view) for r in (await db.exec(query)).all()]


@router.get("/{rectification_id}", response_model=RectificationView)
async def get_rectification(rectification_id: str, db: Db, principal: Reader) -> RectificationView:
    return RectificationView.model_validate((await _load(db, principal, rectification_id)).view)


@router.post(
    "/{rectification_id}/verification", response_model=RectificationView, dependencies=_gate(DEPARTMENT_ROLES)
)
async def verify(rectification_id: str, body: VerifyIn, db: Db, client: Temporal, principal: Reader):
    req = VerifyRequest(actor=principal.actor(), **body.model_dump())
    return await _step(
        db, client, principal, rectification_id, RectificationWorkflow.answer, DepartmentAnswer(act=req)
    )


@router.post(
    "/{rectification_id}/rectification",
    response_model=RectificationView,
    dependencies=_gate(DEPARTMENT_ROLES),
)
async def rectify(rectification_id: str, body: RectifyIn, db: Db, client: Temporal, principal: Reader):
    req = RectifyRequest(actor=principal.actor(), **body.model_dump())
    return await _step(
        db, client, principal, rectification_id, RectificationWorkflow.answer, DepartmentAnswer(act=req)
    )


@router.post(
    "/{rectification_id}/explanation", response_model=RectificationView, dependencies=_gate(DEPARTMENT_ROLES)
)
async def explain(rectification_id: str, body: ExplainIn, db: Db, client: Temporal, principal: Reader):
    req = ExplainRequest(actor=principal.actor(), **body.model_dump())
    return await _step(
        db, client, principal, rectification_id, RectificationWorkflow.answer, DepartmentAnswer(act=req)
    )


@router.post("/{rectification_id}/feedback", response_model=RectificationView, dependencies=_gate(_RATER))
async def feedback(rectification_id: str, body: FeedbackIn, db: Db, client: Temporal, principal: Reader):
    req = FeedbackRequest(actor=principal.actor(), **body.model_dump())
    return await _step(db, client, principal, rectification_id, RectificationWorkflow.feedback, req)


@router.post("/{rectification_id}/review", response_model=RectificationView, dependencies=_gate(_SUPERVISOR))
async def review(rectification_id: str, body: ReviewIn, db: Db, client: Temporal, principal: Reader):
    req = ReviewRequest(actor=principal.actor(), **body.model_dump())
    return await _step(db, client, principal, rectification_id, RectificationWorkflow.review, req)


async def _step(db, client, principal: Principal, rectification_id: str, update, req: Any):
    await _load(db, principal, rectification_id)
    workflow_id = f"rectification-{rectification_id}"
    return await send_update(client, workflow_id, update, req)


async def _load(db: AsyncSession, principal: Principal, rectification_id: str) -> Rectification:
    row = found(await db.get(Rectification, rectification_id), "整改事项", "rectification_not_found")
    scope = _scope(principal)
    visible = scope is None or (
        row.department == principal.department
        if principal.role in DEPARTMENT_ROLES
        else row.rater == principal.username
    )
    if not visible:
        raise ApiError(403, "rectification_forbidden", "无权查看该整改事项")
    return row
