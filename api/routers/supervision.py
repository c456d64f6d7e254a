"""Supervision (督办): missed deadlines in the supervisors' inbox, and load by department."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import date, datetime, time
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from activities.calendar import TIMED_STATUSES
from api.deps import require_roles, session
from api.schemas import DepartmentLoad, EscalationOut, RatingStatsRow
from core.calendar import BEIJING
from core.models import Case, Escalation, Rating, Rectification
from core.security import Principal
from core.types import BAD_RATING_MAX, Role

router = APIRouter(prefix="/supervision", tags=["supervision"])

Db = Annotated[AsyncSession, Depends(session)]
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
    group_by: Annotated[str, Query(pattern="^(department|item|centre|channel)$")] = "department",
    first: Annotated[date | None, Query(alias="from")] = None,
    last: Annotated[date | None, Query(alias="to")] = None,
) -> list[RatingStatsRow]:
    """好差评 statistics over a period (Beijing dates, inclusive), grouped one way."""
    query = select(Rating, Rectification).join(
        Rectification,
        (col(Rectification.case_id) == col(Rating.case_id)) & (col(Rectification.source) == "rating"),
        isouter=True,
    )
    if first is not None:
        query = query.where(col(Rating.created_at) >= datetime.combine(first, time(0), BEIJING))
    if last is not None:
        query = query.where(col(Rating.created_at) <= datetime.combine(last, time.max, BEIJING))
    groups: dict[str, list[tuple[Rating, Rectification | None]]] = defaultdict(list)
    for rating, loop in (await db.exec(query)).all():
        for key in _keys(rating, group_by):
            groups[key].append((rating, loop))
    return [_stats(key, rows) for key, rows in sorted(groups.items())]


def _keys(rating: Rating, group_by: str) -> list[str]:
    if group_by == "department":
        return list(rating.departments)
    return [{"item": rating.item_code, "centre": rating.district, "channel": rating.channel}[group_by]]


def _stats(key: str, rows: list[tuple[Rating, Rectification | None]]) -> RatingStatsRow:
    levels = Counter(str(r.level) for r, _ in rows)
    loops = [loop for r, loop in rows if r.level <= BAD_RATING_MAX and loop is not None]
    bad = sum(1 for r, _ in rows if r.level <= BAD_RATING_MAX)
    replied = [loop for loop in loops if loop.on_time is not None]
    return RatingStatsRow(
        key=key,
        total=len(rows),
        levels={str(n): levels.get(str(n), 0) for n in range(1, 6)},
        good_rate=round((len(rows) - bad) / len(rows), 4) if rows else None,
        bad=bad,
        bad_open=sum(1 for loop in loops if loop.status != "closed"),
        bad_rectified=sum(1 for loop in loops if loop.outcome == "rectified"),
        bad_explained=sum(1 for loop in loops if loop.outcome == "explained"),
        bad_overdue=sum(1 for loop in loops if loop.overdue),
        on_time_rate=round(sum(1 for loop in replied if loop.on_time) / len(replied), 4) if replied else None,
    )
