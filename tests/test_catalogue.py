"""The service guide catalogue (办事指南) through HTTP and PostgreSQL: the 26 elements, versions,
districts, one source for every channel, and cases bound to the version they were submitted under."""

from __future__ import annotations

import asyncio
import copy
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from scripts.seed import ITEMS, seed
from tests.conftest import Api
from tests.helpers import accept, submit, wait_for_status

pytestmark = pytest.mark.asyncio(loop_scope="session")

# The 26 elements exactly as DOMAIN.md §1 names them, in order.
LABELS = (
    "事项名称 事项编码 事项类型 设定依据 实施主体 受理条件 服务对象 法定办结时限 承诺办结时限 结果名称 "
    "结果样本 收费标准 收费依据 所需材料 容缺受理 办理流程 办理形式 审查标准 通办范围 预约办理 网上支付 "
    "物流快递 办理地点 办理时间 咨询方式 监督投诉方式"
).split()
CHANNELS = ("online", "window", "mobile", "kiosk")


def full_content(**override) -> dict:
    """A complete, valid guide (market-001's, as seeded) with some fields changed."""
    content = copy.deepcopy(next(i for i in ITEMS if i["code"] == "market-001")["content"])
    content.update(override)
    return content


def material(code: str, name: str, required: bool = True) -> dict:
    return {
        "code": code,
        "name": name,
        "form": "原件",
        "copies": 1,
        "required": required,
        "deferrable": False,
    }


def new_code() -> str:
    return f"test-{uuid.uuid4().hex[:10]}"


async def published_item(api: Api, **override) -> str:
    code = new_code()
    r = await api.post("/catalogue/items", "operator1", {"code": code, "content": full_content(**override)})
    assert r.status_code == 201, r.text
    r = await api.post(f"/catalogue/items/{code}/versions/1/publish", "operator1")
    assert r.status_code == 200, r.text
    return code


async def publish_next(api: Api, code: str, effective_from: datetime | None = None, **changes) -> int:
    r = await api.post(f"/catalogue/items/{code}/versions", "operator1")
    assert r.status_code == 201, r.text
    version = r.json()["version"]
    r = await api.call("PATCH", f"/catalogue/items/{code}/versions/{version}", "operator1", json=changes)
    assert r.status_code == 200, r.text
    body = {"effective_from": effective_from.isoformat()} if effective_from else {}
    r = await api.post(f"/catalogue/items/{code}/versions/{version}/publish", "operator1", body)
    assert r.status_code == 200, r.text
    return version


async def test_every_seeded_guide_carries_the_26_elements(api: Api) -> None:
    items = (await api.get("/items")).json()
    assert len(items) >= 12
    assert len({d["code"] for i in items for d in i["departments"]}) >= 6
    assert {"sign_once", "sign_twice", "collective"} <= {i["signature_mode"] for i in items}
    for item in items:
        r = await api.get(f"/items/{item['code']}/guide")  # public: no login
        assert r.status_code == 200, r.text
        guide = r.json()
        assert [e["label"] for e in guide["elements"].values()] == LABELS
        for key, element in guide["elements"].items():
            assert element["value"] not in (None, "", []), (item["code"], key)
        assert guide["elements"]["code"]["value"] == item["code"]
        assert guide["elements"]["name"]["value"] == item["name"]
        assert guide["version"] == item["version"]
        assert guide["settings"]["signature_mode"] == item["signature_mode"]
        codes = [m["code"] for m in guide["elements"]["materials"]["value"]]
        assert codes == [m["code"] for m in item["materials"]]
    guide = (await api.get("/items/market-002/guide")).json()
    elements = guide["elements"]
    assert elements["legal_time_limit"] == {"label": "法定办结时限", "scope": "basic", "value": 20}
    assert elements["place"]["scope"] == "local" and elements["materials"]["scope"] == "basic"
    f03 = next(m for m in elements["materials"]["value"] if m["code"] == "F03")
    assert f03 == {
        "code": "F03",
        "name": "与食品经营相适应的主要设备设施布局、操作流程等文件",
        "form": "原件",
        "copies": 1,
        "required": True,
        "deferrable": True,
        "note": "",
        "shared_code": None,
    }
    assert "F03" in elements["deferred_acceptance"]["value"]["materials"]
    stages = [(s["stage"], s["name"]) for s in elements["process"]["value"]]
    assert stages == [(1, "受理"), (2, "审查"), (3, "决定"), (4, "送达")]
    # Two departments review culture-001 in parallel: the same stage.
    culture = (await api.get("/items/culture-001/guide")).json()["elements"]["process"]["value"]
    assert {s["department"] for s in culture if s["stage"] == 2} == {"culture", "police"}


