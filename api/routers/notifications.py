"""The caller's notifications (全过程实时告知): every step of their cases, as it happens."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from api.deps import autocommit_session, current_principal
from api.schemas import NotificationOut
from core.models import NotificationRow
from core.security import Principal
from core.types import DEPARTMENT_ROLES, Role
from workflows.case_messages import SUPERVISOR_INBOX, department_inbox

router = APIRouter(prefix="/notifications", tags=["notifications"])


@router.get("", response_model=list[NotificationOut])
async def my_notifications(
    db: Annotated[AsyncSession, Depends(autocommit_session)],
    principal: Annotated[Principal, Depends(current_principal)],
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> list[NotificationOut]:
    recipients = [principal.username]
    if principal.role == Role.SUPERVISOR:
        recipients.append(SUPERVISOR_INBOX)
    if principal.role in DEPARTMENT_ROLES and principal.department:
        recipients.append(department_inbox(principal.department))
    query = (
        select(NotificationRow)
        .where(col(NotificationRow.recipient).in_(recipients))
        .order_by(col(NotificationRow.created_at).desc())
        .limit(limit)
    )
    rows = (await db.exec(query)).all()
    return [NotificationOut.model_validate(r, from_attributes=True) for r in rows]
