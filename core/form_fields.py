"""The city's standard application-form fields (申请表字段), declared once.

Items name the fields their form asks; a themed bundle merges its members' forms by these
keys, so a field several items ask for is filled in once. Personal identity data (ID numbers,
phones) is not a form field: it travels as applicant data, which stays in PostgreSQL.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class FormField:
    key: str
    label: str
    kind: str = "text"  # text | integer | number | credit_code
    max_length: int = 200


_CREDIT_CODE = re.compile(r"^[0-9A-HJ-NPQRTUWXY]{2}\d{6}[0-9A-HJ-NPQRTUWXY]{10}$")

FORM_FIELDS: dict[str, FormField] = {
    f.key: f
    for f in (
        FormField("operator_name", "经营者（法定代表人）姓名", max_length=50),
        FormField("business_name", "名称（字号）", max_length=100),
        FormField("business_address", "经营场所地址"),
        FormField("business_scope", "经营范围", max_length=500),
        FormField("credit_code", "统一社会信用代码", kind="credit_code", max_length=18),
        FormField("employee_count", "从业人员人数", kind="integer", max_length=6),
        FormField("venue_area", "经营场所面积（平方米）", kind="number", max_length=10),
        FormField("venue_capacity", "核定容纳人数", kind="integer", max_length=6),
        FormField("food_categories", "食品经营项目", max_length=500),
        FormField("seal_types", "印章种类（如公章、财务专用章）", max_length=200),
        FormField("bank_name", "基本存款账户开户银行", max_length=100),
        FormField("hr_services", "人力资源服务范围", max_length=500),
        FormField("deposit_ratio", "住房公积金缴存比例（%）", kind="number", max_length=5),
    )
}


def problem(key: str, value: str) -> str | None:
    """Why a value does not fit its field (Chinese, for the clerk), or None if it does."""
    spec = FORM_FIELDS[key]
    if not value.strip():
        return f"“{spec.label}”不能为空"
    if len(value) > spec.max_length:
        return f"“{spec.label}”不能超过 {spec.max_length} 个字符"
    if spec.kind == "integer" and not value.isdigit():
        return f"“{spec.label}”须为整数"
    if spec.kind == "number" and not re.fullmatch(r"\d+(\.\d+)?", value):
        return f"“{spec.label}”须为数字"
    if spec.kind == "credit_code" and not (
        _CREDIT_CODE.match(value) and _check_character(value[:17]) == value[17]
    ):
        return f"“{spec.label}”须为有效的18位统一社会信用代码（校验位不符）"
    return None


def credit_code_for(case_id: str) -> str:
    """The 统一社会信用代码 issued with a licence, derived from the case number so a replay or
    a retry issues the same code (登记管理部门码 9 + 类别 2 + 北京 110000 + 9-digit body + check)."""
    digits = "".join(ch for ch in case_id if ch.isdigit())[-9:].rjust(9, "0")
    body = f"92110000{digits}"
    return body + _check_character(body)


_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)


def _check_character(body: str) -> str:
    """GB 32100-2015 check character over the first 17 characters."""
    total = sum(_ALPHABET.index(ch) * w for ch, w in zip(body, _WEIGHTS, strict=True))
    return _ALPHABET[(31 - total % 31) % 31]


def result_number(item_code: str, result_name: str, case_id: str) -> str:
    """The number printed on an approval's result: a business licence carries a credit code."""
    if "营业执照" in result_name:
        return credit_code_for(case_id)
    return f"{item_code.upper()}-{case_id}"
