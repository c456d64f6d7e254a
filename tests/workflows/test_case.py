"""The case workflow (办件) branch by branch, in the time-skipping test server with its activities
faked (tests/workflows/fakes.py): what it answers, what its view shows, what it refuses, and what
the read model would have been handed."""

from __future__ import annotations

from datetime import timedelta

import pytest
from temporalio.client import WithStartWorkflowOperation, WorkflowHandle
from temporalio.common import WorkflowIDConflictPolicy

from core import search_attributes as sa
from core.catalogue import SignatureMode
from core.temporal import case_workflow_id
from core.types import CaseErrorCode
from tests.workflows.fakes import (
    APPLICANT,
    CLERK,
    Harness,
    chief,
    day_of,
    end_of,
    handler,
    item,
    refused,
    staff,
    start_of,
    unique,
    until,
)
from workflows.calendar_messages import DeadlineSpec
from workflows.case import CaseWorkflow
from workflows.case_messages import (
    SUPERVISOR_INBOX,
    AcceptanceDecision,
    AcceptanceRequest,
    CaseInput,
    CaseView,
    DeliveryMethod,
    DeliveryRequest,
    RatingRequest,
    SignatureRequest,
    SignDecision,
    SupplementNotice,
    SupplementRequest,
    TaskCompletion,
    TaskOutcome,
    WithdrawRequest,
    department_inbox,
)
from workflows.rating_messages import RatingChannel
from workflows.rectification import RectificationWorkflow

pytestmark = pytest.mark.asyncio(loop_scope="session")

ONCE = item(
    "t-once", {"market": "市场监管局"}, {"M01": "申请书", "M02": "身份证明", "M03": "场所证明"}, days=3
)
TWICE = item(
    "t-twice",
    {"culture": "文化和旅游局", "fire": "消防救援支队"},
    {"C01": "申请书", "C02": "场所平面图", "C03": "消防验收意见"},
    mode=SignatureMode.SIGN_TWICE,
    days=5,
    result_name="许可证",
)
C = CaseWorkflow
E = CaseErrorCode


def case_input(snapshot=ONCE, **kw) -> CaseInput:
    return CaseInput(
        case_id=unique("FC"),
        item=snapshot,
        applicant_username=APPLICANT.username,
        channel="online",
        district="chaoyang",
        materials=[m.code for m in snapshot.materials],
        submitted_by=APPLICANT,
        **kw,
    )


async def start(h: Harness, snapshot=ONCE, **kw) -> tuple[CaseInput, WorkflowHandle]:
    inp = case_input(snapshot, **kw)
    handle = await h.start(
        C.run, inp, case_workflow_id(inp.case_id), search_attributes=sa.case_attributes(inp)
    )
    await handle.execute_update(C.registered)
    return inp, handle


async def accept(handle: WorkflowHandle, **kw) -> CaseView:
    req = AcceptanceRequest(actor=CLERK, decision=AcceptanceDecision.ACCEPT, **kw)
    return await handle.execute_update(C.decide_acceptance, req)


def result(department: str, task_id: str, outcome=TaskOutcome.PASS, opinion="材料齐全") -> TaskCompletion:
    return TaskCompletion(actor=staff(department), task_id=task_id, outcome=outcome, opinion=opinion)


async def review(handle: WorkflowHandle, view: CaseView) -> CaseView:
    for task in view.tasks:
        view = await handle.execute_update(C.complete_task, result(task.department, task.task_id))
    return view


def signature(actor, decision=SignDecision.APPROVE) -> SignatureRequest:
    return SignatureRequest(actor=actor, decision=decision, opinion="同意")


def rating(level: int) -> RatingRequest:
    return RatingRequest(actor=APPLICANT, level=level, channel=RatingChannel.WEBSITE)


async def delivered(h: Harness) -> tuple[CaseInput, WorkflowHandle, CaseView]:
    """A sign-once case accepted, reviewed, approved and delivered."""
    inp, handle = await start(h)
    await review(handle, await accept(handle))
    await handle.execute_update(C.sign, signature(handler("market")))
    view = await handle.execute_update(C.deliver, DeliveryRequest(actor=CLERK, method=DeliveryMethod.MAIL))
    return inp, handle, view


