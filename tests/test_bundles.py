"""办好一件事 end to end through HTTP on the real servers: themes, one form, one window, one
contact clerk, dependencies between members, failure and retry, one delivery, one rating.

The test API runs bundles with a low history limit (tests/conftest.py), so every bundle here
continues as new several times on its way and must keep working across runs.
"""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import Client

from core.form_fields import credit_code_for
from core.security import hash_password
from core.temporal import bundle_workflow_id, case_workflow_id
from tests.conftest import Api, idempotency_key
from tests.helpers import (
    HIRING_FORM,
    HIRING_MATERIALS,
    complete_tasks,
    finish_member,
    member,
    patches_in_history,
    sign,
    submit_bundle,
    wait_bundle,
    wait_for_status,
)

pytestmark = pytest.mark.asyncio(loop_scope="session")

RESTAURANT_FORM = {
    "operator_name": "王小明",
    "business_name": "朝阳区小明家常菜馆",
    "business_address": "北京市朝阳区望京西路1号",
    "business_scope": "餐饮服务",
    "employee_count": "6",
    "food_categories": "热食类食品制售",
    "venue_area": "85.5",
    "seal_types": "公章、财务专用章",
    "bank_name": "中国工商银行北京望京支行",
}
RESTAURANT_MATERIALS = [
    "market-001/M01",
    "LEGAL_REP_ID",
    "PREMISES_PROOF",
    "market-002/F01",
    "market-002/F03",
    "market-002/F04",
    "police-002/K01",
    "hrss-001/S01",
]


async def bundle_notices(api: Api, username: str, bundle_id: str) -> list[str]:
    r = await api.get("/notifications", username, params={"limit": 200})
    assert r.status_code == 200, r.text
    return [n["message"] for n in r.json() if n["case_id"] == bundle_id]


async def test_themes_are_listed_with_one_merged_form(api: Api) -> None:
    themes = {t["code"]: t for t in (await api.get("/themes")).json()}
    assert {"restaurant", "entertainment_venue", "hiring"} <= set(themes)
    assert len(themes["restaurant"]["members"]) == 5
    form = (await api.get("/themes/restaurant/form")).json()
    fields = {f["key"]: f for f in form["fields"]}
    assert len(form["fields"]) == len(fields)  # each field asked once
    assert sorted(fields["business_name"]["asked_by"]) == [
        "hrss-001",
        "market-001",
        "market-002",
        "police-002",
        "tax-001",
    ]
    # The licence number is not asked: the licence member's result fills it in.
    assert fields["credit_code"]["provided_by"] == "licence"
    materials = {m["code"]: m for m in form["materials"]}
    assert materials["LEGAL_REP_ID"]["used_by"] == {
        "market-001": "M02",
        "market-002": "F05",
        "police-002": "K03",
        "tax-001": "T02",
    }
    assert materials["BUSINESS_LICENCE"]["provided_by"] == "licence"
    assert not materials["BUSINESS_LICENCE"]["required"]
    required = sorted(code for code, m in materials.items() if m["required"])
    assert required == sorted(RESTAURANT_MATERIALS)
    assert (await api.get("/themes/nowhere/form")).status_code == 404


async def test_a_theme_with_a_cycle_or_an_unknown_item_is_refused(api: Api) -> None:
    cyclic = {
        "name": "循环依赖测试",
        "lead_department": "market",
        "members": [
            {"key": "a", "item_code": "market-001", "needs": [{"member": "c"}]},
            {"key": "b", "item_code": "tax-001", "needs": [{"member": "a"}]},
            {"key": "c", "item_code": "hrss-001", "needs": [{"member": "b"}]},
        ],
    }
    r = await api.call("PUT", "/themes/cycle_test", "operator1", json=cyclic)
    assert r.status_code == 422, r.text
    assert r.json()["code"] == "theme_invalid"
    assert [p["code"] for p in r.json()["detail"]] == ["dependency_cycle"]
    assert "a → c → b → a" in r.json()["message"]
    unknown = {
        "name": "未知事项测试",
        "lead_department": "market",
        "members": [
            {"key": "a", "item_code": "market-001"},
            {"key": "b", "item_code": "market-999", "needs": [{"member": "a", "field": "credit_code"}]},
            {"key": "c", "item_code": "tax-001", "needs": [{"member": "z"}]},
        ],
    }
    r = await api.call("PUT", "/themes/unknown_test", "operator1", json=unknown)
    assert r.status_code == 422, r.text
    assert {p["code"] for p in r.json()["detail"]} == {"unknown_item", "unknown_member"}
    assert (await api.get("/themes/cycle_test")).status_code == 404  # nothing was stored
    assert (await api.call("PUT", "/themes/x_test", "clerk1", json=cyclic)).status_code == 403


