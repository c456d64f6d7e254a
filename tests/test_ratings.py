"""好差评 through HTTP: bad ratings and 12345 complaints run the rectification loop."""

from __future__ import annotations

import asyncio

import pytest

from tests.conftest import Api
from tests.helpers import (
    accept,
    complete_tasks,
    sign,
    submit,
    to_awaiting_signature,
    wait_for_status,
)

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def _delivered(api: Api, item=None, departments=("market",), signers=("market-handler",)) -> str:
    case_id = await to_awaiting_signature(api, *([item, departments] if item else []))
    for signer in signers:
        assert (await sign(api, case_id, signer)).status_code == 200
    r = await api.post(f"/cases/{case_id}/delivery", "clerk1", {"method": "electronic"})
    assert r.status_code == 200, r.text
    return case_id


async def _rectification_of(api: Api, case_id: str, as_: str = "supervisor1") -> dict:
    for _ in range(200):
        found = (await api.get("/rectifications", as_, params={"case_id": case_id})).json()
        if found and found[0]["deadline"]:
            return found[0]
        await asyncio.sleep(0.05)
    raise AssertionError(f"no rectification opened for {case_id}")


async def test_bad_rating_is_verified_rectified_answered_and_closed(api: Api) -> None:
    case_id = await _delivered(api)
    r = await api.post(
        f"/cases/{case_id}/ratings", "applicant1", {"level": 1, "channel": "app", "comment": "等了很久"}
    )
    assert r.status_code == 200, r.text
    loop = await _rectification_of(api, case_id)
    rid = loop["rectification_id"]
    assert loop["status"] == "verifying" and loop["department"] == "market"
    assert loop["rater"] == "applicant1" and loop["source"] == "rating"

    wrong = await api.post(
        f"/rectifications/{rid}/verification", "tax-staff", {"reasonable": True, "finding": "x"}
    )
    assert wrong.status_code == 403
    steps = [
        (
            "verification",
            "market-staff",
            {"reasonable": True, "finding": "窗口排队时间过长属实"},
            "rectifying",
        ),
        (
            "rectification",
            "market-chief",
            {"problem": "午间窗口不足", "action": "增设午间窗口"},
            "awaiting_feedback",
        ),
        ("feedback", "applicant1", {"accepted": True, "note": "满意"}, "awaiting_review"),
        ("review", "supervisor1", {"close": True, "opinion": "整改到位"}, "closed"),
    ]
    for step, who, body, status in steps:
        r = await api.post(f"/rectifications/{rid}/{step}", who, body)
        assert r.status_code == 200, (step, r.text)
        assert r.json()["status"] == status
    final = await _wait_rectification(api, rid, "closed")
    assert final["outcome"] == "rectified" and final["feedback_accepted"] is True
    assert [e["event"] for e in final["events"]] == ["opened", "verified", "rectified", "feedback", "closed"]
    mine = (await api.get("/rectifications", "applicant1")).json()
    assert rid in [x["rectification_id"] for x in mine]
    assert rid not in [x["rectification_id"] for x in (await api.get("/rectifications", "applicant2")).json()]
    notices = (await api.get("/notifications", "applicant1", params={"limit": 200})).json()
    assert any("已答复" in n["message"] for n in notices if n["case_id"] == case_id)


async def _wait_rectification(api: Api, rid: str, status: str) -> dict:
    for _ in range(200):
        r = await api.get(f"/rectifications/{rid}", "supervisor1")  # 404 until recorded
        if r.status_code == 200 and r.json()["status"] == status:
            return r.json()
        await asyncio.sleep(0.05)
    raise AssertionError(f"{rid} never reached {status}")


