"""Request bodies above 1 MiB are refused with 413 and the JSON error shape; nothing changes."""

from __future__ import annotations

import json

import pytest

from api.limits import MAX_BODY_BYTES
from tests.conftest import Api

pytestmark = pytest.mark.asyncio(loop_scope="session")


def _case_body(padding: int) -> bytes:
    body = {
        "item_code": "market-001",
        "materials": ["M01"],
        "district": "chaoyang",
        "form": {"备注": "x" * padding},
    }
    return json.dumps(body, ensure_ascii=False).encode()


async def _total(api: Api) -> int:
    return (await api.get("/cases", "clerk1")).json()["total"]


def _assert_too_large(r) -> None:
    assert r.status_code == 413, r.text
    assert r.json()["code"] == "payload_too_large"
    assert "请求内容过大" in r.json()["message"]


async def test_declared_oversized_body_is_refused(api: Api) -> None:
    before = await _total(api)
    headers = {"Content-Type": "application/json", "Idempotency-Key": "too-large-declared"}
    r = await api.call("POST", "/cases", "clerk1", content=_case_body(2 * MAX_BODY_BYTES), headers=headers)
    _assert_too_large(r)
    assert await _total(api) == before


async def test_streamed_oversized_body_is_refused_while_it_streams(api: Api) -> None:
    before = await _total(api)
    payload = _case_body(MAX_BODY_BYTES + 10)

    async def chunks():  # no Content-Length: httpx sends it chunked
        for i in range(0, len(payload), 64 * 1024):
            yield payload[i : i + 64 * 1024]

    headers = {"Content-Type": "application/json"}
    r = await api.call("POST", "/cases", "clerk1", content=chunks(), headers=headers)
    assert "content-length" not in r.request.headers
    _assert_too_large(r)
    assert await _total(api) == before


async def test_oversized_login_form_is_refused(api: Api) -> None:
    r = await api.http.post(
        "/api/v1/auth/token", data={"username": "clerk1", "password": "x" * (2 * MAX_BODY_BYTES)}
    )
    _assert_too_large(r)


async def test_a_body_under_the_limit_is_read_and_validated(api: Api) -> None:
    body = json.loads(_case_body(MAX_BODY_BYTES - 200 * 1024))
    body["unexpected"] = True
    r = await api.post("/cases", "clerk1", body)
    assert r.status_code == 422, r.text
    assert r.json()["code"] == "validation_error"


async def test_the_refusal_is_audited(api: Api) -> None:
    await api.call(
        "PUT", "/calendar/days/2040-01-02", "operator1", content=b"{" + b" " * (MAX_BODY_BYTES + 1)
    )
    entries = (await api.get("/audit", "supervisor1", params={"username": "operator1"})).json()
    assert any(e["status"] == 413 and e["path"].endswith("/calendar/days/2040-01-02") for e in entries), (
        entries
    )
