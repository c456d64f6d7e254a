"""Personal data at rest and in answers: PostgreSQL holds ID numbers, phones, names and addresses
only sealed (raw rows read with SQL show none of them); the API opens them in full for the
applicant and the case's window clerk, masked for everyone else; logs mask them."""

from __future__ import annotations

import json
import logging
import random
import uuid

import pytest
from cryptography.exceptions import InvalidTag
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from api.routers.personal_data import mask_id_number, mask_phone
from core import fields
from core.logmask import mask_text
from tests.conftest import Api, migrate, new_database
from tests.data import SIGN_ONCE
from tests.helpers import (
    accept,
    complete_tasks,
    sign,
    submit,
    wait_for_status,
)

pytestmark = pytest.mark.asyncio(loop_scope="session")

_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


def new_id_number() -> str:
    """A valid, unique-enough 居民身份证号码 (GB 11643 check character)."""
    body = f"110105{random.randint(1950, 2005)}0{random.randint(1, 9)}1{random.randint(0, 9)}"
    body += f"{random.randint(0, 999):03d}"
    return body + "10X98765432"[sum(int(c) * w for c, w in zip(body, _WEIGHTS, strict=True)) % 11]


def new_phone() -> str:
    return f"139{random.randint(0, 99_999_999):08d}"


async def _raw(engine: AsyncEngine, sql: str, **params) -> str:
    """The whole row as PostgreSQL prints it (bytea as hex), plus the bytea decoded as text."""
    async with engine.connect() as conn:
        row = (await conn.execute(text(sql), params)).one()
    printed = str(row[0])
    blobs = [bytes(v) for v in row[1:] if v is not None]
    return printed + "".join(b.decode("utf-8", "replace") for b in blobs)


def _assert_absent(raw: str, *secrets: str) -> None:
    for secret in secrets:
        assert secret not in raw
        assert secret.encode().hex() not in raw  # bytea prints as \x<hex>
        assert json.dumps(secret)[1:-1] not in raw  # JSON escapes of 王小明 and the like


async def test_walk_in_applicant_is_sealed_at_rest_and_shown_by_role(api: Api, engine: AsyncEngine) -> None:
    id_number, phone, name = new_id_number(), new_phone(), f"测试{uuid.uuid4().hex[:4]}"
    applicant = {"name": name, "id_number": id_number, "phone": phone}
    case = await submit(api, SIGN_ONCE, as_="clerk1", applicant=applicant)
    case_id = case["case_id"]

    raw = await _raw(
        engine,
        "SELECT s::text, s.applicant FROM submissions s WHERE case_id = :c",
        c=case_id,
    )
    _assert_absent(raw, id_number, phone, name, id_number[-8:])
    async with engine.connect() as conn:
        query = text("SELECT applicant_id_token FROM submissions WHERE case_id = :c")
        token = (await conn.execute(query, {"c": case_id})).scalar_one()
    assert token == fields.id_number_token(id_number) and len(token) == 64 and id_number not in token

    # The clerk of the case's district sees the full data; supervisors and departments masked.
    full = await api.get(f"/cases/{case_id}/applicant", "clerk1")
    assert full.status_code == 200, full.text
    assert full.json() | {"delivery_address": None} == {
        "case_id": case_id,
        "masked": False,
        "applicant_username": None,
        "name": name,
        "id_number": id_number,
        "phone": phone,
        "delivery_address": None,
    }
    for who in ("supervisor1", "operator1", "market-staff"):
        masked = await api.get(f"/cases/{case_id}/applicant", who)
        assert masked.status_code == 200, (who, masked.text)
        body = masked.json()
        assert body["masked"] is True
        assert body["id_number"] == mask_id_number(id_number) == id_number[:6] + "********" + id_number[-4:]
        assert body["phone"] == mask_phone(phone) == phone[:3] + "****" + phone[-4:]
        assert id_number not in masked.text and phone not in masked.text
    for who, status in (("applicant1", 403), ("tax-staff", 403), (None, 401)):
        assert (await api.get(f"/cases/{case_id}/applicant", who)).status_code == status
    assert (await api.get("/cases/BJ00000000000000/applicant", "clerk1")).status_code == 404


