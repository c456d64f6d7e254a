"""The bundle workflow (办好一件事) with its member cases, in the time-skipping test server with the
activities faked: members started by dependency, one window, one notice, one delivery, one rating.

The theme: a business licence (`lic`), a seal that needs the licence's credit code and stands it
in for the licence copy (`seal`), and an independent tax registration (`tax`).

A member case must not end after its bundle has: the test server would keep the time-skipping
lock it takes to notify the parent, and no later test could skip time. So the tests let members
end before their bundle does (or leave them running, for the harness to terminate)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from temporalio.client import WorkflowExecutionStatus, WorkflowHandle

from core.catalogue import ThemeMemberSnapshot, ThemeNeed, ThemeSnapshot
from core.form_fields import credit_code_for
from core.temporal import bundle_workflow_id, case_workflow_id
from core.types import CaseErrorCode
from tests.workflows.fakes import (
    APPLICANT,
    CLERK,
    Harness,
    handler,
    item,
    refused,
    staff,
    unique,
    until,
)
from workflows.bundle import BundleWorkflow
from workflows.bundle_messages import (
    BundleAcceptRequest,
    BundleDeliveryRequest,
    BundleInput,
    BundleRetryRequest,
    BundleSupplementNotice,
    BundleSupplyRequest,
    BundleView,
    BundleWithdrawRequest,
    MemberView,
)
from workflows.case import CaseWorkflow
from workflows.case_messages import (
    CaseView,
    DeliveryMethod,
    RatingRequest,
    SignatureRequest,
    SignDecision,
    TaskCompletion,
    TaskOutcome,
)
from workflows.rating_messages import RatingChannel

pytestmark = pytest.mark.asyncio(loop_scope="session")

LIC = item(
    "t-lic",
    {"market": "市场监管局"},
    {"L01": "设立登记申请书"},
    result_name="营业执照",
    form_fields=["business_name"],
)
SEAL = item(
    "t-seal",
    {"police": "公安局"},
    {"S01": "刻章申请表", "S02": "营业执照复印件"},
    shared={"S02": "BUSINESS_LICENCE"},
    form_fields=["credit_code", "business_name"],
)
TAX = item("t-tax", {"tax": "税务局"}, {"T01": "税务信息确认表"}, form_fields=["business_name"])
THEME = ThemeSnapshot(
    code="t-opening",
    name="开办企业（测试）",
    lead_department="market",
    members=[
        ThemeMemberSnapshot(key="lic", item=LIC),
        ThemeMemberSnapshot(
            key="seal",
            item=SEAL,
            needs=[ThemeNeed(member="lic", field="credit_code", materials=["BUSINESS_LICENCE"])],
        ),
        ThemeMemberSnapshot(key="tax", item=TAX),
    ],
)
MATERIALS = ["t-lic/L01", "t-seal/S01", "t-tax/T01"]
B = BundleWorkflow
E = CaseErrorCode


async def start(h: Harness, **kw) -> tuple[str, WorkflowHandle]:
    inp = BundleInput(
        bundle_id=unique("FB"),
        theme=THEME,
        applicant_username=APPLICANT.username,
        contact_clerk=CLERK.username,
        district="chaoyang",
        channel="window",
        form={"business_name": "北京望京科技有限公司"},
        materials=MATERIALS,
        submitted_by=APPLICANT,
        **kw,
    )
    handle = await h.start(B.run, inp, bundle_workflow_id(inp.bundle_id))
    await handle.execute_update(B.registered)
    return inp.bundle_id, handle


def member(view: BundleView, key: str) -> MemberView:
    found = view.member(key)
    assert found is not None
    return found


async def until_view(bundle: WorkflowHandle, done, what: str) -> BundleView:
    async def check() -> BundleView | None:
        view = await bundle.query(B.view)
        return view if done(view) else None

    return await until(check, what)


def statuses(view: BundleView) -> dict[str, str | None]:
    return {m.key: m.case_status for m in view.members}


async def submitted(bundle: WorkflowHandle) -> BundleView:
    """The independent members have started and reported in."""
    return await until_view(
        bundle, lambda v: statuses(v) == {"lic": "submitted", "seal": None, "tax": "submitted"}, "reported"
    )


def case(h: Harness, case_id: str | None) -> WorkflowHandle:
    assert case_id is not None
    return h.client.get_workflow_handle_for(CaseWorkflow.run, case_workflow_id(case_id))


async def case_view(h: Harness, case_id: str | None) -> CaseView:
    return await case(h, case_id).query(CaseWorkflow.view)


async def finish(h: Harness, m: MemberView, decision: SignDecision = SignDecision.APPROVE) -> CaseView:
    """The member's departments pass their tasks and its handler signs, at the case itself."""
    handle = case(h, m.case_id)

    async def in_review() -> CaseView | None:
        view = await handle.query(CaseWorkflow.view)
        return view if view.status == "under_review" else None

    view = await until(in_review, f"{m.key} accepted")
    for task in view.tasks:
        done = TaskCompletion(actor=staff(task.department), task_id=task.task_id, outcome=TaskOutcome.PASS)
        await handle.execute_update(CaseWorkflow.complete_task, done)
    signer = handler(view.lead_department)
    return await handle.execute_update(CaseWorkflow.sign, SignatureRequest(actor=signer, decision=decision))


