"""Themed services (主题服务, "办好一件事"): definitions, their validation, and the merged form.

A theme bundles several catalogue items; a member may need another's result (its number fills
a form field and stands in for materials such as the business licence). Everything here is
pure, so the bundle workflow uses the same functions the API does.
"""

from __future__ import annotations

from core.catalogue import (
    ItemSnapshot,
    MergedField,
    MergedMaterial,
    ThemeDefinition,
    ThemeForm,
    ThemeMemberSnapshot,
    ThemeSnapshot,
)
from core.form_fields import FORM_FIELDS


def material_code(item_code: str, material) -> str:
    """A material's code in the merged list: its shared code, else item-qualified."""
    return material.shared_code or f"{item_code}/{material.code}"


def validate(theme: ThemeDefinition, items: dict[str, ItemSnapshot], departments: set[str]) -> list[dict]:
    """Everything that stops a theme from being defined, each with a code and a Chinese message."""
    problems: list[dict] = []

    def problem(code: str, message: str, member: str | None = None) -> None:
        problems.append({"code": code, "message": message, "member": member})

    if theme.lead_department not in departments:
        problem("unknown_department", f"牵头部门不存在：{theme.lead_department}")
    keys = [m.key for m in theme.members]
    for key in sorted({k for k in keys if keys.count(k) > 1}):
        problem("duplicate_member", f"成员标识重复：{key}", key)
    for member in theme.members:
        item = items.get(member.item_code)
        if item is None:
            problem("unknown_item", f"事项目录中没有该事项或尚未发布：{member.item_code}", member.key)
        for need in member.needs:
            if need.member == member.key:
                problem("self_dependency", f"事项不能依赖自身：{member.key}", member.key)
            elif need.member not in keys:
                problem("unknown_member", f"依赖的成员不存在：{need.member}", member.key)
            if item is not None:
                _check_need(item, need, member.key, problem)
    cycle = find_cycle({m.key: [n.member for n in m.needs if n.member in keys] for m in theme.members})
    if cycle:
        problem("dependency_cycle", f"成员之间存在循环依赖：{' → '.join(cycle)}", cycle[0])
    return problems


def _check_need(item: ItemSnapshot, need, key: str, problem) -> None:
    if need.field is not None and need.field not in item.form_fields:
        problem("unknown_form_field", f"事项“{item.name}”的申请表没有字段：{need.field}", key)
    shared = {m.shared_code for m in item.materials if m.shared_code}
    for code in need.materials:
        if code not in shared:
            problem("unknown_shared_material", f"事项“{item.name}”的材料中没有共享材料：{code}", key)


def find_cycle(graph: dict[str, list[str]]) -> list[str] | None:
    """A dependency cycle as a path that ends where it starts, or None."""
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in graph.get(node, []):
            if state.get(nxt) == 1:
                return path[path.index(nxt) :] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        path.pop()
        state[node] = 2
        return None

    for node in graph:
        if node not in state and (found := visit(node)):
            return found
    return None


def merged_form(theme: ThemeSnapshot) -> ThemeForm:
    """填一表: the union of the members' form fields and materials, each asked once."""
    fields: dict[str, MergedField] = {}
    materials: dict[str, MergedMaterial] = {}
    for member in theme.members:
        provided_fields = {n.field: n.member for n in member.needs if n.field}
        provided_materials = {code: n.member for n in member.needs for code in n.materials}
        for key in member.item.form_fields:
            _merge_field(fields, key, member, provided_fields.get(key))
        for m in member.item.materials:
            code = material_code(member.item.code, m)
            _merge_material(materials, code, m, member, provided_materials.get(m.shared_code or ""))
    return ThemeForm(theme_code=theme.code, fields=list(fields.values()), materials=list(materials.values()))


def _merge_field(fields: dict[str, MergedField], key: str, member: ThemeMemberSnapshot, source) -> None:
    spec = FORM_FIELDS[key]
    entry = fields.get(key)
    if entry is None:
        entry = fields[key] = MergedField(
            key=key, label=spec.label, kind=spec.kind, required=True, asked_by=[], provided_by=source
        )
    entry.asked_by.append(member.item.code)
    # Asked of the applicant if any member needs it from them rather than from a result.
    if source is None:
        entry.provided_by = None
    elif entry.provided_by is not None:
        entry.provided_by = source


def _merge_material(materials: dict[str, MergedMaterial], code: str, m, member, source) -> None:
    entry = materials.get(code)
    if entry is None:
        entry = materials[code] = MergedMaterial(
            code=code, name=m.name, required=False, used_by={}, provided_by=source
        )
    entry.used_by[member.item.code] = m.code
    entry.required = entry.required or (m.required and source is None)
    if source is None:
        entry.provided_by = None


def member_materials(member: ThemeMemberSnapshot, handed_in: set[str]) -> list[str]:
    """The member item's own codes for what was handed in, plus what upstream results supply."""
    supplied = {code for n in member.needs for code in n.materials}
    return sorted(
        m.code
        for m in member.item.materials
        if material_code(member.item.code, m) in handed_in or (m.shared_code or "") in supplied
    )


def local_codes(member: ThemeMemberSnapshot, merged: list[str]) -> list[str]:
    """The member item's own codes for these merged-list codes (those it uses)."""
    wanted = set(merged)
    return sorted(m.code for m in member.item.materials if material_code(member.item.code, m) in wanted)


def member_form(member: ThemeMemberSnapshot, form: dict[str, str], results: dict[str, str]) -> dict[str, str]:
    """The member's own form: its fields from the merged form, and upstream results filled in."""
    own = {k: form[k] for k in member.item.form_fields if k in form}
    for need in member.needs:
        if need.field and need.member in results:
            own[need.field] = results[need.member]
    return own