async def test_draft_is_validated_element_by_element_before_publication(api: Api) -> None:
    code = new_code()
    draft = {"name": "测试事项", "legal_time_limit_days": 5, "promised_time_limit_days": 9}
    r = await api.post("/catalogue/items", "operator1", {"code": code, "content": draft})
    assert r.status_code == 201, r.text
    assert r.json()["status"] == "draft" and r.json()["version"] == 1
    assert (await api.get(f"/items/{code}")).status_code == 404  # nothing published yet

    report = (await api.post(f"/catalogue/items/{code}/versions/1/validation", "operator1")).json()
    assert report["valid"] is False
    by_element = {(p["element"], p["code"]): p for p in report["problems"]}
    assert by_element[("legal_basis", "element_missing")]["message"] == "要素“设定依据”未填写"
    assert by_element[("legal_basis", "element_missing")]["label"] == "设定依据"
    assert ("materials", "element_missing") in by_element
    assert ("departments", "setting_missing") in by_element
    exceeds = by_element[("promised_time_limit", "promised_exceeds_legal")]
    assert exceeds["label"] == "承诺办结时限" and "不得超过法定办结时限" in exceeds["message"]

    refused = await api.post(f"/catalogue/items/{code}/versions/1/publish", "operator1")
    assert refused.status_code == 422
    assert refused.json()["code"] == "guide_invalid"
    assert refused.json()["message"].startswith("办事指南未通过校验，不能发布")
    assert {p["element"] for p in refused.json()["detail"]} >= {"legal_basis", "promised_time_limit"}

    bad_dept = full_content(name="测试事项", departments=["nowhere"])
    r = await api.call("PATCH", f"/catalogue/items/{code}/versions/1", "operator1", json=bad_dept)
    assert r.status_code == 200, r.text
    problems = (await api.post(f"/catalogue/items/{code}/versions/1/validation", "operator1")).json()[
        "problems"
    ]
    assert [(p["element"], p["code"]) for p in problems] == [("departments", "unknown_department")]

    r = await api.call(
        "PATCH", f"/catalogue/items/{code}/versions/1", "operator1", json={"departments": ["market"]}
    )
    assert (await api.post(f"/catalogue/items/{code}/versions/1/validation", "operator1")).json()["valid"]
    published = await api.post(f"/catalogue/items/{code}/versions/1/publish", "operator1")
    assert published.status_code == 200, published.text
    assert published.json()["status"] == "published" and published.json()["in_force"] is True

    item = (await api.get(f"/items/{code}")).json()
    assert item == {
        "code": code,
        "name": "测试事项",
        "version": 1,
        "departments": [{"code": "market", "name": "北京市市场监督管理局"}],
        "materials": [
            {"code": "M01", "name": "个体工商户登记（备案）申请书", "required": True, "shared_code": None},
            {"code": "M02", "name": "经营者身份证明", "required": True, "shared_code": "LEGAL_REP_ID"},
            {"code": "M03", "name": "经营场所使用证明", "required": True, "shared_code": "PREMISES_PROOF"},
            {"code": "M04", "name": "委托代理人身份证明及委托书", "required": False, "shared_code": None},
        ],
        "signature_mode": "sign_once",
        "legal_time_limit_days": 15,
        "promised_time_limit_days": 1,
        "form_fields": [
            "operator_name",
            "business_name",
            "business_address",
            "business_scope",
            "employee_count",
        ],
        "result_name": "个体工商户营业执照",
    }
    assert code in {i["code"] for i in (await api.get("/items")).json()}


