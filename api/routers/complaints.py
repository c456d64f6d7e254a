"""12345 hotline complaints (12345投诉): each opens the same rectification loop as a bad rating."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends

from api.deps import Cfg, Db, Temporal, require_roles
from api.errors import ApiError
from api.schemas import ComplaintIn
from core.models import Account, Case, Complaint, Department
from core.security import Principal
from core.types import Role
from workflows.rectification import RectificationWorkflow
from workflows.rectification_messages import RectificationInput, RectificationSource, RectificationView

router = APIRouter(prefix="/complaints", tags=["complaints"])


@router.post("", status_code=201, response_model=RectificationView)
async def receive_complaint(
    body: ComplaintIn,
    db: Db,
    client: Temporal,
    cfg: Cfg,
    principal: Annotated[Principal, Depends(require_roles(Role.SUPERVISOR))],
) -> RectificationView:
    if await db.get(Department, body.department) is None:
        raise ApiError(422, "unknown_department", f"没有该部门：{body.department}")
    if body.case_id is not None and await db.get(Case, body.case_id) is None:
        raise ApiError(422, "unknown_case", f"没有该办件：{body.case_id}")
    if body.rater_username is not None:
        account = await db.get(Account, body.rater_username)
        if account is None or account.role != Role.APPLICANT:
            raise ApiError(422, "unknown_applicant", "投诉人账号不存在")
    now = datetime.now(UTC)
    complaint_id = f"C{now:%Y%m%d}{uuid.uuid4().hex[:8].upper()}"
    db.add(
        Complaint(
            complaint_id=complaint_id,
            case_id=body.case_id,
            department=body.department,
            content=body.content,
            caller=body.caller.model_dump() if body.caller else {},
            received_by=principal.username,
            created_at=now,
        )
    )
    await db.commit()
    loop = RectificationInput(
        rectification_id=complaint_id,
        source=RectificationSource.COMPLAINT,
        case_id=body.case_id,
        department=body.department,
        channel="phone",
        rater=body.rater_username,
        opened_at=now,
    )
    handle = await client.start_workflow(
        RectificationWorkflow.run,
        loop,
        id=f"rectification-{complaint_id}",
        task_queue=cfg.task_queue,
        static_summary=f"12345投诉整改｜{body.department}｜{complaint_id}",
    )
    return await handle.query(RectificationWorkflow.view)
