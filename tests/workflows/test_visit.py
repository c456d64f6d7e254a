"""The on-site visit (一次一评) in the time-skipping test server with the activities faked: one
rating per visit, a bad one opens the rectification loop, unrated visits close with their window."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from temporalio.client import WorkflowHandle

from core.types import CaseErrorCode
from tests.workflows.fakes import APPLICANT, CLERK, Harness, refused, unique, until
from workflows.rating_messages import RatingChannel
from workflows.rectification import RectificationWorkflow
from workflows.visit import VisitWorkflow, visit_workflow_id
from workflows.visit_messages import VisitInput, VisitRatingRequest

pytestmark = pytest.mark.asyncio(loop_scope="session")
V = VisitWorkflow


async def open_visit(h: Harness, **kw) -> tuple[VisitInput, WorkflowHandle]:
    now = await h.now()
    inp = VisitInput(
        visit_id=unique("FV"),
        clerk=CLERK.username,
        district="chaoyang",
        applicant_username=APPLICANT.username,
        case_ids=["FC1", "FC2"],
        departments=["market", "tax"],
        item_codes=["t-once", "t-tax"],
        lead_department="market",
        opened_at=now,
        rating_deadline=now + timedelta(days=1),
    )
    return inp, await h.start(V.run, inp, visit_workflow_id(inp.visit_id), **kw)


def rating(level: int, anonymous: bool = False) -> VisitRatingRequest:
    return VisitRatingRequest(actor=APPLICANT, level=level, channel=RatingChannel.DEVICE, anonymous=anonymous)


async def test_a_visit_is_rated_once(harness: Harness) -> None:
    h = harness
    # A short workflow task timeout: while the first rating's record is held, the worker hands
    # its task back within a second, and the second rating meets the first one's state.
    inp, visit = await open_visit(h, task_timeout=timedelta(seconds=1))
    release = h.fakes.hold("record_visit")
    first = asyncio.create_task(visit.execute_update(V.rate, rating(5)))
    await until(h.fakes.entered["record_visit"].is_set, "the first rating being recorded")
    assert await refused(visit.execute_update(V.rate, rating(1))) == CaseErrorCode.ALREADY_RATED
    release.set()
    view = await first
    assert view.status == "rated" and view.rating_level == 5 and view.rater == APPLICANT.username

    final = await visit.result()
    assert final.status == "rated" and final.rectification_id is None
    (record,) = h.fakes.visits
    assert record.rating is not None and record.rating.level == 5
    rated = record.rating
    assert (rated.visit_id, rated.clerk, rated.case_ids) == (inp.visit_id, CLERK.username, ["FC1", "FC2"])
    assert rated.departments == ["market", "tax"] and rated.item_codes == ["t-once", "t-tax"]
    assert h.fakes.rectifications == []


async def test_a_bad_rating_opens_a_rectification_loop(harness: Harness) -> None:
    h = harness
    inp, visit = await open_visit(h)
    view = await visit.execute_update(V.rate, rating(1, anonymous=True))
    rid = f"R{inp.visit_id}"
    assert view.status == "rated" and view.rater is None and view.rectification_id == rid
    (opened, *_) = await until(lambda: h.fakes.loops(rid), "the loop recorded")
    loop = opened.view
    assert (loop.visit_id, loop.case_id, loop.department) == (inp.visit_id, None, "market")
    assert (loop.level, loop.rater, loop.channel) == (1, None, "device")
    child = h.client.get_workflow_handle_for(RectificationWorkflow.run, f"rectification-{rid}")
    assert (await child.query(RectificationWorkflow.view)).status == "verifying"
    assert (await visit.result()).status == "rated"  # the loop outlives the visit


async def test_an_unrated_visit_closes_with_its_window(harness: Harness) -> None:
    h = harness
    inp, visit = await open_visit(h)
    final = await visit.result()  # waiting on it lets the test server skip the day
    assert final.status == "closed_unrated" and final.rating_level is None
    assert final.closed_at is not None and final.closed_at >= inp.rating_deadline
    (record,) = h.fakes.visits
    assert record.rating is None and record.view.status == "closed_unrated"