async def test_published_versions_are_immutable_and_management_is_for_operators(
    api: Api, engine: AsyncEngine
) -> None:
    code = await published_item(api)
    edit = await api.call("PATCH", f"/catalogue/items/{code}/versions/1", "operator1", json={"name": "改名"})
    assert edit.status_code == 409 and edit.json()["code"] == "version_published"
    again = await api.post(f"/catalogue/items/{code}/versions/1/publish", "operator1")
    assert again.status_code == 409
    # Even SQL written by hand cannot change a published version.
    async with engine.connect() as conn:
        with pytest.raises(DBAPIError, match="immutable"):
            await conn.execute(
                text("UPDATE guide_versions SET content = '{}' WHERE item_code = :c"), {"c": code}
            )
    assert (await api.get(f"/items/{code}/guide")).json()["elements"]["name"]["value"] == "个体工商户设立登记"

    for who in ("clerk1", "applicant1", "market-chief"):
        r = await api.post("/catalogue/items", who, {"code": new_code(), "content": {}})
        assert r.status_code == 403 and r.json()["code"] == "role_not_allowed"
    anonymous = await api.http.get(f"/api/v1/catalogue/items/{code}/versions")
    assert anonymous.status_code == 401
    unknown_field = await api.post(
        "/catalogue/items", "operator1", {"code": new_code(), "content": {"colour": 1}}
    )
    assert unknown_field.status_code == 422
    duplicate = await api.post("/catalogue/items", "operator1", {"code": code, "content": {}})
    assert duplicate.status_code == 409 and duplicate.json()["code"] == "item_exists"
    past = datetime.now(UTC) - timedelta(days=1)
    await api.post(f"/catalogue/items/{code}/versions", "operator1")
    r = await api.post(
        f"/catalogue/items/{code}/versions/2/publish", "operator1", {"effective_from": past.isoformat()}
    )
    assert r.status_code == 422 and r.json()["code"] == "effective_from_past"
    second_draft = await api.post(f"/catalogue/items/{code}/versions", "operator1")
    assert second_draft.status_code == 409 and second_draft.json()["code"] == "draft_exists"


async def test_versions_are_listed_and_diffed_element_by_element(api: Api) -> None:
    code = await published_item(api)
    materials = full_content()["materials"] + [material("M05", "食品安全承诺书")]
    await publish_next(api, code, promised_time_limit_days=2, materials=materials)

    versions = (await api.get(f"/catalogue/items/{code}/versions", "operator1")).json()
    assert [(v["version"], v["status"], v["in_force"]) for v in versions] == [
        (1, "published", False),
        (2, "published", True),
    ]
    assert all(v["published_by"] == "operator1" and len(v["content_hash"]) == 64 for v in versions)

    diff = (await api.get(f"/catalogue/items/{code}/diff", "operator1", params={"from": 1, "to": 2})).json()
    changed = {c["element"]: c for c in diff["changes"]}
    assert set(changed) == {"promised_time_limit", "materials"}
    assert changed["promised_time_limit"] == {
        "element": "promised_time_limit",
        "label": "承诺办结时限",
        "before": 1,
        "after": 2,
    }
    assert changed["materials"]["label"] == "所需材料"
    assert [m["code"] for m in changed["materials"]["after"]][-1] == "M05"
    v1 = (await api.get(f"/catalogue/items/{code}/versions/1", "operator1")).json()
    assert v1["content"]["promised_time_limit_days"] == 1 and len(v1["elements"]) == 26
    assert (await api.get(f"/items/{code}/guide", params={"version": 1})).json()["version"] == 1


