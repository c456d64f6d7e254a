"""Determinism guard: recorded case histories must replay with the current workflow code.

A change that would break running cases fails here. After an intended, versioned change
(workflow.patched), record the new shapes with `RECORD_HISTORIES=1 make test`.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from pathlib import Path

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHandle, WorkflowHistory
from temporalio.worker import Replayer, Worker

from core.config import Settings
from core.temporal import bundle_workflow_id, case_workflow_id, data_converter
from tests.clock_reader import ClockReader
from tests.conftest import Api
from tests.data import SIGN_TWICE
from tests.helpers import (
    HIRING_FORM,
    HIRING_MATERIALS,
    accept,
    finish_member,
    member,
    sign,
    submit,
    submit_bundle,
    to_awaiting_signature,
    wait_bundle,
    wait_for_tasks,
)
from worker import RUNNER, WORKFLOWS

pytestmark = pytest.mark.asyncio(loop_scope="session")
HISTORIES = Path(__file__).parent / "histories"


def _replayer(*extra: type) -> Replayer:
    # The default runner: Temporal's full sandbox, unlike the worker's (worker.py). This is where a
    # clock, randomness or I/O call in workflow code fails.
    return Replayer(workflows=[*WORKFLOWS, *extra], data_converter=data_converter(Settings()))


async def test_the_replay_sandbox_catches_a_clock_read(client: Client) -> None:
    """The worker runs workflows unsandboxed: the replay test is where this rule is enforced."""
    queue, workflow_id = "clock-reader", f"clock-{uuid.uuid4()}"
    async with Worker(client, task_queue=queue, workflows=[ClockReader], workflow_runner=RUNNER):
        await client.execute_workflow(ClockReader.run, id=workflow_id, task_queue=queue)
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    result = await _replayer(ClockReader).replay_workflow(history, raise_on_replay_failure=False)
    assert "Cannot access datetime.datetime.now" in str(result.replay_failure), result.replay_failure


async def test_recorded_histories_replay() -> None:
    files = sorted(HISTORIES.glob("*.json"))
    assert len(files) >= 11, "recorded histories are missing"
    for path in files:
        history = WorkflowHistory.from_json(path.stem, path.read_text())
        result = await _replayer().replay_workflow(history, raise_on_replay_failure=False)
        assert result.replay_failure is None, f"{path.name}: {result.replay_failure}"


async def _scenarios(api: Api) -> dict[str, str]:
    """One workflow per lifecycle shape, left where each shape ends or waits: name → id."""
    closed = await to_awaiting_signature(api)
    await sign(api, closed, "market-handler")
    await api.post(f"/cases/{closed}/delivery", "clerk1", {"method": "electronic"})
    await api.post(f"/cases/{closed}/ratings", "applicant1", {"level": 5, "channel": "app"})

    twice = await to_awaiting_signature(api, SIGN_TWICE)
    await sign(api, twice, "market-handler")
    await sign(api, twice, "market-chief")
    await sign(api, twice, "market-chief")  # refused: leaves no trace in history

    supplemented = (await submit(api, SIGN_TWICE, materials=["F01"]))["case_id"]
    missing = {"decision": "supplement", "missing_materials": ["F02", "F03", "F04", "F05"]}
    await api.post(f"/cases/{supplemented}/acceptance", "clerk1", missing)
    await api.post(
        f"/cases/{supplemented}/supplements", "applicant1", {"materials": missing["missing_materials"]}
    )
    await accept(api, supplemented)
    await wait_for_tasks(api, supplemented, ["market"])
    await api.post(f"/cases/{supplemented}/withdraw", "applicant1", {"reason": "改期办理"})

    paused = (await submit(api, SIGN_TWICE))["case_id"]
    await accept(api, paused)
    await wait_for_tasks(api, paused, ["market"])
    notice = {"missing_materials": ["F03"], "reason": "设备布局图不清晰"}
    await api.post(f"/cases/{paused}/supplement-requests", "market-staff", notice)
    await api.post(f"/cases/{paused}/supplements", "applicant1", {"materials": ["F03"]})

    rated_bad = await to_awaiting_signature(api)
    await sign(api, rated_bad, "market-handler")
    await api.post(f"/cases/{rated_bad}/delivery", "clerk1", {"method": "electronic"})
    await api.post(f"/cases/{rated_bad}/ratings", "applicant1", {"level": 1, "channel": "app"})
    await _wait_for_loop(api, rated_bad)
    rid = f"R{rated_bad}"
    await api.post(
        f"/rectifications/{rid}/verification", "market-staff", {"reasonable": True, "finding": "属实"}
    )

    rejected = (await submit(api))["case_id"]
    reject = {"decision": "reject", "reason": "不属于本机关职权范围"}
    await api.post(f"/cases/{rejected}/acceptance", "clerk1", reject)
    ids = {
        "sign_once_closed": closed,
        "sign_twice_approved": twice,
        "supplemented_then_withdrawn": supplemented,
        "rejected": rejected,
        "review_paused_for_supplements": paused,
        "bad_rating_closed": rated_bad,
    }
    workflow_ids = {name: case_workflow_id(case_id) for name, case_id in ids.items()}
    workflow_ids["rectification_verified"] = f"rectification-{rid}"
    bundle_id, member_case = await _bundle_scenario(api)
    workflow_ids["bundle_rated"] = bundle_workflow_id(bundle_id)
    workflow_ids["bundle_member_closed"] = case_workflow_id(member_case)
    return workflow_ids


async def _bundle_scenario(api: Api) -> tuple[str, str]:
    """A bundle through one supplement notice, acceptance, review, one delivery and one rating;
    under the tests' low history limit its last run starts after a continue-as-new."""
    bundle_id = (await submit_bundle(api, "hiring", HIRING_FORM, HIRING_MATERIALS, "applicant2"))["bundle_id"]
    keys = ("social_insurance", "housing_fund")
    view = await wait_bundle(
        api, bundle_id, lambda v: all(member(v, k)["case_status"] == "submitted" for k in keys), "started"
    )
    notice = {"missing_materials": ["BUSINESS_LICENCE"], "reason": "营业执照复印件不清晰"}
    await api.post(f"/bundles/{bundle_id}/supplement-requests", "clerk1", notice)
    await api.post(f"/bundles/{bundle_id}/supplements", "applicant2", {"materials": ["BUSINESS_LICENCE"]})
    await api.post(f"/bundles/{bundle_id}/acceptance", "clerk1")
    await asyncio.gather(*(finish_member(api, view, k) for k in keys))
    await wait_bundle(api, bundle_id, lambda v: v["status"] == "ready", "ready")
    await api.post(f"/bundles/{bundle_id}/delivery", "clerk1", {"method": "electronic"})
    await api.post(f"/bundles/{bundle_id}/ratings", "applicant2", {"level": 5, "channel": "app"})
    await wait_bundle(api, bundle_id, lambda v: v["status"] == "closed", "closed")
    return bundle_id, member(view, "housing_fund")["case_id"]