async def test_restaurant_bundle_runs_members_in_parallel_and_delivers_once(
    api: Api, engine: AsyncEngine, client: Client
) -> None:
    bundle = await submit_bundle(api, "restaurant", RESTAURANT_FORM, RESTAURANT_MATERIALS, "applicant2")
    bundle_id = bundle["bundle_id"]
    assert bundle["contact_clerk"] == "clerk1"  # 找一人: the district's clerk
    view = await wait_bundle(
        api, bundle_id, lambda v: member(v, "licence")["case_status"] == "submitted", "licence started"
    )
    assert [m["state"] for m in view["members"]] == ["started"] + ["waiting"] * 4

    r = await api.post(f"/bundles/{bundle_id}/acceptance", "clerk1")
    assert r.status_code == 200, r.text
    assert member(r.json(), "licence")["case_status"] == "under_review"
    assert r.json()["status"] == "in_progress"
    await finish_member(api, view, "licence")

    # All four dependants start together once the licence exists, and are accepted with it.
    dependants = ["food_permit", "seal", "tax", "social_insurance"]
    view = await wait_bundle(
        api,
        bundle_id,
        lambda v: all(member(v, k)["case_status"] == "under_review" for k in dependants),
        "all dependants under review at once",
    )
    credit_code = member(view, "licence")["result_number"]
    assert credit_code == credit_code_for(member(view, "licence")["case_id"])
    licence_copies = {"food_permit": "F02", "seal": "K02", "tax": "T01", "social_insurance": "S02"}
    for key in dependants:
        case = (await api.get(f"/cases/{member(view, key)['case_id']}", "supervisor1")).json()
        assert case["form"]["credit_code"] == credit_code  # filled in from the licence
        assert case["form"]["business_name"] == RESTAURANT_FORM["business_name"]
        assert licence_copies[key] in case["materials"]
        assert case["bundle_id"] == bundle_id
        assert member(view, key)["completion_deadline"] is not None
        # No patch marker and no upsert of one: one code path.
        assert await patches_in_history(client, member(view, key)["case_id"]) == (False, False)

    r = await api.post(f"/bundles/{bundle_id}/delivery", "clerk1", {"method": "window_pickup"})
    assert r.status_code == 409 and "尚有事项未办结" in r.json()["message"]

    await asyncio.gather(*(finish_member(api, view, key) for key in dependants))
    view = await wait_bundle(api, bundle_id, lambda v: v["status"] == "ready", "ready")
    deadlines = [m["completion_deadline"] for m in view["members"]]
    assert view["deadline"] == max(deadlines)

    r = await api.post(f"/bundles/{bundle_id}/delivery", "clerk1", {"method": "window_pickup"})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "delivered"
    assert all(m["delivered"] for m in r.json()["members"])
    for m in view["members"]:
        await wait_for_status(api, m["case_id"], "closed")
    # One rating for the bundle; the member cases take none of their own.
    some_case = member(view, "tax")["case_id"]
    own = await api.post(f"/cases/{some_case}/ratings", "applicant2", {"level": 5, "channel": "website"})
    assert own.status_code == 409
    r = await api.post(f"/bundles/{bundle_id}/ratings", "applicant2", {"level": 5, "channel": "website"})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "closed"
    again = await api.post(f"/bundles/{bundle_id}/ratings", "applicant2", {"level": 4, "channel": "website"})
    assert again.status_code == 409 and again.json()["code"] == "already_rated"

    view = await wait_bundle(api, bundle_id, lambda v: v["status"] == "closed", "closed in the read model")
    assert view["runs"] >= 2, "the bundle should have continued as new under the low history limit"
    timeline_cases = {e["case_id"] for e in view["timeline"]}
    assert timeline_cases == {bundle_id, *(m["case_id"] for m in view["members"])}
    assert [e["event"] for e in view["timeline"]].count("member_started") == 5
    notices = await bundle_notices(api, "applicant2", bundle_id)
    assert sum("全部事项均已办结" in n for n in notices) == 1
    assert sum("办理结果已一次送达" in n for n in notices) == 1
    r = await api.get("/notifications", "applicant2", params={"limit": 200})
    member_ids = {m["case_id"] for m in view["members"]}
    assert not [n for n in r.json() if n["case_id"] in member_ids]  # the bundle speaks for them
    async with engine.connect() as conn:
        rating = (
            await conn.execute(
                text("SELECT departments, clerk FROM ratings WHERE case_id = :id"), {"id": bundle_id}
            )
        ).one()
    assert sorted(rating.departments) == ["hrss", "market", "police", "tax"]
    assert rating.clerk == "clerk1"
    await _operators_see_the_family(client, bundle_id, member_ids)


