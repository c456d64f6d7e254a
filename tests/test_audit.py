"""Every state-changing request leaves an append-only audit entry that supervisors can query."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.conftest import Api
from tests.helpers import submit

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_changes_are_audited_with_who_what_and_result(api: Api) -> None:
    case = await submit(api, as_="applicant2", district="haidian")
    refused = await api.post(f"/cases/{case['case_id']}/acceptance", "applicant2", {"decision": "accept"})
    assert refused.status_code == 403
    await api.get(f"/cases/{case['case_id']}", "applicant2")  # reads are not audited

    entries = (await api.get("/audit", "supervisor1", params={"username": "applicant2"})).json()
    paths = [(e["method"], e["path"], e["status"]) for e in entries]
    assert ("POST", f"/api/v1/cases/{case['case_id']}/acceptance", 403) in paths
    assert ("POST", "/api/v1/cases", 201) in paths
    assert all(e["method"] != "GET" for e in entries)
    assert all(e["role"] == "applicant" for e in entries)
    assert (await api.get("/audit", "applicant2")).status_code == 403


async def test_the_audit_log_refuses_changes(engine: AsyncEngine) -> None:
    for statement in ("UPDATE audit_log SET status = 200", "DELETE FROM audit_log"):
        with pytest.raises(DBAPIError, match="append-only"):
            async with engine.begin() as conn:
                await conn.execute(text(statement))