async def _wait_for_loop(api: Api, case_id: str) -> None:
    for _ in range(200):
        if (await api.get("/rectifications", "supervisor1", params={"case_id": case_id})).json():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("no rectification opened")


async def _signal_and_wait(handle: WorkflowHandle) -> None:
    """Send `calendar_changed` and wait until the workflow has acted on it (its recompute marker)."""
    await handle.signal("calendar_changed")
    for _ in range(200):
        types = [e.event_type for e in (await handle.fetch_history()).events]
        signalled = types.index(EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED)
        if EventType.EVENT_TYPE_MARKER_RECORDED in types[signalled:]:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the rectification did not act on calendar_changed")


async def test_fresh_histories_replay(api: Api, client: Client) -> None:
    workflow_ids = await _scenarios(api)
    # A calendar change reaching a loop whose reply deadline still runs (rectification-calendar-v1).
    await _signal_and_wait(client.get_workflow_handle(workflow_ids["rectification_verified"]))
    histories = {
        name: await client.get_workflow_handle(workflow_id).fetch_history()
        for name, workflow_id in workflow_ids.items()
    }
    # A bundle's first run too: children started, commands sent, then continued as new.
    bundle = await client.get_workflow_handle(workflow_ids["bundle_rated"]).describe()
    first_run = bundle.raw_description.workflow_execution_info.first_run_id
    first = client.get_workflow_handle(workflow_ids["bundle_rated"], run_id=first_run)
    histories["bundle_first_run"] = await first.fetch_history()
    for name, history in histories.items():
        result = await _replayer().replay_workflow(history, raise_on_replay_failure=False)
        assert result.replay_failure is None, f"{name}: {result.replay_failure}"
    # Adds the shapes not yet recorded; earlier recordings stay, since they guard the cases
    # started under older code (RECORD_HISTORIES=overwrite replaces them all).
    mode = os.environ.get("RECORD_HISTORIES")
    if mode in ("1", "overwrite"):
        HISTORIES.mkdir(exist_ok=True)
        for name, history in histories.items():
            path = HISTORIES / f"{name}.json"
            if mode == "overwrite" or not path.exists():
                path.write_text(history.to_json())
