"""The rectification loop (差评整改闭环): rate → feedback → rectification → supervision.

Opened by a bad rating (as a child of its case) or a 12345 complaint. The responsible
department verifies it (核实), then rectifies (整改: what was wrong, what was done) or, for a
complaint that is unreasonable or lacks legal basis, explains (解释说明); a real-name rater
gets the reply and says whether they accept it (回访); a supervisor closes it, or sends it
back once for more work. The department must reply within 7 days (calendar rule); a warning
fires on the last day and an escalation when it passes. A calendar change that moves the last
day (a holiday declared on it) moves the deadline and its timers while no reply is given.
"""

from __future__ import annotations

from typing import assert_never

from temporalio import workflow

from workflows.common import escalate, refuse
from workflows.deadlines import DeadlineClock
from workflows.steps import Steps

with workflow.unsafe.imports_passed_through():
    from activities.ratings import RatingActivities
    from core.types import Actor, CaseErrorCode
    from workflows.case_messages import (
        SUPERVISOR_INBOX,
        CaseEvent,
        Escalation,
        Notification,
        department_inbox,
    )
    from workflows.rectification_messages import (
        RECTIFICATION_DAYS,
        DepartmentAnswer,
        ExplainRequest,
        FeedbackRequest,
        RectificationInput,
        RectificationRecord,
        RectificationStatus,
        RectificationView,
        RectifyRequest,
        ReviewRequest,
        VerifyRequest,
    )

S = RectificationStatus
REPLIED = frozenset({S.AWAITING_FEEDBACK, S.AWAITING_REVIEW, S.CLOSED})
# The state each of the department's acts is open in.
DEPARTMENT_ACTS: dict[str, tuple[RectificationStatus, str]] = {
    "verify": (S.VERIFYING, "核实"),
    "rectify": (S.RECTIFYING, "整改"),
    "explain": (S.EXPLAINING, "解释说明"),
}


