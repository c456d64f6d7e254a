"""`python -m bench.bundle`: a 5-member bundle's wall time against its slowest member's.

Starts the same embedded stack as `python -m bench`, then runs "开办餐饮店一件事" bundles through
the REST API: the contact clerk accepts once, department bots complete each review task and
sign as soon as it reaches them, and the bundle delivers once. Times come from the workflows'
own clocks (submitted → ready for the bundle, submitted → decided for each member case), so
the bots' polling counts the same for both. The licence must come first (the other four need
its number), so the critical path is licence + slowest dependant; the bundle's overhead is
its wall time against that path.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from datetime import datetime
from pathlib import Path

from temporalio.client import Client

from bench.common import all_runs, history_cost, stack_config, table
from bench.http import API, APPROVE, BenchError, Http, _polls
from core.config import Settings
from core.temporal import bundle_workflow_id, case_workflow_id, data_converter
from scripts.dev import HOST, Stack

DEPARTMENTS = ("market", "police", "tax", "hrss")
USERS = (
    "applicant2",
    "clerk1",
    "supervisor1",
    *(f"{d}-{role}" for d in DEPARTMENTS for role in ("staff", "handler", "chief")),
)
FORM = {
    "operator_name": "王小明",
    "business_name": "朝阳区小明家常菜馆",
    "business_address": "北京市朝阳区望京西路1号",
    "business_scope": "餐饮服务",
    "employee_count": "6",
    "food_categories": "热食类食品制售",
    "venue_area": "85.5",
    "seal_types": "公章、财务专用章",
    "bank_name": "中国工商银行北京望京支行",
}
MATERIALS = [
    "market-001/M01",
    "LEGAL_REP_ID",
    "PREMISES_PROOF",
    "market-002/F01",
    "market-002/F03",
    "market-002/F04",
    "police-002/K01",
    "hrss-001/S01",
]
TWO_SIGNATURES = {"market-002"}


async def _bundle(http: Http, bundle_id: str) -> dict:
    return (await http.call("GET", f"{API}/bundles/{bundle_id}", "supervisor1")).json()


async def _finish_member(http: Http, bundle_id: str, key: str) -> None:
    """A department bot: review and sign the member's case as soon as it is accepted."""
    member: dict = {}
    async for _ in _polls():
        member = next(m for m in (await _bundle(http, bundle_id))["members"] if m["key"] == key)
        if member["case_status"] == "under_review":
            break
    else:
        raise BenchError(f"{bundle_id}/{key} never reached review: {member}")
    case_id, dept = member["case_id"], member["departments"][0]
    task_id = await http.wait_for_task(case_id, dept)
    done = {"outcome": "pass", "opinion": "同意"}
    await http.call("POST", f"{API}/tasks/{task_id}/complete", f"{dept}-staff", json=done)
    await _wait_case(http, case_id, "awaiting_signature")
    await http.act(case_id, "signatures", f"{dept}-handler", APPROVE)
    if member["item_code"] in TWO_SIGNATURES:
        await http.act(case_id, "signatures", f"{dept}-chief", APPROVE)


async def _wait_case(http: Http, case_id: str, status: str) -> None:
    async for _ in _polls():
        if (await http.call("GET", f"{API}/cases/{case_id}", "supervisor1")).json()["status"] == status:
            return
    raise BenchError(f"{case_id} never reached {status}")


async def one_bundle(http: Http) -> dict:
    body = {"theme_code": "restaurant", "form": FORM, "materials": MATERIALS, "district": "chaoyang"}
    headers = {"Idempotency-Key": uuid.uuid4().hex}
    r = await http.call("POST", f"{API}/bundles", "applicant2", expect=201, json=body, headers=headers)
    bundle_id = r.json()["bundle_id"]
    async for _ in _polls():
        view = await _bundle(http, bundle_id)
        if any(m["case_status"] == "submitted" for m in view["members"]):
            break
    await http.call("POST", f"{API}/bundles/{bundle_id}/acceptance", "clerk1")
    keys = [m["key"] for m in view["members"]]
    await asyncio.gather(*(_finish_member(http, bundle_id, k) for k in keys))
    async for _ in _polls():
        view = await _bundle(http, bundle_id)
        if view["status"] == "ready":
            break
    else:
        raise BenchError(f"{bundle_id} never became ready: {view['status']}")
    await http.call("POST", f"{API}/bundles/{bundle_id}/delivery", "clerk1", json={"method": "electronic"})
    rating = {"level": 5, "channel": "app"}
    await http.call("POST", f"{API}/bundles/{bundle_id}/ratings", "applicant2", json=rating)
    return view