async def test_case_keeps_the_version_it_was_submitted_under(api: Api) -> None:
    code = await published_item(api)
    old = await submit(api, (code, ["M01", "M02", "M03"]))
    assert old["item_version"] == 1

    materials = full_content()["materials"] + [material("M05", "食品安全承诺书")]
    await publish_next(api, code, materials=materials, signature_mode="sign_twice")
    new = await submit(api, (code, ["M01", "M02", "M03", "M05"]))
    assert new["item_version"] == 2 and new["signature_mode"] == "sign_twice"

    # The running case still follows version 1: its materials and its signature mode.
    old_view = (await api.get(f"/cases/{old['case_id']}", "supervisor1")).json()
    assert old_view["item_version"] == 1 and old_view["signature_mode"] == "sign_once"
    r = await api.post(
        f"/cases/{old['case_id']}/acceptance",
        "clerk1",
        {"decision": "supplement", "missing_materials": ["M05"]},
    )
    assert r.status_code == 422 and r.json()["code"] == "unlisted_material"
    assert "M05" in r.json()["message"]
    # ... while the case under version 2 may be asked for it.
    r = await api.post(
        f"/cases/{new['case_id']}/acceptance",
        "clerk1",
        {"decision": "supplement", "missing_materials": ["M05"]},
    )
    assert r.status_code == 200, r.text
    r = await api.post(f"/cases/{new['case_id']}/supplements", "applicant1", {"materials": ["M05", "Z99"]})
    assert r.status_code == 422 and r.json()["code"] == "unlisted_material"
    r = await api.post(f"/cases/{new['case_id']}/supplements", "applicant1", {"materials": ["M05"]})
    assert r.status_code == 200 and r.json()["materials"] == ["M01", "M02", "M03", "M05"]
    await accept(api, old["case_id"])
    assert (await wait_for_status(api, old["case_id"], "under_review"))["item_version"] == 1

    # Submitting names only materials of the version in force.
    r = await api.post(
        "/cases",
        "applicant1",
        {"item_code": code, "materials": ["M01", "X99"], "district": "chaoyang", "form": {}},
    )
    assert r.status_code == 422 and r.json()["code"] == "unlisted_material"
    assert r.json()["detail"]["unlisted"] == ["X99"]


async def test_district_may_localize_only_place_hours_and_contacts(api: Api) -> None:
    code = await published_item(api)
    for field, label in (
        ("name", "事项名称"),
        ("materials", "所需材料"),
        ("promised_time_limit", "承诺办结时限"),
    ):
        r = await api.call(
            "PUT", f"/catalogue/items/{code}/districts/haidian", "operator1", json={field: "海淀特色"}
        )
        assert r.status_code == 422, r.text
        assert r.json()["code"] == "basic_element_not_localizable"
        assert r.json()["detail"]["element"] == field
        assert label in r.json()["message"] and "基本要素" in r.json()["message"]
    mixed = {"place": "海淀区政务服务中心", "legal_basis": ["海淀规定"]}
    r = await api.call("PUT", f"/catalogue/items/{code}/districts/haidian", "operator1", json=mixed)
    assert r.status_code == 422 and r.json()["detail"]["element"] == "legal_basis"
    r = await api.call("PUT", f"/catalogue/items/{code}/districts/haidian", "operator1", json={"colour": "x"})
    assert r.status_code == 422 and r.json()["code"] == "unknown_element"
    r = await api.call("PUT", f"/catalogue/items/{code}/districts/nowhere", "operator1", json={"place": "x"})
    assert r.status_code == 422 and r.json()["code"] == "unknown_district"

    local = {"place": "海淀区政务服务中心（海淀区丹棱街1号）", "hours": "周一至周日 9:00—17:00"}
    r = await api.call("PUT", f"/catalogue/items/{code}/districts/haidian", "operator1", json=local)
    assert r.status_code == 200, r.text
    haidian = (await api.get(f"/items/{code}/guide", params={"district": "haidian"})).json()
    city = (await api.get(f"/items/{code}/guide")).json()
    assert haidian["district_name"] == "海淀区"
    assert haidian["elements"]["place"]["value"] == local["place"]
    assert haidian["elements"]["hours"]["value"] == local["hours"]
    assert haidian["elements"]["consultation"] == city["elements"]["consultation"]
    assert city["elements"]["place"]["value"] != local["place"]
    basic = [k for k, e in city["elements"].items() if e["scope"] == "basic"]
    assert len(basic) == 22
    assert all(haidian["elements"][k] == city["elements"][k] for k in basic)
    variants = (await api.get(f"/catalogue/items/{code}/districts", "operator1")).json()
    assert [(v["district"], v["localized"]) for v in variants] == [("haidian", local)]


