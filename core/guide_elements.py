"""The 26 standard elements of a service guide (办事指南要素): the one place that defines them.

Each element has a stable English key (used in the guide's JSON `elements` object and in
errors), its Chinese label as the Beijing measures name it, whether it is basic (identical
across the city and every district) or localizable (a district may set its own), and the
GuideContent field it is read from.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class ElementScope(StrEnum):
    BASIC = "basic"  # 基本要素: uniform across the city
    LOCAL = "local"  # 可本地化: place, hours and contacts only


@dataclass(frozen=True)
class ElementDef:
    key: str
    label: str
    scope: ElementScope
    # The GuideContent field holding the value; None for the item code (the registry key).
    field: str | None


_B, _L = ElementScope.BASIC, ElementScope.LOCAL

ELEMENTS: tuple[ElementDef, ...] = (
    ElementDef("name", "事项名称", _B, "name"),
    ElementDef("code", "事项编码", _B, None),
    ElementDef("item_type", "事项类型", _B, "item_type"),
    ElementDef("legal_basis", "设定依据", _B, "legal_basis"),
    ElementDef("implementing_body", "实施主体", _B, "implementing_body"),
    ElementDef("acceptance_conditions", "受理条件", _B, "acceptance_conditions"),
    ElementDef("served_parties", "服务对象", _B, "served_parties"),
    ElementDef("legal_time_limit", "法定办结时限", _B, "legal_time_limit_days"),
    ElementDef("promised_time_limit", "承诺办结时限", _B, "promised_time_limit_days"),
    ElementDef("result_name", "结果名称", _B, "result_name"),
    ElementDef("result_sample", "结果样本", _B, "result_sample"),
    ElementDef("fee_standard", "收费标准", _B, "fee_standard"),
    ElementDef("fee_basis", "收费依据", _B, "fee_basis"),
    ElementDef("materials", "所需材料", _B, "materials"),
    ElementDef("deferred_acceptance", "容缺受理", _B, "deferral_policy"),
    ElementDef("process", "办理流程", _B, "process"),
    ElementDef("channels", "办理形式", _B, "channels"),
    ElementDef("review_criteria", "审查标准", _B, "review_criteria"),
    ElementDef("handling_scope", "通办范围", _B, "handling_scope"),
    ElementDef("appointment", "预约办理", _B, "appointment"),
    ElementDef("online_payment", "网上支付", _B, "online_payment"),
    ElementDef("courier_delivery", "物流快递", _B, "courier_delivery"),
    ElementDef("place", "办理地点", _L, "place"),
    ElementDef("hours", "办理时间", _L, "hours"),
    ElementDef("consultation", "咨询方式", _L, "consultation"),
    ElementDef("complaint", "监督投诉方式", _L, "complaint"),
)

BY_KEY: dict[str, ElementDef] = {e.key: e for e in ELEMENTS}
LOCAL_KEYS: tuple[str, ...] = tuple(e.key for e in ELEMENTS if e.scope == ElementScope.LOCAL)

# Engine settings carried by a guide version besides its 26 elements.
SETTINGS_FIELDS: dict[str, str] = {"signature_mode": "签批方式", "departments": "审查部门"}
# Settings a guide may leave unset (an item outside any theme needs no structured form).
OPTIONAL_SETTINGS: dict[str, str] = {"form_fields": "申请表字段"}

assert len(ELEMENTS) == 26 and len(BY_KEY) == 26
