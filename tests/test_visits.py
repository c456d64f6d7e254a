"""一次一评 through HTTP: visits opened by the window's clerk, rated once on site."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import Client

from core.models import Visit, VisitRating
from tests.conftest import TASK_QUEUE, Api, idempotency_key
from tests.data import SIGN_ONCE
from tests.helpers import (
    TWO_DEPARTMENTS,
    submit,
)
from tests.replay_guard import replays_and_is_recorded
from workflows.visit import VisitWorkflow, visit_workflow_id
from workflows.visit_messages import VisitInput, VisitStatus, VisitView

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def _open(api: Api, case_ids: list[str], as_: str = "clerk1", key: str | None = None, **extra):
    headers = {"Idempotency-Key": key or idempotency_key()}
    return await api.post("/visits", as_, {"case_ids": case_ids, **extra}, headers=headers)


async def _visit(api: Api, case_ids: list[str]) -> dict:
    r = await _open(api, case_ids)
    assert r.status_code == 201, r.text
    return r.json()


async def _rating_rows(engine: AsyncEngine, visit_id: str) -> int:
    async with engine.connect() as conn:
        query = select(func.count()).select_from(VisitRating).where(VisitRating.visit_id == visit_id)
        return (await conn.execute(query)).scalar_one()


async def _rectification(api: Api, rid: str) -> dict:
    for _ in range(200):
        r = await api.get(f"/rectifications/{rid}", "supervisor1")
        if r.status_code == 200 and r.json()["deadline"]:
            return r.json()
        await asyncio.sleep(0.05)
    raise AssertionError(f"{rid} was never opened")


async def test_a_visit_is_opened_once_and_rated_once_under_concurrency(api: Api, engine: AsyncEngine) -> None:
    first = (await submit(api))["case_id"]
    second = (await submit(api, TWO_DEPARTMENTS))["case_id"]
    key = idempotency_key()
    opened = await asyncio.gather(*(_open(api, [first, second], key=key) for _ in range(3)))
    assert [r.status_code for r in opened] == [201] * 3, [r.text for r in opened]
    assert len({r.json()["visit_id"] for r in opened}) == 1
    visit = opened[0].json()
    assert (await _open(api, [first, second], key=key)).json()["visit_id"] == visit["visit_id"]
    reused = await _open(api, [first], key=key)
    assert reused.status_code == 422 and reused.json()["code"] == "idempotency_key_reused"
    assert visit["status"] == "open" and visit["clerk"] == "clerk1" and visit["district"] == "chaoyang"
    assert visit["applicant_username"] == "applicant1" and visit["case_ids"] == [first, second]
    assert visit["departments"] == ["market", "culture", "police"]
    assert visit["item_codes"] == ["market-001", "culture-001"] and visit["lead_department"] == "market"

    vid = visit["visit_id"]
    levels = [5, 4, 3, 5, 4]
    channels = ["kiosk", "qr", "device", "kiosk", "qr"]
    tries = await asyncio.gather(
        *(
            api.post(f"/visits/{vid}/rating", "applicant1", {"level": level, "channel": channel})
            for level, channel in zip(levels, channels, strict=True)
        )
    )
    codes = sorted(r.status_code for r in tries)
    assert codes == [200, 409, 409, 409, 409], [r.text for r in tries]
    assert all(r.json()["code"] == "already_rated" for r in tries if r.status_code == 409)
    (won,) = [r.json() for r in tries if r.status_code == 200]
    assert won["status"] == "rated" and won["rater"] == "applicant1" and won["rectification_id"] is None
    assert await _rating_rows(engine, vid) == 1
    seen = (await api.get(f"/visits/{vid}", "applicant1")).json()
    assert seen["rating_level"] == won["rating_level"] and seen["status"] == "rated"
    late = await api.post(f"/visits/{vid}/rating", "clerk1", {"level": 1, "channel": "device"})
    assert late.status_code == 409 and late.json()["code"] == "already_rated"

    # The visit rating is separate from the matter rating (一事一评 online, still open).
    assert (await api.get(f"/cases/{first}", "applicant1")).json()["rating_level"] is None


async def _replays(client: Client, name: str, workflow_id: str) -> None:
    await replays_and_is_recorded(await client.get_workflow_handle(workflow_id).fetch_history(), name)


async def test_a_bad_real_name_visit_rating_runs_the_rectification_loop(
    api: Api, client: Client, engine: AsyncEngine
) -> None:
    cases = [(await submit(api, item))["case_id"] for item in (TWO_DEPARTMENTS, SIGN_ONCE)]
    vid = (await _visit(api, cases))["visit_id"]
    r = await api.post(
        f"/visits/{vid}/rating", "applicant1", {"level": 2, "channel": "qr", "comment": "窗口人员离岗未告知"}
    )
    assert r.status_code == 200, r.text
    assert r.json()["rectification_id"] == f"R{vid}" and r.json()["rater"] == "applicant1"
    async with engine.connect() as conn:
        stored = await conn.execute(select(VisitRating.comment).where(VisitRating.visit_id == vid))
        assert stored.scalar_one() == "窗口人员离岗未告知"  # in PostgreSQL; never sent to Temporal
    loop = await _rectification(api, f"R{vid}")
    assert loop["visit_id"] == vid and loop["case_id"] is None and loop["department"] == "culture"
    assert loop["rater"] == "applicant1" and loop["channel"] == "qr" and loop["level"] == 2
    rid = loop["rectification_id"]
    for step, who, body, status in [
        ("verification", "culture-staff", {"reasonable": True, "finding": "属实"}, "rectifying"),
        ("rectification", "culture-handler", {"problem": "离岗未告知", "action": "设置离岗提示牌"}, None),
        ("feedback", "applicant1", {"accepted": True}, "awaiting_review"),
        ("review", "supervisor1", {"close": True}, "closed"),
    ]:
        r = await api.post(f"/rectifications/{rid}/{step}", who, body)
        assert r.status_code == 200, (step, r.text)
        assert status is None or r.json()["status"] == status
    notices = (await api.get("/notifications", "applicant1", params={"limit": 200})).json()
    assert any(n["case_id"] == vid for n in notices)
    await _replays(client, "visit_rated_bad", visit_workflow_id(vid))


async def test_the_window_device_rates_anonymously_for_a_walk_in(api: Api, engine: AsyncEngine) -> None:
    walk_in = {"applicant": {"name": "王某"}, "applicant_username": None}
    case_id = (await submit(api, as_="clerk1", **walk_in))["case_id"]
    visit = await _visit(api, [case_id])
    vid = visit["visit_id"]
    assert visit["applicant_username"] is None
    stranger = await api.post(f"/visits/{vid}/rating", "applicant1", {"level": 5, "channel": "kiosk"})
    assert stranger.status_code == 403 and stranger.json()["code"] == "visit_forbidden"
    named = {"level": 1, "channel": "device", "anonymous": False}
    refused = await api.post(f"/visits/{vid}/rating", "clerk1", named)
    assert refused.status_code == 422 and refused.json()["code"] == "device_rating_anonymous"
    kiosk = await api.post(f"/visits/{vid}/rating", "clerk1", {"level": 1, "channel": "kiosk"})
    assert kiosk.status_code == 422 and kiosk.json()["code"] == "channel_not_allowed"
    assert await _rating_rows(engine, vid) == 0

    r = await api.post(f"/visits/{vid}/rating", "clerk1", {"level": 1, "channel": "device"})
    assert r.status_code == 200, r.text
    assert r.json()["rater"] is None
    loop = await _rectification(api, f"R{vid}")
    assert loop["rater"] is None and loop["department"] == "market"
    explained = await api.post(
        f"/rectifications/{loop['rectification_id']}/verification",
        "market-staff",
        {"reasonable": False, "finding": "当日系统故障，已说明"},
    )
    assert explained.status_code == 200 and explained.json()["status"] == "explaining"


async def test_who_may_open_and_rate_a_visit_and_bad_input(api: Api, engine: AsyncEngine) -> None:
    mine = (await submit(api))["case_id"]
    theirs = (await submit(api, as_="applicant2"))["case_id"]
    cases: list[tuple[str, list[str], dict, int, str]] = [
        ("clerk2", [mine], {}, 403, "case_forbidden"),  # a haidian clerk, a chaoyang case
        ("clerk2", [mine], {"district": "chaoyang"}, 403, "district_forbidden"),
        ("clerk1", [mine], {"district": "haidian"}, 403, "district_forbidden"),
        ("clerk1", [mine], {"district": "atlantis"}, 422, "unknown_district"),
        ("clerk1", [mine, "BJ00000000000000"], {}, 422, "unknown_case"),
        ("clerk1", [mine, mine], {}, 422, "validation_error"),
        ("clerk1", [], {}, 422, "validation_error"),
        ("clerk1", [mine, theirs], {}, 422, "visit_mixed_applicants"),
        ("applicant1", [mine], {}, 403, "role_not_allowed"),
        ("supervisor1", [mine], {}, 403, "role_not_allowed"),
    ]
    async with engine.connect() as conn:
        before = (await conn.execute(select(func.count()).select_from(Visit))).scalar_one()
    for who, case_ids, extra, status, code in cases:
        r = await _open(api, case_ids, as_=who, **extra)
        assert (r.status_code, r.json()["code"]) == (status, code), (who, case_ids, extra, r.text)
    async with engine.connect() as conn:
        assert (await conn.execute(select(func.count()).select_from(Visit))).scalar_one() == before

    vid = (await _visit(api, [mine]))["visit_id"]
    refusals = [
        ("applicant2", {"level": 5, "channel": "kiosk"}, 403, "visit_forbidden"),
        ("clerk2", {"level": 5, "channel": "device"}, 403, "visit_forbidden"),
        ("market-staff", {"level": 5, "channel": "device"}, 403, "role_not_allowed"),
        ("supervisor1", {"level": 5, "channel": "device"}, 403, "role_not_allowed"),
        ("applicant1", {"level": 5, "channel": "website"}, 422, "channel_not_on_site"),
        ("applicant1", {"level": 5, "channel": "app"}, 422, "channel_not_on_site"),
        ("applicant1", {"level": 6, "channel": "kiosk"}, 422, "validation_error"),
        ("applicant1", {"level": 5, "channel": "kiosk", "stars": 5}, 422, "validation_error"),
    ]
    for who, body, status, code in refusals:
        r = await api.post(f"/visits/{vid}/rating", who, body)
        assert (r.status_code, r.json()["code"]) == (status, code), (who, body, r.text)
    assert await _rating_rows(engine, vid) == 0
    assert (await api.get(f"/visits/{vid}", "clerk1")).json()["status"] == "open"
    for who, status in [("applicant1", 200), ("applicant2", 403), ("clerk2", 403), ("supervisor1", 200)]:
        assert (await api.get(f"/visits/{vid}", who)).status_code == status, who
    missing = await api.get("/visits/V2040010200000000", "supervisor1")
    assert missing.status_code == 404 and missing.json()["code"] == "visit_not_found"

    # An on-site rating sent to the case is refused, naming the visit to rate instead.
    r = await api.post(f"/cases/{mine}/ratings", "applicant1", {"level": 5, "channel": "kiosk"})
    assert r.status_code == 422 and r.json()["code"] == "rate_the_visit"
    assert r.json()["detail"] == {"visits": [vid]}
    other = await api.post(f"/cases/{mine}/ratings", "applicant2", {"level": 5, "channel": "kiosk"})
    assert other.status_code == 403  # no visit ids for someone else's case

    anonymous = {"level": 3, "channel": "kiosk", "anonymous": True}
    rated = await api.post(f"/visits/{vid}/rating", "applicant1", anonymous)
    assert rated.status_code == 200 and rated.json()["rater"] is None


async def test_a_visit_closes_unrated_when_its_window_passes(
    api: Api, client: Client, engine: AsyncEngine
) -> None:
    case_id = (await submit(api))["case_id"]
    visit = VisitView.model_validate(await _visit(api, [case_id]))
    # A second visit whose rating window is two seconds long, started as the API starts one.
    now = datetime.now(UTC)
    short = visit.model_copy(
        update={
            "visit_id": visit.visit_id[:-1] + "Z",
            "opened_at": now,
            "rating_deadline": now + timedelta(seconds=2),
        }
    )
    async with engine.begin() as conn:
        await conn.execute(
            Visit.__table__.insert().values(
                visit_id=short.visit_id,
                opened_by="clerk1",
                request_hash="-",
                district="chaoyang",
                applicant_username="applicant1",
                case_ids=short.case_ids,
                status="open",
                view=short.model_dump(mode="json"),
                opened_at=now,
            )
        )
    inp = VisitInput(**short.model_dump(include=set(VisitInput.model_fields)))
    handle = await client.start_workflow(
        VisitWorkflow.run, inp, id=visit_workflow_id(short.visit_id), task_queue=TASK_QUEUE
    )
    assert (await handle.result()).status == VisitStatus.CLOSED_UNRATED
    seen = (await api.get(f"/visits/{short.visit_id}", "applicant1")).json()
    assert seen["status"] == "closed_unrated" and seen["closed_at"] is not None
    late = await api.post(f"/visits/{short.visit_id}/rating", "applicant1", {"level": 5, "channel": "qr"})
    assert late.status_code == 409 and late.json()["code"] == "rating_window_closed"
    await _replays(client, "visit_closed_unrated", visit_workflow_id(short.visit_id))