async def _operators_see_the_family(client: Client, bundle_id: str, case_ids: set[str]) -> None:
    """In the Temporal UI each member links to its bundle, and `BundleId` lists them all."""
    for case_id in case_ids:
        desc = await client.get_workflow_handle(case_workflow_id(case_id)).describe()
        assert desc.parent_id == bundle_workflow_id(bundle_id)
    expected = {bundle_workflow_id(bundle_id), *(case_workflow_id(c) for c in case_ids)}
    found: set[str] = set()
    for _ in range(100):  # visibility is eventually consistent
        found = {w.id async for w in client.list_workflows(f'BundleId = "{bundle_id}"')}
        if found == expected:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"BundleId lists {found}, expected {expected}")


CLINIC = {
    "name": "开办诊所一件事（测试）",
    "lead_department": "health",
    "members": [
        {"key": "setup", "item_code": "health-002"},
        {"key": "licence", "item_code": "market-001"},
        {
            "key": "tax",
            "item_code": "tax-001",
            "needs": [{"member": "licence", "field": "credit_code", "materials": ["BUSINESS_LICENCE"]}],
        },
    ],
}
CLINIC_FORM = {
    k: RESTAURANT_FORM[k] for k in RESTAURANT_FORM if k not in ("food_categories", "venue_area", "seal_types")
}
CLINIC_MATERIALS = [
    "health-002/Y01",
    "health-002/Y02",
    "health-002/Y03",
    "market-001/M01",
    "LEGAL_REP_ID",
    "PREMISES_PROOF",
]


async def _bundle_of_new_theme(
    api: Api, code: str, theme: dict, form: dict, materials: list[str], applicant: str, started: tuple
) -> tuple[str, dict]:
    """Define a test theme, submit one bundle of it, and wait until the `started` members are
    submitted; returns the bundle id and that view."""
    r = await api.call("PUT", f"/themes/{code}", "operator1", json=theme)
    assert r.status_code == 200, r.text
    bundle_id = (await submit_bundle(api, code, form, materials, applicant))["bundle_id"]
    view = await wait_bundle(
        api,
        bundle_id,
        lambda v: all(member(v, k)["case_status"] == "submitted" for k in started),
        f"{'、'.join(started)} started",
    )
    return bundle_id, view


