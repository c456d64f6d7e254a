"""Who may see and act on a case or a bundle: roles, ownership, department scope, district
scope, and for a bundle its one contact clerk (找一人)."""

from __future__ import annotations

from enum import StrEnum
from typing import NamedTuple

from sqlalchemy import ColumnElement, false, true
from sqlmodel import col

from api.errors import ApiError, forbidden
from core.models import Bundle, Case
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


class CaseScope(NamedTuple):
    """What of a case the policy reads (a `Case` row has the same attributes)."""

    applicant_username: str | None
    departments: list[str]
    district: str
    lead_department: str


class CaseScopes:
    """The scopes of cases this process has read. A case's scope is fixed when it is submitted,
    so an action on a case already seen needs no query before its workflow call."""

    def __init__(self, size: int = 20_000) -> None:
        self._scopes: dict[str, CaseScope] = {}
        self._size = size

    def get(self, case_id: str) -> CaseScope | None:
        return self._scopes.get(case_id)

    def put(self, case_id: str, scope: CaseScope) -> None:
        if len(self._scopes) >= self._size:  # the oldest read goes first
            del self._scopes[next(iter(self._scopes))]
        self._scopes[case_id] = scope


def case_scope(principal: Principal) -> ColumnElement[bool]:
    """The SQL condition selecting the cases this caller may list."""
    role = principal.role
    if role == Role.APPLICANT:
        return col(Case.applicant_username) == principal.username
    if role in DEPARTMENT_ROLES:
        return col(Case.departments).contains([principal.department]) if principal.department else false()
    if role == Role.CLERK and principal.district:
        return col(Case.district) == principal.district
    if role in (Role.CLERK, Role.SUPERVISOR, Role.OPERATOR):
        return true()
    return false()


def can_view(principal: Principal, case: Case | CaseScope) -> bool:
    role = principal.role
    if role == Role.APPLICANT:
        return case.applicant_username == principal.username
    if role in DEPARTMENT_ROLES:
        return principal.department in case.departments
    if role == Role.CLERK:
        return principal.district in (None, case.district)
    return role in (Role.SUPERVISOR, Role.OPERATOR)


def ensure_can_view(principal: Principal, case: Case | CaseScope) -> None:
    if not can_view(principal, case):
        raise forbidden("无权查看该办件", "case_forbidden")


def ensure_can_act(principal: Principal, case: Case | CaseScope, action: CaseAction) -> None:
    if principal.role not in ACTION_ROLES[action]:
        raise forbidden("当前角色无权执行此操作", "role_not_allowed")
    if action == CaseAction.SIGNATURES:
        if principal.department != case.lead_department:
            raise ApiError(403, "wrong_department", "非本事项责任部门，无权签批")
        return
    ensure_can_view(principal, case)


def sees_personal_data(principal: Principal, case: Case) -> bool:
    """Full ID numbers and phones: the applicant themself and the window clerks of the case's
    district (who receive, accept and deliver it). Departments, supervisors and operators see
    them masked: they review, supervise and operate without needing them."""
    if principal.role == Role.APPLICANT:
        return case.applicant_username == principal.username
    if principal.role == Role.CLERK:
        return principal.district in (None, case.district)
    return False


class BundleAction(StrEnum):
    ACCEPTANCE = "acceptance"
    SUPPLEMENT_REQUEST = "supplement_request"
    SUPPLEMENTS = "supplements"
    DELIVERY = "delivery"
    RETRY = "retry"
    RATINGS = "ratings"
    WITHDRAW = "withdraw"


BUNDLE_ACTION_ROLES: dict[BundleAction, frozenset[Role]] = {
    BundleAction.ACCEPTANCE: frozenset({Role.CLERK}),
    BundleAction.SUPPLEMENT_REQUEST: frozenset({Role.CLERK}),
    BundleAction.SUPPLEMENTS: frozenset({Role.APPLICANT, Role.CLERK}),
    BundleAction.DELIVERY: frozenset({Role.CLERK}),
    BundleAction.RETRY: frozenset({Role.CLERK}),
    BundleAction.RATINGS: frozenset({Role.APPLICANT, Role.CLERK}),
    BundleAction.WITHDRAW: frozenset({Role.APPLICANT, Role.CLERK}),
}


def bundle_scope(principal: Principal) -> ColumnElement[bool]:
    """The SQL condition selecting the bundles this caller may list."""
    role = principal.role
    if role == Role.APPLICANT:
        return col(Bundle.applicant_username) == principal.username
    if role in DEPARTMENT_ROLES:
        return col(Bundle.departments).contains([principal.department]) if principal.department else false()
    if role == Role.CLERK and principal.district:
        return col(Bundle.district) == principal.district
    if role in (Role.CLERK, Role.SUPERVISOR, Role.OPERATOR):
        return true()
    return false()


def ensure_can_view_bundle(principal: Principal, bundle: Bundle) -> None:
    role = principal.role
    allowed = (
        (role == Role.APPLICANT and bundle.applicant_username == principal.username)
        or (role in DEPARTMENT_ROLES and principal.department in bundle.departments)
        or (role == Role.CLERK and principal.district in (None, bundle.district))
        or role in (Role.SUPERVISOR, Role.OPERATOR)
    )
    if not allowed:
        raise forbidden("无权查看该“一件事”", "bundle_forbidden")


def ensure_can_act_on_bundle(principal: Principal, bundle: Bundle, action: BundleAction) -> None:
    """Clerks act on a bundle only as its contact clerk; applicants only on their own."""
    if principal.role not in BUNDLE_ACTION_ROLES[action]:
        raise forbidden("当前角色无权执行此操作", "role_not_allowed")
    if principal.role == Role.CLERK and principal.username != bundle.contact_clerk:
        raise forbidden("仅本“一件事”的专属联系人可以办理此操作", "not_contact_clerk")
    ensure_can_view_bundle(principal, bundle)
