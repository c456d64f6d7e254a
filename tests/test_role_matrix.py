"""Every route of the OpenAPI spec, called by every role: the role gate must match the policy.

A route missing from POLICY fails the test, so a new endpoint cannot ship without one. The
calls use placeholder ids and empty bodies: an allowed role gets past the gate (any answer
but 401/403), a refused one gets 403, and a caller without a token 401. Scope (which
department, district, or owner) is tested with real data in the feature tests.
"""

from __future__ import annotations

import pytest

from tests.conftest import Api

pytestmark = pytest.mark.asyncio(loop_scope="session")

PUBLIC = "public"
ANY = "any signed-in caller"
APPLICANT, CLERK, STAFF, HANDLER, CHIEF = "applicant", "clerk", "department", "handler", "chief"
SUPERVISOR, OPERATOR = "supervisor", "operator"
DEPARTMENT = {STAFF, HANDLER, CHIEF}

CALLERS = {
    APPLICANT: "applicant1",
    CLERK: "clerk1",
    STAFF: "market-staff",
    HANDLER: "market-handler",
    CHIEF: "market-chief",
    SUPERVISOR: "supervisor1",
    OPERATOR: "operator1",
}

POLICY: dict[tuple[str, str], str | set[str]] = {
    ("GET", "/healthz"): PUBLIC,
    ("GET", "/readyz"): PUBLIC,
    ("GET", "/guides/{code}"): PUBLIC,
    ("POST", "/api/v1/auth/token"): PUBLIC,
    ("GET", "/api/v1/auth/me"): ANY,
    ("GET", "/api/v1/items"): PUBLIC,
    ("GET", "/api/v1/items/{code}"): PUBLIC,
    ("GET", "/api/v1/items/{code}/guide"): PUBLIC,
    ("GET", "/api/v1/items/{code}/flowchart.svg"): PUBLIC,
    ("GET", "/api/v1/items/{code}/qr.png"): PUBLIC,
    ("GET", "/api/v1/calendar/days"): PUBLIC,
    ("GET", "/api/v1/calendar/deadline"): PUBLIC,
    ("PUT", "/api/v1/calendar/days/{day}"): {OPERATOR},
    ("DELETE", "/api/v1/calendar/days/{day}"): {OPERATOR},
    ("PUT", "/api/v1/calendar/years/{year}"): {OPERATOR},
    ("POST", "/api/v1/catalogue/items"): {OPERATOR},
    ("POST", "/api/v1/catalogue/items/{code}/versions"): {OPERATOR},
    ("GET", "/api/v1/catalogue/items/{code}/versions"): {OPERATOR},
    ("GET", "/api/v1/catalogue/items/{code}/versions/{version}"): {OPERATOR},
    ("PATCH", "/api/v1/catalogue/items/{code}/versions/{version}"): {OPERATOR},
    ("POST", "/api/v1/catalogue/items/{code}/versions/{version}/validation"): {OPERATOR},
    ("POST", "/api/v1/catalogue/items/{code}/versions/{version}/publish"): {OPERATOR},
    ("GET", "/api/v1/catalogue/items/{code}/diff"): {OPERATOR},
    ("GET", "/api/v1/catalogue/items/{code}/districts"): {OPERATOR},
    ("PUT", "/api/v1/catalogue/items/{code}/districts/{district}"): {OPERATOR},
    ("POST", "/api/v1/cases"): {APPLICANT, CLERK},
    ("GET", "/api/v1/cases"): ANY,
    ("GET", "/api/v1/cases/{case_id}"): ANY,
    ("POST", "/api/v1/cases/{case_id}/acceptance"): {CLERK},
    ("POST", "/api/v1/cases/{case_id}/supplements"): {APPLICANT, CLERK},
    ("POST", "/api/v1/cases/{case_id}/supplement-requests"): {CLERK} | DEPARTMENT,
    ("POST", "/api/v1/cases/{case_id}/signatures"): {HANDLER, CHIEF},
    ("POST", "/api/v1/cases/{case_id}/delivery"): {CLERK},
    ("POST", "/api/v1/cases/{case_id}/ratings"): {APPLICANT, CLERK},
    ("POST", "/api/v1/cases/{case_id}/withdraw"): {APPLICANT, CLERK},
    ("GET", "/api/v1/themes"): PUBLIC,
    ("GET", "/api/v1/themes/{code}"): PUBLIC,
    ("GET", "/api/v1/themes/{code}/form"): PUBLIC,
    ("PUT", "/api/v1/themes/{code}"): {OPERATOR},
    ("POST", "/api/v1/bundles"): {APPLICANT, CLERK},
    ("GET", "/api/v1/bundles"): ANY,
    ("GET", "/api/v1/bundles/{bundle_id}"): ANY,
    ("POST", "/api/v1/bundles/{bundle_id}/acceptance"): {CLERK},
    ("POST", "/api/v1/bundles/{bundle_id}/supplement-requests"): {CLERK},
    ("POST", "/api/v1/bundles/{bundle_id}/supplements"): {APPLICANT, CLERK},
    ("POST", "/api/v1/bundles/{bundle_id}/delivery"): {CLERK},
    ("POST", "/api/v1/bundles/{bundle_id}/members/{member_key}/retry"): {CLERK},
    ("POST", "/api/v1/bundles/{bundle_id}/ratings"): {APPLICANT, CLERK},
    ("POST", "/api/v1/bundles/{bundle_id}/withdraw"): {APPLICANT, CLERK},
    ("GET", "/api/v1/tasks"): DEPARTMENT | {SUPERVISOR, OPERATOR},
    ("POST", "/api/v1/tasks/{task_id}/complete"): DEPARTMENT,
    ("GET", "/api/v1/notifications"): ANY,
    ("GET", "/api/v1/rectifications"): DEPARTMENT | {APPLICANT, SUPERVISOR, OPERATOR},
    ("GET", "/api/v1/rectifications/{rectification_id}"): DEPARTMENT | {APPLICANT, SUPERVISOR, OPERATOR},
    ("POST", "/api/v1/rectifications/{rectification_id}/verification"): DEPARTMENT,
    ("POST", "/api/v1/rectifications/{rectification_id}/rectification"): DEPARTMENT,
    ("POST", "/api/v1/rectifications/{rectification_id}/explanation"): DEPARTMENT,
    ("POST", "/api/v1/rectifications/{rectification_id}/feedback"): {APPLICANT},
    ("POST", "/api/v1/rectifications/{rectification_id}/review"): {SUPERVISOR},
    ("POST", "/api/v1/complaints"): {SUPERVISOR},
    ("POST", "/api/v1/visits"): {CLERK},
    ("GET", "/api/v1/visits/{visit_id}"): {APPLICANT, CLERK, SUPERVISOR, OPERATOR},
    ("POST", "/api/v1/visits/{visit_id}/rating"): {APPLICANT, CLERK},
    ("GET", "/api/v1/complaints/{complaint_id}"): {SUPERVISOR} | DEPARTMENT,
    ("GET", "/api/v1/cases/{case_id}/applicant"): ANY,
    ("POST", "/api/v1/cases/lookup"): {CLERK, SUPERVISOR},
    ("GET", "/api/v1/supervision/overdue"): {SUPERVISOR, OPERATOR},
    ("GET", "/api/v1/supervision/load"): {SUPERVISOR, OPERATOR},
    ("GET", "/api/v1/supervision/ratings"): {SUPERVISOR, OPERATOR},
    ("GET", "/api/v1/audit"): {SUPERVISOR},
    ("GET", "/codec/login"): PUBLIC,
    ("POST", "/codec/session"): PUBLIC,
    ("DELETE", "/codec/session"): PUBLIC,
    ("POST", "/codec/decode"): {OPERATOR},
    ("POST", "/codec/encode"): {OPERATOR},
}