async def members_ended(h: Harness, members: list[MemberView]) -> None:
    async def ended() -> bool:
        for m in members:
            described = await case(h, m.case_id).describe()
            if described.status != WorkflowExecutionStatus.COMPLETED:
                return False
        return True

    await until(ended, "every member case ended")


async def test_members_by_dependency_one_acceptance_one_delivery_one_rating(harness: Harness) -> None:
    h = harness
    bid, bundle = await start(h)
    view = await submitted(bundle)
    assert [(m.key, m.state, m.case_id) for m in view.members] == [
        ("lic", "started", f"{bid}-1"),
        ("seal", "waiting", None),  # needs the licence's result
        ("tax", "started", f"{bid}-3"),
    ]
    assert h.fakes.bundle_events(bid) == ["submitted", "member_started", "member_started"]
    assert "综窗 clerk1" in h.fakes.notices(bid, APPLICANT.username)[0].message

    view = await bundle.execute_update(B.accept, BundleAcceptRequest(actor=CLERK))
    assert view.status == "in_progress" and view.accepted_at is not None
    assert statuses(view) == {"lic": "under_review", "seal": None, "tax": "under_review"}
    (accepted,) = [n for n in h.fakes.notices(bid, APPLICANT.username) if "一窗统一受理" in n.message]
    assert f"{LIC.name}、{TAX.name}" in accepted.message and "自动受理" in accepted.message
    assert await refused(bundle.execute_update(B.accept, BundleAcceptRequest(actor=CLERK))) == E.INVALID_STATE
    delivery = BundleDeliveryRequest(actor=CLERK, method=DeliveryMethod.WINDOW_PICKUP)
    assert await refused(bundle.execute_update(B.deliver, delivery)) == E.INVALID_STATE
    # The applicant hears from the bundle only, not from each member case.
    assert h.fakes.notices(f"{bid}-1", APPLICANT.username) == []

    # The licence's approval starts the seal with its credit code filled in, accepted at once.
    await finish(h, member(view, "lic"))
    view = await until_view(bundle, lambda v: member(v, "seal").case_status == "under_review", "seal")
    number = credit_code_for(f"{bid}-1")
    assert member(view, "lic").result_number == number
    seal = await case_view(h, member(view, "seal").case_id)
    assert seal.form == {"credit_code": number, "business_name": "北京望京科技有限公司"}
    assert seal.materials == ["S01", "S02"]  # the licence copy stands in from the result
    started = [e.message for r in h.fakes.bundles for e in r.events if e.event == "member_started"]
    assert f"统一社会信用代码 {number}" in started[-1]

    await finish(h, member(view, "tax"))
    await finish(h, member(view, "seal"))
    view = await until_view(bundle, lambda v: v.status == "ready", "ready")
    assert h.fakes.bundle_events(bid).count("ready") == 1
    assert await refused(bundle.execute_update(B.rate, rating(5))) == E.INVALID_STATE

    view = await bundle.execute_update(B.deliver, delivery)
    assert view.status == "delivered" and all(m.delivered for m in view.members)
    assert await refused(bundle.execute_update(B.deliver, delivery)) == E.INVALID_STATE
    await members_ended(h, view.members)
    for m in view.members:  # each member closes without a rating of its own (一次一评)
        assert h.fakes.events(m.case_id or "")[-2:] == ["delivered", "closed"]

    view = await bundle.execute_update(B.rate, rating(4))
    assert view.status == "closed" and view.rating_level == 4
    assert (await bundle.result()).status == "closed"
    (rated,) = h.fakes.ratings
    assert (rated.rating_id, rated.level, rated.clerk) == (f"{bid}:bundle", 4, CLERK.username)
    assert rated.departments == ["market", "police", "tax"] and rated.item_code == "t-opening"
    assert h.fakes.bundle_events(bid)[-2:] == ["rated", "closed"]
    assert h.fakes.rectifications == []


def rating(level: int) -> RatingRequest:
    return RatingRequest(actor=APPLICANT, level=level, channel=RatingChannel.DEVICE)


