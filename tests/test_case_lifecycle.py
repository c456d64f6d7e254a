"""A case from submission to rating, through HTTP, the Temporal dev server and PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import datetime

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import Client

from core.calendar import load_calendar
from core.models import Submission
from core.temporal import case_workflow_id
from tests.conftest import Api, idempotency_key
from tests.data import SIGN_ONCE, SIGN_ONCE_EVENTS, SIGN_TWICE
from tests.helpers import (
    TWO_DEPARTMENTS,
    accept,
    complete_tasks,
    patches_in_history,
    sign,
    submit,
    to_awaiting_signature,
    wait_for_status,
    wait_for_tasks,
)
from workflows.case import CaseWorkflow

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_sign_once_case_from_submission_to_rating(api: Api, client: Client) -> None:
    case = await submit(api, SIGN_ONCE)
    case_id = case["case_id"]
    assert case["status"] == "submitted"
    assert case["acceptance_deadline"].endswith("23:59:59+08:00")

    accepted = await accept(api, case_id)
    assert accepted["status"] == "under_review"
    assert accepted["completion_deadline"] is not None
    await complete_tasks(api, case_id, ["market"])
    await wait_for_status(api, case_id, "awaiting_signature")

    signed = await sign(api, case_id, "market-handler")
    assert signed.status_code == 200, signed.text
    assert signed.json()["status"] == "approved"

    r = await api.post(f"/cases/{case_id}/delivery", "clerk1", {"method": "electronic"})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "delivered"

    r = await api.post(f"/cases/{case_id}/ratings", "applicant1", {"level": 5, "channel": "app"})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "closed"

    view = (await api.get(f"/cases/{case_id}", "applicant1")).json()
    events = [e["event"] for e in view["timeline"]]
    assert events == SIGN_ONCE_EVENTS
    assert [e["seq"] for e in view["timeline"]] == list(range(1, len(events) + 1))
    assert all(e["at"].endswith("+08:00") for e in view["timeline"])  # Beijing time
    assert "北京市市场监督管理局审查通过" in view["timeline"][2]["message"]
    assert view["signatures"][0]["signer"] == "market-handler"
    assert view["rating_level"] == 5

    notices = (await api.get("/notifications", "applicant1", params={"limit": 200})).json()
    mine = [n for n in notices if n["case_id"] == case_id]
    assert len(mine) == 4  # submitted, accepted, decided, delivered: each once
    assert len({n["notification_id"] for n in mine}) == len(mine)

    handle = client.get_workflow_handle_for(CaseWorkflow.run, case_workflow_id(case_id))
    assert (await handle.result()).status == "closed"
    await _assert_visible_in_temporal(client, case_id)


async def _assert_visible_in_temporal(client: Client, case_id: str) -> None:
    query = 'CaseStatus = "closed" AND ItemCode = "market-001" AND District = "chaoyang"'
    for _ in range(100):  # visibility is eventually consistent
        ids = [wf.id async for wf in client.list_workflows(query)]
        if case_workflow_id(case_id) in ids:
            return
        await asyncio.sleep(0.1)
    raise AssertionError("closed case not found by its search attributes")


async def test_a_case_records_no_version_marker(api: Api, client: Client) -> None:
    """One code path per workflow: a case's history holds no patch marker, and no
    TemporalChangeVersion upsert (a visibility write each)."""
    case_id = (await submit(api))["case_id"]
    await accept(api, case_id)
    assert await patches_in_history(client, case_id) == (False, False)


async def test_sign_twice_takes_handler_then_chief_and_refuses_a_third(api: Api) -> None:
    case_id = await to_awaiting_signature(api, SIGN_TWICE)

    chief_first = await sign(api, case_id, "market-chief")
    assert chief_first.status_code == 409
    assert chief_first.json()["code"] == "wrong_signer"

    first = await sign(api, case_id, "market-handler")
    assert first.status_code == 200, first.text
    assert first.json()["status"] == "awaiting_signature"
    second = await sign(api, case_id, "market-chief")
    assert second.status_code == 200, second.text
    assert second.json()["status"] == "approved"
    assert [s["role"] for s in second.json()["signatures"]] == ["handler", "chief"]

    third = await sign(api, case_id, "market-chief")
    assert third.status_code == 409
    assert third.json()["code"] == "signature_limit_reached"
    assert "最多签2次" in third.json()["message"]
    view = (await api.get(f"/cases/{case_id}", "market-chief")).json()
    assert len(view["signatures"]) == 2


async def test_departments_review_in_parallel_and_only_the_lead_signs(api: Api) -> None:
    case = await submit(api, TWO_DEPARTMENTS)
    await accept(api, case["case_id"])
    tasks = await wait_for_tasks(api, case["case_id"], ["culture", "police"])
    assert {t["department"] for t in tasks.values()} == {"culture", "police"}
    await complete_tasks(api, case["case_id"], ["culture", "police"])
    await wait_for_status(api, case["case_id"], "awaiting_signature")

    police = await sign(api, case["case_id"], "police-handler")
    assert police.status_code == 403
    assert police.json()["code"] == "wrong_department"


async def test_a_scope_read_once_still_refuses_everyone_outside_it(api: Api) -> None:
    """The API keeps a case's scope after its first read (it never changes): later actions skip
    the query, but not the check."""
    case_id = (await submit(api, SIGN_TWICE, materials=["F01", "F02", "F05"]))["case_id"]
    await accept(api, case_id)  # reads the scope, and keeps it
    refused = {
        "applicant2": ("withdraw", {}, "case_forbidden"),  # not the applicant
        "clerk2": ("withdraw", {}, "case_forbidden"),  # a haidian clerk, a chaoyang case
        "tax-staff": ("supplement-requests", {"missing_materials": ["F02"], "reason": "x"}, "case_forbidden"),
    }
    for caller, (action, body, code) in refused.items():
        r = await api.post(f"/cases/{case_id}/{action}", caller, body)
        assert (r.status_code, r.json()["code"]) == (403, code), caller
    owner = await api.post(f"/cases/{case_id}/withdraw", "applicant1", {"reason": "不办了"})
    assert owner.status_code == 200, owner.text
    assert owner.json()["status"] == "withdrawn"


async def test_supplements_are_requested_once_and_must_all_arrive(api: Api) -> None:
    case = await submit(api, SIGN_TWICE, materials=["F01", "F02", "F05"])
    case_id = case["case_id"]
    r = await api.post(
        f"/cases/{case_id}/acceptance",
        "clerk1",
        {"decision": "supplement", "missing_materials": ["F03", "F04"], "reason": "材料不全"},
    )
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "supplement_requested"
    notice = r.json()["timeline"] or (await api.get(f"/cases/{case_id}", "applicant1")).json()["timeline"]
    message = [e for e in notice if e["event"] == "supplement_requested"][0]["message"]
    assert "主要设备设施布局" in message and "食品安全管理制度" in message

    partial = await api.post(f"/cases/{case_id}/supplements", "applicant1", {"materials": ["F03"]})
    assert partial.status_code == 422
    assert partial.json()["code"] == "missing_materials_required"

    full = await api.post(f"/cases/{case_id}/supplements", "applicant1", {"materials": ["F03", "F04"]})
    assert full.status_code == 200, full.text
    body = full.json()
    assert body["status"] == "submitted"
    assert set(body["materials"]) == {"F01", "F02", "F03", "F04", "F05"}
    assert body["acceptance_deadline"] >= case["acceptance_deadline"]

    accepted = await accept(api, case_id)
    assert accepted["status"] == "under_review"


async def test_supplement_request_may_name_only_listed_materials(api: Api) -> None:
    case = await submit(api, SIGN_ONCE)
    r = await api.post(
        f"/cases/{case['case_id']}/acceptance",
        "clerk1",
        {"decision": "supplement", "missing_materials": ["X99"]},
    )
    assert r.status_code == 422
    assert r.json()["code"] == "unlisted_material"
    view = (await api.get(f"/cases/{case['case_id']}", "clerk1")).json()
    assert view["status"] == "submitted"


async def test_rejection_needs_a_reason_and_ends_the_case(api: Api, client: Client) -> None:
    case = await submit(api, SIGN_ONCE)
    case_id = case["case_id"]
    no_reason = await api.post(f"/cases/{case_id}/acceptance", "clerk1", {"decision": "reject"})
    assert no_reason.status_code == 422
    assert no_reason.json()["code"] == "validation_error"

    r = await api.post(
        f"/cases/{case_id}/acceptance",
        "clerk1",
        {"decision": "reject", "reason": "申请事项不属于本机关职权范围"},
    )
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "rejected"
    await client.get_workflow_handle(case_workflow_id(case_id)).result()

    again = await accept_raw(api, case_id)
    assert again.status_code == 409
    assert again.json()["code"] == "invalid_state"


async def accept_raw(api: Api, case_id: str):
    return await api.post(f"/cases/{case_id}/acceptance", "clerk1", {"decision": "accept"})


async def test_withdrawal_during_review_cancels_department_tasks(api: Api) -> None:
    case = await submit(api, SIGN_ONCE)
    case_id = case["case_id"]
    await accept(api, case_id)
    task = (await wait_for_tasks(api, case_id, ["market"]))["market"]

    r = await api.post(f"/cases/{case_id}/withdraw", "applicant1", {"reason": "不再需要"})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "withdrawn"

    for _ in range(100):
        tasks = (await api.get("/tasks", "market-staff", params={"status": "cancelled"})).json()
        if any(t["task_id"] == task["task_id"] for t in tasks):
            break
        await asyncio.sleep(0.05)
    else:
        raise AssertionError("the withdrawn case's task was not cancelled")
    late = await api.post(f"/tasks/{task['task_id']}/complete", "market-staff", {"outcome": "pass"})
    assert late.status_code == 409
    again = await api.post(f"/cases/{case_id}/withdraw", "applicant1", {})
    assert again.status_code == 409


async def test_a_task_completes_once_and_only_by_its_department(api: Api) -> None:
    case = await submit(api, SIGN_ONCE)
    await accept(api, case["case_id"])
    task = (await wait_for_tasks(api, case["case_id"], ["market"]))["market"]
    path = f"/tasks/{task['task_id']}/complete"

    other = await api.post(path, "tax-staff", {"outcome": "pass"})
    assert other.status_code == 403
    assert other.json()["code"] == "wrong_department"

    first, second = await asyncio.gather(
        api.post(path, "market-staff", {"outcome": "pass", "opinion": "同意"}),
        api.post(path, "market-staff", {"outcome": "fail", "opinion": "不同意"}),
    )
    assert sorted([first.status_code, second.status_code]) == [200, 409]
    await wait_for_status(api, case["case_id"], "awaiting_signature")
    view = (await api.get(f"/cases/{case['case_id']}", "market-staff")).json()
    assert len([e for e in view["timeline"] if e["event"] == "task_completed"]) == 1


async def test_unlisted_material_is_refused_and_creates_nothing(api: Api) -> None:
    before = (await api.get("/cases", "applicant2")).json()["total"]
    r = await api.post(
        "/cases",
        "applicant2",
        {"item_code": "market-001", "materials": ["M01", "Z42"], "district": "haidian"},
    )
    assert r.status_code == 422
    assert r.json()["code"] == "unlisted_material"
    assert r.json()["detail"]["unlisted"] == ["Z42"]
    assert "不在本事项办事指南所列范围内" in r.json()["message"]
    assert (await api.get("/cases", "applicant2")).json()["total"] == before


async def test_submission_is_idempotent_under_retries_and_double_clicks(api: Api) -> None:
    body = {"item_code": "hpf-001", "materials": ["G01", "G02"], "district": "haidian"}
    headers = {"Idempotency-Key": "double-click-1"}
    before = (await api.get("/cases", "applicant2")).json()["total"]
    results = await asyncio.gather(
        *[api.post("/cases", "applicant2", body, headers=headers) for _ in range(3)]
    )
    assert [r.status_code for r in results] == [201, 201, 201], [r.text for r in results]
    assert len({r.json()["case_id"] for r in results}) == 1
    retry = await api.post("/cases", "applicant2", body, headers=headers)
    assert retry.json()["case_id"] == results[0].json()["case_id"]
    assert (await api.get("/cases", "applicant2")).json()["total"] == before + 1

    changed = await api.post("/cases", "applicant2", {**body, "materials": ["G01"]}, headers=headers)
    assert changed.status_code == 422
    assert changed.json()["code"] == "idempotency_key_reused"


async def test_rating_once_per_matter(api: Api) -> None:
    case_id = await to_awaiting_signature(api)
    await sign(api, case_id, "market-handler")
    early = await api.post(f"/cases/{case_id}/ratings", "applicant1", {"level": 4, "channel": "website"})
    assert early.status_code == 409
    await api.post(f"/cases/{case_id}/delivery", "clerk1", {"method": "window_pickup"})
    first = await api.post(f"/cases/{case_id}/ratings", "applicant1", {"level": 2, "channel": "website"})
    assert first.status_code == 200, first.text
    second = await api.post(f"/cases/{case_id}/ratings", "applicant1", {"level": 5, "channel": "website"})
    assert second.status_code == 409
    assert second.json()["code"] == "already_rated"


async def test_denied_case_is_delivered_by_mail_with_an_address(api: Api) -> None:
    case_id = await to_awaiting_signature(api)
    denied = await sign(api, case_id, "market-handler", decision="deny")
    assert denied.json()["status"] == "denied"
    no_address = await api.post(f"/cases/{case_id}/delivery", "clerk1", {"method": "mail"})
    assert no_address.status_code == 422
    assert no_address.json()["code"] == "address_required"
    r = await api.post(
        f"/cases/{case_id}/delivery",
        "clerk1",
        {"method": "mail", "address": "北京市朝阳区某某路1号"},
    )
    assert r.status_code == 200, r.text
    assert r.json()["delivery_method"] == "mail"


async def test_scopes_applicants_see_only_their_own_cases(api: Api) -> None:
    case = await submit(api, SIGN_ONCE, as_="applicant1")
    case_id = case["case_id"]
    assert (await api.get(f"/cases/{case_id}", "applicant2")).status_code == 403
    assert (await api.get(f"/cases/{case_id}")).status_code == 401
    assert (await api.get(f"/cases/{case_id}", "tax-staff")).status_code == 403
    assert (await api.get(f"/cases/{case_id}", "market-staff")).status_code == 200

    listed = (await api.get("/cases", "applicant2", params={"limit": 100})).json()["items"]
    assert all(c["applicant_username"] == "applicant2" for c in listed)
    mine = (await api.get("/cases", "applicant1", params={"item_code": "market-001"})).json()
    assert case_id in [c["case_id"] for c in mine["items"]]

    clerk_accepts = await api.post(f"/cases/{case_id}/acceptance", "applicant1", {"decision": "accept"})
    assert clerk_accepts.status_code == 403
    assert (await api.post(f"/cases/{case_id}/withdraw", "applicant2", {})).status_code == 403


async def test_list_filters_and_paging(api: Api) -> None:
    case = await submit(api, SIGN_ONCE)
    page = await api.get(
        "/cases",
        "supervisor1",
        params={"status": "submitted", "department": "market", "overdue": "false", "limit": 2},
    )
    assert page.status_code == 200
    body = page.json()
    assert body["limit"] == 2 and len(body["items"]) <= 2
    assert all(c["status"] == "submitted" for c in body["items"])
    assert body["items"][0]["case_id"] == case["case_id"]  # newest first
    bad = await api.get("/cases", "supervisor1", params={"status": "nonsense"})
    assert bad.status_code == 422
    assert bad.json()["code"] == "validation_error"


async def test_clerk_submits_for_a_walk_in_applicant(api: Api, client: Client) -> None:
    r = await api.post(
        "/cases",
        "clerk1",
        {
            "item_code": "hrss-001",
            "materials": ["S01", "S02"],
            "district": "chaoyang",
            "applicant": {"name": "王小明", "id_number": "110105199001011232", "phone": "13800000000"},
        },
    )
    assert r.status_code == 201, r.text
    assert r.json()["channel"] == "window"
    assert r.json()["applicant_username"] is None
    # Personal data stays in PostgreSQL: none of it reaches the Temporal history.
    history = await client.get_workflow_handle(case_workflow_id(r.json()["case_id"])).fetch_history()
    raw = b"".join(event.SerializeToString() for event in history.events)
    assert b"hrss-001" in raw  # payloads are stored as plain JSON bytes, so a search finds them
    for secret in ("110105199001011232", "13800000000", "王小明"):
        assert secret.encode() not in raw
        assert secret.encode("unicode_escape") not in raw
    elsewhere = await api.post(
        "/cases",
        "clerk1",
        {"item_code": "hrss-001", "district": "haidian", "applicant": {"name": "王小明"}},
    )
    assert elsewhere.status_code == 403


async def test_retry_after_the_case_has_ended_returns_it_unchanged(api: Api) -> None:
    body = {"item_code": "tax-001", "materials": ["T01", "T02"], "district": "chaoyang"}
    headers = {"Idempotency-Key": "retry-after-end"}
    first = await api.post("/cases", "applicant1", body, headers=headers)
    case_id = first.json()["case_id"]
    reject = {"decision": "reject", "reason": "重复申请"}
    assert (await api.post(f"/cases/{case_id}/acceptance", "clerk1", reject)).status_code == 200
    await wait_for_status(api, case_id, "rejected")
    for _ in range(3):  # the workflow may still be finishing; every answer must be the same case
        retry = await api.post("/cases", "applicant1", body, headers=headers)
        assert retry.status_code == 201, retry.text
        assert retry.json()["case_id"] == case_id
        assert retry.json()["status"] == "rejected"
        await asyncio.sleep(0.2)


async def test_acceptance_is_due_one_working_day_after_receipt(api: Api, engine: AsyncEngine) -> None:
    """The clock starts when the platform received the case (the submission row), and a retry
    of the same submission does not restart it."""
    body = {"item_code": "market-001", "materials": ["M01", "M02", "M03"], "district": "chaoyang"}
    headers = {"Idempotency-Key": idempotency_key()}
    first = await api.post("/cases", "applicant1", body, headers=headers)
    assert first.status_code == 201, first.text
    case = first.json()
    async with engine.connect() as conn:
        query = select(Submission.created_at).where(Submission.case_id == case["case_id"])
        received = (await conn.execute(query)).scalar_one()
    assert datetime.fromisoformat(case["submitted_at"]) == received
    due = (await load_calendar(engine)).add_working_days(received, 1).at
    assert datetime.fromisoformat(case["acceptance_deadline"]) == due

    retry = await api.post("/cases", "applicant1", body, headers=headers)
    assert retry.status_code == 201, retry.text
    assert (retry.json()["submitted_at"], retry.json()["acceptance_deadline"]) == (
        case["submitted_at"],
        case["acceptance_deadline"],
    )


async def test_completion_is_due_its_time_limit_after_acceptance(
    api: Api, client: Client, engine: AsyncEngine
) -> None:
    """The API counts 办结时限 from when it received the acceptance; the case takes that deadline
    as it is, with no activity of its own (one local activity in that task: the record)."""
    case_id = (await submit(api, SIGN_TWICE))["case_id"]
    accepted = await accept(api, case_id)
    days, at = accepted["time_limit_days"], datetime.fromisoformat(accepted["accepted_at"])
    assert days >= 1
    due = (await load_calendar(engine)).add_working_days(at, days).at
    assert datetime.fromisoformat(accepted["completion_deadline"]) == due

    events = (await client.get_workflow_handle(case_workflow_id(case_id)).fetch_history()).events
    kinds = [e.WhichOneof("attributes").removesuffix("_event_attributes") for e in events]
    updates = [i for i, kind in enumerate(kinds) if kind == "workflow_execution_update_accepted"]
    acceptance = kinds[updates[1] :]  # registration was the first update
    done = acceptance.index("workflow_execution_update_completed")
    assert acceptance[:done].count("marker_recorded") == 1, acceptance[:done]