@workflow.defn(name="RectificationWorkflow")
class RectificationWorkflow:
    @workflow.init
    def __init__(self, inp: RectificationInput) -> None:
        self._view = RectificationView(
            **inp.model_dump(exclude={"opened_at"}), opened_at=inp.opened_at, status=S.VERIFYING
        )
        self._clock = DeadlineClock("rectification", self._on_overdue, self._on_warning)
        self._steps = Steps(inp.rectification_id, self._view, subject=inp.case_id or inp.rectification_id)

    @workflow.run
    async def run(self, inp: RectificationInput) -> RectificationView:
        await self._clock.arm(inp.opened_at, calendar_days=RECTIFICATION_DAYS)
        self._view.deadline = self._clock.at
        what = "差评" if inp.source == "rating" else "12345投诉"
        self._log("opened", None, f"收到{what}，请在 {self._clock.at:%Y-%m-%d} 前完成核实整改")
        self._notify(department_inbox(inp.department), f"新的{what}待核实整改：{inp.rectification_id}")
        await self._record()
        while self._view.status != S.CLOSED:
            await self._clock.watch(lambda: self._view.status in REPLIED)
            await workflow.wait_condition(lambda: self._view.status not in REPLIED - {S.CLOSED})
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self._view

    # ---- the department ------------------------------------------------------------------

    @workflow.update
    async def answer(self, req: DepartmentAnswer) -> RectificationView:
        match req.act:
            case VerifyRequest(actor=actor, reasonable=reasonable, finding=finding):
                self._view.finding = finding
                self._view.status = S.RECTIFYING if reasonable else S.EXPLAINING
                verdict = "情况属实，进入整改" if reasonable else "诉求不合理或缺乏法定依据，将作解释说明"
                self._log("verified", actor, f"核实：{verdict}。{finding}")
            case RectifyRequest(actor=actor, problem=problem, action=action):
                self._view.problem, self._view.action = problem, action
                self._reply("rectified", actor, f"整改：问题为“{problem}”，已采取措施“{action}”")
            case ExplainRequest(actor=actor, explanation=explanation):
                self._view.explanation = explanation
                self._reply("explained", actor, f"解释说明：{explanation}")
            case _:
                assert_never(req.act)
        await self._record()
        return self._view

    @answer.validator
    def _validate_answer(self, req: DepartmentAnswer) -> None:
        if req.act.actor.department != self._view.department:
            raise refuse(CaseErrorCode.WRONG_DEPARTMENT, "非责任部门，无权办理")
        state, action = DEPARTMENT_ACTS[req.act.kind]
        self._require_status({state}, action)

    def _reply(self, outcome: str, actor: Actor, message: str) -> None:
        self._view.outcome = outcome
        self._view.replied_at = self._view.replied_at or workflow.now()
        rater = self._view.rater  # a real-name rater is asked for feedback
        self._view.status = S.AWAITING_FEEDBACK if rater is not None else S.AWAITING_REVIEW
        self._log(outcome, actor, message)
        if rater is not None:
            self._notify(rater, f"您的评价/投诉 {self._view.rectification_id} 已答复：{message}")

    # ---- the rater and the supervisor -------------------------------------------------------

    @workflow.update
    async def feedback(self, req: FeedbackRequest) -> RectificationView:
        self._view.feedback_accepted = req.accepted
        self._view.status = S.AWAITING_REVIEW
        verdict = "认可" if req.accepted else "不认可"
        self._log("feedback", req.actor, f"回访：评价人{verdict}答复。{req.note}")
        self._notify(SUPERVISOR_INBOX, f"{self._view.rectification_id} 待督办审核")
        await self._record()
        return self._view

    @feedback.validator
    def _validate_feedback(self, req: FeedbackRequest) -> None:
        if req.actor.username != self._view.rater:
            raise refuse(CaseErrorCode.WRONG_SIGNER, "只有评价人本人可以反馈是否认可")
        self._require_status({S.AWAITING_FEEDBACK}, "回访反馈")

    @workflow.update
    async def review(self, req: ReviewRequest) -> RectificationView:
        if req.close:
            self._view.status, self._view.closed_at = S.CLOSED, workflow.now()
            self._log("closed", req.actor, f"督办审核通过，已办结。{req.opinion}")
        else:
            self._view.sent_back = True
            self._view.status = S.RECTIFYING if self._view.outcome == "rectified" else S.EXPLAINING
            self._log("sent_back", req.actor, f"督办退回，请继续办理：{req.opinion}")
            self._notify(department_inbox(self._view.department), f"{self._view.rectification_id} 被督办退回")
        await self._record()
        return self._view

    @review.validator
    def _validate_review(self, req: ReviewRequest) -> None:
        self._require_status({S.AWAITING_REVIEW}, "督办审核")
        if not req.close and self._view.sent_back:
            raise refuse(CaseErrorCode.INVALID_STATE, "每件只能退回一次，请审核办结")

    @workflow.query
    def view(self) -> RectificationView:
        return self._view

    # ---- deadline ---------------------------------------------------------------------------

    @workflow.signal
    async def calendar_changed(self) -> None:
        """Operators changed the calendar: recompute the reply deadline while it still runs
        (not replied, not yet overdue) and re-arm its warning and overdue timers."""
        if self._view.replied_at is not None or self._clock.overdue:
            return
        if not await self._clock.recompute():
            return
        self._view.deadline = self._clock.at
        due = f"{self._clock.at:%Y-%m-%d}"
        self._log("deadline_recomputed", None, f"工作日历调整，核实整改时限重新计算为 {due}")
        inbox = department_inbox(self._view.department)
        self._notify(inbox, f"{self._view.rectification_id} 核实整改时限调整为 {due}")
        await self._record()

    async def _on_warning(self, clock: DeadlineClock) -> None:
        self._view.warning = True
        self._log("warning", None, "核实整改时限今日届满，已预警")
        self._notify(department_inbox(self._view.department), f"预警：{self._view.rectification_id} 今日到期")
        await self._record()

    async def _on_overdue(self, clock: DeadlineClock) -> None:
        self._view.overdue = True
        self._log("overdue", None, "已超过7日核实整改时限，已提交督办")
        self._notify(SUPERVISOR_INBOX, f"{self._view.rectification_id} 超过核实整改时限，请督办")
        view = self._view
        await escalate(
            Escalation(
                case_id=view.rectification_id,
                kind="rectification",
                department=view.department,
                deadline=clock.at,
            )
        )
        await self._record()

    # ---- helpers ------------------------------------------------------------------------------

    def _require_status(self, allowed: set[RectificationStatus], action: str) -> None:
        if self._view.status not in allowed:
            raise refuse(CaseErrorCode.INVALID_STATE, f"当前状态为 {self._view.status.value}，不能{action}")

    def _log(self, event: str, actor: Actor | None, message: str) -> None:
        self._view.events.append(self._steps.log(event, actor, message))

    def _notify(self, recipient: str, message: str) -> None:
        self._steps.notify(recipient, message)

    async def _record(self) -> None:
        def request(events: list[CaseEvent], notes: list[Notification]) -> RectificationRecord:
            return RectificationRecord(view=self._view.model_copy(deep=True), notifications=notes)

        await self._steps.record(RatingActivities.record_rectification, request)