async def test_a_new_city_version_reaches_every_district_at_the_same_moment(api: Api) -> None:
    code = await published_item(api)
    for district, place in (("haidian", "海淀区政务服务中心"), ("chaoyang", "朝阳区政务服务中心")):
        r = await api.call(
            "PUT", f"/catalogue/items/{code}/districts/{district}", "operator1", json={"place": place}
        )
        assert r.status_code == 200, r.text
    effective = datetime.now(UTC) + timedelta(seconds=2)
    await publish_next(api, code, effective_from=effective, name="个体工商户设立登记（新版）")

    async def views() -> list[dict]:
        return [
            (await api.get(f"/items/{code}/guide", params=({"district": d} if d else {}))).json()
            for d in ("haidian", "chaoyang", "dongcheng", None)
        ]

    before = await views()
    assert {g["version"] for g in before} == {1}
    assert (await api.get(f"/items/{code}")).json()["version"] == 1
    versions = (await api.get(f"/catalogue/items/{code}/versions", "operator1")).json()
    assert [v["in_force"] for v in versions] == [True, False]

    await asyncio.sleep(max(0.0, (effective - datetime.now(UTC)).total_seconds()) + 0.2)
    after = await views()
    assert {g["version"] for g in after} == {2}
    assert {g["elements"]["name"]["value"] for g in after} == {"个体工商户设立登记（新版）"}
    assert [g["elements"]["place"]["value"] for g in after][:2] == [
        "海淀区政务服务中心",
        "朝阳区政务服务中心",
    ]
    assert after[2]["elements"]["place"] == after[3]["elements"]["place"]  # no variant: the city's
    assert (await api.get(f"/items/{code}")).json()["version"] == 2


async def test_every_channel_gets_the_same_content_with_a_strong_etag(api: Api) -> None:
    code = await published_item(api)
    responses = [
        await api.get(f"/items/{code}/guide", params={"district": "chaoyang", "channel": c}) for c in CHANNELS
    ]
    assert all(r.status_code == 200 for r in responses)
    assert len({r.content for r in responses}) == 1
    etags = {r.headers["etag"] for r in responses}
    assert len(etags) == 1
    etag = etags.pop()
    assert etag.startswith('"') and not etag.startswith("W/")

    for channel in CHANNELS:
        r = await api.get(
            f"/items/{code}/guide",
            params={"district": "chaoyang", "channel": channel},
            headers={"If-None-Match": etag},
        )
        assert r.status_code == 304 and r.content == b"" and r.headers["etag"] == etag
    other = await api.get(
        f"/items/{code}/guide", params={"district": "haidian"}, headers={"If-None-Match": etag}
    )
    assert other.status_code == 200  # same content here, but another district may differ
    assert (await api.get(f"/items/{code}/guide", params={"channel": "fax"})).status_code == 422

    # A district change is a new representation: the old ETag no longer matches.
    r = await api.call(
        "PUT", f"/catalogue/items/{code}/districts/chaoyang", "operator1", json={"hours": "周六 9:00—11:30"}
    )
    assert r.status_code == 200
    changed = await api.get(
        f"/items/{code}/guide",
        params={"district": "chaoyang", "channel": "kiosk"},
        headers={"If-None-Match": etag},
    )
    assert changed.status_code == 200 and changed.headers["etag"] != etag
    assert changed.json()["elements"]["hours"]["value"] == "周六 9:00—11:30"


async def test_seeding_again_publishes_nothing_new(api: Api, engine: AsyncEngine) -> None:
    before = (await api.get("/catalogue/items/market-001/versions", "operator1")).json()
    await seed(engine)
    after = (await api.get("/catalogue/items/market-001/versions", "operator1")).json()
    assert after == before
    # Other tests (the fuzzer) may leave drafts of this item; what the seed published is one version.
    assert [v["published_by"] for v in after if v["status"] == "published"] == ["seed"]