async def test_two_departments_two_signatures_delivery_and_a_good_rating(harness: Harness) -> None:
    h = harness
    inp, case = await start(h, TWICE)
    (registered,) = h.fakes.case_records(inp.case_id)
    submitted = registered.view.submitted_at
    assert registered.view.acceptance_deadline == end_of(day_of(submitted) + timedelta(days=1))
    assert [n.recipient for n in registered.notifications] == [APPLICANT.username]

    view = await accept(case)
    assert view.status == "under_review"
    assert view.completion_deadline == end_of(day_of(view.accepted_at) + timedelta(days=5))
    opened = h.fakes.case_records(inp.case_id)[-1].open_tasks  # the inboxes, with the acceptance
    assert [(t.task_id, t.department) for t in opened] == [
        (f"{inp.case_id}-T1", "culture"),
        (f"{inp.case_id}-T2", "fire"),
    ]
    t1, t2 = (t.task_id for t in opened)
    assert await refused(case.execute_update(C.complete_task, result("fire", t1))) == E.WRONG_DEPARTMENT
    assert await refused(case.execute_update(C.complete_task, result("fire", "nope"))) == E.TASK_NOT_OPEN
    assert await refused(case.execute_update(C.sign, signature(handler("culture")))) == E.INVALID_STATE

    # The departments answer in either order; the last result finishes the review in its write.
    view = await case.execute_update(C.complete_task, result("fire", t2))
    assert view.status == "under_review"
    view = await case.execute_update(C.complete_task, result("culture", t1))
    assert view.status == "awaiting_signature"
    assert [e.event for e in h.fakes.case_records(inp.case_id)[-1].events] == [
        "task_completed",
        "review_finished",
    ]

    # Two signatures: the handler, then the chief representative; never a third.
    assert await refused(case.execute_update(C.sign, signature(chief("culture")))) == E.WRONG_SIGNER
    assert await refused(case.execute_update(C.sign, signature(handler("fire")))) == E.WRONG_DEPARTMENT
    view = await case.execute_update(C.sign, signature(handler("culture")))
    assert view.status == "awaiting_signature" and len(view.signatures) == 1
    assert await refused(case.execute_update(C.sign, signature(handler("culture")))) == E.WRONG_SIGNER
    view = await case.execute_update(C.sign, signature(chief("culture")))
    assert view.status == "approved" and view.result_number == f"T-TWICE-{inp.case_id}"
    assert [s.role for s in view.signatures] == ["handler", "chief"]
    assert await refused(case.execute_update(C.sign, signature(chief("culture")))) == E.SIGNATURE_LIMIT
    withdrawal = WithdrawRequest(actor=APPLICANT, reason="不办了")
    assert await refused(case.execute_update(C.withdraw, withdrawal)) == E.INVALID_STATE
    assert await refused(case.execute_update(C.rate, rating(5))) == E.INVALID_STATE

    delivery = DeliveryRequest(actor=CLERK, method=DeliveryMethod.ELECTRONIC)
    view = await case.execute_update(C.deliver, delivery)
    assert view.status == "delivered" and view.delivery_method == "electronic"
    assert await refused(case.execute_update(C.deliver, delivery)) == E.INVALID_STATE
    view = await case.execute_update(C.rate, rating(5))
    assert view.status == "closed" and view.rating_level == 5

    final = await case.result()
    assert final.status == "closed"
    assert h.fakes.events(inp.case_id) == [
        "submitted",
        "accepted",
        "task_completed",
        "task_completed",
        "review_finished",
        "signed",
        "signed",
        "decided",
        "delivered",
        "rated",
        "closed",
    ]
    (rated,) = [r.rating for r in h.fakes.case_records(inp.case_id) if r.rating]
    assert (rated.rating_id, rated.level, rated.rater) == (f"{inp.case_id}:matter", 5, APPLICANT.username)
    assert rated.departments == ["culture", "fire"] and rated.clerk == CLERK.username
    assert h.fakes.escalations == [] and h.fakes.rectifications == []
    told = [n.message for n in h.fakes.notices(inp.case_id, APPLICANT.username)]
    assert len(told) == 4 and "准予许可" in told[2] and "欢迎评价" in told[3]


async def test_a_bad_rating_opens_a_rectification_child(harness: Harness) -> None:
    h = harness
    inp, case, _ = await delivered(h)
    view = await case.execute_update(C.rate, rating(1))
    assert view.status == "closed" and view.rating_level == 1
    assert h.fakes.events(inp.case_id)[-3:] == ["rated", "closed", "rectification_opened"]
    rid = f"R{inp.case_id}"
    (opened, *_) = await until(lambda: h.fakes.loops(rid), "the rectification recorded")
    loop = opened.view
    assert (loop.case_id, loop.department, loop.level, loop.rater) == (inp.case_id, "market", 1, "applicant1")
    assert loop.status == "verifying" and loop.source == "rating"
    assert loop.deadline == end_of(day_of(loop.opened_at) + timedelta(days=7))
    child = h.client.get_workflow_handle_for(RectificationWorkflow.run, f"rectification-{rid}")
    assert (await child.query(RectificationWorkflow.view)).status == "verifying"
    assert (await case.result()).status == "closed"  # the child outlives its case


