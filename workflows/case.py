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
from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.calendar import compute_deadline
    from activities.case_records import CaseRecordActivities
    from activities.review import ReviewActivities
    from core import search_attributes as sa
    from core.types import (
        RATING_LABELS,
        SIGNERS,
        STATUS_LABELS,
        WITHDRAWABLE,
        AcceptanceDecision,
        AcceptanceRequest,
        Actor,
        CaseErrorCode,
        CaseEvent,
        CaseInput,
        CaseStatus,
        CaseView,
        DeadlineRequest,
        DeliveryRequest,
        Notification,
        RatingRequest,
        RecordRequest,
        ReviewTask,
        Role,
        SignatureRequest,
        SignatureView,
        SignDecision,
        SupplementRequest,
        TaskResult,
        TaskStatus,
        TaskView,
        WithdrawRequest,
    )

SUPERVISOR_INBOX = "role:supervisor"
_QUICK = timedelta(seconds=30)
_REVIEW_TIMEOUT = timedelta(days=366)
_UNLIMITED = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(minutes=1))


def _refuse(code: CaseErrorCode, message: str) -> ApplicationError:
    return ApplicationError(message, type=code.value, non_retryable=True)


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
            submitted_at=workflow.now(),
        )
        self._events: list[CaseEvent] = []
        self._notifications: list[Notification] = []
        self._recorded = 0
        self._notified = 0
        self._registered = False
        self._acceptance_round = 0

    # ---- run ---------------------------------------------------------------------------

    @workflow.run
    async def run(self, inp: CaseInput) -> CaseView:
        await self._register()
        if await self._acceptance_phase():
            await self._review_and_decision_phase()
            await self._closing_phase()
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self._view

    async def _register(self) -> None:
        self._view.acceptance_deadline = await self._deadline(self._view.submitted_at, 1)
        self._upsert_search_attributes()
        actor = self._input.submitted_by
        channel = "网上申报" if self._input.channel == "online" else "窗口申报"
        self._log("submitted", actor, f"已提交（{channel}），等待受理", notify=True)
        await self._record()
        self._registered = True

    async def _acceptance_phase(self) -> bool:
        """Loop until accepted (True) or ended by rejection or withdrawal (False)."""
        while True:
            status = self._view.status
            if status == CaseStatus.SUBMITTED:
                await self._watch(
                    "acceptance",
                    self._view.acceptance_deadline,
                    self._acceptance_left(self._acceptance_round),
                )
            elif status == CaseStatus.SUPPLEMENT_REQUESTED:
                await workflow.wait_condition(lambda: self._view.status != CaseStatus.SUPPLEMENT_REQUESTED)
            elif status == CaseStatus.UNDER_REVIEW:
                return True
            else:
                return False

    def _acceptance_left(self, round_: int) -> Callable[[], bool]:
        return lambda: self._acceptance_round != round_ or self._view.status != CaseStatus.SUBMITTED

    async def _review_and_decision_phase(self) -> None:
        await workflow.wait_condition(lambda: self._view.completion_deadline is not None)
        watcher = asyncio.create_task(
            self._watch("completion", self._view.completion_deadline, self._decided)
        )
        handles = [self._start_review(t) for t in self._view.tasks]
        await workflow.wait_condition(
            lambda: (
                self._view.status == CaseStatus.WITHDRAWN
                or all(t.status != TaskStatus.PENDING for t in self._view.tasks)
            )
        )
        if self._view.status == CaseStatus.WITHDRAWN:
            for handle in handles:
                handle.cancel()
            await workflow.execute_activity_method(
                ReviewActivities.cancel_open_tasks,
                self._view.case_id,
                start_to_close_timeout=_QUICK,
                retry_policy=_UNLIMITED,
            )
        else:
            self._set_status(CaseStatus.AWAITING_SIGNATURE)
            self._log("review_finished", None, "部门审查已完成，等待签批")
            await self._record()
        await workflow.wait_condition(self._decided)
        await watcher

    def _decided(self) -> bool:
        return self._view.status not in (CaseStatus.UNDER_REVIEW, CaseStatus.AWAITING_SIGNATURE)

    def _start_review(self, task: TaskView) -> asyncio.Task:
        review = ReviewTask(
            task_id=task.task_id,
            case_id=self._view.case_id,
            department=task.department,
            item_code=self._view.item_code,
            item_name=self._view.item_name,
        )
        return asyncio.create_task(self._await_review(task, review))

    async def _await_review(self, task: TaskView, review: ReviewTask) -> None:
        try:
            result: TaskResult = await workflow.execute_activity_method(
                ReviewActivities.department_review,
                review,
                start_to_close_timeout=_REVIEW_TIMEOUT,
                retry_policy=_UNLIMITED,
                cancellation_type=workflow.ActivityCancellationType.TRY_CANCEL,
            )
        except (asyncio.CancelledError, ActivityError):
            task.status = TaskStatus.CANCELLED
            return
        task.status = TaskStatus.COMPLETED
        task.outcome = result.outcome
        task.opinion = result.opinion
        task.completed_by = result.completed_by
        verdict = "通过" if result.outcome == "pass" else "不通过"
        actor = Actor(username=result.completed_by, role=Role.DEPARTMENT, department=task.department)
        department = {d.code: d.name for d in self._input.item.departments}[task.department]
        self._log("task_completed", actor, f"{department}审查{verdict}：{result.opinion}")
        await self._record()

    async def _closing_phase(self) -> None:
        """Approved or denied → wait for delivery → wait for a rating (or the window) → closed."""
        if self._view.status == CaseStatus.WITHDRAWN:
            return
        await workflow.wait_condition(lambda: self._view.status == CaseStatus.DELIVERED)
        window = timedelta(days=self._input.rating_window_days)
        try:
            await workflow.wait_condition(lambda: self._view.rating_level is not None, timeout=window)
        except TimeoutError:
            self._set_status(CaseStatus.CLOSED)
            self._log("closed_unrated", None, "评价期已过，未评价，已办结")
            await self._record()

    async def _watch(self, kind: str, deadline: datetime | None, done: Callable[[], bool]) -> None:
        """Wait until `done()`; if the deadline passes first, mark the case overdue (超期)."""
        assert deadline is not None
        remaining = max(deadline - workflow.now(), timedelta(seconds=1))
        try:
            await workflow.wait_condition(done, timeout=remaining)
            return
        except TimeoutError:
            pass
        label = "受理" if kind == "acceptance" else "办结"
        self._view.overdue = True
        self._upsert_search_attributes()
        self._log(f"{kind}_overdue", None, f"已超过{label}时限，已提醒督办", notify=False)
        self._notify(SUPERVISOR_INBOX, f"办件 {self._view.case_id} 已超过{label}时限")
        await self._record()
        await workflow.wait_condition(done)

    # ---- acceptance ----------------------------------------------------------------------

    @workflow.update
    async def decide_acceptance(self, req: AcceptanceRequest) -> CaseView:
        decision = req.decision
        if decision == AcceptanceDecision.ACCEPT:
            self._set_status(CaseStatus.UNDER_REVIEW)
            self._view.accepted_at = workflow.now()
            self._view.tasks = [
                TaskView(task_id=f"{self._view.case_id}-T{i}", department=code, status="pending")
                for i, code in enumerate(self._view.departments, start=1)
            ]
            self._log("accepted", req.actor, "已受理，进入部门审查", notify=True)
            promised = self._input.item.promised_time_limit_days
            self._view.completion_deadline = await self._deadline(workflow.now(), promised)
            self._upsert_search_attributes()
        elif decision == AcceptanceDecision.REJECT:
            self._set_status(CaseStatus.REJECTED)
            self._view.decision_reason = req.reason
            self._log("rejected", req.actor, f"不予受理：{req.reason}", notify=True)
        else:
            self._set_status(CaseStatus.SUPPLEMENT_REQUESTED)
            self._view.missing_materials = list(req.missing_materials)
            names = "、".join(self._material_names(req.missing_materials))
            self._log(
                "supplement_requested",
                req.actor,
                f"请一次性补正以下材料：{names}",
                detail={"missing_materials": req.missing_materials, "reason": req.reason},
                notify=True,
            )
        await self._record()
        return self._view

    @decide_acceptance.validator
    def _validate_acceptance(self, req: AcceptanceRequest) -> None:
        self._require_status({CaseStatus.SUBMITTED}, "受理")
        if req.decision == AcceptanceDecision.REJECT and not req.reason.strip():
            raise _refuse(CaseErrorCode.INVALID_STATE, "不予受理必须说明理由")
        if req.decision == AcceptanceDecision.SUPPLEMENT:
            if not req.missing_materials:
                raise _refuse(CaseErrorCode.MISSING_MATERIALS, "要求补正时须一次性列明全部所缺材料")
            self._require_listed(req.missing_materials)

    @workflow.update
    async def supply_materials(self, req: SupplementRequest) -> CaseView:
        self._acceptance_round += 1
        self._set_status(CaseStatus.SUBMITTED)
        self._view.materials = sorted(set(self._view.materials) | set(req.materials))
        self._view.missing_materials = []
        names = "、".join(self._material_names(req.materials))
        self._log("supplemented", req.actor, f"已补正材料：{names}，重新等待受理", notify=True)
        self._view.acceptance_deadline = await self._deadline(workflow.now(), 1)
        self._upsert_search_attributes()
        await self._record()
        return self._view

    @supply_materials.validator
    def _validate_supply(self, req: SupplementRequest) -> None:
        self._require_status({CaseStatus.SUPPLEMENT_REQUESTED}, "补正材料")
        self._require_listed(req.materials)
        missing = set(self._view.missing_materials) - set(req.materials)
        if missing:
            names = "、".join(self._material_names(sorted(missing)))
            raise _refuse(CaseErrorCode.MISSING_MATERIALS, f"仍缺少材料：{names}")

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
        self._log("signed", req.actor, f"{title}签批：{verdict}。{req.opinion}")
        if len(self._view.signatures) == len(signers):
            approved = req.decision == SignDecision.APPROVE
            self._set_status(CaseStatus.APPROVED if approved else CaseStatus.DENIED)
            self._view.decided_at = workflow.now()
            result = "准予许可" if approved else "不予许可"
            self._log("decided", req.actor, f"审批决定：{result}，请选择领取方式", notify=True)
        await self._record()
        return self._view

    @sign.validator
    def _validate_sign(self, req: SignatureRequest) -> None:
        signers = SIGNERS[self._view.signature_mode]
        if len(self._view.signatures) >= len(signers):
            raise _refuse(CaseErrorCode.SIGNATURE_LIMIT, f"本事项最多签{len(signers)}次，已签批完毕")
        self._require_status({CaseStatus.AWAITING_SIGNATURE}, "签批")
        if req.actor.department != self._view.lead_department:
            raise _refuse(CaseErrorCode.WRONG_DEPARTMENT, "非本事项责任部门，无权签批")
        expected = signers[len(self._view.signatures)]
        if req.actor.role != expected:
            who = "首席代表" if expected == Role.CHIEF else "经办人"
            raise _refuse(CaseErrorCode.WRONG_SIGNER, f"当前应由{who}签批")

    # ---- delivery, rating, withdrawal -------------------------------------------------

    @workflow.update
    async def deliver(self, req: DeliveryRequest) -> CaseView:
        self._set_status(CaseStatus.DELIVERED)
        self._view.delivery_method = req.method
        how = {"window_pickup": "窗口领取", "mail": "邮寄送达", "electronic": "电子证照"}
        self._log("delivered", req.actor, f"办理结果已送达（{how[req.method]}），欢迎评价", notify=True)
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
        self._log(
            "rated",
            req.actor,
            f"评价：{label}",
            detail={"level": req.level, "channel": req.channel, "comment": req.comment},
        )
        self._log("closed", None, "已办结")
        await self._record()
        return self._view

    @rate.validator
    def _validate_rate(self, req: RatingRequest) -> None:
        if self._view.rating_level is not None:
            raise _refuse(CaseErrorCode.ALREADY_RATED, "本办件已评价，一事一评，不能重复评价")
        self._require_status({CaseStatus.DELIVERED}, "评价")

    @workflow.update
    async def withdraw(self, req: WithdrawRequest) -> CaseView:
        self._set_status(CaseStatus.WITHDRAWN)
        self._view.decision_reason = req.reason
        self._log("withdrawn", req.actor, f"申请人已撤回申请。{req.reason}", notify=True)
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

    @workflow.query
    def view(self) -> CaseView:
        return self._view

    # ---- helpers -----------------------------------------------------------------------

    def _require_status(self, allowed: set[CaseStatus] | frozenset[CaseStatus], action: str) -> None:
        if not self._registered:
            raise _refuse(CaseErrorCode.INVALID_STATE, "办件尚在登记，请稍后再试")
        if self._view.status not in allowed:
            label = STATUS_LABELS[self._view.status]
            raise _refuse(CaseErrorCode.INVALID_STATE, f"办件当前状态为“{label}”，不能{action}")

    def _require_listed(self, codes: list[str]) -> None:
        listed = {m.code for m in self._input.item.materials}
        unlisted = [c for c in codes if c not in listed]
        if unlisted:
            raise _refuse(
                CaseErrorCode.UNLISTED_MATERIAL,
                f"材料不在本事项办事指南所列范围内：{'、'.join(unlisted)}",
            )

    def _material_names(self, codes: list[str]) -> list[str]:
        names = {m.code: m.name for m in self._input.item.materials}
        return [names.get(c, c) for c in codes]

    async def _deadline(self, start: datetime, working_days: int) -> datetime:
        return await workflow.execute_activity(
            compute_deadline,
            DeadlineRequest(start=start, working_days=working_days),
            start_to_close_timeout=_QUICK,
            retry_policy=_UNLIMITED,
        )

    def _set_status(self, status: CaseStatus) -> None:
        self._view.status = status
        self._upsert_search_attributes()

    def _upsert_search_attributes(self) -> None:
        updates = [
            sa.CASE_STATUS.value_set(self._view.status.value),
            sa.OVERDUE.value_set(self._view.overdue),
        ]
        if self._view.acceptance_deadline:
            updates.append(sa.ACCEPTANCE_DEADLINE.value_set(self._view.acceptance_deadline))
        if self._view.completion_deadline:
            updates.append(sa.COMPLETION_DEADLINE.value_set(self._view.completion_deadline))
        workflow.upsert_search_attributes(updates)

    def _log(
        self,
        event: str,
        actor: Actor | None,
        message: str,
        detail: dict | None = None,
        notify: bool = False,
    ) -> None:
        seq = len(self._events) + 1
        self._events.append(
            CaseEvent(
                seq=seq,
                at=workflow.now(),
                event=event,
                actor=actor.username if actor else "system",
                role=actor.role.value if actor else "system",
                message=message,
                detail=detail or {},
            )
        )
        self._view.last_seq = seq
        if notify and self._view.applicant_username:
            self._notify(self._view.applicant_username, f"您的办件 {self._view.case_id}：{message}")

    def _notify(self, recipient: str, message: str) -> None:
        self._notifications.append(
            Notification(
                notification_id=f"{self._view.case_id}:{len(self._events)}:{recipient}",
                case_id=self._view.case_id,
                recipient=recipient,
                message=message,
                at=workflow.now(),
            )
        )

    async def _record(self) -> None:
        """Hand new events to the read model; claimed before the await so none goes twice."""
        events = self._events[self._recorded :]
        notes = self._notifications[self._notified :]
        self._recorded, self._notified = len(self._events), len(self._notifications)
        if not events and not notes:
            return
        await workflow.execute_activity_method(
            CaseRecordActivities.record_case,
            RecordRequest(view=self._view.model_copy(deep=True), events=events, notifications=notes),
            start_to_close_timeout=_QUICK,
            retry_policy=_UNLIMITED,
        )
