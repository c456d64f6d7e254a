"""Time rules through HTTP: the calendar, operators' changes re-arming open cases,
supplement pauses during review, and the supervisors' views."""

from __future__ import annotations

import asyncio
from datetime import datetime

import pytest

from core.calendar import BEIJING
from tests.conftest import Api
from tests.data import SIGN_TWICE
from tests.helpers import (
    accept,
    submit,
    wait_for_tasks,
)

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_days_say_working_or_not_and_why(api: Api) -> None:
    r = await api.get("/calendar/days", params={"from": "2026-09-30", "to": "2026-10-10"})
    assert r.status_code == 200
    days = {d["day"]: d for d in r.json()}
    assert days["2026-10-01"]["working"] is False and days["2026-10-01"]["reason"] == "国庆节"
    assert days["2026-10-10"]["working"] is True and days["2026-10-10"]["reason"] == "调休上班"
    assert days["2026-10-09"]["reason"] == "工作日"
    assert all(d["provisional"] is False for d in r.json())
    backwards = await api.get("/calendar/days", params={"from": "2026-10-10", "to": "2026-10-01"})
    assert backwards.status_code == 422 and backwards.json()["code"] == "invalid_range"


@pytest.mark.parametrize(
    ("query", "deadline", "provisional"),
    [
        ({"start": "2026-09-30T10:00:00+08:00", "working_days": 1}, "2026-10-08T23:59:59+08:00", False),
        ({"start": "2026-09-19T10:00:00+08:00", "working_days": 1}, "2026-09-20T23:59:59+08:00", False),
        ({"start": "2026-09-26T10:00:00", "calendar_days": 7}, "2026-10-08T23:59:59+08:00", False),
        ({"start": "2026-12-30T09:00:00+08:00", "working_days": 3}, "2027-01-05T23:59:59+08:00", True),
    ],
)
async def test_deadline_endpoint(api: Api, query: dict, deadline: str, provisional: bool) -> None:
    r = await api.get("/calendar/deadline", params=query)
    assert r.status_code == 200, r.text
    assert r.json() == {"deadline": deadline, "provisional": provisional}


async def test_deadline_needs_exactly_one_period(api: Api) -> None:
    both = {"start": "2026-09-30T10:00:00+08:00", "working_days": 1, "calendar_days": 1}
    r = await api.get("/calendar/deadline", params=both)
    assert r.status_code == 422 and r.json()["code"] == "one_period_required"


async def test_only_operators_change_the_calendar(api: Api) -> None:
    body = {"working": False, "reason": "测试"}
    assert (await api.call("PUT", "/calendar/days/2030-01-02", "clerk1", json=body)).status_code == 403
    assert (await api.call("PUT", "/calendar/days/2030-01-02", None, json=body)).status_code == 401


async def test_an_uploaded_year_is_official_and_replaces_its_overrides(api: Api) -> None:
    schedule = {
        "notice": "国务院办公厅关于2031年部分节假日安排的通知（测试）",
        "days": [
            {"day": "2031-01-01", "working": False, "reason": "元旦"},
            {"day": "2031-01-04", "working": True, "reason": "调休上班"},
        ],
    }
    r = await api.call("PUT", "/calendar/years/2031", "operator1", json=schedule)
    assert r.status_code == 200, r.text
    days = (await api.get("/calendar/days", params={"from": "2031-01-01", "to": "2031-01-05"})).json()
    assert [d["working"] for d in days] == [False, True, True, True, False]  # Wed … Sun
    assert days[3]["reason"] == "调休上班" and all(not d["provisional"] for d in days)
    stray = {**schedule, "days": [{"day": "2032-01-01", "working": False, "reason": "元旦"}]}
    bad = await api.call("PUT", "/calendar/years/2031", "operator1", json=stray)
    assert bad.status_code == 422 and bad.json()["code"] == "date_outside_year"


async def test_an_operator_change_re_arms_open_cases(api: Api) -> None:
    case = await submit(api)
    old = datetime.fromisoformat(case["acceptance_deadline"])
    day = old.astimezone(BEIJING).date().isoformat()
    r = await api.call(
        "PUT", f"/calendar/days/{day}", "operator1", json={"working": False, "reason": "临时停止办公"}
    )
    assert r.status_code == 200, r.text
    try:
        moved = await _deadline_changes(api, case["case_id"], old)
        assert moved > old
        timeline = (await api.get(f"/cases/{case['case_id']}", "applicant1")).json()["timeline"]
        assert timeline[-1]["event"] == "deadline_recomputed"
    finally:
        cleared = await api.call("DELETE", f"/calendar/days/{day}", "operator1")
        assert cleared.status_code == 200
    assert await _deadline_changes(api, case["case_id"], moved) == old


async def _deadline_changes(api: Api, case_id: str, old: datetime) -> datetime:
    for _ in range(200):
        view = (await api.get(f"/cases/{case_id}", "supervisor1")).json()
        current = datetime.fromisoformat(view["acceptance_deadline"])
        if current != old:
            return current
        await asyncio.sleep(0.05)
    raise AssertionError("the open case's deadline was not re-armed")


async def test_supplements_during_review_pause_the_clock(api: Api) -> None:
    case = await submit(api, SIGN_TWICE)
    case_id = case["case_id"]
    accepted = await accept(api, case_id)
    await wait_for_tasks(api, case_id, ["market"])

    body = {"missing_materials": ["F03"], "reason": "设备布局图不清晰"}
    other = await api.post(f"/cases/{case_id}/supplement-requests", "tax-staff", body)
    assert other.status_code == 403
    paused = await api.post(f"/cases/{case_id}/supplement-requests", "market-staff", body)
    assert paused.status_code == 200, paused.text
    assert paused.json()["status"] == "supplement_requested"

    resumed = await api.post(f"/cases/{case_id}/supplements", "applicant1", {"materials": ["F03"]})
    assert resumed.status_code == 200, resumed.text
    view = resumed.json()
    assert view["status"] == "under_review"
    assert len(view["pauses"]) == 1
    # Paused and resumed the same day: no working day was lost, so the deadline stands.
    assert view["completion_deadline"] == accepted["completion_deadline"]
    timeline = (await api.get(f"/cases/{case_id}", "applicant1")).json()["timeline"]
    assert "累计顺延 0 个工作日" in timeline[-1]["message"]
    notices = (await api.get("/notifications", "applicant1", params={"limit": 200})).json()
    assert any("补正期间办结时限暂停计算" in n["message"] for n in notices if n["case_id"] == case_id)


async def test_supervisors_see_load_and_overdue(api: Api) -> None:
    load = await api.get("/supervision/load", "supervisor1")
    assert load.status_code == 200
    assert all(set(row) == {"department", "warning", "overdue"} for row in load.json())
    overdue = await api.get("/supervision/overdue", "supervisor1", params={"department": "market"})
    assert overdue.status_code == 200
    assert all(e["department"] == "market" for e in overdue.json())
    assert (await api.get("/supervision/overdue", "clerk1")).status_code == 403