async def test_a_rejected_member_stops_only_its_dependants_and_can_be_retried(api: Api) -> None:
    bundle_id, view = await _bundle_of_new_theme(
        api,
        "clinic_test",
        CLINIC,
        CLINIC_FORM,
        CLINIC_MATERIALS,
        "applicant1",
        started=("setup", "licence"),
    )
    assert member(view, "tax")["state"] == "waiting"

    licence_case = member(view, "licence")["case_id"]
    reason = "经营场所使用证明与登记地址不符"
    r = await api.post(
        f"/cases/{licence_case}/acceptance", "clerk1", {"decision": "reject", "reason": reason}
    )
    assert r.status_code == 200, r.text
    view = await wait_bundle(api, bundle_id, lambda v: member(v, "tax")["state"] == "blocked", "tax blocked")
    assert "个体工商户设立登记" in member(view, "tax")["reason"]
    notices = await bundle_notices(api, "applicant1", bundle_id)
    failed = [n for n in notices if "不予受理" in n]
    assert len(failed) == 1  # one notice: what failed, why, and what it stops
    assert reason in failed[0] and "税务登记信息确认" in failed[0] and "暂不启动" in failed[0]

    r = await api.post(f"/bundles/{bundle_id}/acceptance", "clerk1")
    assert r.status_code == 200, r.text
    assert member(r.json(), "setup")["case_status"] == "under_review"  # the independent member goes on
    await finish_member(api, view, "setup")
    await wait_bundle(api, bundle_id, lambda v: member(v, "setup")["case_status"] == "approved", "setup")

    fixed = {"business_address": "北京市朝阳区望京西路2号"}
    r = await api.post(f"/bundles/{bundle_id}/members/licence/retry", "clerk1", {"form": fixed})
    assert r.status_code == 200, r.text
    view = await wait_bundle(
        api,
        bundle_id,
        lambda v: member(v, "licence")["case_status"] == "under_review",
        "retried licence accepted",
    )
    retried = member(view, "licence")
    assert retried["case_id"] == f"{licence_case}-2" and retried["earlier_case_ids"] == [licence_case]
    case = (await api.get(f"/cases/{retried['case_id']}", "supervisor1")).json()
    assert case["form"]["business_address"] == fixed["business_address"]
    # The applicant takes the finished result now (partial delivery); the rest comes later.
    r = await api.post(f"/bundles/{bundle_id}/delivery", "clerk1", {"method": "electronic", "partial": True})
    assert r.status_code == 200, r.text
    assert member(r.json(), "setup")["delivered"] and r.json()["status"] == "in_progress"
    await finish_member(api, view, "licence")
    view = await wait_bundle(
        api, bundle_id, lambda v: member(v, "tax")["case_status"] == "under_review", "tax"
    )
    await finish_member(api, view, "tax")
    view = await wait_bundle(api, bundle_id, lambda v: v["status"] == "ready", "ready")
    r = await api.post(f"/bundles/{bundle_id}/delivery", "clerk1", {"method": "electronic"})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "delivered"
    assert r.json()["runs"] >= 2


async def test_one_supplement_notice_for_all_members(api: Api) -> None:
    bundle = await submit_bundle(api, "hiring", HIRING_FORM, HIRING_MATERIALS, "applicant2")
    bundle_id = bundle["bundle_id"]
    members = ("social_insurance", "housing_fund")
    await wait_bundle(
        api, bundle_id, lambda v: all(member(v, k)["case_status"] == "submitted" for k in members), "started"
    )
    missing = ["BUSINESS_LICENCE", "hpf-002/U02"]
    r = await api.post(
        f"/bundles/{bundle_id}/supplement-requests",
        "clerk1",
        {"missing_materials": missing, "reason": "营业执照复印件不清晰"},
    )
    assert r.status_code == 422 and r.json()["code"] == "unlisted_material"  # U02 is the shared licence
    missing = ["BUSINESS_LICENCE", "hpf-002/U03"]
    r = await api.post(
        f"/bundles/{bundle_id}/supplement-requests",
        "clerk1",
        {"missing_materials": missing, "reason": "营业执照复印件不清晰"},
    )
    assert r.status_code == 200, r.text
    view = r.json()
    assert view["status"] == "supplement_requested"
    assert member(view, "social_insurance")["missing_materials"] == ["S02"]
    assert member(view, "housing_fund")["missing_materials"] == ["U02", "U03"]
    notices = [n for n in await bundle_notices(api, "applicant2", bundle_id) if "一次性补正" in n]
    assert len(notices) == 1
    assert "营业执照" in notices[0] and "经办人授权委托书" in notices[0]
    assert "单位社会保险登记" in notices[0] and "住房公积金单位缴存登记" in notices[0]

    r = await api.post(f"/bundles/{bundle_id}/supplements", "applicant2", {"materials": ["BUSINESS_LICENCE"]})
    assert r.status_code == 422 and r.json()["code"] == "missing_materials_required"
    r = await api.post(f"/bundles/{bundle_id}/supplements", "applicant2", {"materials": missing})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "submitted"
    assert {member(r.json(), k)["case_status"] for k in members} == {"submitted"}
    r = await api.post(f"/bundles/{bundle_id}/acceptance", "clerk1")
    assert {member(r.json(), k)["case_status"] for k in members} == {"under_review"}


