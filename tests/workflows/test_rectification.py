"""The rectification loop (差评整改闭环) in the time-skipping test server with the activities faked:
verify → rectify or explain → the rater's feedback → the supervisor closes it or sends it back
once; the 7-day reply deadline warns, escalates and moves with the calendar."""

from __future__ import annotations

from datetime import timedelta

import pytest
from temporalio.client import WorkflowHandle

from core.types import Actor, CaseErrorCode, Role
from tests.workflows.fakes import (
    APPLICANT,
    SUPERVISOR,
    Harness,
    day_of,
    end_of,
    refused,
    staff,
    start_of,
    unique,
    until,
)
from workflows.case_messages import SUPERVISOR_INBOX, department_inbox
from workflows.rectification import RectificationWorkflow
from workflows.rectification_messages import (
    DepartmentAnswer,
    ExplainRequest,
    FeedbackRequest,
    RectificationInput,
    RectificationSource,
    RectificationView,
    RectifyRequest,
    ReviewRequest,
    VerifyRequest,
)

pytestmark = pytest.mark.asyncio(loop_scope="session")
R = RectificationWorkflow
E = CaseErrorCode
MARKET = staff("market")


async def open_loop(h: Harness, rater: str | None = APPLICANT.username) -> tuple[str, WorkflowHandle]:
    """A loop owned by `market`: a real-name bad rating of a case, or an anonymous 12345 complaint."""
    rid = unique("FR")
    rated = rater is not None
    inp = RectificationInput(
        rectification_id=rid,
        source=RectificationSource.RATING if rated else RectificationSource.COMPLAINT,
        case_id=unique("FC") if rated else None,
        department="market",
        level=1 if rated else None,
        channel="website" if rated else "phone",
        rater=rater,
        opened_at=await h.now(),
    )
    handle = await h.start(R.run, inp, f"rectification-{rid}")
    await until(lambda: h.fakes.loops(rid), "the loop recorded")
    return rid, handle


def verify(reasonable: bool, actor: Actor = MARKET) -> DepartmentAnswer:
    return DepartmentAnswer(act=VerifyRequest(actor=actor, reasonable=reasonable, finding="经核实"))


def rectify() -> DepartmentAnswer:
    return DepartmentAnswer(act=RectifyRequest(actor=MARKET, problem="窗口答复不清", action="已培训窗口人员"))


def explain(explanation: str) -> DepartmentAnswer:
    return DepartmentAnswer(act=ExplainRequest(actor=MARKET, explanation=explanation))


def feedback(accepted: bool, actor: Actor = APPLICANT) -> FeedbackRequest:
    return FeedbackRequest(actor=actor, accepted=accepted, note="")


def review(close: bool) -> ReviewRequest:
    return ReviewRequest(actor=SUPERVISOR, close=close, opinion="审核")


def events(view: RectificationView) -> list[str]:
    return [e.event for e in view.events]


async def test_rectified_real_name_feedback_sent_back_once_then_closed(harness: Harness) -> None:
    h = harness
    rid, loop = await open_loop(h)
    (opened,) = h.fakes.loops(rid)
    assert opened.view.status == "verifying" and events(opened.view) == ["opened"]
    assert opened.view.deadline == end_of(day_of(opened.view.opened_at) + timedelta(days=7))
    assert [n.recipient for n in opened.notifications] == [department_inbox("market")]
    assert opened.notifications[0].case_id == opened.view.case_id  # the case's notices

    assert await refused(loop.execute_update(R.answer, verify(True, staff("tax")))) == E.WRONG_DEPARTMENT
    assert await refused(loop.execute_update(R.answer, rectify())) == E.INVALID_STATE
    view = await loop.execute_update(R.answer, verify(True))
    assert view.status == "rectifying"
    assert await refused(loop.execute_update(R.answer, explain("无"))) == E.INVALID_STATE
    view = await loop.execute_update(R.answer, rectify())
    assert view.status == "awaiting_feedback" and view.outcome == "rectified"
    replied = view.replied_at
    assert "已答复" in h.fakes.loops(rid)[-1].notifications[0].message  # to the rater, by name
    assert h.fakes.loops(rid)[-1].notifications[0].recipient == APPLICANT.username

    stranger = Actor(username="applicant2", role=Role.APPLICANT)
    assert await refused(loop.execute_update(R.feedback, feedback(True, stranger))) == E.WRONG_SIGNER
    assert await refused(loop.execute_update(R.review, review(True))) == E.INVALID_STATE
    view = await loop.execute_update(R.feedback, feedback(False))
    assert view.status == "awaiting_review" and view.feedback_accepted is False
    assert h.fakes.loops(rid)[-1].notifications[0].recipient == SUPERVISOR_INBOX

    view = await loop.execute_update(R.review, review(False))  # sent back, once
    assert view.status == "rectifying" and view.sent_back
    assert h.fakes.loops(rid)[-1].notifications[0].recipient == department_inbox("market")
    view = await loop.execute_update(R.answer, rectify())
    assert view.replied_at == replied  # on time is judged by the first reply
    await loop.execute_update(R.feedback, feedback(True))
    assert await refused(loop.execute_update(R.review, review(False))) == E.INVALID_STATE
    view = await loop.execute_update(R.review, review(True))
    assert view.status == "closed" and view.closed_at is not None

    final = await loop.result()
    assert events(final) == [
        "opened",
        "verified",
        "rectified",
        "feedback",
        "sent_back",
        "rectified",
        "feedback",
        "closed",
    ]
    assert not final.overdue and h.fakes.escalations == []
    assert h.fakes.loops(rid)[-1].view.status == "closed"


