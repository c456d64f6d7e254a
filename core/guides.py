"""Service guides (办事指南): the 26 elements of a version, validation, diffs, district overlays,
and the version in force — the single source every channel and every new case reads."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any

from sqlalchemy.dialects.postgresql import distinct_on
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from core.catalogue import DepartmentRef, GuideContent, GuideProblem, GuideStatus, ItemSnapshot, MaterialRef
from core.form_fields import FORM_FIELDS
from core.guide_elements import BY_KEY, ELEMENTS, LOCAL_KEYS, OPTIONAL_SETTINGS, SETTINGS_FIELDS, ElementScope
from core.models import DistrictGuide, GuideVersion

FIELD_TO_ELEMENT: dict[str, str] = {e.field: e.key for e in ELEMENTS if e.field}


def canonical_json(value: Any, sort_keys: bool = True) -> bytes:
    """Deterministic bytes (for hashes and ETags); unsorted keys keep the elements' standard order."""
    return json.dumps(value, ensure_ascii=False, sort_keys=sort_keys, separators=(",", ":")).encode()


def content_hash(content: GuideContent) -> str:
    return hashlib.sha256(canonical_json(content.model_dump(mode="json"))).hexdigest()


def _label(key: str) -> str:
    if key in BY_KEY:
        return BY_KEY[key].label
    return SETTINGS_FIELDS.get(key) or OPTIONAL_SETTINGS.get(key, key)


def element_value(code: str, content: GuideContent, key: str) -> Any:
    data = content.model_dump(mode="json")
    if key == "deferred_acceptance":
        deferrable = [m.code for m in content.materials or [] if m.deferrable]
        return {"allowed": bool(deferrable), "materials": deferrable, "policy": content.deferral_policy}
    field = BY_KEY[key].field
    if field is None:  # the item code (the registry key)
        return code
    return data[field]


def elements(code: str, content: GuideContent) -> dict[str, dict[str, Any]]:
    """The guide's `elements` object: all 26, keyed by stable English name, in standard order."""
    return {
        e.key: {"label": e.label, "scope": e.scope.value, "value": element_value(code, content, e.key)}
        for e in ELEMENTS
    }


def overlay(content: GuideContent, localized: dict[str, str]) -> GuideContent:
    """A district's view: the city content with its localized elements (place, hours, contacts)."""
    return content.model_copy(update={k: v for k, v in localized.items() if k in LOCAL_KEYS})


def _blank(value: Any) -> bool:
    return (
        value is None
        or (isinstance(value, str | list) and not value)
        or (isinstance(value, str) and not value.strip())
    )


def validate(code: str, content: GuideContent, departments: dict[str, str]) -> list[GuideProblem]:
    """Everything that stops a version from being published, each naming its element."""
    problems: list[GuideProblem] = []

    def problem(key: str, err: str, message: str) -> None:
        problems.append(GuideProblem(element=key, label=_label(key), code=err, message=message))

    for e in ELEMENTS:
        if e.field and _blank(getattr(content, e.field)):
            problem(e.key, "element_missing", f"要素“{e.label}”未填写")
    for key, label in SETTINGS_FIELDS.items():
        if _blank(getattr(content, key)):
            problem(key, "setting_missing", f"“{label}”未设置")

    legal, promised = content.legal_time_limit_days, content.promised_time_limit_days
    if legal is not None and promised is not None and promised > legal:
        problem(
            "promised_time_limit",
            "promised_exceeds_legal",
            f"承诺办结时限（{promised}个工作日）不得超过法定办结时限（{legal}个工作日）",
        )
    materials = content.materials or []
    seen: set[str] = set()
    for m in materials:
        if m.code in seen:
            problem("materials", "duplicate_material", f"材料编码重复：{m.code}")
        seen.add(m.code)
        if m.deferrable and not m.required:
            problem(
                "deferred_acceptance", "deferrable_not_required", f"非必要材料无需容缺：{m.code} {m.name}"
            )
    steps = content.process or []
    for step in steps:
        if step.department not in departments:
            problem("process", "unknown_department", f"办理流程“{step.name}”的部门不存在：{step.department}")
    stages = sorted({s.stage for s in steps})
    if stages and stages != list(range(1, len(stages) + 1)):
        problem("process", "process_stage_gap", "办理流程的环节序号须从1开始连续编排")
    reviewing = content.departments or []
    in_process = {s.department for s in steps}
    for dept in reviewing:
        if dept not in departments:
            problem("departments", "unknown_department", f"审查部门不存在：{dept}")
        elif steps and dept not in in_process:
            problem(
                "departments", "department_not_in_process", f"审查部门“{departments[dept]}”未出现在办理流程中"
            )
    if len(set(reviewing)) != len(reviewing):
        problem("departments", "duplicate_department", "审查部门重复")
    for key in content.form_fields or []:
        if key not in FORM_FIELDS:
            problem("form_fields", "unknown_form_field", f"申请表字段不在全市标准字段中：{key}")
    return problems


def diff(code: str, before: GuideContent, after: GuideContent) -> list[dict[str, Any]]:
    """Element by element (then the engine settings), what changed between two versions."""
    changes = []
    for e in ELEMENTS:
        a, b = element_value(code, before, e.key), element_value(code, after, e.key)
        if a != b:
            changes.append({"element": e.key, "label": e.label, "before": a, "after": b})
    for key, label in {**SETTINGS_FIELDS, **OPTIONAL_SETTINGS}.items():
        a, b = getattr(before, key), getattr(after, key)
        if a != b:
            changes.append({"element": key, "label": label, "before": a, "after": b})
    return changes


def snapshot(code: str, version: int, content: GuideContent, names: dict[str, str]) -> ItemSnapshot:
    """What a case keeps of the version in force when it was submitted."""
    return ItemSnapshot(
        code=code,
        name=content.name or code,
        version=version,
        departments=[DepartmentRef(code=d, name=names.get(d, d)) for d in content.departments or []],
        materials=[
            MaterialRef(code=m.code, name=m.name, required=m.required, shared_code=m.shared_code)
            for m in content.materials or []
        ],
        signature_mode=content.signature_mode,
        legal_time_limit_days=content.legal_time_limit_days,
        promised_time_limit_days=content.promised_time_limit_days,
        form_fields=content.form_fields or [],
        result_name=content.result_name or "",
    )


def basic_scope(key: str) -> bool:
    return key in BY_KEY and BY_KEY[key].scope == ElementScope.BASIC


# ---- queries ------------------------------------------------------------------------------


def _in_force_query(at: datetime):
    return (
        select(GuideVersion)
        .where(GuideVersion.status == GuideStatus.PUBLISHED.value, col(GuideVersion.effective_from) <= at)
        .order_by(GuideVersion.item_code, col(GuideVersion.version).desc())
    )


async def in_force(db: AsyncSession, code: str, at: datetime) -> GuideVersion | None:
    """The newest published version of the item that has taken effect at `at`."""
    query = _in_force_query(at).where(GuideVersion.item_code == code).limit(1)
    return (await db.exec(query)).first()


async def all_in_force(db: AsyncSession, at: datetime) -> list[GuideVersion]:
    query = _in_force_query(at).ext(distinct_on(col(GuideVersion.item_code)))
    return list((await db.exec(query)).all())


async def district_localized(db: AsyncSession, code: str, district: str) -> dict[str, str]:
    row = await db.get(DistrictGuide, (code, district))
    return dict(row.localized) if row else {}