async def test_one_supplement_notice_for_all_members(harness: Harness) -> None:
    h = harness
    bid, bundle = await start(h)
    await submitted(bundle)

    def notice(codes: list[str]) -> BundleSupplementNotice:
        return BundleSupplementNotice(actor=CLERK, missing_materials=codes, reason="材料不清晰")

    assert await refused(bundle.execute_update(B.request_supplement, notice(["X9"]))) == E.UNLISTED_MATERIAL
    assert await refused(bundle.execute_update(B.request_supplement, notice([]))) == E.MISSING_MATERIALS
    # The seal has not started: a material only it uses concerns no member in hand.
    only_seal = notice(["t-seal/S01"])
    assert await refused(bundle.execute_update(B.request_supplement, only_seal)) == E.MISSING_MATERIALS

    view = await bundle.execute_update(B.request_supplement, notice(["t-lic/L01", "t-tax/T01"]))
    assert view.status == "supplement_requested" and view.missing_materials == ["t-lic/L01", "t-tax/T01"]
    (asked,) = [n for n in h.fakes.notices(bid, APPLICANT.username) if "一次性补正" in n.message]
    assert "设立登记申请书、税务信息确认表" in asked.message
    assert f"涉及：{LIC.name}、{TAX.name}" in asked.message
    assert (await case_view(h, f"{bid}-1")).missing_materials == ["L01"]
    assert (await case_view(h, f"{bid}-3")).missing_materials == ["T01"]

    supply = BundleSupplyRequest(actor=APPLICANT, materials=["t-lic/L01"])
    assert await refused(bundle.execute_update(B.supply, supply)) == E.MISSING_MATERIALS
    supply = BundleSupplyRequest(actor=APPLICANT, materials=["t-lic/L01", "t-tax/T01"])
    view = await bundle.execute_update(B.supply, supply)
    assert view.status == "submitted" and view.missing_materials == []
    assert statuses(view) == {"lic": "submitted", "seal": None, "tax": "submitted"}

    # In review too: one notice, the member's clock pauses until the bundle supplies.
    view = await bundle.execute_update(B.accept, BundleAcceptRequest(actor=CLERK))
    view = await bundle.execute_update(B.request_supplement, notice(["t-tax/T01"]))
    assert view.status == "supplement_requested"
    tax = await case_view(h, f"{bid}-3")
    assert tax.status == "supplement_requested" and "review_supplement_requested" in h.fakes.events(
        f"{bid}-3"
    )
    assert (await case_view(h, f"{bid}-1")).status == "under_review"  # the licence is not concerned
    view = await bundle.execute_update(
        B.supply, BundleSupplyRequest(actor=APPLICANT, materials=["t-tax/T01"])
    )
    assert view.status == "in_progress" and member(view, "tax").case_status == "under_review"
    assert len((await case_view(h, f"{bid}-3")).pauses) == 1
    asked = [e for e in h.fakes.bundle_events(bid) if e == "supplement_requested"]
    assert len(asked) == 2  # one notice per request, never one per member


async def test_a_failed_member_blocks_its_dependants_and_a_retry_restarts_only_it(harness: Harness) -> None:
    h = harness
    bid, bundle = await start(h)
    await submitted(bundle)
    view = await bundle.execute_update(B.accept, BundleAcceptRequest(actor=CLERK))
    denied = await finish(h, member(view, "lic"), SignDecision.DENY)
    assert denied.status == "denied"

    view = await until_view(bundle, lambda v: member(v, "seal").state == "blocked", "seal blocked")
    assert member(view, "seal").reason == f"前置事项“{LIC.name}”未获通过"
    (failed,) = [n for n in h.fakes.notices(bid, APPLICANT.username) if "暂不启动" in n.message]
    assert f"“{LIC.name}”不予许可" in failed.message and f"其余事项（{TAX.name}）继续办理" in failed.message

    def retry(key: str, **kw) -> BundleRetryRequest:
        return BundleRetryRequest(actor=CLERK, member_key=key, **kw)

    assert await refused(bundle.execute_update(B.retry_member, retry("tax"))) == E.INVALID_STATE
    assert await refused(bundle.execute_update(B.retry_member, retry("nope"))) == E.UNKNOWN_MEMBER
    unlisted = retry("lic", materials=["X9"])
    assert await refused(bundle.execute_update(B.retry_member, unlisted)) == E.UNLISTED_MATERIAL

    view = await bundle.execute_update(B.retry_member, retry("lic", form={"business_name": "望京新科技"}))
    assert member(view, "seal").state == "waiting" and member(view, "seal").reason == ""
    view = await until_view(bundle, lambda v: member(v, "lic").case_status == "under_review", "retried")
    lic = member(view, "lic")
    assert (lic.case_id, lic.attempt, lic.earlier_case_ids) == (f"{bid}-1-2", 2, [f"{bid}-1"])
    assert member(view, "tax").case_id == f"{bid}-3" and member(view, "tax").attempt == 1
    assert (await case_view(h, lic.case_id)).form == {"business_name": "望京新科技"}
    # The denied attempt's decision is handed over with the retry, and its case ends.
    await members_ended(h, [lic.model_copy(update={"case_id": f"{bid}-1"})])
    assert h.fakes.events(f"{bid}-1")[-2:] == ["delivered", "closed"]

    await finish(h, lic)  # the new attempt's result starts the seal after all
    view = await until_view(bundle, lambda v: member(v, "seal").case_status == "under_review", "seal")
    seal = await case_view(h, member(view, "seal").case_id)
    assert seal.form["credit_code"] == credit_code_for(f"{bid}-1-2")
    assert h.fakes.bundle_events(bid).count("members_failed") == 1


