"""Who may see and act on a case: roles, ownership, department scope and district scope."""

from __future__ import annotations

from enum import StrEnum

from sqlalchemy import ColumnElement, false, true

from api.errors import ApiError, forbidden
from core.models import Case
from core.security import Principal
from core.types import DEPARTMENT_ROLES, Role


class CaseAction(StrEnum):
    ACCEPTANCE = "acceptance"
    SUPPLEMENTS = "supplements"
    SUPPLEMENT_REQUEST = "supplement_request"
    SIGNATURES = "signatures"
    DELIVERY = "delivery"
    RATINGS = "ratings"
    WITHDRAW = "withdraw"


ACTION_ROLES: dict[CaseAction, frozenset[Role]] = {
    CaseAction.ACCEPTANCE: frozenset({Role.CLERK}),
    CaseAction.SUPPLEMENTS: frozenset({Role.APPLICANT, Role.CLERK}),
    CaseAction.SUPPLEMENT_REQUEST: frozenset({Role.CLERK, *DEPARTMENT_ROLES}),
    CaseAction.SIGNATURES: frozenset({Role.HANDLER, Role.CHIEF}),
    CaseAction.DELIVERY: frozenset({Role.CLERK}),
    CaseAction.RATINGS: frozenset({Role.APPLICANT, Role.CLERK}),
    CaseAction.WITHDRAW: frozenset({Role.APPLICANT, Role.CLERK}),
}


def case_scope(principal: Principal) -> ColumnElement[bool]:
    """The SQL condition selecting the cases this caller may list."""
    role = principal.role
    if role == Role.APPLICANT:
        return Case.applicant_username == principal.username
    if role in DEPARTMENT_ROLES:
        return Case.departments.contains([principal.department]) if principal.department else false()
    if role == Role.CLERK and principal.district:
        return Case.district == principal.district
    if role in (Role.CLERK, Role.SUPERVISOR, Role.OPERATOR):
        return true()
    return false()


def can_view(principal: Principal, case: Case) -> bool:
    role = principal.role
    if role == Role.APPLICANT:
        return case.applicant_username == principal.username
    if role in DEPARTMENT_ROLES:
        return principal.department in case.departments
    if role == Role.CLERK:
        return principal.district in (None, case.district)
    return role in (Role.SUPERVISOR, Role.OPERATOR)


def ensure_can_view(principal: Principal, case: Case) -> None:
    if not can_view(principal, case):
        raise forbidden("无权查看该办件", "case_forbidden")


def ensure_can_act(principal: Principal, case: Case, action: CaseAction) -> None:
    if principal.role not in ACTION_ROLES[action]:
        raise forbidden("当前角色无权执行此操作", "role_not_allowed")
    if action == CaseAction.SIGNATURES:
        if principal.department != case.lead_department:
            raise ApiError(403, "wrong_department", "非本事项责任部门，无权签批")
        return
    ensure_can_view(principal, case)
