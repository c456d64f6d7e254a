"""The case workflow (办件): one long-lived workflow per case, from submission to rating.

Stages: acceptance (受理, 1 working day, with 一次性告知 supplements) → department review
(部门审查, asynchronous department activities) → decision with at most two signatures
(最多签两次) → delivery (送达) → one rating per matter (一事一评) → closed.

Every message is a workflow update with a validator, so a refused action is refused
synchronously and leaves no trace in history. Handlers change state before their first
`await`, so the next validator already sees the change.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta
from typing import Any, assert_never

from temporalio import workflow
from temporalio.common import SearchAttributeKey
from temporalio.exceptions import ApplicationError, FailureError

from workflows.common import escalate, refuse
from workflows.deadlines import DeadlineClock
from workflows.materials import MaterialList
from workflows.rating_filing import file_rating, require_ratable
from workflows.steps import Steps

with workflow.unsafe.imports_passed_through():
    from activities.case_records import CaseRecordActivities
    from core import search_attributes as sa
    from core.form_fields import result_number
    from core.temporal import bundle_workflow_id
    from core.types import Actor, CaseErrorCode, Role
    from workflows.bundle_messages import (
        AcceptMember,
        AskMemberForSupplements,
        BundleCommand,
        DeliverMember,
        MemberReport,
        SupplyMember,
        WithdrawMember,
    )
    from workflows.calendar_messages import DeadlineSpec
    from workflows.case_messages import (
        SIGNERS,
        STATUS_LABELS,
        SUPERVISOR_INBOX,
        WITHDRAWABLE,
        AcceptanceDecision,
        AcceptanceRequest,
        CaseEvent,
        CaseInput,
        CaseStatus,
        CaseView,
        DeliveryRequest,
        Escalation,
        Notification,
        RatingRequest,
        RecordRequest,
        ReviewTask,
        SignatureRequest,
        SignatureView,
        SignDecision,
        SupplementNotice,
        SupplementRequest,
        TaskCompletion,
        TaskOutcome,
        TaskStatus,
        TaskView,
        WithdrawRequest,
        department_inbox,
    )
    from workflows.rating_messages import RATING_LABELS, RatingRecord

# The search attributes a case keeps current (the others are set once, at start).
_CASE_SA = (sa.CASE_STATUS, sa.OVERDUE, sa.ACCEPTANCE_DEADLINE, sa.COMPLETION_DEADLINE)
DECIDED = frozenset(
    {
        CaseStatus.APPROVED,
        CaseStatus.DENIED,
        CaseStatus.DELIVERED,
        CaseStatus.CLOSED,
        CaseStatus.WITHDRAWN,
        CaseStatus.REJECTED,
    }
)


# An update handler, bound to its workflow. `workflow.update` types an update method as an unbound
# protocol whose call returns `T | Awaitable[T]`, so a bound one's coroutine is only `Any` to mypy.
_BoundUpdate = Callable[..., Any]


def _state(report: MemberReport) -> dict[str, Any]:
    return report.model_dump(exclude={"seq", "acks", "refused"})


@workflow.defn(name="CaseWorkflow")
class CaseWorkflow:
    @workflow.init
    def __init__(self, inp: CaseInput) -> None:
        self._input = inp
        item = inp.item
        self._view = CaseView(
            case_id=inp.case_id,
            status=CaseStatus.SUBMITTED,
            item_code=item.code,
            item_name=item.name,
            item_version=item.version,
            departments=[d.code for d in item.departments],
            lead_department=item.lead_department,
            signature_mode=item.signature_mode,
            applicant_username=inp.applicant_username,
            channel=inp.channel,
            district=inp.district,
            materials=list(inp.materials),
            submitted_at=inp.submitted_at or workflow.now(),
            time_limit_days=min(item.promised_time_limit_days, item.legal_time_limit_days),
            form=dict(inp.form),
            bundle_id=inp.bundle.bundle_id if inp.bundle else None,
        )
        # A bundle's applicant hears from the bundle, in combined notices (一次告知).
        applicant = None if inp.bundle else inp.applicant_username
        prefix = f"您的办件 {inp.case_id}："
        self._steps = Steps(inp.case_id, self._view, applicant=applicant, notice_prefix=prefix)
        listed = {m.code: m.name for m in item.materials}
        self._materials = MaterialList(listed, "本事项办事指南所列范围")
        self._registered = False
        self._acceptance_round = 0
        # Search attributes as last sent: an upsert carries only what changed.
        self._sa_sent: dict[str, object] = {}
        self._review_finished = False
        self._paused_status = CaseStatus.UNDER_REVIEW
        self._accepted_by: str | None = None
        self._acceptance_clock = DeadlineClock("acceptance", self._on_overdue)
        self._completion_clock = DeadlineClock("completion", self._on_overdue, self._on_warning)
        # Bundle members only: what was last reported, and commands not yet acknowledged.
        self._reported: MemberReport | None = None
        self._acks: list[int] = []
        self._refused: dict[int, str] = {}

    # ---- run ---------------------------------------------------------------------------

    @workflow.run
    async def run(self, inp: CaseInput) -> CaseView:
        started = workflow.info().typed_search_attributes
        self._sa_sent = {key.name: started.get(key) for key in _CASE_SA}
        await self._register()
        if await self._acceptance_phase():
            await self._review_and_decision_phase()
            await self._closing_phase()
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self._view

    async def _register(self) -> None:
        given = self._input.acceptance_due
        if given is not None:  # computed by the API from the calendar
            spec = DeadlineSpec(start=self._view.submitted_at, working_days=1)
            self._acceptance_clock.arm_computed(spec, given)
        else:
            await self._acceptance_clock.arm(self._view.submitted_at, 1)
        self._apply_deadlines()
        actor = self._input.submitted_by
        channel = "网上申报" if self._input.channel == "online" else "窗口申报"
        self._steps.log("submitted", actor, f"已提交（{channel}），等待受理", notify=True)
        await self._record()
        self._registered = True
        await self._report_to_bundle()  # only now can the bundle act on it

    async def _acceptance_phase(self) -> bool:
        """Loop until accepted (True) or ended by rejection or withdrawal (False)."""
        while True:
            status = self._view.status
            if status == CaseStatus.SUBMITTED:
                await self._acceptance_clock.watch(self._acceptance_left(self._acceptance_round))
            elif status == CaseStatus.SUPPLEMENT_REQUESTED:
                await workflow.wait_condition(lambda: self._view.status != CaseStatus.SUPPLEMENT_REQUESTED)
            elif status == CaseStatus.UNDER_REVIEW:
                return True
            elif self._view.accepted_at is not None:
                # Accepted, then moved on before this loop looked (the department's result came
                # in the same workflow task): the review phase still has the case to finish.
                return True
            else:
                return False

    def _acceptance_left(self, round_: int) -> Callable[[], bool]:
        return lambda: self._acceptance_round != round_ or self._view.status != CaseStatus.SUBMITTED

    async def _review_and_decision_phase(self) -> None:
        await workflow.wait_condition(lambda: self._view.completion_deadline is not None)
        watcher = asyncio.create_task(self._completion_clock.watch(self._decided))
        # The inbox rows were opened with the acceptance's own record; results come as updates.
        await workflow.wait_condition(
            lambda: (
                self._review_finished
                or self._view.status == CaseStatus.WITHDRAWN
                or (self._view.status == CaseStatus.UNDER_REVIEW and self._all_reviewed())
            )
        )
        if self._view.status != CaseStatus.WITHDRAWN and not self._review_finished:
            self._finish_review()
            await self._record()
        await workflow.wait_condition(self._decided)
        await watcher

    def _decided(self) -> bool:
        return self._view.status in DECIDED

    def _all_reviewed(self) -> bool:
        return all(t.status != TaskStatus.PENDING for t in self._view.tasks)

    def _finish_review(self) -> None:
        self._review_finished = True
        self._set_status(CaseStatus.AWAITING_SIGNATURE)
        self._steps.log("review_finished", None, "部门审查已完成，等待签批")

    def _review_tasks(self) -> list[ReviewTask]:
        view = self._view
        return [
            ReviewTask(
                task_id=t.task_id,
                case_id=view.case_id,
                department=t.department,
                item_code=view.item_code,
                item_name=view.item_name,
            )
            for t in view.tasks
        ]

    @workflow.update
    async def complete_task(self, req: TaskCompletion) -> CaseView:
        """A department's review result (部门审查意见), straight from its inbox."""
        task = next(t for t in self._view.tasks if t.task_id == req.task_id)
        if task.status == TaskStatus.PENDING:  # else the same result again: a retried request
            self._task_done(task, req.actor, req.outcome, req.opinion)
            if self._view.status == CaseStatus.UNDER_REVIEW and self._all_reviewed():
                self._finish_review()  # recorded with the last result, in one write
            await self._record()
        return self._view

    @complete_task.validator
    def _validate_complete_task(self, req: TaskCompletion) -> None:
        if not self._registered:
            raise refuse(CaseErrorCode.INVALID_STATE, "办件尚在登记，请稍后再试")
        task = next((t for t in self._view.tasks if t.task_id == req.task_id), None)
        if task is None:
            raise refuse(CaseErrorCode.TASK_NOT_OPEN, "该办件没有这项审查任务")
        if req.actor.department != task.department:
            raise refuse(CaseErrorCode.WRONG_DEPARTMENT, "该任务不属于本部门")
        result = (req.actor.username, req.outcome, req.opinion)
        retried = (
            task.status == TaskStatus.COMPLETED and (task.completed_by, task.outcome, task.opinion) == result
        )
        if task.status != TaskStatus.PENDING and not retried:
            raise refuse(CaseErrorCode.TASK_NOT_OPEN, "该任务已办理或已取消，不能重复办理")

    def _task_done(self, task: TaskView, actor: Actor, outcome: TaskOutcome, opinion: str) -> None:
        task.status, task.outcome, task.opinion = TaskStatus.COMPLETED, outcome, opinion
        task.completed_by = actor.username
        verdict = "通过" if outcome == TaskOutcome.PASS else "不通过"
        department = {d.code: d.name for d in self._input.item.departments}[task.department]
        self._steps.log("task_completed", actor, f"{department}审查{verdict}：{opinion}")

    async def _closing_phase(self) -> None:
        """Approved or denied → wait for delivery → wait for a rating (or the window) → closed."""
        if self._view.status == CaseStatus.WITHDRAWN:
            return
        await workflow.wait_condition(lambda: self._view.status in (CaseStatus.DELIVERED, CaseStatus.CLOSED))
        if self._input.bundle is not None:
            self._set_status(CaseStatus.CLOSED)
            self._steps.log("closed", None, "已办结；评价随“一件事”主题统一进行（一次一评）")
            await self._record()
            return
        window = timedelta(days=self._input.rating_window_days)
        try:
            await workflow.wait_condition(lambda: self._view.rating_level is not None, timeout=window)
        except TimeoutError:
            self._set_status(CaseStatus.CLOSED)
            self._steps.log("closed_unrated", None, "评价期已过，未评价，已办结")
            await self._record()

    async def _on_overdue(self, clock: DeadlineClock) -> None:
        label = "受理" if clock.kind == "acceptance" else "办结"
        self._view.overdue = True
        self._upsert_search_attributes()
        self._steps.log(f"{clock.kind}_overdue", None, f"已超过{label}时限，已提交督办")
        self._steps.notify(SUPERVISOR_INBOX, f"办件 {self._view.case_id} 已超过{label}时限，请督办")
        view = self._view
        await escalate(
            Escalation(
                case_id=view.case_id, kind=clock.kind, department=view.lead_department, deadline=clock.at
            )
        )
        await self._record()

    async def _on_warning(self, clock: DeadlineClock) -> None:
        self._view.warning = True
        self._steps.log("completion_warning", None, "办结时限今日届满，已预警")
        self._steps.notify(
            department_inbox(self._view.lead_department), f"预警：办件 {self._view.case_id} 今日到期"
        )
        await self._record()

    def _apply_deadlines(self) -> None:
        """Copy the clocks' current deadlines into the view and the search attributes."""
        view, acceptance, completion = self._view, self._acceptance_clock, self._completion_clock
        view.acceptance_deadline = acceptance.at or view.acceptance_deadline
        view.completion_deadline = completion.at or view.completion_deadline
        current = completion if completion.result else acceptance
        view.deadline_provisional = bool(current.result and current.result.provisional)
        view.pauses = list(completion.spec.pauses) if completion.spec else []
        self._upsert_search_attributes()

    @workflow.signal
    async def calendar_changed(self) -> None:
        """Operators changed the calendar: recompute running deadlines and re-arm timers."""
        await workflow.wait_condition(lambda: self._registered)
        moved = [c for c in (self._acceptance_clock, self._completion_clock) if await c.recompute()]
        if not moved or self._view.status in DECIDED:
            return
        self._apply_deadlines()
        labels = "、".join("受理" if c.kind == "acceptance" else "办结" for c in moved)
        when = "；".join(f"{c.at:%Y-%m-%d}" for c in moved)
        self._steps.log(
            "deadline_recomputed", None, f"工作日历调整，{labels}时限重新计算为 {when}", notify=True
        )
        await self._record()

    @workflow.query
    def view(self) -> CaseView:
        return self._view

    # ---- acceptance ----------------------------------------------------------------------

    @workflow.update
    async def decide_acceptance(self, req: AcceptanceRequest) -> CaseView:
        decision = req.decision
        if decision == AcceptanceDecision.ACCEPT:
            # The status goes out with the new deadline, in one upsert.
            self._set_status(CaseStatus.UNDER_REVIEW, upsert=False)
            self._view.accepted_at = workflow.now()
            self._accepted_by = req.actor.username
            self._view.tasks = [
                TaskView(task_id=f"{self._view.case_id}-T{i}", department=code, status="pending")
                for i, code in enumerate(self._view.departments, start=1)
            ]
            self._steps.log("accepted", req.actor, "已受理，进入部门审查", notify=True)
            await self._arm_completion(req)
            self._apply_deadlines()
        elif decision == AcceptanceDecision.REJECT:
            self._set_status(CaseStatus.REJECTED)
            self._view.decision_reason = req.reason
            self._steps.log("rejected", req.actor, f"不予受理：{req.reason}", notify=True)
        else:
            self._set_status(CaseStatus.SUPPLEMENT_REQUESTED)
            self._ask_for(req.missing_materials, req, "supplement_requested", "请一次性补正以下材料：")
        # The inbox has the tasks before the clerk gets the answer.
        accepted = decision == AcceptanceDecision.ACCEPT
        await self._record(open_tasks=self._review_tasks() if accepted else [])
        return self._view

    async def _arm_completion(self, req: AcceptanceRequest) -> None:
        """办结时限 from acceptance: as the API counted it, from when it received the acceptance."""
        days = self._view.time_limit_days
        if req.accepted_at is not None and req.completion_due is not None:
            self._view.accepted_at = req.accepted_at
            spec = DeadlineSpec(start=req.accepted_at, working_days=days)
            self._completion_clock.arm_computed(spec, req.completion_due)
        else:
            await self._completion_clock.arm(workflow.now(), days)

    @decide_acceptance.validator
    def _validate_acceptance(self, req: AcceptanceRequest) -> None:
        self._require_status({CaseStatus.SUBMITTED}, "受理")
        if req.decision == AcceptanceDecision.REJECT and not req.reason.strip():
            raise refuse(CaseErrorCode.INVALID_STATE, "不予受理必须说明理由")
        if req.decision == AcceptanceDecision.SUPPLEMENT:
            if not req.missing_materials:
                raise refuse(CaseErrorCode.MISSING_MATERIALS, "要求补正时须一次性列明全部所缺材料")
            self._materials.require_listed(req.missing_materials)

    @workflow.update
    async def supply_materials(self, req: SupplementRequest) -> CaseView:
        self._view.materials = sorted(set(self._view.materials) | set(req.materials))
        self._view.missing_materials = []
        names = self._materials.names(req.materials)
        if self._completion_clock.paused_from is not None:
            await self._resume_review(req, names)
            return self._view
        self._acceptance_round += 1
        self._set_status(CaseStatus.SUBMITTED)
        self._steps.log("supplemented", req.actor, f"已补正材料：{names}，重新等待受理", notify=True)
        await self._acceptance_clock.arm(workflow.now(), 1)
        self._apply_deadlines()
        await self._record()
        return self._view

    async def _resume_review(self, req: SupplementRequest, names: str) -> None:
        self._set_status(self._paused_status)
        result = await self._completion_clock.resume(workflow.now())
        self._apply_deadlines()
        self._steps.log(
            "supplemented",
            req.actor,
            f"已补正材料：{names}，审查继续；补正期间不计时，"
            f"办结时限累计顺延 {result.paused_working_days} 个工作日",
            notify=True,
        )
        await self._record()

    @workflow.update
    async def request_supplement(self, req: SupplementNotice) -> CaseView:
        """Supplements found missing in review or before signing: one notice; the clock pauses."""
        self._completion_clock.pause(workflow.now())
        self._paused_status = self._view.status
        self._set_status(CaseStatus.SUPPLEMENT_REQUESTED)
        intro = "审查中需补正以下材料（请一次性补齐，补正期间办结时限暂停计算）："
        self._ask_for(req.missing_materials, req, "review_supplement_requested", intro)
        await self._record()
        return self._view

    @request_supplement.validator
    def _validate_request_supplement(self, req: SupplementNotice) -> None:
        self._require_status({CaseStatus.UNDER_REVIEW, CaseStatus.AWAITING_SIGNATURE}, "要求补正")
        if not req.missing_materials:
            raise refuse(CaseErrorCode.MISSING_MATERIALS, "要求补正时须一次性列明全部所缺材料")
        self._materials.require_listed(req.missing_materials)

    @supply_materials.validator
    def _validate_supply(self, req: SupplementRequest) -> None:
        self._require_status({CaseStatus.SUPPLEMENT_REQUESTED}, "补正材料")
        self._materials.require_supplied(self._view.missing_materials, req.materials)

    # ---- decision: at most two signatures ---------------------------------------------

    @workflow.update
    async def sign(self, req: SignatureRequest) -> CaseView:
        signers = SIGNERS[self._view.signature_mode]
        self._view.signatures.append(
            SignatureView(
                signer=req.actor.username,
                role=req.actor.role,
                decision=req.decision,
                opinion=req.opinion,
                at=workflow.now(),
            )
        )
        verdict = "同意" if req.decision == SignDecision.APPROVE else "不同意"
        title = "首席代表" if req.actor.role == Role.CHIEF else "经办人"
        self._steps.log("signed", req.actor, f"{title}签批：{verdict}。{req.opinion}")
        if len(self._view.signatures) == len(signers):
            approved = req.decision == SignDecision.APPROVE
            self._set_status(CaseStatus.APPROVED if approved else CaseStatus.DENIED)
            self._view.decided_at = workflow.now()
            result = "准予许可" if approved else "不予许可"
            if approved:
                item = self._input.item
                self._view.result_number = result_number(item.code, item.result_name, self._view.case_id)
                result += f"（{item.result_name or '办理结果'}编号 {self._view.result_number}）"
            self._steps.log("decided", req.actor, f"审批决定：{result}，请选择领取方式", notify=True)
        await self._record()
        return self._view

    @sign.validator
    def _validate_sign(self, req: SignatureRequest) -> None:
        signers = SIGNERS[self._view.signature_mode]
        if len(self._view.signatures) >= len(signers):
            raise refuse(CaseErrorCode.SIGNATURE_LIMIT, f"本事项最多签{len(signers)}次，已签批完毕")
        self._require_status({CaseStatus.AWAITING_SIGNATURE}, "签批")
        if req.actor.department != self._view.lead_department:
            raise refuse(CaseErrorCode.WRONG_DEPARTMENT, "非本事项责任部门，无权签批")
        expected = signers[len(self._view.signatures)]
        if req.actor.role != expected:
            who = "首席代表" if expected == Role.CHIEF else "经办人"
            raise refuse(CaseErrorCode.WRONG_SIGNER, f"当前应由{who}签批")

    # ---- delivery, rating, withdrawal -------------------------------------------------

    @workflow.update
    async def deliver(self, req: DeliveryRequest) -> CaseView:
        self._set_status(CaseStatus.DELIVERED)
        self._view.delivery_method = req.method
        how = {"window_pickup": "窗口领取", "mail": "邮寄送达", "electronic": "电子证照"}
        invite = "" if self._input.bundle else "，欢迎评价"
        self._steps.log("delivered", req.actor, f"办理结果已送达（{how[req.method]}）{invite}", notify=True)
        await self._record()
        return self._view

    @deliver.validator
    def _validate_deliver(self, req: DeliveryRequest) -> None:
        self._require_status({CaseStatus.APPROVED, CaseStatus.DENIED}, "送达")

    @workflow.update
    async def rate(self, req: RatingRequest) -> CaseView:
        self._view.rating_level = req.level
        self._set_status(CaseStatus.CLOSED)
        label = RATING_LABELS[req.level]
        self._steps.log(
            "rated",
            req.actor,
            f"评价：{label}",
            detail={"level": req.level, "channel": req.channel, "comment": req.comment},
        )
        self._steps.log("closed", None, "已办结")
        await file_rating(req, self._view, self._accepted_by, self._steps, self._record)
        return self._view

    @rate.validator
    def _validate_rate(self, req: RatingRequest) -> None:
        require_ratable(self._view, "本办件", "一事一评")

    @workflow.update
    async def withdraw(self, req: WithdrawRequest) -> CaseView:
        self._set_status(CaseStatus.WITHDRAWN)
        self._view.decision_reason = req.reason
        for task in self._view.tasks:  # out of the departments' inboxes with this record
            if task.status == TaskStatus.PENDING:
                task.status = TaskStatus.CANCELLED
        self._steps.log("withdrawn", req.actor, f"申请人已撤回申请。{req.reason}", notify=True)
        await self._record()
        return self._view

    @withdraw.validator
    def _validate_withdraw(self, req: WithdrawRequest) -> None:
        self._require_status(WITHDRAWABLE, "撤回")

    @workflow.update
    async def registered(self) -> CaseView:
        """Returns once the case is in the read model; used with update-with-start."""
        await workflow.wait_condition(lambda: self._registered)
        return self._view

    # ---- helpers -----------------------------------------------------------------------

    def _require_status(self, allowed: set[CaseStatus] | frozenset[CaseStatus], action: str) -> None:
        if not self._registered:
            raise refuse(CaseErrorCode.INVALID_STATE, "办件尚在登记，请稍后再试")
        if self._view.status not in allowed:
            label = STATUS_LABELS[self._view.status]
            raise refuse(CaseErrorCode.INVALID_STATE, f"办件当前状态为“{label}”，不能{action}")

    def _ask_for(
        self, missing: list[str], req: AcceptanceRequest | SupplementNotice, event: str, intro: str
    ) -> None:
        """一次性告知: one notice listing every missing material."""
        self._view.missing_materials = list(missing)
        names = self._materials.names(missing)
        detail = {"missing_materials": missing, "reason": req.reason}
        self._steps.log(event, req.actor, f"{intro}{names}", detail=detail, notify=True)

    def _set_status(self, status: CaseStatus, upsert: bool = True) -> None:
        self._view.status = status
        if upsert:
            self._upsert_search_attributes()

    def _upsert_search_attributes(self) -> None:
        view = self._view
        values: dict[SearchAttributeKey[Any], Any] = {
            sa.CASE_STATUS: view.status.value,
            sa.OVERDUE: view.overdue,
        }
        if view.acceptance_deadline:
            values[sa.ACCEPTANCE_DEADLINE] = view.acceptance_deadline
        if view.completion_deadline:
            values[sa.COMPLETION_DEADLINE] = view.completion_deadline
        values = {k: v for k, v in values.items() if self._sa_sent.get(k.name) != v}
        if not values:
            return
        self._sa_sent.update((k.name, v) for k, v in values.items())
        workflow.upsert_search_attributes([k.value_set(v) for k, v in values.items()])

    async def _record(
        self, open_tasks: list[ReviewTask] | None = None, rating: RatingRecord | None = None
    ) -> None:
        """Hand what is new to the read model: the inbox rows of a case just accepted and the
        rating that closes it go in the same write."""

        def request(events: list[CaseEvent], notes: list[Notification]) -> RecordRequest | None:
            if not (events or notes or open_tasks or rating):
                return None
            view = self._view.model_copy(deep=True)
            return RecordRequest(
                view=view, events=events, notifications=notes, open_tasks=open_tasks or [], rating=rating
            )

        await self._steps.record(CaseRecordActivities.record_case, request)
        await self._report_to_bundle()

    # ---- bundle members (办好一件事) --------------------------------------------------------

    @workflow.signal
    async def bundle_command(self, cmd: BundleCommand) -> None:
        """The bundle's one window acts on this member as a clerk would at the case's own."""
        await workflow.wait_condition(lambda: self._registered)
        handler, validator, request = self._command(cmd)
        self._acks.append(cmd.command_id)
        try:
            validator(request)
        except ApplicationError as exc:
            self._refused[cmd.command_id] = exc.message
        else:
            await handler(request)
        if cmd.command_id in self._acks:  # not yet carried by a report
            await self._report_to_bundle()

    def _command(self, cmd: BundleCommand) -> tuple[_BoundUpdate, Callable[[Any], None], object]:
        """The update a command stands for: its handler, its validator and its request."""
        actor = cmd.actor
        match cmd.action:
            case AcceptMember():
                req = AcceptanceRequest(actor=actor, decision=AcceptanceDecision.ACCEPT)
                return self.decide_acceptance, self._validate_acceptance, req
            case AskMemberForSupplements(materials=materials, reason=reason):
                if self._view.status == CaseStatus.SUBMITTED:
                    req = AcceptanceRequest(
                        actor=actor,
                        decision=AcceptanceDecision.SUPPLEMENT,
                        missing_materials=materials,
                        reason=reason,
                    )
                    return self.decide_acceptance, self._validate_acceptance, req
                notice = SupplementNotice(actor=actor, missing_materials=materials, reason=reason)
                return self.request_supplement, self._validate_request_supplement, notice
            case SupplyMember(materials=materials):
                supply = SupplementRequest(actor=actor, materials=materials)
                return self.supply_materials, self._validate_supply, supply
            case WithdrawMember(reason=reason):
                return self.withdraw, self._validate_withdraw, WithdrawRequest(actor=actor, reason=reason)
            case DeliverMember(method=method):
                return self.deliver, self._validate_deliver, DeliveryRequest(actor=actor, method=method)
            case _:
                assert_never(cmd.action)

    async def _report_to_bundle(self) -> None:
        """Tell the bundle where this member stands, when that changed or a command was handled."""
        link, view = self._input.bundle, self._view
        if link is None or not self._registered:
            return
        report = MemberReport(
            member_key=link.member_key,
            case_id=view.case_id,
            seq=view.last_seq,
            status=view.status,
            completion_deadline=view.completion_deadline,
            overdue=view.overdue,
            result_number=view.result_number,
            missing_materials=view.missing_materials,
            reason=view.decision_reason,
            acks=self._acks,
            refused=self._refused,
        )
        previous = self._reported
        unchanged = previous is not None and _state(previous) == _state(report)
        if unchanged and not report.acks:
            return
        self._reported, self._acks, self._refused = report, [], {}
        bundle = workflow.get_external_workflow_handle(bundle_workflow_id(link.bundle_id))
        try:
            await bundle.signal("member_report", report)
        except FailureError as exc:  # the bundle has ended; nothing is waiting for this news
            workflow.logger.warning("bundle %s did not take a report: %s", link.bundle_id, exc)
