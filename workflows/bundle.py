"""The bundle workflow (办好一件事): one long-lived workflow per themed submission.

One form, one window, one contact person, one visit. The bundle starts a child case workflow
per member item — independent members at once, dependent ones as soon as the result they need
exists, with it filled into their form — acts on all of them through one window (acceptance,
one combined supplement notice, delivery), delivers once and takes one rating.

Members report to the bundle by signal and the bundle commands them by signal, so it keeps
no child handles and can continue as new whenever its history grows long.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.exceptions import FailureError

from workflows.case import CaseWorkflow
from workflows.common import refuse
from workflows.materials import MaterialList
from workflows.rating_filing import file_rating, require_ratable
from workflows.steps import Steps

with workflow.unsafe.imports_passed_through():
    from activities.bundle_records import BundleRecordActivities
    from core import search_attributes as sa
    from core import themes
    from core.form_fields import FORM_FIELDS
    from core.temporal import case_workflow_id
    from core.types import Actor, CaseErrorCode, Role
    from workflows.bundle_messages import (
        APPROVED_CASE,
        FAILED_CASE,
        AcceptMember,
        AskMemberForSupplements,
        BundleAcceptRequest,
        BundleCarry,
        BundleCommand,
        BundleDeliveryRequest,
        BundleInput,
        BundleRecordRequest,
        BundleRetryRequest,
        BundleStatus,
        BundleSupplementNotice,
        BundleSupplyRequest,
        BundleView,
        BundleWithdrawRequest,
        DeliverMember,
        MemberAction,
        MemberReport,
        MemberState,
        MemberView,
        SupplyMember,
        WithdrawMember,
    )
    from workflows.case_messages import (
        WITHDRAWABLE,
        BundleLink,
        CaseEvent,
        CaseInput,
        CaseStatus,
        DeliveryMethod,
        Notification,
        RatingRequest,
    )
    from workflows.rating_messages import RATING_LABELS, RatingRecord

# How long a bundle action waits for its members to confirm it before answering anyway.
_ACK_WAIT = timedelta(seconds=20)
_IN_HAND = frozenset({CaseStatus.SUBMITTED, CaseStatus.UNDER_REVIEW, CaseStatus.AWAITING_SIGNATURE})
_FAILURE_LABELS = {
    CaseStatus.REJECTED: "不予受理",
    CaseStatus.DENIED: "不予许可",
    CaseStatus.WITHDRAWN: "已撤回",
}
_DELIVERY_LABELS = {"window_pickup": "窗口领取", "mail": "邮寄送达", "electronic": "电子证照"}


@workflow.defn(name="BundleWorkflow")
class BundleWorkflow:
    @workflow.init
    def __init__(self, inp: BundleInput) -> None:
        self._input = inp
        self._theme = {m.key: m for m in inp.theme.members}
        listed = {m.code: m.name for m in themes.merged_form(inp.theme).materials}
        self._materials = MaterialList(listed, "本主题材料清单")
        carried = inp.carried or self._fresh(inp)
        self._view = carried.view
        self._form = carried.form
        self._resume_status = carried.resume_status
        self._command_seq = carried.command_seq
        self._auto_accepted = set(carried.auto_accepted)
        self._news, self._failures = carried.news, carried.failures
        self._registered = inp.carried is not None
        view = self._view
        prefix = f"您的“{view.theme_name}”（{view.bundle_id}）："
        self._steps = Steps(view.bundle_id, view, applicant=view.applicant_username, notice_prefix=prefix)
        self._recorded_view: dict[str, Any] | None = None
        self._acks: set[int] = set()
        self._refusals: dict[int, str] = {}
        self._changed = False

    @staticmethod
    def _fresh(inp: BundleInput) -> BundleCarry:
        members = [
            MemberView(
                key=m.key,
                item_code=m.item.code,
                item_name=m.item.name,
                departments=[d.code for d in m.item.departments],
                needs=[n.member for n in m.needs],
            )
            for m in inp.theme.members
        ]
        view = BundleView(
            bundle_id=inp.bundle_id,
            theme_code=inp.theme.code,
            theme_name=inp.theme.name,
            lead_department=inp.theme.lead_department,
            status=BundleStatus.SUBMITTED,
            applicant_username=inp.applicant_username,
            contact_clerk=inp.contact_clerk,
            district=inp.district,
            channel=inp.channel,
            submitted_at=workflow.now(),
            members=members,
            materials=sorted(set(inp.materials)),
        )
        return BundleCarry(
            view=view, form=dict(inp.form), resume_status=BundleStatus.SUBMITTED, command_seq=0
        )

    # ---- run ---------------------------------------------------------------------------

    @workflow.run
    async def run(self, inp: BundleInput) -> BundleView:
        if not self._registered:
            await self._register()
        # Members start as the results they need exist; the one window accepts, asks for
        # supplements and delivers for all of them, until everything is delivered once (办一次).
        await self._run_members_until(
            lambda: self._view.status in (BundleStatus.DELIVERED, BundleStatus.CLOSED)
        )
        # One rating for the whole bundle (一次一评), or closed unrated when its window passes.
        await self._run_members_until(lambda: self._view.status == BundleStatus.CLOSED, self._rating_closes())
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self._view

    async def _register(self) -> None:
        """一表申请: one form for every member item, and one contact person."""
        inp, names = self._input, "、".join(m.item_name for m in self._view.members)
        self._steps.log(
            "submitted",
            inp.submitted_by,
            f"已提交“{inp.theme.name}”（一表申请 {len(self._view.members)} 个事项：{names}），"
            f"您的专属联系人为综窗 {inp.contact_clerk}",
            notify=True,
        )
        await self._record()
        self._registered = True

    async def _run_members_until(self, done: Callable[[], bool], closes: datetime | None = None) -> None:
        """Act on every change (a member's report, a window action) until `done()`; past `closes`,
        the bundle closes unrated. Continues as new whenever the history grows long."""
        while True:
            self._changed = False
            await self._advance()
            if done():
                return
            if self._history_is_long():
                await self._continue_as_new()
            try:
                timeout = None if closes is None else max(closes - workflow.now(), timedelta(seconds=1))
                await workflow.wait_condition(lambda: self._changed, timeout=timeout)
            except TimeoutError:
                self._view.status = BundleStatus.CLOSED
                self._steps.log("closed_unrated", None, "评价期已过，未评价，本“一件事”已办结")

    def _rating_closes(self) -> datetime | None:
        delivered = self._view.delivered_at
        return delivered + timedelta(days=self._input.rating_window_days) if delivered else None

    async def _advance(self) -> None:
        """Start what can start, stop what cannot, and tell the applicant once."""
        self._block_dependants()
        self._tell_news()
        ready = [m for m in self._view.members if self._can_start(m)]
        await asyncio.gather(*(self._start(m) for m in ready))
        await self._accept_new_members()
        self._settle_status()
        deadlines = [m.completion_deadline for m in self._view.members if m.completion_deadline]
        self._view.deadline = max(deadlines) if deadlines else None
        await self._record()

    def _history_is_long(self) -> bool:
        info = workflow.info()
        return (
            info.get_current_history_length() >= self._input.history_limit
            or info.is_continue_as_new_suggested()
        )

    async def _continue_as_new(self) -> None:
        while True:  # nothing may be left half-handled or unrecorded
            await workflow.wait_condition(workflow.all_handlers_finished)
            await self._record()
            if workflow.all_handlers_finished():
                break
        self._view.runs += 1
        carry = BundleCarry(
            view=self._view,
            form=self._form,
            resume_status=self._resume_status,
            command_seq=self._command_seq,
            auto_accepted=sorted(self._auto_accepted),
            news=self._news,
            failures=self._failures,
        )
        workflow.continue_as_new(
            self._input.model_copy(update={"carried": carry, "form": {}, "materials": []})
        )

    @workflow.query
    def view(self) -> BundleView:
        return self._view

    # ---- members -------------------------------------------------------------------------

    def _upstream(self, member: MemberView) -> list[MemberView]:
        return [m for m in self._view.members if m.key in member.needs]

    def _can_start(self, member: MemberView) -> bool:
        if member.state != MemberState.WAITING or self._view.status == BundleStatus.CLOSED:
            return False
        return all(
            up.state == MemberState.STARTED and up.case_status in APPROVED_CASE and up.result_number
            for up in self._upstream(member)
        )

    def _block_dependants(self) -> None:
        """A member whose upstream failed is not started; repeat for dependants of dependants."""
        blocked: list[str] = []
        changed = True
        while changed:
            changed = False
            for member in self._view.members:
                if member.state != MemberState.WAITING:
                    continue
                failed = [up for up in self._upstream(member) if _failed(up)]
                if failed:
                    member.state = MemberState.BLOCKED
                    member.reason = f"前置事项“{failed[0].item_name}”未获通过"
                    blocked.append(member.item_name)
                    changed = True
        if blocked:
            names = "、".join(f"“{n}”" for n in blocked)
            self._failures.append(f"依赖其结果的{names}暂不启动")

    def _downstream(self, key: str) -> set[str]:
        """The members that need this one's result, directly or through a chain of others."""
        found: set[str] = set()
        frontier = [key]
        while frontier:
            upstream = frontier.pop()
            for member in self._view.members:
                if upstream in member.needs and member.key not in found:
                    found.add(member.key)
                    frontier.append(member.key)
        return found

    def _unblock_dependants(self, retried: MemberView) -> None:
        """After a retry, wait again only where nothing else failed upstream; the rest stay blocked
        (and are not announced again), now naming the upstream member that still stops them."""
        downstream = self._downstream(retried.key)
        changed = True
        while changed:  # a dependant of a dependant waits again once its own upstream does
            changed = False
            for other in self._view.members:
                if other.key not in downstream or other.state != MemberState.BLOCKED:
                    continue
                if not any(_failed(up) for up in self._upstream(other)):
                    other.state, other.reason = MemberState.WAITING, ""
                    changed = True
        for other in self._view.members:
            if other.key in downstream and other.state == MemberState.BLOCKED:
                failed = [up for up in self._upstream(other) if _failed(up)]
                other.reason = f"前置事项“{failed[0].item_name}”未获通过"

    def _tell_news(self) -> None:
        """One notice for everything that happened to the members since the last one."""
        if self._failures:
            others = [m.item_name for m in self._view.members if not m.finished]
            rest = f"；其余事项（{'、'.join(others)}）继续办理" if others else ""
            fix = "。补正后可由您的联系人重新提交未通过的事项，无需重新申请整个“一件事”"
            self._steps.log("members_failed", None, "；".join(self._failures) + rest + fix, notify=True)
        if self._news:
            self._steps.log("members_progress", None, "；".join(self._news), notify=True)
        self._failures, self._news = [], []

    async def _start(self, member: MemberView) -> None:
        snap = self._theme[member.key]
        index = [m.key for m in self._view.members].index(member.key) + 1
        member.attempt += 1
        if member.case_id:
            member.earlier_case_ids.append(member.case_id)
        suffix = f"-{member.attempt}" if member.attempt > 1 else ""
        case_id = f"{self._view.bundle_id}-{index}{suffix}"
        _reset(member, case_id)
        results = {m.key: m.result_number for m in self._view.members if m.result_number}
        inp = CaseInput(
            case_id=case_id,
            item=snap.item,
            applicant_username=self._view.applicant_username,
            channel=self._view.channel,
            district=self._view.district,
            materials=themes.member_materials(snap, set(self._view.materials)),
            submitted_by=self._input.submitted_by,
            rating_window_days=self._input.rating_window_days,
            form=themes.member_form(snap, self._form, results),
            bundle=BundleLink(bundle_id=self._view.bundle_id, member_key=member.key),
        )
        filled = [f"{FORM_FIELDS[n.field].label} {results[n.member]}" for n in snap.needs if n.field]
        detail = f"，已自动填入前置事项结果：{'、'.join(filled)}" if filled else ""
        self._steps.log("member_started", None, f"“{member.item_name}”已发起办理（办件号 {case_id}）{detail}")
        await workflow.start_child_workflow(
            CaseWorkflow.run,
            inp,
            id=case_workflow_id(case_id),
            parent_close_policy=workflow.ParentClosePolicy.ABANDON,
            search_attributes=sa.case_attributes(inp),
            static_summary=f"{sa.case_summary(inp)}｜“一件事” {self._view.bundle_id}",
        )

    async def _accept_new_members(self) -> None:
        """After the bundle was accepted once, members that start later are accepted with it."""
        if self._view.accepted_at is None:
            return
        fresh = [
            m
            for m in self._view.members
            if m.state == MemberState.STARTED
            and m.case_status == CaseStatus.SUBMITTED
            and m.case_id not in self._auto_accepted
        ]
        self._auto_accepted.update(m.case_id for m in fresh if m.case_id)
        await asyncio.gather(*(self._command(m, AcceptMember(), self._clerk()) for m in fresh))

    def _settle_status(self) -> None:
        view = self._view
        if view.status == BundleStatus.SUBMITTED and any(_accepted(m) for m in view.members):
            view.status, view.accepted_at = BundleStatus.IN_PROGRESS, view.accepted_at or workflow.now()
        all_finished = all(m.finished for m in view.members)
        if view.status == BundleStatus.READY and not all_finished:
            view.status = BundleStatus.IN_PROGRESS
        if view.status not in (BundleStatus.SUBMITTED, BundleStatus.IN_PROGRESS) or not all_finished:
            return
        if any(m.deliverable for m in view.members):
            view.status, view.ready_at = BundleStatus.READY, workflow.now()
            self._steps.log("ready", None, "全部事项均已办结，办理结果可一次领取（办一次）", notify=True)
        elif any(m.delivered for m in view.members):
            view.status, view.delivered_at = BundleStatus.DELIVERED, view.delivered_at or workflow.now()
        else:
            view.status = BundleStatus.CLOSED
            why = "申请人已撤回" if view.withdrawn else "事项均未获受理或许可"
            self._steps.log("closed", None, f"本“一件事”{why}，已结束", notify=True)

    @workflow.signal
    def member_report(self, report: MemberReport) -> None:
        """A member case says where it stands (and which commands it has handled)."""
        self._acks.update(report.acks)
        self._refusals.update(report.refused)
        member = self._view.member(report.member_key)
        if member is None or member.case_id != report.case_id or report.seq < member.report_seq:
            return  # an earlier attempt, or news older than what we have
        before = member.case_status
        member.report_seq = report.seq
        member.case_status = report.status
        member.completion_deadline = report.completion_deadline
        member.overdue = report.overdue
        member.result_number = report.result_number
        member.missing_materials = report.missing_materials
        if before != report.status:
            self._on_member_status(member, report)
        self._changed = True

    def _on_member_status(self, member: MemberView, report: MemberReport) -> None:
        status = report.status
        if status in _FAILURE_LABELS and self._view.withdrawn:
            member.reason = "申请人已撤回"
        elif status in _FAILURE_LABELS:
            member.reason = report.reason
            why = f"（{report.reason}）" if report.reason else ""
            self._failures.append(f"“{member.item_name}”{_FAILURE_LABELS[status]}{why}")
        elif status == CaseStatus.APPROVED:
            self._news.append(f"“{member.item_name}”准予许可，编号 {report.result_number}")

    # ---- one window: acceptance, supplements, delivery, retry -----------------------------

    @workflow.update
    async def accept(self, req: BundleAcceptRequest) -> BundleView:
        targets = self._members_in({CaseStatus.SUBMITTED})
        view = self._view
        view.status, self._resume_status = BundleStatus.IN_PROGRESS, BundleStatus.IN_PROGRESS
        view.accepted_at = view.accepted_at or workflow.now()
        self._auto_accepted.update(m.case_id for m in targets if m.case_id)
        waiting = [m.item_name for m in view.members if m.state == MemberState.WAITING]
        later = f"；{'、'.join(waiting)}将在前置事项办结后自动受理" if waiting else ""
        names = "、".join(m.item_name for m in targets)
        self._steps.log("accepted", req.actor, f"已一窗统一受理：{names}{later}", notify=True)
        await self._command_all([(m, AcceptMember()) for m in targets], req.actor)
        return self._view

    @accept.validator
    def _validate_accept(self, req: BundleAcceptRequest) -> None:
        self._require({BundleStatus.SUBMITTED, BundleStatus.IN_PROGRESS}, "受理")
        if not self._members_in({CaseStatus.SUBMITTED}):
            raise refuse(CaseErrorCode.INVALID_STATE, "没有待受理的事项")

    @workflow.update
    async def request_supplement(self, req: BundleSupplementNotice) -> BundleView:
        """一次性告知 for the whole bundle: one notice, each affected member told its part."""
        affected = self._affected_by(req.missing_materials)
        view = self._view
        self._resume_status, view.status = view.status, BundleStatus.SUPPLEMENT_REQUESTED
        view.missing_materials = sorted(set(req.missing_materials))
        names = self._materials.names(view.missing_materials)
        items = "、".join(m.item_name for m, _ in affected)
        reason = f"。说明：{req.reason}" if req.reason else ""
        message = f"请一次性补正以下材料：{names}（涉及：{items}）{reason}"
        self._steps.log("supplement_requested", req.actor, message, notify=True)
        notices = [(m, AskMemberForSupplements(materials=codes, reason=req.reason)) for m, codes in affected]
        await self._command_all(notices, req.actor)
        return self._view

    @request_supplement.validator
    def _validate_request_supplement(self, req: BundleSupplementNotice) -> None:
        self._require({BundleStatus.SUBMITTED, BundleStatus.IN_PROGRESS}, "要求补正")
        self._materials.require_listed(req.missing_materials)
        if not req.missing_materials or not self._affected_by(req.missing_materials):
            raise refuse(CaseErrorCode.MISSING_MATERIALS, "所列材料不涉及正在受理或审查中的事项")

    @workflow.update
    async def supply(self, req: BundleSupplyRequest) -> BundleView:
        view = self._view
        view.materials = sorted(set(view.materials) | set(req.materials))
        names = self._materials.names(view.missing_materials)
        view.missing_materials, view.status = [], self._resume_status
        self._steps.log("supplemented", req.actor, f"已补正材料：{names}，各事项继续办理", notify=True)
        waiting = self._members_in({CaseStatus.SUPPLEMENT_REQUESTED})
        supplies = [(m, SupplyMember(materials=m.missing_materials)) for m in waiting]
        await self._command_all(supplies, req.actor)
        return self._view

    @supply.validator
    def _validate_supply(self, req: BundleSupplyRequest) -> None:
        self._require({BundleStatus.SUPPLEMENT_REQUESTED}, "补正材料")
        self._materials.require_supplied(self._view.missing_materials, req.materials)

    @workflow.update
    async def deliver(self, req: BundleDeliveryRequest) -> BundleView:
        view = self._view
        targets = [m for m in view.members if m.deliverable]
        for member in targets:
            member.delivered = True
        view.delivery_method = req.method
        names = "、".join(m.item_name for m in targets)
        how = _DELIVERY_LABELS[req.method]
        if all(m.finished for m in view.members):
            view.status, view.delivered_at = BundleStatus.DELIVERED, workflow.now()
            message = f"办理结果已一次送达（{how}）：{names}。欢迎对本次“一件事”服务评价"
        else:
            message = f"已按您的选择先行送达（{how}）：{names}；其余事项办结后再行送达"
        self._steps.log("delivered", req.actor, message, notify=True)
        await self._command_all([(m, DeliverMember(method=req.method)) for m in targets], req.actor)
        return self._view

    @deliver.validator
    def _validate_deliver(self, req: BundleDeliveryRequest) -> None:
        self._require({BundleStatus.IN_PROGRESS, BundleStatus.READY}, "送达")
        unfinished = [m.item_name for m in self._view.members if not m.finished]
        if unfinished and not req.partial:
            raise refuse(
                CaseErrorCode.INVALID_STATE,
                f"尚有事项未办结：{'、'.join(unfinished)}；可选择先行领取已办结的结果（partial）",
            )
        if not any(m.deliverable for m in self._view.members):
            raise refuse(CaseErrorCode.INVALID_STATE, "暂无可领取的办理结果")

    @workflow.update
    async def retry_member(self, req: BundleRetryRequest) -> BundleView:
        """After a fix, run a failed member again without restarting the bundle."""
        member = self._view.member(req.member_key)
        assert member is not None  # the validator checked
        self._form.update(req.form)
        self._view.materials = sorted(set(self._view.materials) | set(req.materials))
        denied_attempt = member.case_status == CaseStatus.DENIED and not member.delivered
        member.state, member.reason = MemberState.WAITING, ""
        self._unblock_dependants(member)
        self._steps.log("member_retried", req.actor, f"“{member.item_name}”经补正后重新办理", notify=True)
        self._changed = True
        if denied_attempt:  # its case waits for the decision to be handed over: it is, with this retry
            await self._command(member, DeliverMember(method=DeliveryMethod.ELECTRONIC), req.actor)
        return self._view

    @retry_member.validator
    def _validate_retry(self, req: BundleRetryRequest) -> None:
        self._require({BundleStatus.IN_PROGRESS, BundleStatus.READY, BundleStatus.SUBMITTED}, "重新办理")
        if self._view.withdrawn:
            raise refuse(CaseErrorCode.INVALID_STATE, "本“一件事”已撤回，不能重新办理")
        member = self._view.member(req.member_key)
        if member is None:
            raise refuse(CaseErrorCode.UNKNOWN_MEMBER, f"本主题没有该事项：{req.member_key}")
        if not (member.state == MemberState.STARTED and member.case_status in FAILED_CASE):
            raise refuse(CaseErrorCode.INVALID_STATE, "只有不予受理、不予许可或已撤回的事项可以重新办理")
        self._materials.require_listed(req.materials)

    @workflow.update
    async def withdraw(self, req: BundleWithdrawRequest) -> BundleView:
        """The applicant withdraws what is still undecided; decided results can still be taken."""
        view = self._view
        view.withdrawn = True
        if view.status == BundleStatus.SUPPLEMENT_REQUESTED:
            view.status, view.missing_materials = self._resume_status, []
        for member in view.members:
            if member.state == MemberState.WAITING:
                member.state, member.reason = MemberState.BLOCKED, "申请人已撤回"
        why = f"：{req.reason}" if req.reason else ""
        self._steps.log("withdrawn", req.actor, f"申请人已撤回本“一件事”中尚未办结的事项{why}", notify=True)
        targets = self._members_in(set(WITHDRAWABLE))
        await self._command_all([(m, WithdrawMember(reason=req.reason)) for m in targets], req.actor)
        return self._view

    @withdraw.validator
    def _validate_withdraw(self, req: BundleWithdrawRequest) -> None:
        allowed = {BundleStatus.SUBMITTED, BundleStatus.IN_PROGRESS, BundleStatus.SUPPLEMENT_REQUESTED}
        self._require(allowed, "撤回")
        if self._view.withdrawn:
            raise refuse(CaseErrorCode.INVALID_STATE, "本“一件事”已撤回")

    # ---- one rating --------------------------------------------------------------------

    @workflow.update
    async def rate(self, req: RatingRequest) -> BundleView:
        view = self._view
        view.rating_level, view.status = req.level, BundleStatus.CLOSED
        self._steps.log("rated", req.actor, f"评价：{RATING_LABELS[req.level]}", detail={"level": req.level})
        self._steps.log("closed", None, "本“一件事”已办结")
        self._changed = True
        await file_rating(req, view, view.contact_clerk, self._steps, self._record)
        return self._view

    @rate.validator
    def _validate_rate(self, req: RatingRequest) -> None:
        require_ratable(self._view, "本“一件事”", "一次一评")

    @workflow.update
    async def registered(self) -> BundleView:
        """Returns once the bundle is in the read model; used with update-with-start."""
        await workflow.wait_condition(lambda: self._registered)
        return self._view

    # ---- helpers -----------------------------------------------------------------------

    def _clerk(self) -> Actor:
        return Actor(username=self._view.contact_clerk, role=Role.CLERK)

    def _members_in(self, statuses: set[CaseStatus]) -> list[MemberView]:
        return [m for m in self._view.members if m.state == MemberState.STARTED and m.case_status in statuses]

    def _affected_by(self, codes: list[str]) -> list[tuple[MemberView, list[str]]]:
        found = []
        for member in self._members_in(set(_IN_HAND)):
            local = themes.local_codes(self._theme[member.key], codes)
            if local:
                found.append((member, local))
        return found

    async def _command(self, member: MemberView, action: MemberAction, actor: Actor) -> int:
        self._command_seq += 1
        command_id = self._command_seq
        command = BundleCommand(command_id=command_id, actor=actor, action=action)
        assert member.case_id is not None
        handle = workflow.get_external_workflow_handle(case_workflow_id(member.case_id))
        try:
            await handle.signal(CaseWorkflow.bundle_command, command)
        except FailureError:  # the member's case has ended meanwhile
            self._acks.add(command_id)
            self._refusals[command_id] = "办件流程已结束"
        return command_id

    async def _command_all(self, commands: Sequence[tuple[MemberView, MemberAction]], actor: Actor) -> None:
        """Send each member its command, then wait (bounded) until every one has handled it."""
        kind = commands[0][1].kind if commands else "none"
        ids = await asyncio.gather(*(self._command(m, action, actor) for m, action in commands))
        try:
            await workflow.wait_condition(lambda: all(i in self._acks for i in ids), timeout=_ACK_WAIT)
        except TimeoutError:
            workflow.logger.warning("bundle %s: members slow to confirm %s", self._view.bundle_id, kind)
        refused = [
            f"{m.item_name}（{self._refusals[i]}）"
            for (m, _), i in zip(commands, ids, strict=True)
            if i in self._refusals
        ]
        if refused:
            self._steps.log(f"{kind}_refused", None, f"以下事项未能一并办理：{'、'.join(refused)}")
        self._changed = True
        # The notice is in the read model before the clerk gets the answer, also when the main
        # loop's record took it: that write comes first.
        await self._record()

    def _require(self, allowed: set[BundleStatus], action: str) -> None:
        if not self._registered:
            raise refuse(CaseErrorCode.INVALID_STATE, "“一件事”尚在登记，请稍后再试")
        if self._view.status not in allowed:
            raise refuse(CaseErrorCode.INVALID_STATE, f"“一件事”当前状态不能{action}")

    async def _record(self, rating: RatingRecord | None = None) -> None:
        def request(events: list[CaseEvent], notes: list[Notification]) -> BundleRecordRequest | None:
            snapshot = self._view.model_dump(mode="json")
            if not events and not notes and not rating and snapshot == self._recorded_view:
                return None
            self._recorded_view = snapshot
            view = self._view.model_copy(deep=True)
            return BundleRecordRequest(view=view, events=events, notifications=notes, rating=rating)

        # A regular activity, not a local one: the bundle is the parent of its member cases, whose
        # completions arrive at any moment. A workflow task that completes the bundle fails on such
        # an event (UnhandledCommand), and with it the update it accepted, such as the rating that
        # closes the bundle; with a regular activity the acceptance and the completion never share
        # a task.
        await self._steps.record(BundleRecordActivities.record_bundle, request, local=False)


def _failed(member: MemberView) -> bool:
    return member.state == MemberState.BLOCKED or (
        member.state == MemberState.STARTED and member.case_status in FAILED_CASE
    )


def _accepted(member: MemberView) -> bool:
    return member.state == MemberState.STARTED and member.case_status not in (
        None,
        CaseStatus.SUBMITTED,
        CaseStatus.SUPPLEMENT_REQUESTED,
        CaseStatus.REJECTED,
        CaseStatus.WITHDRAWN,
    )


def _reset(member: MemberView, case_id: str) -> None:
    member.case_id, member.state, member.case_status = case_id, MemberState.STARTED, None
    member.completion_deadline, member.overdue, member.result_number = None, False, None
    member.missing_materials, member.reason, member.delivered, member.report_seq = [], "", False, 0