async def test_a_rejection_needs_a_reason_and_ends_the_case(harness: Harness) -> None:
    h = harness
    inp, case = await start(h)

    def reject(reason: str) -> AcceptanceRequest:
        return AcceptanceRequest(actor=CLERK, decision=AcceptanceDecision.REJECT, reason=reason)

    assert await refused(case.execute_update(C.decide_acceptance, reject("  "))) == E.INVALID_STATE
    view = await case.execute_update(C.decide_acceptance, reject("不属于本部门职权范围"))
    assert view.status == "rejected" and view.decision_reason == "不属于本部门职权范围"
    final = await case.result()
    assert final.status == "rejected" and final.tasks == []
    assert h.fakes.events(inp.case_id) == ["submitted", "rejected"]
    assert "不予受理" in h.fakes.notices(inp.case_id, APPLICANT.username)[-1].message


async def test_supplement_at_acceptance_one_notice_then_accepted(harness: Harness) -> None:
    h = harness
    inp, case = await start(h)

    def ask(codes: list[str]) -> AcceptanceRequest:
        decision = AcceptanceDecision.SUPPLEMENT
        return AcceptanceRequest(actor=CLERK, decision=decision, missing_materials=codes, reason="缺件")

    assert await refused(case.execute_update(C.decide_acceptance, ask([]))) == E.MISSING_MATERIALS
    assert await refused(case.execute_update(C.decide_acceptance, ask(["M02", "X9"]))) == E.UNLISTED_MATERIAL
    view = await case.execute_update(C.decide_acceptance, ask(["M02", "M03"]))
    assert view.status == "supplement_requested" and view.missing_materials == ["M02", "M03"]
    record = h.fakes.case_records(inp.case_id)[-1]
    (event,) = record.events
    assert event.event == "supplement_requested"
    assert event.detail == {"missing_materials": ["M02", "M03"], "reason": "缺件"}
    (notice,) = record.notifications  # 一次性告知: one notice naming everything missing
    assert notice.recipient == APPLICANT.username and "身份证明、场所证明" in notice.message
    assert await refused(accept(case)) == E.INVALID_STATE

    def supply(codes: list[str]) -> SupplementRequest:
        return SupplementRequest(actor=APPLICANT, materials=codes)

    assert await refused(case.execute_update(C.supply_materials, supply(["M02"]))) == E.MISSING_MATERIALS
    unlisted = supply(["M02", "M03", "X9"])
    assert await refused(case.execute_update(C.supply_materials, unlisted)) == E.UNLISTED_MATERIAL

    # No acceptance clock runs while the applicant supplies; supplying restarts it.
    await h.env.sleep(timedelta(days=3))
    view = await case.execute_update(C.supply_materials, supply(["M02", "M03"]))
    supplied = await h.now()
    assert view.status == "submitted" and view.missing_materials == [] and not view.overdue
    assert view.acceptance_deadline == end_of(day_of(supplied) + timedelta(days=1))
    view = await accept(case)
    assert view.status == "under_review"
    assert h.fakes.events(inp.case_id) == ["submitted", "supplement_requested", "supplemented", "accepted"]
    assert h.fakes.escalations == []


async def test_a_review_supplement_pauses_the_completion_clock(harness: Harness) -> None:
    h = harness
    await h.skip_to_noon()
    inp, case = await start(h)
    view = await accept(case)
    old = view.completion_deadline
    await h.env.sleep(timedelta(days=1))

    def notice(codes: list[str]) -> SupplementNotice:
        return SupplementNotice(actor=handler("market"), missing_materials=codes, reason="场所证明过期")

    assert await refused(case.execute_update(C.request_supplement, notice([]))) == E.MISSING_MATERIALS
    assert await refused(case.execute_update(C.request_supplement, notice(["X9"]))) == E.UNLISTED_MATERIAL
    view = await case.execute_update(C.request_supplement, notice(["M03"]))
    assert view.status == "supplement_requested" and view.missing_materials == ["M03"]
    assert "办结时限暂停计算" in h.fakes.notices(inp.case_id, APPLICANT.username)[-1].message

    await h.skip_to(old + timedelta(days=1, hours=12))  # the pause outlasts the old deadline
    assert not (await case.query(C.view)).overdue
    view = await case.execute_update(
        C.supply_materials, SupplementRequest(actor=APPLICANT, materials=["M03"])
    )
    assert view.status == "under_review"  # back where it paused
    (pause,) = view.pauses
    lost = (day_of(pause.end) - day_of(pause.start)).days
    assert lost == 4
    new = end_of(day_of(view.accepted_at) + timedelta(days=3 + lost))
    assert view.completion_deadline == new
    assert f"累计顺延 {lost} 个工作日" in h.fakes.messages(inp.case_id)[-1]

    await h.skip_to(new - timedelta(minutes=1))
    assert not (await case.query(C.view)).overdue
    await h.skip_to(new + timedelta(minutes=1))
    await until(lambda: h.fakes.escalations, "the escalation")
    (escalation,) = h.fakes.escalations
    assert escalation.kind == "completion" and escalation.deadline == new


