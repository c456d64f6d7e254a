"""Health, login and the catalogue, through HTTP."""

from __future__ import annotations

import asyncio
import dataclasses
import sys

import pytest

from core.codec import new_key
from core.config import DEV_FIELD_KEYS, DEV_FIELD_LOOKUP_KEY, Settings, require_production_secrets
from tests.conftest import Api

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_health_and_readiness(api: Api) -> None:
    assert (await api.http.get("/healthz")).json() == {"status": "ok"}
    ready = await api.http.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ok", "database": "ok", "temporal": "ok"}


async def test_login_issues_a_scoped_token_and_refuses_bad_passwords(api: Api) -> None:
    r = await api.http.post("/api/v1/auth/token", data={"username": "market-chief", "password": "demo"})
    assert r.status_code == 200
    assert r.json()["role"] == "chief" and r.json()["department"] == "market"
    me = await api.get("/auth/me", "market-chief")
    assert me.json()["display_name"] == "北京市市场监督管理局首席代表"

    bad = await api.http.post("/api/v1/auth/token", data={"username": "market-chief", "password": "nope"})
    assert bad.status_code == 401
    assert bad.json()["code"] == "invalid_credentials"
    forged = await api.http.get("/api/v1/cases", headers={"Authorization": "Bearer forged.jwt.x"})
    assert forged.status_code == 401
    assert forged.json()["message"] == "登录已失效或未登录，请重新登录"


async def test_catalogue_lists_items_with_departments_and_materials(api: Api) -> None:
    items = (await api.get("/items")).json()
    assert len(items) >= 8
    modes = {i["signature_mode"] for i in items}
    assert modes == {"sign_once", "sign_twice", "collective"}
    item = (await api.get("/items/market-002")).json()
    assert item["departments"] == [{"code": "market", "name": "北京市市场监督管理局"}]
    f01 = {"code": "F01", "name": "食品经营许可申请书", "required": True, "shared_code": None}
    assert f01 in item["materials"]
    assert item["promised_time_limit_days"] <= item["legal_time_limit_days"]
    missing = await api.get("/items/nope-999")
    assert missing.status_code == 404
    assert missing.json()["code"] == "item_not_found"


async def test_roles_outside_their_remit_are_refused(api: Api) -> None:
    tasks = await api.get("/tasks", "applicant1")
    assert tasks.status_code == 403
    other_dept = await api.get("/tasks", "market-staff", params={"department": "tax"})
    assert other_dept.status_code == 403
    submit = await api.post("/cases", "market-handler", {"item_code": "market-001", "district": "x"})
    assert submit.status_code == 403
    assert submit.json()["code"] == "role_not_allowed"
    unknown = await api.post(
        "/cases", "applicant1", {"item_code": "market-001", "district": "chaoyang", "extra": 1}
    )
    assert unknown.status_code == 422


async def test_production_refuses_dev_secrets() -> None:
    with pytest.raises(RuntimeError, match="JWT_SECRET"):
        require_production_secrets(Settings(environment="production"))
    with pytest.raises(RuntimeError, match="PAYLOAD_KEYS"):
        require_production_secrets(Settings(environment="production", jwt_secret="s" * 48))
    private = Settings(
        environment="production",
        jwt_secret="s" * 48,
        payload_keys=f"k1:{new_key()}",
        field_keys=f"f1:{new_key()}",
        field_lookup_key=new_key(),
    )
    require_production_secrets(private)
    with pytest.raises(RuntimeError, match="FIELD_KEYS"):
        with_dev_key = f"f2:{new_key()},{DEV_FIELD_KEYS}"
        require_production_secrets(dataclasses.replace(private, field_keys=with_dev_key))
    with pytest.raises(RuntimeError, match="FIELD_LOOKUP_KEY"):
        require_production_secrets(dataclasses.replace(private, field_lookup_key=DEV_FIELD_LOOKUP_KEY))
    require_production_secrets(Settings(environment="dev"))


async def test_repeated_login_failures_are_throttled(api: Api) -> None:
    form = {"username": "hpf-chief", "password": "wrong"}  # an account no other test uses
    codes = [(await api.http.post("/api/v1/auth/token", data=form)).status_code for _ in range(6)]
    assert codes == [401] * 5 + [429]
    blocked = await api.http.post("/api/v1/auth/token", data={**form, "password": "demo"})
    assert blocked.status_code == 429 and blocked.json()["code"] == "too_many_attempts"
    assert int(blocked.headers["Retry-After"]) > 0
    other = await api.http.post("/api/v1/auth/token", data={"username": "applicant2", "password": "demo"})
    assert other.status_code == 200  # another account from the same address is still heard


MESSAGE_MODULES = (
    "core.types",
    "core.catalogue",
    "workflows.calendar_messages",
    "workflows.rating_messages",
    "workflows.case_messages",
    "workflows.rectification_messages",
    "workflows.visit_messages",
    "workflows.bundle_messages",
)


@pytest.mark.parametrize("module", MESSAGE_MODULES)
async def test_every_message_type_is_complete_in_a_fresh_process(module: str) -> None:
    """The worker decodes workflow inputs in a fresh process, where a model with a forward
    reference to a type defined later in its module stays incomplete (and fails every task)."""
    code = (
        f"import pydantic, {module} as t; print(sorted(n for n, c in vars(t).items()"
        " if isinstance(c, type) and issubclass(c, pydantic.BaseModel)"
        " and c is not pydantic.BaseModel and not c.__pydantic_complete__))"
    )
    proc = await asyncio.create_subprocess_exec(sys.executable, "-c", code, stdout=asyncio.subprocess.PIPE)
    out, _ = await proc.communicate()
    assert proc.returncode == 0 and out.decode().strip() == "[]", out
