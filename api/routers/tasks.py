"""Department inboxes (部门待办): list review tasks and complete them."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

# Reads, and writes of one statement: no BEGIN/ROLLBACK round trips.
from api.deps import AutocommitDb, Caller, Temporal, require_roles
from api.errors import ApiError, forbidden, found
from api.schemas import TaskComplete, TaskOut
from api.workflow_calls import send_update
from core.models import ReviewTaskRow
from core.security import Principal
from core.temporal import case_workflow_id
from core.types import DEPARTMENT_ROLES, Role
from workflows.case import CaseWorkflow
from workflows.case_messages import TaskCompletion, TaskStatus

router = APIRouter(prefix="/tasks", tags=["tasks"])

DepartmentCaller = Annotated[Principal, Depends(require_roles(*DEPARTMENT_ROLES))]


@router.get("", response_model=list[TaskOut])
async def list_tasks(
    db: AutocommitDb,
    principal: Caller,
    department: str | None = None,
    status: TaskStatus | None = None,
) -> list[TaskOut]:
    if principal.role in DEPARTMENT_ROLES:
        if department not in (None, principal.department):
            raise forbidden("只能查看本部门的待办", "department_forbidden")
        department = principal.department
    elif principal.role not in (Role.SUPERVISOR, Role.OPERATOR):
        raise forbidden("当前角色无权查看部门待办", "role_not_allowed")
    query = select(ReviewTaskRow)
    if department is not None:
        query = query.where(ReviewTaskRow.department == department)
    if status is not None:
        query = query.where(ReviewTaskRow.status == status.value)
    rows = (await db.exec(query.order_by(ReviewTaskRow.created_at).limit(500))).all()
    return [TaskOut.model_validate(r, from_attributes=True) for r in rows]


@router.post("/{task_id}/complete", response_model=TaskOut)
async def complete_task(
    task_id: str,
    body: TaskComplete,
    db: AutocommitDb,
    client: Temporal,
    principal: DepartmentCaller,
) -> TaskOut:
    task = await _open_task(db, task_id, principal)
    req = TaskCompletion(actor=principal.actor(), task_id=task_id, outcome=body.outcome, opinion=body.opinion)
    # No lock held while the case takes the result: the case's own write closes this row before
    # it answers, so the inbox follows the case even if this request dies now. A double click
    # sends the same result again, which the case takes as a retry; a different one it refuses.
    await db.close()  # the connection goes back to the pool while the workflow works
    await send_update(client, case_workflow_id(task.case_id), CaseWorkflow.complete_task, req)
    done = await db.get(ReviewTaskRow, task_id, populate_existing=True)
    return TaskOut.model_validate(done, from_attributes=True)


async def _open_task(db: AsyncSession, task_id: str, principal: Principal) -> ReviewTaskRow:
    query = select(ReviewTaskRow).where(ReviewTaskRow.task_id == task_id)
    task = found((await db.exec(query)).first(), "待办任务", "task_not_found")
    if task.department != principal.department:
        raise ApiError(403, "wrong_department", "该任务不属于本部门")
    if task.status != TaskStatus.PENDING:
        raise ApiError(409, "task_not_open", "该任务已办理或已取消，不能重复办理")
    return task