async def test_withdrawal_during_review_cancels_the_pending_tasks(harness: Harness) -> None:
    h = harness
    inp, case = await start(h, TWICE)
    view = await accept(case)
    t1 = view.tasks[0].task_id
    await case.execute_update(C.complete_task, result("culture", t1))
    view = await case.execute_update(C.withdraw, WithdrawRequest(actor=APPLICANT, reason="改日再办"))
    assert view.status == "withdrawn" and view.decision_reason == "改日再办"
    expected = [("culture", "completed"), ("fire", "cancelled")]
    assert [(t.department, t.status) for t in view.tasks] == expected
    record = h.fakes.case_records(inp.case_id)[-1]  # the inbox rows close with this record
    assert [e.event for e in record.events] == ["withdrawn"]
    assert [(t.department, t.status) for t in record.view.tasks] == expected
    assert (await case.result()).status == "withdrawn"
    assert h.fakes.escalations == []


async def test_an_overdue_acceptance_escalates_once(harness: Harness) -> None:
    h = harness
    now = await h.now()  # as the API starts it: the acceptance deadline computed already
    due = h.fakes.due(DeadlineSpec(start=now, working_days=1))
    inp, case = await start(h, submitted_at=now, acceptance_due=due)
    assert h.fakes.deadline_specs == []  # no activity needed for it
    assert (await case.query(C.view)).acceptance_deadline == due.at

    await h.skip_to(due.at - timedelta(minutes=1))
    assert not (await case.query(C.view)).overdue
    await h.skip_to(due.at + timedelta(minutes=1))
    await until(lambda: h.fakes.escalations, "the escalation")
    assert [(e.case_id, e.kind, e.department, e.deadline) for e in h.fakes.escalations] == [
        (inp.case_id, "acceptance", "market", due.at)
    ]
    (notice,) = h.fakes.notices(inp.case_id, SUPERVISOR_INBOX)
    assert "受理时限" in notice.message

    async def flagged() -> bool:
        return (await case.describe()).typed_search_attributes.get(sa.OVERDUE) is True

    await until(flagged, "Overdue = true")
    # A late acceptance still goes through; the escalation stays one.
    view = await accept(case)
    assert view.status == "under_review" and view.overdue
    assert h.fakes.events(inp.case_id).count("acceptance_overdue") == 1
    assert len(h.fakes.escalations) == 1


async def test_completion_warning_then_overdue_each_once(harness: Harness) -> None:
    h = harness
    inp, case = await start(h)
    accepted_at = await h.now()  # as the API accepts: the completion deadline computed already
    due = h.fakes.due(DeadlineSpec(start=accepted_at, working_days=3))
    view = await accept(case, accepted_at=accepted_at, completion_due=due)
    assert view.completion_deadline == due.at and view.accepted_at == accepted_at
    assert [s.working_days for s in h.fakes.deadline_specs] == [1]  # the acceptance clock's only

    await h.skip_to(due.warning_at - timedelta(minutes=1))
    assert not (await case.query(C.view)).warning
    await h.skip_to(due.warning_at + timedelta(minutes=1))
    view = await until(lambda: _warned(case), "the warning")
    assert not view.overdue
    (warning,) = h.fakes.notices(inp.case_id, department_inbox("market"))
    assert "今日到期" in warning.message

    await h.skip_to(due.at + timedelta(minutes=1))
    await until(lambda: h.fakes.escalations, "the escalation")
    await h.env.sleep(timedelta(days=5))
    await review(case, await case.query(C.view))  # whatever fired meanwhile is recorded by now
    events = h.fakes.events(inp.case_id)
    assert events.count("completion_warning") == 1 and events.count("completion_overdue") == 1
    assert events.index("completion_warning") < events.index("completion_overdue")
    assert [(e.kind, e.deadline) for e in h.fakes.escalations] == [("completion", due.at)]
    assert len(h.fakes.notices(inp.case_id, SUPERVISOR_INBOX)) == 1


