"""Personal data, read on purpose: a case's applicant, a walk-in applicant's cases by ID number,
and a 12345 complaint with its caller.

The data is sealed at rest (core/fields.py) and opened here; ID numbers and phones come back
in full only to those who handle the person (`api.policy.sees_personal_data`), masked
(110105********1234, 138****5678) to everyone else who may see the case.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field
from sqlmodel import col, select

from api.deps import Caller, Db, require_roles
from api.errors import forbidden, found
from api.pages import Limit, Offset, page_of
from api.policy import case_scope, ensure_can_view, sees_personal_data
from api.routers.cases import _summary
from api.schemas import CasePage, IdNumber, Strict
from core import fields
from core.models import Account, Case, Complaint, Submission
from core.security import Principal
from core.types import DEPARTMENT_ROLES, Instant, Role

router = APIRouter(tags=["personal data"])


class ApplicantOut(BaseModel):
    case_id: str
    masked: bool = Field(description="true when ID number, phone and address are masked for this caller")
    applicant_username: str | None
    name: str | None
    id_number: str | None
    phone: str | None
    delivery_address: str | None


class IdNumberLookup(Strict):
    id_number: IdNumber


class CallerOut(BaseModel):
    name: str | None
    phone: str | None


class ComplaintOut(BaseModel):
    complaint_id: str
    case_id: str | None
    department: str
    content: str
    masked: bool
    caller: CallerOut
    received_by: str
    created_at: Instant


def mask_id_number(value: str) -> str:
    """110105********1234: enough to recognise, not enough to misuse."""
    return value[:6] + "*" * 8 + value[-4:]


def mask_phone(value: str) -> str:
    """138****5678 (a landline keeps its area code and last 4 digits the same way)."""
    return value[:3] + "*" * max(len(value) - 7, 0) + value[-4:]


def _mask_address(address: str) -> str:
    return address[:6] + "****" if len(address) > 6 else "****"


def _opt(value: str | None, mask, full: bool) -> str | None:
    return value if value is None or full else mask(value)


@router.get("/cases/{case_id}/applicant", response_model=ApplicantOut)
async def case_applicant(case_id: str, db: Db, principal: Caller) -> ApplicantOut:
    case = found(await db.get(Case, case_id), "办件", "case_not_found")
    ensure_can_view(principal, case)
    submission = await db.get(Submission, case_id)
    data = (submission.applicant if submission else None) or {}
    name = data.get("name")
    if name is None and case.applicant_username:
        account = await db.get(Account, case.applicant_username)
        name = account.display_name if account else None
    full = sees_personal_data(principal, case)
    return ApplicantOut(
        case_id=case_id,
        masked=not full,
        applicant_username=case.applicant_username,
        name=name,
        id_number=_opt(data.get("id_number"), mask_id_number, full),
        phone=_opt(data.get("phone"), mask_phone, full),
        delivery_address=_opt(submission.delivery_address if submission else None, _mask_address, full),
    )


@router.post("/cases/lookup", response_model=CasePage)
async def cases_by_id_number(
    body: IdNumberLookup,
    db: Db,
    principal: Annotated[Principal, Depends(require_roles(Role.CLERK, Role.SUPERVISOR))],
    limit: Limit = 20,
    offset: Offset = 0,
) -> CasePage:
    """A walk-in applicant's cases, found by ID number (in the body, never in a URL or a log)
    through its keyed token; the ID number itself is stored only sealed."""
    token = fields.id_number_token(body.id_number)
    conditions = [Submission.applicant_id_token == token, case_scope(principal)]
    joined = select(Case).join(Submission, Submission.case_id == Case.case_id).where(*conditions)
    newest_first = [col(Case.submitted_at).desc(), col(Case.case_id).desc()]
    rows, total = await page_of(db, joined, newest_first, limit, offset)
    return CasePage(items=[_summary(r) for r in rows], total=total, limit=limit, offset=offset)


@router.get("/complaints/{complaint_id}", response_model=ComplaintOut)
async def complaint(
    complaint_id: str,
    db: Db,
    principal: Annotated[Principal, Depends(require_roles(Role.SUPERVISOR, *DEPARTMENT_ROLES))],
) -> ComplaintOut:
    """Supervisors (the 12345 desk, who call the caller back) see the caller in full; the
    department the complaint concerns sees it masked."""
    row = found(await db.get(Complaint, complaint_id), "投诉", "complaint_not_found")
    if principal.role != Role.SUPERVISOR and principal.department != row.department:
        raise forbidden("无权查看该投诉", "complaint_forbidden")
    full = principal.role == Role.SUPERVISOR
    caller = row.caller or {}
    return ComplaintOut(
        complaint_id=row.complaint_id,
        case_id=row.case_id,
        department=row.department,
        content=row.content,
        masked=not full,
        caller=CallerOut(name=caller.get("name"), phone=_opt(caller.get("phone"), mask_phone, full)),
        received_by=row.received_by,
        created_at=row.created_at,
    )
