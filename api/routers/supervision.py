"""Supervision (督办): missed deadlines in the supervisors' inbox, and load by department."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from sqlalchemy import func
from sqlmodel import col, select

from activities.calendar import TIMED_STATUSES
from api.deps import Db, require_roles
from api.errors import ApiError
from api.rating_stats import GROUPS, KINDS, rating_statistics
from api.schemas import DepartmentLoad, EscalationOut, IsoDate, RatingStatsRow
from core.models import Case, Escalation
from core.security import Principal
from core.types import Role

router = APIRouter(prefix="/supervision", tags=["supervision"])

Supervisor = Annotated[Principal, Depends(require_roles(Role.SUPERVISOR, Role.OPERATOR))]


@router.get("/overdue", response_model=list[EscalationOut])
async def overdue(
    db: Db,
    _: Supervisor,
    department: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[EscalationOut]:
    query = (
        select(Escalation, Case.status, Case.item_name)
        .join(Case, col(Case.case_id) == col(Escalation.case_id), isouter=True)
        .where(col(Escalation.resolved_at).is_(None))
        .order_by(col(Escalation.created_at).desc())
        .limit(limit)
    )
    if department is not None:
        query = query.where(Escalation.department == department)
    rows = (await db.exec(query)).all()
    return [
        EscalationOut(**e.model_dump(exclude={"resolved_at"}), status=status, item_name=name)
        for e, status, name in rows
    ]


@router.get("/load", response_model=list[DepartmentLoad])
async def load(db: Db, _: Supervisor) -> list[DepartmentLoad]:
    """Open cases in warning (预警) and overdue (超期), by lead department."""
    open_cases = col(Case.status).in_([s.value for s in TIMED_STATUSES])
    query = (
        select(
            Case.lead_department,
            func.count().filter(col(Case.warning)),
            func.count().filter(col(Case.overdue)),
        )
        .where(open_cases)
        .group_by(Case.lead_department)
        .order_by(Case.lead_department)
    )
    rows = (await db.exec(query)).all()
    return [DepartmentLoad(department=d, warning=w, overdue=o) for d, w, o in rows]


@router.get("/ratings", response_model=list[RatingStatsRow])
async def rating_stats(
    db: Db,
    _: Supervisor,
    group_by: Annotated[str, Query(pattern=f"^({'|'.join(GROUPS)})$")] = "department",
    first: Annotated[IsoDate | None, Query(alias="from")] = None,
    last: Annotated[IsoDate | None, Query(alias="to")] = None,
    kind: Annotated[str | None, Query(pattern=f"^({'|'.join(KINDS)})$")] = None,
) -> list[RatingStatsRow]:
    """好差评 statistics over a period (Beijing dates, inclusive), grouped one way; matter
    (一事一评) and visit (一次一评) ratings together, or one `kind` of them."""
    if first is not None and last is not None and first > last:
        raise ApiError(422, "invalid_period", "统计期间的开始日期不能晚于结束日期")
    return await rating_statistics(await db.connection(), group_by, first, last, kind)