async def accepted_with_tax_approved(h: Harness) -> tuple[str, WorkflowHandle]:
    """A bundle accepted at once, whose independent tax member is already approved."""
    bid, bundle = await start(h)
    await submitted(bundle)
    view = await bundle.execute_update(B.accept, BundleAcceptRequest(actor=CLERK))
    await finish(h, member(view, "tax"))
    await until_view(bundle, lambda v: member(v, "tax").case_status == "approved", "tax approved")
    return bid, bundle


async def test_partial_delivery_then_the_rest_then_closed_unrated(harness: Harness) -> None:
    h = harness
    bid, bundle = await accepted_with_tax_approved(h)

    whole = BundleDeliveryRequest(actor=CLERK, method=DeliveryMethod.MAIL)
    assert await refused(bundle.execute_update(B.deliver, whole)) == E.INVALID_STATE
    partial = whole.model_copy(update={"partial": True})
    view = await bundle.execute_update(B.deliver, partial)
    assert view.status == "in_progress" and [m.key for m in view.members if m.delivered] == ["tax"]
    assert "先行送达" in h.fakes.notices(bid, APPLICANT.username)[-1].message
    assert await refused(bundle.execute_update(B.deliver, partial)) == E.INVALID_STATE  # nothing ready

    await finish(h, member(view, "lic"))
    view = await until_view(bundle, lambda v: member(v, "seal").case_status == "under_review", "seal")
    await finish(h, member(view, "seal"))
    await until_view(bundle, lambda v: v.status == "ready", "ready")
    view = await bundle.execute_update(B.deliver, whole)
    assert view.status == "delivered" and all(m.delivered for m in view.members)
    assert "一次送达" in h.fakes.notices(bid, APPLICANT.username)[-1].message
    await members_ended(h, view.members)

    final = await bundle.result()  # the rating window passes (skipped)
    assert final.status == "closed" and final.rating_level is None
    assert h.fakes.bundle_events(bid)[-1] == "closed_unrated"
    closed = [e for r in h.fakes.bundles for e in r.events][-1]
    assert closed.at - final.delivered_at >= timedelta(days=7)
    assert h.fakes.ratings == []


async def test_a_withdrawal_ends_what_is_undecided_and_a_bad_rating_opens_a_loop(harness: Harness) -> None:
    h = harness
    bid, bundle = await accepted_with_tax_approved(h)

    withdrawal = BundleWithdrawRequest(actor=APPLICANT, reason="暂不开办")
    view = await bundle.execute_update(B.withdraw, withdrawal)
    assert view.withdrawn and member(view, "lic").case_status == "withdrawn"
    assert (member(view, "seal").state, member(view, "seal").reason) == ("blocked", "申请人已撤回")
    assert member(view, "tax").case_status == "approved"  # decided: still to be handed over
    assert (await case_view(h, member(view, "lic").case_id)).status == "withdrawn"
    view = await until_view(bundle, lambda v: v.status == "ready", "ready")
    assert await refused(bundle.execute_update(B.withdraw, withdrawal)) == E.INVALID_STATE
    retry = BundleRetryRequest(actor=CLERK, member_key="lic")
    assert await refused(bundle.execute_update(B.retry_member, retry)) == E.INVALID_STATE
    assert h.fakes.bundle_events(bid).count("members_failed") == 0  # a withdrawal is no failure

    delivery = BundleDeliveryRequest(actor=CLERK, method=DeliveryMethod.ELECTRONIC)
    view = await bundle.execute_update(B.deliver, delivery)
    assert view.status == "delivered" and [m.key for m in view.members if m.delivered] == ["tax"]
    await members_ended(h, [member(view, "lic"), member(view, "tax")])
    view = await bundle.execute_update(B.rate, rating(2))
    assert view.status == "closed" and h.fakes.bundle_events(bid)[-1] == "rectification_opened"
    (loop, *_) = await until(lambda: h.fakes.loops(f"R{bid}"), "the rectification")
    assert (loop.view.case_id, loop.view.department, loop.view.level) == (bid, "market", 2)
    assert (await bundle.result()).status == "closed"
    assert [r.level for r in h.fakes.ratings] == [2]