async def test_bad_submissions_are_refused_and_change_nothing(api: Api, engine: AsyncEngine) -> None:
    async def count() -> int:
        async with engine.connect() as conn:
            return (await conn.execute(text("SELECT count(*) FROM submissions"))).scalar_one()

    before = await count()
    cases = [
        ({"theme_code": "nowhere"}, "unknown_theme"),
        ({"form": {**RESTAURANT_FORM, "shoe_size": "42"}}, "unknown_form_field"),
        ({"form": {**RESTAURANT_FORM, "credit_code": credit_code_for("BJ1")}}, "form_field_provided"),
        ({"form": {k: v for k, v in RESTAURANT_FORM.items() if k != "bank_name"}}, "form_field_missing"),
        ({"form": {**RESTAURANT_FORM, "employee_count": "六"}}, "invalid_form_field"),
        ({"materials": [*RESTAURANT_MATERIALS, "market-001/M99"]}, "unlisted_material"),
        ({"district": "atlantis"}, "unknown_district"),
    ]
    for change, code in cases:
        body = {
            "theme_code": "restaurant",
            "form": RESTAURANT_FORM,
            "materials": RESTAURANT_MATERIALS,
            "district": "chaoyang",
            **change,
        }
        r = await api.post("/bundles", "applicant1", body, headers={"Idempotency-Key": idempotency_key()})
        assert r.status_code == 422, (change, r.text)
        assert r.json()["code"] == code, (change, r.json())
    assert await count() == before

    hiring = {
        "theme_code": "hiring",
        "form": HIRING_FORM,
        "materials": HIRING_MATERIALS,
        "district": "chaoyang",
    }
    key = idempotency_key()
    first, second = await asyncio.gather(
        api.post("/bundles", "applicant1", hiring, headers={"Idempotency-Key": key}),
        api.post("/bundles", "applicant1", hiring, headers={"Idempotency-Key": key}),
    )
    assert first.status_code == second.status_code == 201, (first.text, second.text)
    assert first.json()["bundle_id"] == second.json()["bundle_id"]
    changed = {**hiring, "materials": HIRING_MATERIALS[:-1]}
    r = await api.post("/bundles", "applicant1", changed, headers={"Idempotency-Key": key})
    assert r.status_code == 422 and r.json()["code"] == "idempotency_key_reused"
    assert await count() == before + 1


async def test_bundles_are_scoped_to_their_applicant_departments_and_contact_clerk(
    api: Api, engine: AsyncEngine
) -> None:
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO accounts (username, password_hash, role, district, display_name) "
                "VALUES ('clerk-citywide', :pw, 'clerk', NULL, '市级综窗') ON CONFLICT DO NOTHING"
            ),
            {"pw": hash_password("demo")},
        )
    bundle = await submit_bundle(api, "hiring", HIRING_FORM, HIRING_MATERIALS, "applicant2")
    bundle_id = bundle["bundle_id"]
    assert (await api.get(f"/bundles/{bundle_id}", "applicant2")).status_code == 200
    assert (await api.get(f"/bundles/{bundle_id}", "applicant1")).status_code == 403
    assert (await api.get(f"/bundles/{bundle_id}", "hpf-staff")).status_code == 200
    assert (await api.get(f"/bundles/{bundle_id}", "market-staff")).status_code == 403
    mine = (await api.get("/bundles", "applicant1", params={"limit": 100})).json()["items"]
    assert bundle_id not in {b["bundle_id"] for b in mine}
    listed = (await api.get("/bundles", "hpf-staff", params={"theme_code": "hiring", "limit": 100})).json()
    assert bundle_id in {b["bundle_id"] for b in listed["items"]}
    # Another clerk may see it but not act on it: the bundle has one contact person.
    assert (await api.get(f"/bundles/{bundle_id}", "clerk-citywide")).status_code == 200
    r = await api.post(f"/bundles/{bundle_id}/acceptance", "clerk-citywide")
    assert r.status_code == 403 and r.json()["code"] == "not_contact_clerk"
    r = await api.post(f"/bundles/{bundle_id}/supplements", "applicant1", {"materials": ["BUSINESS_LICENCE"]})
    assert r.status_code == 403
    r = await api.post(f"/bundles/{bundle_id}/members/nobody/retry", "clerk1", {})
    assert r.status_code == 404 and r.json()["code"] == "unknown_member"


