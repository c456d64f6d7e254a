"""The Temporal UI reads sealed histories through the codec endpoint with an operator's codec
session: a cookie set by /codec/session, sent by the browser because the UI is told to include
credentials, and honoured only from the UI's own origin."""

from __future__ import annotations

import base64

import httpx
import pytest
from temporalio.client import Client

from api.routers.codec import COOKIE
from core.temporal import case_workflow_id
from tests.conftest import Api
from tests.helpers import submit

pytestmark = pytest.mark.asyncio(loop_scope="session")

UI = "http://localhost:8233"


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


async def _sealed_case_input(api: Api, client: Client) -> tuple[str, dict]:
    case = await submit(api)
    history = await client.get_workflow_handle(case_workflow_id(case["case_id"])).fetch_history()
    started = history.events[0].workflow_execution_started_event_attributes.input.payloads[0]
    body = {
        "payloads": [
            {"metadata": {k: _b64(v) for k, v in started.metadata.items()}, "data": _b64(started.data)}
        ]
    }
    return case["case_id"], body


async def _session(api_url: str, username: str, **form) -> httpx.Response:
    async with httpx.AsyncClient(base_url=api_url) as http:
        return await http.post("/codec/session", data={"username": username, "password": "demo", **form})


async def test_operator_session_cookie_decodes_from_the_ui_origin_only(
    api: Api, api_url: str, client: Client
) -> None:
    case_id, body = await _sealed_case_input(api, client)

    login = await _session(api_url, "operator1", next=f"{UI}/namespaces/default/workflows")
    assert login.status_code == 303, login.text
    assert login.headers["location"] == f"{UI}/namespaces/default/workflows"
    set_cookie = login.headers["set-cookie"].lower()
    assert set_cookie.startswith(f"{COOKIE}=")
    for attribute in ("httponly", "samesite=strict", "path=/codec", "max-age="):
        assert attribute in set_cookie, set_cookie
    cookie = login.cookies[COOKIE]

    # What the UI's fetch sends with `credentials: "include"`: the cookie, its Origin, X-Namespace.
    ui_headers = {"Origin": UI, "X-Namespace": "default", "Cookie": f"{COOKIE}={cookie}"}
    preflight = await api.http.options(
        "/codec/decode",
        headers={
            "Origin": UI,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type,x-namespace",
        },
    )
    assert preflight.status_code == 200, preflight.text
    assert preflight.headers["access-control-allow-origin"] == UI
    assert preflight.headers["access-control-allow-credentials"] == "true"
    opened = await api.http.post("/codec/decode?preserveStorageRefs=true", json=body, headers=ui_headers)
    assert opened.status_code == 200, opened.text
    assert opened.headers["access-control-allow-origin"] == UI
    assert opened.headers["access-control-allow-credentials"] == "true"
    (payload,) = opened.json()["payloads"]
    assert case_id.encode() in base64.b64decode(payload["data"])
    audit = (await api.get("/audit", "supervisor1", params={"path_prefix": "/codec/decode"})).json()
    assert audit[0]["username"] == "operator1" and audit[0]["status"] == 200

    # Another page (or no Origin at all) cannot spend the cookie.
    for origin in ("http://evil.example", None):
        headers = {"Cookie": f"{COOKIE}={cookie}", **({"Origin": origin} if origin else {})}
        refused = await api.http.post("/codec/decode", json=body, headers=headers)
        assert refused.status_code == 401, (origin, refused.text)
        assert refused.json()["code"] == "unauthenticated"
    forged = await api.http.post(
        "/codec/decode", json=body, headers={**ui_headers, "Cookie": f"{COOKIE}=x.y.z"}
    )
    assert forged.status_code == 401

    # Logging out clears the cookie.
    logout = await api.http.delete("/codec/session")
    assert logout.status_code == 204
    assert (
        f"{COOKIE}=" in logout.headers["set-cookie"] and "max-age=0" in logout.headers["set-cookie"].lower()
    )


async def test_only_operators_get_a_session_and_next_stays_on_the_ui(api: Api, api_url: str) -> None:
    clerk = await _session(api_url, "clerk1")
    assert clerk.status_code == 403 and clerk.json()["code"] == "role_not_allowed"
    assert "set-cookie" not in clerk.headers
    wrong = await _session(api_url, "operator1", password="nope")
    assert wrong.status_code == 401 and wrong.json()["code"] == "invalid_credentials"
    elsewhere = await _session(api_url, "operator1", next="https://evil.example/")
    assert elsewhere.status_code == 422 and elsewhere.json()["code"] == "invalid_next"
    assert "set-cookie" not in elsewhere.headers
    plain = await _session(api_url, "operator1")
    assert plain.status_code == 200 and plain.json()["username"] == "operator1"
    assert COOKIE in plain.cookies
    page = await api.http.get("/codec/login")
    assert page.status_code == 200 and 'action="/codec/session"' in page.text
    assert "/codec" in page.text and "Include Cross-Origin Credentials" in page.text