async def test_clerk_finds_a_walk_in_applicants_cases_by_id_number(api: Api) -> None:
    id_number = new_id_number()
    applicant = {"name": "李四", "id_number": id_number}
    first = (await submit(api, SIGN_ONCE, as_="clerk1", applicant=applicant))["case_id"]
    second = (await submit(api, SIGN_ONCE, as_="clerk1", applicant=applicant))["case_id"]
    await submit(api, SIGN_ONCE, as_="clerk1", applicant={"name": "李四", "id_number": new_id_number()})

    for who in ("clerk1", "supervisor1"):
        r = await api.post("/cases/lookup", who, {"id_number": id_number})
        assert r.status_code == 200, r.text
        assert {c["case_id"] for c in r.json()["items"]} == {first, second}
        assert r.json()["total"] == 2
    if id_number.endswith("X"):  # a lower-case check character finds the same cases
        lower = await api.post("/cases/lookup", "clerk1", {"id_number": id_number.lower()})
        assert lower.json()["total"] == 2
    nobody = await api.post("/cases/lookup", "clerk1", {"id_number": new_id_number()})
    assert nobody.status_code == 200 and nobody.json()["total"] == 0
    wrong_check = id_number[:-1] + ("0" if id_number[-1] != "0" else "1")
    bad = await api.post("/cases/lookup", "clerk1", {"id_number": wrong_check})
    assert bad.status_code == 422 and bad.json()["code"] == "validation_error"
    assert (await api.post("/cases/lookup", "market-staff", {"id_number": id_number})).status_code == 403
    # The audit log records the lookup's path, never the ID number.
    audit = (await api.get("/audit", "supervisor1", params={"path_prefix": "/api/v1/cases/lookup"})).json()
    assert audit and all(id_number not in json.dumps(e) for e in audit)


async def test_applicant_sees_own_data_in_full_and_the_mailing_address_is_sealed(
    api: Api, engine: AsyncEngine
) -> None:
    id_number, phone = new_id_number(), new_phone()
    address = f"北京市朝阳区建国路{random.randint(1, 999)}号"
    applicant = {"name": "张三", "id_number": id_number, "phone": phone}
    case_id = (await submit(api, SIGN_ONCE, as_="applicant1", applicant=applicant))["case_id"]
    await accept(api, case_id)
    await complete_tasks(api, case_id, ["market"])
    await wait_for_status(api, case_id, "awaiting_signature")
    assert (await sign(api, case_id, "market-handler")).status_code == 200
    r = await api.post(f"/cases/{case_id}/delivery", "clerk1", {"method": "mail", "address": address})
    assert r.status_code == 200, r.text

    raw = await _raw(
        engine,
        "SELECT s::text, s.applicant, s.delivery_address FROM submissions s WHERE case_id = :c",
        c=case_id,
    )
    _assert_absent(raw, id_number, phone, address, "建国路")

    own = (await api.get(f"/cases/{case_id}/applicant", "applicant1")).json()
    assert own["masked"] is False
    assert (own["id_number"], own["phone"], own["delivery_address"]) == (id_number, phone, address)
    assert own["applicant_username"] == "applicant1"
    supervised = (await api.get(f"/cases/{case_id}/applicant", "supervisor1")).json()
    assert supervised["delivery_address"] == address[:6] + "****"
    assert supervised["id_number"] == mask_id_number(id_number)
    assert (await api.get(f"/cases/{case_id}/applicant", "applicant2")).status_code == 403


async def test_complaint_caller_is_sealed_and_shown_by_role(api: Api, engine: AsyncEngine) -> None:
    phone, name = new_phone(), f"来电人{uuid.uuid4().hex[:4]}"
    r = await api.post(
        "/complaints",
        "supervisor1",
        {"department": "tax", "content": "窗口办理太慢", "caller": {"name": name, "phone": phone}},
    )
    assert r.status_code == 201, r.text
    complaint_id = r.json()["rectification_id"]

    raw = await _raw(
        engine, "SELECT c::text, c.caller FROM complaints c WHERE complaint_id = :c", c=complaint_id
    )
    _assert_absent(raw, phone, name)

    full = await api.get(f"/complaints/{complaint_id}", "supervisor1")
    assert full.status_code == 200, full.text
    assert full.json()["caller"] == {"name": name, "phone": phone}
    assert full.json()["masked"] is False
    dept = await api.get(f"/complaints/{complaint_id}", "tax-staff")
    assert dept.status_code == 200, dept.text
    assert dept.json()["caller"]["phone"] == phone[:3] + "****" + phone[-4:]
    assert dept.json()["masked"] is True
    assert (await api.get(f"/complaints/{complaint_id}", "market-staff")).status_code == 403
    assert (await api.get(f"/complaints/{complaint_id}", "clerk1")).status_code == 403
    assert (await api.get("/complaints/C0", "supervisor1")).json()["code"] == "complaint_not_found"