async def test_withdrawing_a_bundle_stops_what_is_undecided_and_keeps_decided_results(api: Api) -> None:
    bundle = await submit_bundle(api, "restaurant", RESTAURANT_FORM, RESTAURANT_MATERIALS, "applicant2")
    bundle_id = bundle["bundle_id"]
    view = await wait_bundle(
        api, bundle_id, lambda v: member(v, "licence")["case_status"] == "submitted", "licence started"
    )
    await api.post(f"/bundles/{bundle_id}/acceptance", "clerk1")
    await finish_member(api, view, "licence")
    view = await wait_bundle(
        api,
        bundle_id,
        lambda v: all(m["case_status"] == "under_review" for m in v["members"][1:]),
        "dependants under review",
    )
    assert (await api.post(f"/bundles/{bundle_id}/withdraw", "applicant1", {})).status_code == 403
    r = await api.post(f"/bundles/{bundle_id}/withdraw", "applicant2", {"reason": "经营计划调整"})
    assert r.status_code == 200, r.text
    assert r.json()["withdrawn"]
    assert {m["case_status"] for m in r.json()["members"][1:]} == {"withdrawn"}
    # The licence was already granted: it can still be collected, once.
    view = await wait_bundle(api, bundle_id, lambda v: v["status"] == "ready", "ready with the licence")
    again = await api.post(f"/bundles/{bundle_id}/withdraw", "applicant2", {})
    assert again.status_code == 409
    retry = await api.post(f"/bundles/{bundle_id}/members/tax/retry", "clerk1", {})
    assert retry.status_code == 409
    r = await api.post(f"/bundles/{bundle_id}/delivery", "clerk1", {"method": "electronic"})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "delivered" and member(r.json(), "licence")["delivered"]
    notices = await bundle_notices(api, "applicant2", bundle_id)
    assert sum("撤回" in n for n in notices) == 1
    assert not [n for n in notices if "重新提交" in n]
    # A bad rating of the bundle opens the rectification loop with its lead department.
    bad = {"level": 2, "channel": "app", "comment": "撤回后等待时间过长"}
    r = await api.post(f"/bundles/{bundle_id}/ratings", "applicant2", bad)
    assert r.status_code == 200, r.text
    loops: list = []
    for _ in range(200):
        loops = (await api.get("/rectifications", "applicant2", params={"case_id": bundle_id})).json()
        if loops:
            break
        await asyncio.sleep(0.05)
    assert [(x["department"], x["status"]) for x in loops] == [("market", "verifying")], loops
    assert loops[0]["deadline"]


async def _notices_once(api: Api, username: str, bundle_id: str, text: str) -> list[str]:
    """The bundle's notices, as soon as one of them holds `text` (bounded wait)."""
    for _ in range(200):
        notices = await bundle_notices(api, username, bundle_id)
        if any(text in n for n in notices):
            return notices
        await asyncio.sleep(0.05)
    raise AssertionError(f"no notice with {text!r}")


def _failure_notices(notices: list[str]) -> list[str]:
    """The notices that tell the applicant which members are stopped (暂不启动)."""
    return [n for n in notices if "暂不启动" in n]


async def test_a_member_denied_at_signature_stops_its_dependants_and_the_rest_go_on(api: Api) -> None:
    bundle_id, view = await _bundle_of_new_theme(
        api,
        "clinic_deny_test",
        CLINIC,
        CLINIC_FORM,
        CLINIC_MATERIALS,
        "applicant1",
        started=("setup", "licence"),
    )
    r = await api.post(f"/bundles/{bundle_id}/acceptance", "clerk1")
    assert r.status_code == 200, r.text
    licence_case = member(view, "licence")["case_id"]
    await complete_tasks(api, licence_case, ["market"])
    await wait_for_status(api, licence_case, "awaiting_signature")
    r = await sign(api, licence_case, "market-handler", decision="deny")
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "denied"

    view = await wait_bundle(api, bundle_id, lambda v: member(v, "tax")["state"] == "blocked", "tax blocked")
    assert member(view, "tax")["case_id"] is None  # never started
    assert "个体工商户设立登记" in member(view, "tax")["reason"]
    assert member(view, "setup")["case_status"] == "under_review"  # the independent member goes on
    notices = await bundle_notices(api, "applicant1", bundle_id)
    stopped = _failure_notices(notices)
    assert len(stopped) == 1, stopped  # one notice: what failed and what it stops
    assert "“个体工商户设立登记”不予许可" in stopped[0]
    assert "“税务登记信息确认（新办纳税人套餐）”暂不启动" in stopped[0]
    assert "医疗机构设置审批" in stopped[0] and "继续办理" in stopped[0]

    await finish_member(api, view, "setup")
    view = await wait_bundle(api, bundle_id, lambda v: v["status"] == "ready", "ready")
    assert member(view, "setup")["case_status"] == "approved" and member(view, "setup")["result_number"]
    assert member(view, "tax")["state"] == "blocked"
    assert _failure_notices(await bundle_notices(api, "applicant1", bundle_id)) == stopped