PLACEHOLDERS = {
    "code": "market-001",
    "case_id": "BJ00000000000000",
    "task_id": "BJ00000000000000-T1",
    "rectification_id": "RBJ00000000000000",
    "visit_id": "V2040010200000000",
    "day": "2040-01-02",
    "year": "2040",
    "version": "1",
    "district": "chaoyang",
    "bundle_id": "BD00000000000000",
    "member_key": "licence",
    "complaint_id": "C2040010200000000",
}


def _routes(api_spec: dict) -> list[tuple[str, str]]:
    return [(m.upper(), path) for path, ops in api_spec["paths"].items() for m in ops]


async def test_every_route_has_a_policy(api: Api) -> None:
    spec = (await api.http.get("/openapi.json")).json()
    missing = sorted(set(_routes(spec)) - set(POLICY))
    assert not missing, f"routes without a policy: {missing}"
    stale = sorted(set(POLICY) - set(_routes(spec)))
    assert not stale, f"policies for routes that no longer exist: {stale}"


@pytest.mark.parametrize(("method", "path"), sorted(POLICY))
async def test_role_gate(api: Api, method: str, path: str) -> None:
    url = path.format(**PLACEHOLDERS)
    policy = POLICY[(method, path)]
    body = {} if method in ("POST", "PUT", "PATCH") else None
    anonymous = await api.http.request(method, url, json=body)
    if policy == PUBLIC:
        assert anonymous.status_code not in (401, 403), (path, anonymous.text)
        return
    assert anonymous.status_code == 401, (path, anonymous.status_code)
    for role, username in CALLERS.items():
        headers = {"Authorization": f"Bearer {await api.token(username)}"}
        r = await api.http.request(method, url, json=body, headers=headers)
        allowed = policy == ANY or role in policy
        if allowed:
            assert r.status_code not in (401, 403), (path, role, r.status_code, r.text)
        else:
            assert r.status_code == 403, (path, role, r.status_code, r.text)
