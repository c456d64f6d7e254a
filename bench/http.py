"""The REST API as the benchmark drives it: demo logins, timed calls, one case's lifecycle.

Every wait is bounded in count and time; every call goes to the bench's own API on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import aiohttp

API = "/api/v1"
SIGN_ONCE = ("market-001", ["M01", "M02", "M03"])
SIGN_TWICE = ("market-002", ["F01", "F02", "F03", "F04", "F05"])
# The timeline of a sign-once case run to its rating.
SIGN_ONCE_EVENTS = [
    "submitted",
    "accepted",
    "task_completed",
    "review_finished",
    "signed",
    "decided",
    "delivered",
    "rated",
    "closed",
]
# The updates such a case receives, each once: the department's result is an update too.
SIGN_ONCE_UPDATES = {
    "registered": 1,
    "decide_acceptance": 1,
    "complete_task": 1,
    "sign": 1,
    "deliver": 1,
    "rate": 1,
}
USERS = ("applicant1", "clerk1", "supervisor1", "market-staff", "market-handler", "market-chief")

POLL_FIRST = 0.01  # s; then x1.5 per poll up to POLL_MAX, as a UI refreshing an inbox might
POLL_MAX = 0.1
WAIT_LIMIT = 60.0  # s for anything asynchronous to show up in the read model


class BenchError(Exception):
    pass


@dataclass
class Samples:
    """Latencies in seconds, by label."""

    by_label: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))

    def add(self, label: str, seconds: float) -> None:
        self.by_label[label].append(seconds)


@dataclass
class Reply:
    """An answer, read whole."""

    method: str
    path: str
    status_code: int
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def text(self) -> str:
        return self.body.decode(errors="replace")


@dataclass
class Http:
    """The bench's HTTP client. aiohttp, because the load generator shares the machine with what it
    measures: httpx spent ~2 ms of CPU per request here, aiohttp ~0.3 ms (BENCHMARKS.md)."""

    http: aiohttp.ClientSession
    samples: Samples = field(default_factory=Samples)
    tokens: dict[str, str] = field(default_factory=dict)
    requests: int = 0

    @classmethod
    def open(cls, base_url: str, connections: int) -> Http:
        # Idle connections are dropped well before uvicorn's 5 s keep-alive closes them, so a
        # request never races the server closing its connection.
        connector = aiohttp.TCPConnector(limit=connections, keepalive_timeout=2.0)
        timeout = aiohttp.ClientTimeout(total=60)
        return cls(aiohttp.ClientSession(base_url=base_url, connector=connector, timeout=timeout))

    async def close(self) -> None:
        await self.http.close()

    async def login(self, users: tuple[str, ...] = USERS) -> None:
        for user in users:
            r = await self.call(
                "POST", f"{API}/auth/token", None, data={"username": user, "password": "demo"}
            )
            self.tokens[user] = r.json()["access_token"]

    async def call(
        self,
        method: str,
        path: str,
        as_: str | None,
        label: str | None = None,
        expect: int = 200,
        **kw,
    ) -> Reply:
        headers = dict(kw.pop("headers", {}))
        if as_ is not None:
            headers["Authorization"] = f"Bearer {self.tokens[as_]}"
        if "params" in kw:
            kw["params"] = {k: str(v) for k, v in kw["params"].items()}
        self.requests += 1
        started = time.perf_counter()
        async with self.http.request(method, path, headers=headers, **kw) as answer:
            r = Reply(method, path, answer.status, await answer.read())
        elapsed = time.perf_counter() - started
        _expect(r, expect)
        if label is not None:
            self.samples.add(label, elapsed)
        return r

    # ---- case steps ----------------------------------------------------------------------

    async def submit(self, item: tuple[str, list[str]] = SIGN_ONCE, label: str | None = None, **extra) -> str:
        code, materials = item
        body = {"item_code": code, "materials": materials, "district": "chaoyang", "form": {}, **extra}
        headers = {"Idempotency-Key": uuid.uuid4().hex}
        r = await self.call("POST", f"{API}/cases", "applicant1", label, 201, json=body, headers=headers)
        return r.json()["case_id"]

    async def act(self, case_id: str, action: str, as_: str, body: dict, label: str | None = None) -> dict:
        return (await self.call("POST", f"{API}/cases/{case_id}/{action}", as_, label, json=body)).json()

    async def wait_for_task(self, case_id: str, department: str = "market") -> str:
        async for _ in _polls():
            r = await self.call("GET", f"{API}/tasks", f"{department}-staff", params={"status": "pending"})
            for task in r.json():
                if task["case_id"] == case_id:
                    return task["task_id"]
        raise BenchError(f"the task of {case_id} never reached the {department} inbox")

    async def wait_for_status(self, case_id: str, status: str) -> None:
        seen = None
        async for _ in _polls():
            r = await self.call("GET", f"{API}/cases/{case_id}", "applicant1")
            seen = r.json()["status"]
            if seen == status:
                return
        raise BenchError(f"{case_id} never reached {status} (last seen {seen})")

    async def to_awaiting_signature(self, case_id: str) -> None:
        await self.act(case_id, "acceptance", "clerk1", {"decision": "accept"})
        task_id = await self.wait_for_task(case_id)
        done = {"outcome": "pass", "opinion": "同意"}
        await self.call("POST", f"{API}/tasks/{task_id}/complete", "market-staff", json=done)
        await self.wait_for_status(case_id, "awaiting_signature")

    async def finish(self, case_id: str, twice: bool = False, sign_label: str | None = None) -> None:
        """From awaiting signature to closed: sign (twice), deliver, rate."""
        await self.act(case_id, "signatures", "market-handler", APPROVE, sign_label)
        if twice:
            await self.act(case_id, "signatures", "market-chief", APPROVE, sign_label)
        await self.finish_signed(case_id)

    async def finish_signed(self, case_id: str) -> None:
        """From approved to closed: deliver, rate."""
        await self.act(case_id, "delivery", "clerk1", {"method": "electronic"})
        view = await self.act(case_id, "ratings", "applicant1", {"level": 5, "channel": "app"})
        if view["status"] != "closed":
            raise BenchError(f"{case_id} ended {view['status']}, not closed")

    async def lifecycle(self, shape: str = "sign-once") -> str:
        """One case from submission to rating; returns its case id."""
        twice = shape == "sign-twice"
        if shape == "with-supplements":
            code, materials = SIGN_ONCE
            case_id = await self.submit((code, materials[:-1]))
            missing = {"decision": "supplement", "missing_materials": materials[-1:], "reason": "材料不全"}
            await self.act(case_id, "acceptance", "clerk1", missing)
            await self.act(case_id, "supplements", "applicant1", {"materials": materials[-1:]})
        else:
            case_id = await self.submit(SIGN_TWICE if twice else SIGN_ONCE)
        await self.to_awaiting_signature(case_id)
        await self.finish(case_id, twice)
        return case_id


APPROVE = {"decision": "approve", "opinion": "同意"}


async def _polls():
    """Bounded polling: yields until WAIT_LIMIT passes, sleeping a little longer each time."""
    deadline = time.monotonic() + WAIT_LIMIT
    delay = POLL_FIRST
    while time.monotonic() < deadline:
        yield
        await asyncio.sleep(delay)
        delay = min(delay * 1.5, POLL_MAX)


def _expect(r: Reply, status: int) -> None:
    if r.status_code != status:
        raise BenchError(f"{r.method} {r.path} -> {r.status_code}: {r.text[:300]}")