CHAIN = {
    "name": "链式依赖测试",
    "lead_department": "market",
    "members": [
        {"key": "licence", "item_code": "market-001"},
        {
            "key": "tax",
            "item_code": "tax-001",
            "needs": [{"member": "licence", "field": "credit_code", "materials": ["BUSINESS_LICENCE"]}],
        },
        {"key": "social", "item_code": "hrss-001", "needs": [{"member": "tax"}]},  # only through tax
        {"key": "setup", "item_code": "health-002"},  # keeps the bundle going meanwhile
    ],
}
CHAIN_FORM = {**CLINIC_FORM, "credit_code": credit_code_for("BJ20260101000077")}
CHAIN_MATERIALS = [*CLINIC_MATERIALS, "hrss-001/S01", "BUSINESS_LICENCE"]


async def test_a_failure_blocks_the_whole_chain_in_one_notice_and_a_retry_unblocks_it(api: Api) -> None:
    bundle_id, view = await _bundle_of_new_theme(
        api, "chain_test", CHAIN, CHAIN_FORM, CHAIN_MATERIALS, "applicant1", started=("licence",)
    )
    assert [member(view, k)["state"] for k in ("tax", "social")] == ["waiting", "waiting"]
    reject = {"decision": "reject", "reason": "名称与已登记名称相同"}
    r = await api.post(f"/cases/{member(view, 'licence')['case_id']}/acceptance", "clerk1", reject)
    assert r.status_code == 200, r.text

    view = await wait_bundle(
        api,
        bundle_id,
        lambda v: all(member(v, k)["state"] == "blocked" for k in ("tax", "social")),
        "the chain blocked",
    )
    assert "个体工商户设立登记" in member(view, "tax")["reason"]
    assert "税务登记信息确认" in member(view, "social")["reason"]  # blocked by its own upstream
    stopped = _failure_notices(await bundle_notices(api, "applicant1", bundle_id))
    assert len(stopped) == 1, stopped
    assert reject["reason"] in stopped[0]
    assert "“税务登记信息确认（新办纳税人套餐）”、“单位社会保险登记”暂不启动" in stopped[0]

    # Retrying the head of the chain lets the whole chain wait for it again.
    r = await api.post(f"/bundles/{bundle_id}/members/licence/retry", "clerk1", {})
    assert r.status_code == 200, r.text
    view = await wait_bundle(
        api, bundle_id, lambda v: member(v, "licence")["case_status"] == "submitted", "licence retried"
    )
    assert [(member(view, k)["state"], member(view, k)["reason"]) for k in ("tax", "social")] == [
        ("waiting", ""),
        ("waiting", ""),
    ]
    r = await api.post(f"/bundles/{bundle_id}/acceptance", "clerk1")
    assert r.status_code == 200, r.text
    await finish_member(api, view, "licence")
    view = await wait_bundle(
        api, bundle_id, lambda v: member(v, "tax")["case_status"] == "under_review", "tax"
    )
    assert member(view, "social")["state"] == "waiting"  # still waits for tax's result
    await finish_member(api, view, "tax")
    view = await wait_bundle(
        api, bundle_id, lambda v: member(v, "social")["case_status"] == "under_review", "social started"
    )
    assert _failure_notices(await bundle_notices(api, "applicant1", bundle_id)) == stopped


