"""Determinism guard: every release's recorded histories must replay with the current workflow
code, in Temporal's full sandbox (README, "Changing a running workflow").

A change that would break running workflows fails here. After an intended change, versioned as
the README says, record this release's shapes with `RECORD_HISTORIES=1 make test`.
"""

from __future__ import annotations

import ast
import asyncio
import uuid
from pathlib import Path

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHandle, WorkflowHistory
from temporalio.worker import Worker

from core.temporal import bundle_workflow_id, case_workflow_id
from scripts.seed import seed_snapshot
from tests.changed_case import CaseWithAnUnversionedChange
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
from tests.replay_guard import HISTORIES, recorded, replayer, replays_and_is_recorded
from worker import RUNNER, WORKFLOWS
from workflows import versions
from workflows.case import CaseWorkflow

pytestmark = pytest.mark.asyncio(loop_scope="session")
WORKFLOW_SOURCES = Path(__file__).parent.parent / "workflows"
# The lifecycle shapes every release records (a file each in tests/histories/<release>/), by the
# test that records it.
SHAPES = {
    # here, through the REST API
    "sign_once_closed",
    "sign_twice_approved",
    "collective_approved",
    "supplemented_then_withdrawn",
    "review_paused_for_supplements",
    "rejected",
    "bad_rating_closed",
    "rectification_verified",
    "bundle_first_run",
    "bundle_rated",
    "bundle_member_closed",
    # tests/test_deadlines.py, in time-skipping
    "acceptance_overdue_withdrawn",
    "completion_warned_overdue_denied",
    "calendar_rearmed_denied",
    "completion_overdue_closed_unrated",
    "rectification_overdue_explained",
    # tests/test_update_races.py: two updates in one workflow task
    "accepted_and_moved_on_closed",
    "rated_with_delivery_closed",
    # tests/test_visits.py
    "visit_rated_bad",
    "visit_closed_unrated",
}
COLLECTIVE = "health-002"


async def test_the_replay_sandbox_catches_a_clock_read(client: Client) -> None:
    """The worker runs workflows unsandboxed: the replay test is where this rule is enforced."""
    queue, workflow_id = "clock-reader", f"clock-{uuid.uuid4()}"
    async with Worker(client, task_queue=queue, workflows=[ClockReader], workflow_runner=RUNNER):
        await client.execute_workflow(ClockReader.run, id=workflow_id, task_queue=queue)
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    result = await replayer(*WORKFLOWS, ClockReader).replay_workflow(history, raise_on_replay_failure=False)
    assert "Cannot access datetime.datetime.now" in str(result.replay_failure), result.replay_failure


async def test_the_replay_test_catches_an_unversioned_change() -> None:
    path = HISTORIES / versions.RELEASE / "sign_once_closed.json"
    history = WorkflowHistory.from_json(path.stem, path.read_text())
    others = [w for w in WORKFLOWS if w is not CaseWorkflow]
    changed = replayer(*others, CaseWithAnUnversionedChange)
    result = await changed.replay_workflow(history, raise_on_replay_failure=False)
    assert result.replay_failure is not None and "Nondeterminism" in type(result.replay_failure).__name__, (
        result.replay_failure
    )


async def test_recorded_histories_replay() -> None:
    releases = recorded()
    assert versions.RELEASE in releases, f"no histories recorded for release {versions.RELEASE}"
    for release, files in releases.items():
        for path in files:
            history = WorkflowHistory.from_json(path.stem, path.read_text())
            result = await replayer().replay_workflow(history, raise_on_replay_failure=False)
            assert result.replay_failure is None, f"{release}/{path.name}: {result.replay_failure}"


async def test_this_release_records_every_lifecycle_shape() -> None:
    names = {p.stem for p in recorded().get(versions.RELEASE, [])}
    assert SHAPES <= names, f"not recorded for {versions.RELEASE}: {sorted(SHAPES - names)}"


def _patch_ids_in_workflow_code() -> dict[str, str]:
    """Every `workflow.patched(...)` / `workflow.deprecate_patch(...)` argument: id → file."""
    found: dict[str, str] = {}
    for path in sorted(WORKFLOW_SOURCES.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                continue
            if node.func.attr not in ("patched", "deprecate_patch"):
                continue
            (arg,) = node.args
            assert isinstance(arg, ast.Constant), f"{path.name}: a patch id is written out as a string"
            found[arg.value] = path.name
    return found


async def test_every_patch_is_declared_and_its_older_runs_are_guarded() -> None:
    """A patch exists for runs started before it: its release is declared, and the histories of
    an older release (the runs that take the old path) are still recorded and replayed."""
    used = _patch_ids_in_workflow_code()
    assert set(used) == set(versions.PATCHES), (
        "workflows/versions.py PATCHES must list exactly the patch ids in use",
        sorted(used),
        sorted(versions.PATCHES),
    )
    releases = sorted(recorded())
    for patch, since in versions.PATCHES.items():
        assert since in releases, f"{patch}: release {since} has no recorded histories"
        assert releases[0] < since, f"{patch}: no histories of a release before {since} to take the old path"


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

    collective = await to_awaiting_signature(api, _collective(), departments=("health",))
    await sign(api, collective, "health-handler")
    await sign(api, collective, "health-chief")

    rejected = (await submit(api))["case_id"]
    reject = {"decision": "reject", "reason": "不属于本机关职权范围"}
    await api.post(f"/cases/{rejected}/acceptance", "clerk1", reject)
    ids = {
        "sign_once_closed": closed,
        "sign_twice_approved": twice,
        "supplemented_then_withdrawn": supplemented,
        "collective_approved": collective,
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


def _collective() -> tuple[str, list[str]]:
    """The collective-decision item with its required materials."""
    snapshot = seed_snapshot(COLLECTIVE)
    return COLLECTIVE, [m.code for m in snapshot.materials if m.required]


async def test_fresh_histories_replay(api: Api, client: Client) -> None:
    workflow_ids = await _scenarios(api)
    # A calendar change reaching a loop whose reply deadline still runs.
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
        await replays_and_is_recorded(history, name)