async def test_sealed_fields_are_bound_to_their_key_and_column() -> None:
    box = fields.cipher()
    blob = box.seal(b'{"phone": "13900000000"}', "complaints.caller")
    assert box.open(blob, "complaints.caller") == b'{"phone": "13900000000"}'
    with pytest.raises(InvalidTag):  # moved to another column
        box.open(blob, "submissions.applicant")
    tampered = blob[:-1] + bytes([blob[-1] ^ 1])
    with pytest.raises(InvalidTag):
        box.open(tampered, "complaints.caller")
    assert blob != box.seal(b'{"phone": "13900000000"}', "complaints.caller")  # fresh nonce


async def test_logs_mask_id_numbers_and_phones() -> None:
    id_number, phone = "11010519491001004X", "13812345678"
    assert mask_text(f"id={id_number} tel={phone} landline 010-65123456 case BJ20261127000123") == (
        "id=110105********004X tel=138****5678 landline 010-****3456 case BJ20261127000123"
    )
    from core import logmask

    logmask.install()  # what the API and the worker do at start (idempotent)
    lines: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(self.format(record))

    keep = Keep()
    access = logging.getLogger("uvicorn.access")  # uvicorn's access formatter reads record.args
    api_log = logging.getLogger("api.test")
    levels = [(logger, logger.level) for logger in (access, api_log)]
    for logger in (access, api_log):
        logger.addHandler(keep)
        logger.setLevel(logging.INFO)  # another test's uvicorn may have raised it
    try:
        access.warning('%s - "%s %s HTTP/%s" %d', "127.0.0.1:5", "GET", f"/x?id={id_number}", "1.1", 200)
        api_log.warning(f"applicant {id_number} phone {phone}")
    finally:
        for logger, level in levels:
            logger.removeHandler(keep)
            logger.setLevel(level)
    text = "\n".join(lines)
    assert len(lines) == 2, lines
    assert id_number not in text and phone not in text
    assert "110105********004X" in text and "138****5678" in text


async def test_migration_seals_existing_rows_and_the_downgrade_opens_them(
    engine: AsyncEngine, database_url: str
) -> None:
    url = await new_database(engine, database_url, "seal")
    id_number, phone = new_id_number(), new_phone()
    applicant = {"name": "王五", "id_number": id_number, "phone": phone}
    fresh = create_async_engine(url)
    try:
        await migrate(url, "upgrade", "0008")
        async with fresh.begin() as conn:
            await conn.execute(
                text(
                    "INSERT INTO submissions (case_id, submitted_by, request_hash, applicant, form,"
                    " delivery_address, created_at) VALUES ('BJ1', 'clerk1', 'h', CAST(:a AS JSONB), '{}',"
                    " '北京市海淀区某路1号', now()),"
                    " ('BJ2', 'applicant1', 'h', '{}', '{}', NULL, now())"
                ),
                {"a": json.dumps(applicant, ensure_ascii=False)},
            )
            await conn.execute(
                text(
                    "INSERT INTO complaints (complaint_id, department, content, caller, received_by,"
                    " created_at) VALUES ('C1', 'tax', '投诉', CAST(:c AS JSONB), 'supervisor1', now())"
                ),
                {"c": json.dumps({"name": "赵六", "phone": phone})},
            )
        await migrate(url, "upgrade", "0009")
        raw = await _raw(fresh, "SELECT s::text FROM submissions s WHERE case_id = 'BJ1'")
        _assert_absent(raw, id_number, phone, "王五", "某路1号")
        _assert_absent(await _raw(fresh, "SELECT c::text FROM complaints c"), phone, "赵六")
        async with fresh.connect() as conn:
            rows = (
                await conn.execute(
                    text("SELECT case_id, applicant, applicant_id_token FROM submissions ORDER BY case_id")
                )
            ).all()
        box = fields.cipher()
        assert json.loads(box.open(rows[0].applicant, "submissions.applicant")) == applicant
        assert rows[0].applicant_id_token == fields.id_number_token(id_number)
        assert json.loads(box.open(rows[1].applicant, "submissions.applicant")) == {}
        assert rows[1].applicant_id_token is None

        await migrate(url, "downgrade", "0008")
        async with fresh.connect() as conn:
            query = text("SELECT applicant::text, delivery_address FROM submissions ORDER BY case_id")
            back = (await conn.execute(query)).all()
            caller = (await conn.execute(text("SELECT caller::text FROM complaints"))).scalar_one()
        assert json.loads(back[0][0]) == applicant and back[0][1] == "北京市海淀区某路1号"
        assert json.loads(back[1][0]) == {} and back[1][1] is None
        assert json.loads(caller) == {"name": "赵六", "phone": phone}
    finally:
        await fresh.dispose()