async def _events_over_runs(client: Client, workflow_id: str) -> tuple[int, int]:
    """History events of every run of a workflow (it may have continued as new), and runs."""
    histories = await all_runs(client, workflow_id)
    return sum(len(h.events) for h in histories), len(histories)


async def _member_seconds(http: Http, view: dict) -> dict[str, float]:
    seconds = {}
    for m in view["members"]:
        case = (await http.call("GET", f"{API}/cases/{m['case_id']}", "supervisor1")).json()
        seconds[m["key"]] = _between(case["submitted_at"], case["decided_at"])
    return seconds


def _between(start: str, end: str) -> float:
    return (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()


async def measure(http: Http, client: Client, bundles: int, concurrency: int) -> str:
    gate = asyncio.Semaphore(concurrency)

    async def guarded() -> dict:
        async with gate:
            return await one_bundle(http)

    views = await asyncio.gather(*(guarded() for _ in range(bundles)))
    rows = []
    walls, slowest, paths = [], [], []
    for view in views:
        members = await _member_seconds(http, view)
        wall = _between(view["submitted_at"], view["ready_at"])
        dependants = max(v for k, v in members.items() if k != "licence")
        walls.append(wall)
        slowest.append(max(members.values()))
        paths.append(members["licence"] + dependants)
    bundle_events = [await _events_over_runs(client, bundle_workflow_id(v["bundle_id"])) for v in views]
    member_ids = [case_workflow_id(m["case_id"]) for v in views for m in v["members"]]
    member_events = await history_cost(client, member_ids)
    wall, slow, path = statistics.median(walls), statistics.median(slowest), statistics.median(paths)
    rows.append(["bundle wall time (submitted → ready)", f"{wall:.2f} s", "1.00×"])
    rows.append(["slowest member (its own submitted → decided)", f"{slow:.2f} s", f"{wall / slow:.2f}×"])
    rows.append(["critical path (licence + slowest dependant)", f"{path:.2f} s", f"{wall / path:.2f}×"])
    events = statistics.median(e for e, _ in bundle_events)
    runs = statistics.median(r for _, r in bundle_events)
    rows.append([f"bundle history events (all {runs:.0f} runs)", f"{events:.0f}", ""])
    rows.append(["member case history events (mean)", f"{member_events.mean('events'):.0f}", ""])
    header = ["median over bundles", "value", "bundle ÷ value"]
    return table(rows, header) + f"\n{bundles} bundles of 5 members, {concurrency} at a time"


async def main(bundles: int, concurrency: int) -> int:
    out = sys.stdout  # scripts.dev writes to stdout: that goes to the log, the table here
    data_dir = Path(tempfile.mkdtemp(prefix="gov-bench-bundle-"))
    stack = Stack(stack_config(data_dir))
    started = time.monotonic()
    with (data_dir / "stack.log").open("w") as log, contextlib.redirect_stdout(log):
        try:
            print(f"bench.bundle | starting the stack in {data_dir}", file=out, flush=True)
            await stack.start()
            client = await Client.connect(stack.temporal_address, data_converter=data_converter(Settings()))
            http = Http.open(f"http://{HOST}:{stack.cfg.api_port}", 64)
            try:
                await http.login(USERS)
                report = await stack.guard(measure(http, client, bundles, concurrency))
            finally:
                await http.close()
            print(report, file=out, flush=True)
            print(f"Total {time.monotonic() - started:.0f} s", file=out, flush=True)
        finally:
            await stack.shutdown()
    shutil.rmtree(data_dir, ignore_errors=True)
    return 0


def run() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundles", type=int, default=5)
    parser.add_argument("--concurrency", type=int, default=1)
    args = parser.parse_args()
    sys.exit(asyncio.run(main(args.bundles, args.concurrency)))


if __name__ == "__main__":
    run()