TWO_UPSTREAMS = {
    "name": "两个前置事项测试",
    "lead_department": "market",
    "members": [
        {"key": "licence", "item_code": "market-001"},
        {"key": "setup", "item_code": "health-002"},
        {
            "key": "tax",
            "item_code": "tax-001",
            "needs": [{"member": "licence", "field": "credit_code", "materials": ["BUSINESS_LICENCE"]}],
        },
        {
            "key": "social",
            "item_code": "hrss-001",
            "needs": [
                {"member": "licence", "field": "credit_code", "materials": ["BUSINESS_LICENCE"]},
                {"member": "setup"},
            ],
        },
        {"key": "housing", "item_code": "hpf-002"},  # keeps the bundle going meanwhile
    ],
}
TWO_UPSTREAMS_FORM = {**CHAIN_FORM, "deposit_ratio": "12"}
TWO_UPSTREAMS_MATERIALS = [*CHAIN_MATERIALS, "hpf-002/U01", "hpf-002/U03"]


async def test_retrying_one_failed_upstream_does_not_repeat_the_notice_for_the_other(api: Api) -> None:
    bundle_id, view = await _bundle_of_new_theme(
        api,
        "two_upstreams_test",
        TWO_UPSTREAMS,
        TWO_UPSTREAMS_FORM,
        TWO_UPSTREAMS_MATERIALS,
        "applicant2",
        started=("licence", "setup"),
    )
    licence_case, setup_case = member(view, "licence")["case_id"], member(view, "setup")["case_id"]
    reject = {"decision": "reject", "reason": "名称与已登记名称相同"}
    r = await api.post(f"/cases/{licence_case}/acceptance", "clerk1", reject)
    assert r.status_code == 200, r.text
    await wait_bundle(
        api,
        bundle_id,
        lambda v: all(member(v, k)["state"] == "blocked" for k in ("tax", "social")),
        "both dependants of the licence blocked",
    )
    reject = {"decision": "reject", "reason": "不符合医疗机构设置规划"}
    r = await api.post(f"/cases/{setup_case}/acceptance", "clerk1", reject)
    assert r.status_code == 200, r.text
    # The member's new status can reach the read model a write before the bundle's notice of it.
    notices = await _notices_once(api, "applicant2", bundle_id, "“医疗机构设置审批”不予受理")
    stopped = _failure_notices(notices)
    assert len(stopped) == 1, stopped
    assert "“税务登记信息确认（新办纳税人套餐）”、“单位社会保险登记”暂不启动" in stopped[0]
    assert sum("“医疗机构设置审批”不予受理" in n for n in notices) == 1

    # The licence is fixed: tax waits for it again, social stays stopped by the setup approval.
    r = await api.post(f"/bundles/{bundle_id}/members/licence/retry", "clerk1", {})
    assert r.status_code == 200, r.text
    view = await wait_bundle(
        api, bundle_id, lambda v: member(v, "licence")["case_status"] == "submitted", "licence retried"
    )
    assert member(view, "licence")["case_id"] == f"{licence_case}-2"
    assert member(view, "tax")["state"] == "waiting"
    assert member(view, "social")["state"] == "blocked"
    assert "医疗机构设置审批" in member(view, "social")["reason"]
    notices = await bundle_notices(api, "applicant2", bundle_id)
    assert _failure_notices(notices) == stopped  # no second notice for social
    assert sum("重新办理" in n for n in notices) == 1

    # Then the setup approval is fixed too: social waits for both, and both results start it.
    r = await api.post(f"/bundles/{bundle_id}/members/setup/retry", "clerk1", {})
    assert r.status_code == 200, r.text
    view = await wait_bundle(
        api, bundle_id, lambda v: member(v, "setup")["case_status"] == "submitted", "setup retried"
    )
    assert (member(view, "social")["state"], member(view, "social")["reason"]) == ("waiting", "")
    r = await api.post(f"/bundles/{bundle_id}/acceptance", "clerk1")
    assert r.status_code == 200, r.text
    await asyncio.gather(finish_member(api, view, "licence"), finish_member(api, view, "setup"))
    view = await wait_bundle(
        api,
        bundle_id,
        lambda v: all(member(v, k)["case_status"] == "under_review" for k in ("tax", "social")),
        "both dependants started",
    )
    case = (await api.get(f"/cases/{member(view, 'social')['case_id']}", "supervisor1")).json()
    assert case["form"]["credit_code"] == member(view, "licence")["result_number"]
    assert _failure_notices(await bundle_notices(api, "applicant2", bundle_id)) == stopped