async def _warned(case: WorkflowHandle) -> CaseView | None:
    view = await case.query(C.view)
    return view if view.warning else None


async def test_a_calendar_change_rearms_the_completion_clock(harness: Harness) -> None:
    h = harness
    inp, case = await start(h)
    view = await accept(case)
    old = view.completion_deadline
    h.fakes.days_off.add(day_of(old))  # the deadline's own day becomes a holiday
    await case.signal(C.calendar_changed)

    async def moved() -> CaseView | None:
        view = await case.query(C.view)
        return view if view.completion_deadline != old else None

    view = await until(moved, "the deadline moved")
    new = end_of(day_of(old) + timedelta(days=1))
    assert view.completion_deadline == new and view.acceptance_deadline is not None
    assert h.fakes.events(inp.case_id)[-1] == "deadline_recomputed"
    assert f"{new:%Y-%m-%d}" in h.fakes.notices(inp.case_id, APPLICANT.username)[-1].message

    await h.skip_to(old + timedelta(minutes=1))  # no timer fires on the old date
    assert not (await case.query(C.view)).overdue
    await h.skip_to(new + timedelta(minutes=1))
    await until(lambda: h.fakes.escalations, "the escalation")
    assert [e.deadline for e in h.fakes.escalations] == [new]
    # A change that moves nothing is not on the timeline.
    await case.signal(C.calendar_changed)
    await review(case, await case.query(C.view))
    events = [e for r in h.fakes.case_records(inp.case_id) for e in r.events]
    fired = {e.event: e.at for e in events if e.event in ("completion_warning", "completion_overdue")}
    assert fired["completion_warning"] >= start_of(day_of(new))
    assert fired["completion_overdue"] >= new
    assert [e.event for e in events].count("deadline_recomputed") == 1


async def test_closed_unrated_after_the_rating_window(harness: Harness) -> None:
    h = harness
    inp, case, view = await delivered(h)
    final = await case.result()  # waiting on the result lets the test server skip the 7 days
    assert final.status == "closed" and final.rating_level is None
    events = [e for r in h.fakes.case_records(inp.case_id) for e in r.events]
    assert [e.event for e in events][-2:] == ["delivered", "closed_unrated"]
    assert timedelta(days=7) <= events[-1].at - events[-2].at < timedelta(days=7, seconds=1)
    assert not any(r.rating for r in h.fakes.case_records(inp.case_id))


async def test_an_update_before_registration_is_refused(harness: Harness) -> None:
    h = harness
    inp = case_input()
    start_op = WithStartWorkflowOperation(
        C.run,
        inp,
        id=case_workflow_id(inp.case_id),
        task_queue=h.queue,
        id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
    )
    acceptance = AcceptanceRequest(actor=CLERK, decision=AcceptanceDecision.ACCEPT)
    early = h.client.execute_update_with_start_workflow(
        C.decide_acceptance, acceptance, start_workflow_operation=start_op
    )
    assert await refused(early) == E.INVALID_STATE  # delivered with the start: not registered yet
    case = await start_op.workflow_handle()
    assert (await case.execute_update(C.registered)).status == "submitted"
    assert (await accept(case)).status == "under_review"
    assert h.fakes.events(inp.case_id) == ["submitted", "accepted"]


async def test_a_retried_task_completion_is_accepted_a_different_one_refused(harness: Harness) -> None:
    h = harness
    inp, case = await start(h)
    (task,) = (await accept(case)).tasks
    first = result("market", task.task_id, opinion="符合条件")
    view = await case.execute_update(C.complete_task, first)
    assert view.status == "awaiting_signature"
    writes = len(h.fakes.case_records(inp.case_id))
    again = await case.execute_update(C.complete_task, first)  # the inbox retried its request
    assert again.status == "awaiting_signature" and again.tasks == view.tasks
    assert len(h.fakes.case_records(inp.case_id)) == writes  # nothing new to record
    different = result("market", task.task_id, outcome=TaskOutcome.FAIL, opinion="不符合")
    assert await refused(case.execute_update(C.complete_task, different)) == E.TASK_NOT_OPEN
    assert h.fakes.events(inp.case_id).count("task_completed") == 1