async def test_an_anonymous_complaint_is_explained_and_goes_straight_to_review(harness: Harness) -> None:
    h = harness
    rid, loop = await open_loop(h, rater=None)
    view = await loop.execute_update(R.answer, verify(False))
    assert view.status == "explaining"
    assert await refused(loop.execute_update(R.answer, rectify())) == E.INVALID_STATE
    view = await loop.execute_update(R.answer, explain("无法定依据"))
    assert view.status == "awaiting_review" and view.outcome == "explained"  # no one to ask
    assert await refused(loop.execute_update(R.feedback, feedback(True))) == E.WRONG_SIGNER
    view = await loop.execute_update(R.review, review(False))
    assert view.status == "explaining"  # back to where it was answered
    await loop.execute_update(R.answer, explain("补充说明"))
    view = await loop.execute_update(R.review, review(True))
    assert view.status == "closed"
    assert events(await loop.result())[-3:] == ["sent_back", "explained", "closed"]
    recipients = {n.recipient for r in h.fakes.loops(rid) for n in r.notifications}
    assert recipients == {department_inbox("market")}  # no rater to tell


async def test_an_unanswered_loop_warns_then_escalates_once(harness: Harness) -> None:
    h = harness
    rid, loop = await open_loop(h)
    deadline = h.fakes.loops(rid)[0].view.deadline
    assert deadline is not None

    await h.skip_to(start_of(day_of(deadline)) + timedelta(minutes=1))
    view = await until(lambda: _view_if(loop, lambda v: v.warning), "the warning")
    assert not view.overdue
    await h.skip_to(deadline + timedelta(minutes=1))
    view = await until(lambda: _view_if(loop, lambda v: v.overdue), "overdue")
    assert events(view) == ["opened", "warning", "overdue"]
    assert [(e.case_id, e.kind, e.department, e.deadline) for e in h.fakes.escalations] == [
        (rid, "rectification", "market", deadline)
    ]
    (late,) = [n for r in h.fakes.loops(rid) for n in r.notifications if n.recipient == SUPERVISOR_INBOX]
    assert "超过核实整改时限" in late.message

    h.fakes.days_off.add(day_of(deadline))  # too late to move: an overdue loop keeps its deadline
    await loop.signal(R.calendar_changed)
    await loop.execute_update(R.answer, verify(False))
    view = await loop.execute_update(R.answer, explain("已说明"))
    assert view.deadline == deadline and "deadline_recomputed" not in events(view)
    assert len(h.fakes.escalations) == 1


async def _view_if(loop: WorkflowHandle, check) -> RectificationView | None:
    view = await loop.query(R.view)
    return view if check(view) else None


async def test_a_calendar_change_moves_the_reply_deadline(harness: Harness) -> None:
    h = harness
    rid, loop = await open_loop(h)
    old = h.fakes.loops(rid)[0].view.deadline
    assert old is not None
    h.fakes.days_off.add(day_of(old))  # the last day becomes a holiday: it rolls to the next
    await loop.signal(R.calendar_changed)
    view = await until(lambda: _view_if(loop, lambda v: v.deadline != old), "the deadline moved")
    new = end_of(day_of(old) + timedelta(days=1))
    assert view.deadline == new and events(view) == ["opened", "deadline_recomputed"]
    moved = h.fakes.loops(rid)[-1]
    assert moved.view.deadline == new and f"{new:%Y-%m-%d}" in moved.notifications[0].message

    await h.skip_to(old + timedelta(minutes=1))  # nothing fires on the old date
    assert not (await loop.query(R.view)).overdue
    await h.skip_to(new + timedelta(minutes=1))
    view = await until(lambda: _view_if(loop, lambda v: v.overdue), "overdue")
    assert [e.deadline for e in h.fakes.escalations] == [new]
    fired = {e.event: e.at for e in view.events}
    assert fired["warning"] >= start_of(day_of(new)) and fired["overdue"] >= new


async def test_a_calendar_change_after_the_reply_moves_nothing(harness: Harness) -> None:
    h = harness
    rid, loop = await open_loop(h)
    old = h.fakes.loops(rid)[0].view.deadline
    await loop.execute_update(R.answer, verify(True))
    await loop.execute_update(R.answer, rectify())
    assert old is not None
    h.fakes.days_off.add(day_of(old))
    await loop.signal(R.calendar_changed)
    view = await loop.execute_update(R.feedback, feedback(True))  # after the signal's turn
    assert view.deadline == old and "deadline_recomputed" not in events(view)
    await h.skip_to(old + timedelta(days=1))  # replied in time: no warning, no escalation
    view = await loop.execute_update(R.review, review(True))
    assert not view.warning and not view.overdue and h.fakes.escalations == []
