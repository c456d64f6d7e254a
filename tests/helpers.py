"""Steps of a case, driven through the HTTP API as its users would."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable

from temporalio.client import Client

from core.form_fields import credit_code_for
from core.temporal import case_workflow_id
from core.types import Actor, Role
from scripts.seed import seed_snapshot
from tests.conftest import Api, idempotency_key
from tests.data import SIGN_ONCE
from workflows.case_messages import CaseInput

TWO_DEPARTMENTS = ("culture-001", ["C01", "C02", "C03"])


def case_input(item_code: str = "market-001", prefix: str = "TS") -> CaseInput:
    """A case as the API would start it, for tests that drive the workflow directly."""
    snapshot = seed_snapshot(item_code)
    return CaseInput(
        case_id=f"{prefix}{uuid.uuid4().hex[:12].upper()}",
        item=snapshot,
        applicant_username="applicant1",
        channel="online",
        district="chaoyang",
        materials=[m.code for m in snapshot.materials if m.required],
        submitted_by=Actor(username="applicant1", role=Role.APPLICANT),
        rating_window_days=7,
    )


async def submit(api: Api, item: tuple[str, list[str]] = SIGN_ONCE, as_: str = "applicant1", **extra) -> dict:
    code, materials = item
    body = {"item_code": code, "materials": materials, "district": "chaoyang", "form": {}}
    body.update(extra)
    r = await api.post("/cases", as_, body, headers={"Idempotency-Key": idempotency_key()})
    assert r.status_code == 201, r.text
    return r.json()


async def accept(api: Api, case_id: str) -> dict:
    r = await api.post(f"/cases/{case_id}/acceptance", "clerk1", {"decision": "accept"})
    assert r.status_code == 200, r.text
    return r.json()


async def wait_for_tasks(api: Api, case_id: str, departments: list[str]) -> dict[str, dict]:
    """The department inboxes fill asynchronously after acceptance; poll them (bounded)."""
    found: dict[str, dict] = {}
    for _ in range(200):
        for dept in departments:
            r = await api.get("/tasks", f"{dept}-staff", params={"status": "pending"})
            assert r.status_code == 200, r.text
            for task in r.json():
                if task["case_id"] == case_id:
                    found[dept] = task
        if len(found) == len(departments):
            return found
        await asyncio.sleep(0.05)
    raise AssertionError(f"tasks of {case_id} never reached {departments}: {found}")


async def complete_tasks(api: Api, case_id: str, departments: list[str]) -> None:
    tasks = await wait_for_tasks(api, case_id, departments)
    for dept, task in tasks.items():
        r = await api.post(
            f"/tasks/{task['task_id']}/complete",
            f"{dept}-staff",
            {"outcome": "pass", "opinion": "材料齐全，符合法定形式"},
        )
        assert r.status_code == 200, r.text


async def wait_for_status(api: Api, case_id: str, status: str, as_: str = "supervisor1") -> dict:
    for _ in range(200):
        r = await api.get(f"/cases/{case_id}", as_)
        assert r.status_code == 200, r.text
        if r.json()["status"] == status:
            return r.json()
        await asyncio.sleep(0.05)
    raise AssertionError(f"{case_id} never reached {status}: {r.json()['status']}")


async def sign(api: Api, case_id: str, signer: str, decision: str = "approve"):
    return await api.post(f"/cases/{case_id}/signatures", signer, {"decision": decision, "opinion": "同意"})


async def to_awaiting_signature(api: Api, item=SIGN_ONCE, departments=("market",)) -> str:
    case = await submit(api, item)
    await accept(api, case["case_id"])
    await complete_tasks(api, case["case_id"], list(departments))
    await wait_for_status(api, case["case_id"], "awaiting_signature")
    return case["case_id"]


# ---- bundles (办好一件事) -------------------------------------------------------------------

HIRING_FORM = {
    "credit_code": credit_code_for("BJ20260101000042"),
    "business_name": "北京望京科技有限公司",
    "employee_count": "12",
    "deposit_ratio": "12",
}
HIRING_MATERIALS = ["hrss-001/S01", "BUSINESS_LICENCE", "hpf-002/U01", "hpf-002/U03"]
# Who signs each item: the lead department's handler, then its chief for two signatures.
SIGNERS = {
    "market-001": ["market-handler"],
    "market-002": ["market-handler", "market-chief"],
    "police-002": ["police-handler"],
    "tax-001": ["tax-handler"],
    "hrss-001": ["hrss-handler"],
    "hpf-002": ["hpf-handler"],
    "health-002": ["health-handler", "health-chief"],
}


async def submit_bundle(api: Api, theme: str, form: dict, materials: list[str], as_: str, **extra) -> dict:
    body = {"theme_code": theme, "form": form, "materials": materials, "district": "chaoyang", **extra}
    r = await api.post("/bundles", as_, body, headers={"Idempotency-Key": idempotency_key()})
    assert r.status_code == 201, r.text
    return r.json()


async def wait_bundle(api: Api, bundle_id: str, done: Callable[[dict], bool], what: str) -> dict:
    for _ in range(600):
        r = await api.get(f"/bundles/{bundle_id}", "supervisor1")
        assert r.status_code == 200, r.text
        if done(r.json()):
            return r.json()
        await asyncio.sleep(0.05)
    raise AssertionError(f"bundle {bundle_id} never reached: {what}; it is {r.json()}")


def member(view: dict, key: str) -> dict:
    return next(m for m in view["members"] if m["key"] == key)


async def finish_member(api: Api, view: dict, key: str) -> None:
    """The departments review and sign a member's case, as they would from their inboxes."""
    m = member(view, key)
    await complete_tasks(api, m["case_id"], m["departments"])
    await wait_for_status(api, m["case_id"], "awaiting_signature")
    for signer in SIGNERS[m["item_code"]]:
        r = await sign(api, m["case_id"], signer)
        assert r.status_code == 200, r.text


async def patches_in_history(client: Client, case_id: str) -> tuple[bool, bool]:
    """Whether the case's history has a patch marker, and a TemporalChangeVersion upsert."""
    events = (await client.get_workflow_handle(case_workflow_id(case_id)).fetch_history()).events
    markers = {e.marker_recorded_event_attributes.marker_name for e in events}
    upserts = [e.upsert_workflow_search_attributes_event_attributes.search_attributes for e in events]
    upserted = {key for attributes in upserts for key in attributes.indexed_fields}
    return "core_patch" in markers, "TemporalChangeVersion" in upserted