async def test_unreasonable_complaint_is_explained_and_sent_back_only_once(api: Api) -> None:
    case_id = await _delivered(api)
    r = await api.post(
        f"/cases/{case_id}/ratings", "applicant1", {"level": 2, "channel": "qr", "anonymous": True}
    )
    assert r.status_code == 200
    rid = (await _rectification_of(api, case_id))["rectification_id"]
    assert (await api.get(f"/rectifications/{rid}", "applicant1")).status_code == 403  # anonymous

    unreasonable = {"reasonable": False, "finding": "要求当场发证，缺乏法定依据"}
    assert (
        await api.post(f"/rectifications/{rid}/verification", "market-staff", unreasonable)
    ).status_code == 200
    early_close = await api.post(f"/rectifications/{rid}/review", "supervisor1", {"close": True})
    assert early_close.status_code == 409
    explanation = {"explanation": "依法须经现场核查后发证，已电话说明"}
    answered = await api.post(f"/rectifications/{rid}/explanation", "market-staff", explanation)
    assert answered.status_code == 200, answered.text
    assert answered.json()["status"] == "awaiting_review"  # anonymous: no 回访

    back = await api.post(
        f"/rectifications/{rid}/review", "supervisor1", {"close": False, "opinion": "说明不充分"}
    )
    assert back.status_code == 200 and back.json()["status"] == "explaining"
    assert (
        await api.post(f"/rectifications/{rid}/review", "market-chief", {"close": True})
    ).status_code == 403
    await api.post(f"/rectifications/{rid}/explanation", "market-staff", {"explanation": "补充法规依据"})
    again = await api.post(f"/rectifications/{rid}/review", "supervisor1", {"close": False})
    assert again.status_code == 409 and again.json()["code"] == "invalid_state"
    closed = await api.post(f"/rectifications/{rid}/review", "supervisor1", {"close": True})
    assert closed.json()["status"] == "closed" and closed.json()["outcome"] == "explained"


async def test_a_12345_complaint_runs_the_same_loop(api: Api) -> None:
    complaint = {
        "department": "tax",
        "content": "办税服务厅态度差",
        "caller": {"name": "赵某", "phone": "13900000000"},
        "rater_username": "applicant2",
    }
    assert (await api.post("/complaints", "clerk1", complaint)).status_code == 403
    r = await api.post("/complaints", "supervisor1", complaint)
    assert r.status_code == 201, r.text
    rid = r.json()["rectification_id"]
    assert r.json()["source"] == "complaint" and r.json()["channel"] == "phone"
    view = await _wait_rectification(api, rid, "verifying")
    assert view["deadline"] is not None
    for step, who, body in [
        ("verification", "tax-staff", {"reasonable": True, "finding": "属实"}),
        ("rectification", "tax-handler", {"problem": "服务用语不规范", "action": "培训并通报"}),
        ("feedback", "applicant2", {"accepted": False, "note": "仍不满意"}),
        ("review", "supervisor1", {"close": True}),
    ]:
        assert (await api.post(f"/rectifications/{rid}/{step}", who, body)).status_code == 200, step
    bad = await api.post("/complaints", "supervisor1", {**complaint, "department": "nope"})
    assert bad.status_code == 422 and bad.json()["code"] == "unknown_department"


async def test_statistics_equal_a_brute_force_count(api: Api) -> None:
    levels = [5, 4, 3, 2, 1, 5, 1, 4]
    signers = ("health-handler", "health-chief")

    async def rated(level: int) -> str:
        case = await submit(api, ("health-001", ["H01", "H02", "H03", "H04"]))
        await accept(api, case["case_id"])
        await complete_tasks(api, case["case_id"], ["health"])
        await wait_for_status(api, case["case_id"], "awaiting_signature")
        for signer in signers:
            await sign(api, case["case_id"], signer)
        await api.post(f"/cases/{case['case_id']}/delivery", "clerk1", {"method": "window_pickup"})
        r = await api.post(
            f"/cases/{case['case_id']}/ratings", "applicant1", {"level": level, "channel": "device"}
        )
        assert r.status_code == 200, r.text
        return case["case_id"]

    case_ids = await asyncio.gather(*(rated(level) for level in levels))
    bad_cases = [c for c, level in zip(case_ids, levels, strict=True) if level <= 2]
    for case_id in bad_cases:
        await _rectification_of(api, case_id)

    rows = (await api.get("/supervision/ratings", "supervisor1", params={"group_by": "item"})).json()
    (row,) = [r for r in rows if r["key"] == "health-001"]
    assert row["total"] == len(levels)
    assert row["levels"] == {str(n): levels.count(n) for n in range(1, 6)}
    assert row["bad"] == 3 and row["bad_open"] == 3
    assert row["good_rate"] == round(5 / 8, 4)
    by_channel = (await api.get("/supervision/ratings", "supervisor1", params={"group_by": "channel"})).json()
    assert {r["key"] for r in by_channel} >= {"device"}
    assert (await api.get("/supervision/ratings", "applicant1")).status_code == 403
