"""Personal data is checked at the door: ID numbers by their check digit, phones by format."""

from __future__ import annotations

import pytest

from api.routers.personal_data import mask_id_number
from tests.conftest import Api

pytestmark = pytest.mark.asyncio(loop_scope="session")


def _walk_in(**applicant) -> dict:
    return {
        "item_code": "hrss-001",
        "materials": ["S01", "S02"],
        "district": "chaoyang",
        "applicant": {"name": "王小明", **applicant},
    }


@pytest.mark.parametrize(
    ("applicant", "problem"),
    [
        ({"id_number": "110105199001011234"}, "身份证号码校验位不正确"),
        ({"id_number": "11010519900101123"}, "身份证号码应为18位"),
        ({"id_number": "110105199013011235"}, "身份证号码中的出生日期无效"),
        ({"phone": "1380000000"}, "电话号码格式不正确"),
        ({"phone": "23800000000"}, "电话号码格式不正确"),
    ],
)
async def test_bad_personal_data_is_refused_and_creates_nothing(
    api: Api, applicant: dict, problem: str
) -> None:
    before = (await api.get("/cases", "clerk1")).json()["total"]
    r = await api.post("/cases", "clerk1", _walk_in(**applicant))
    assert r.status_code == 422
    assert r.json()["code"] == "validation_error"
    assert any(problem in p["problem"] for p in r.json()["detail"])
    assert (await api.get("/cases", "clerk1")).json()["total"] == before


async def test_valid_id_numbers_and_phones_pass(api: Api) -> None:
    ok = _walk_in(id_number="11010519491001004x", phone="010-65123456")
    r = await api.post("/cases", "clerk1", ok)
    assert r.status_code == 201, r.text


async def test_masking() -> None:
    assert mask_id_number("110105199001011232") == "110105********1232"
