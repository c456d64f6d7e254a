"""The public, read-only guide page (办事指南) a citizen opens from the QR code on a phone:
all 26 elements, the materials checklist and the process flowchart, in plain HTML."""

from __future__ import annotations

from html import escape
from typing import Any

from core.catalogue import HANDLING_CHANNEL_LABELS, HANDLING_SCOPE_LABELS, HandlingChannel, HandlingScope
from core.guide_elements import ELEMENTS

_CSS = """
body{font-family:'Noto Sans CJK SC','PingFang SC','Microsoft YaHei',sans-serif;margin:0;color:#1a1a1a;
background:#f5f7fa;line-height:1.6}
header{background:#b91c1c;color:#fff;padding:16px}
header h1{margin:0;font-size:1.3rem}header p{margin:4px 0 0;font-size:.85rem}
main{max-width:960px;margin:0 auto;padding:12px}
section{background:#fff;border-radius:8px;padding:12px 16px;margin:12px 0;box-shadow:0 1px 3px #0002}
h2{font-size:1.1rem;border-left:4px solid #b91c1c;padding-left:8px}
table{width:100%;border-collapse:collapse;table-layout:fixed}th,td{border:1px solid #d8dde6;padding:6px;
text-align:left;vertical-align:top;overflow-wrap:anywhere}th{background:#eef2f7}
.elements th{width:6.5em}.materials th:nth-child(1){width:2.5em}
.materials th:nth-child(3),.materials th:nth-child(4){width:5em}small{color:#555}
ul,ol{margin:0;padding-left:1.2em}.local{color:#1f4e8c;font-size:.75rem}
.flowchart svg{max-width:100%;height:auto}
"""


_MATERIAL_HEADER = "".join(f"<th>{h}</th>" for h in ("序号", "材料名称", "形式份数", "要求"))


def _list(items: list[str], ordered: bool = False) -> str:
    tag = "ol" if ordered else "ul"
    return f"<{tag}>" + "".join(f"<li>{escape(str(i))}</li>" for i in items) + f"</{tag}>"


def _availability(value: dict) -> str:
    head = "提供" if value["available"] else "不提供"
    return escape(f"{head}。{value['note']}" if value.get("note") else head)


def element_html(key: str, value: Any, departments: dict[str, str]) -> str:
    """One element's value as a clerk would read it aloud."""
    if key in ("legal_time_limit", "promised_time_limit"):
        return escape(f"{value}个工作日")
    if key in ("legal_basis", "acceptance_conditions", "review_criteria"):
        return _list(value)
    if key == "served_parties":
        return escape("、".join(value))
    if key == "materials":
        required = sum(1 for m in value if m["required"])
        return escape(f"共{len(value)}项（必要材料{required}项），见下方材料清单")
    if key == "deferred_acceptance":
        text = value.get("policy") or ""
        if value["allowed"]:
            text += f"（可容缺材料：{'、'.join(value['materials'])}）"
        return escape(text)
    if key == "process":
        steps = []
        for s in value:
            department = departments.get(s["department"], s["department"])
            steps.append(f"第{s['stage']}步 {s['name']}（{department}）：{s['action']}")
        return _list(steps, ordered=True)
    if key == "channels":
        return escape("、".join(HANDLING_CHANNEL_LABELS[HandlingChannel(c)] for c in value))
    if key == "handling_scope":
        return escape(HANDLING_SCOPE_LABELS[HandlingScope(value)])
    if key in ("appointment", "online_payment", "courier_delivery"):
        return _availability(value)
    if key == "result_sample" and str(value).startswith(("http://", "https://")):
        return f'<a href="{escape(value)}">{escape(value)}</a>'
    return escape(str(value))


def guide_page(guide: dict, flowchart_svg: str, department_names: dict[str, str]) -> str:
    """`guide` is a GuideOut as JSON (the same content every channel gets)."""
    elements = guide["elements"]
    name = elements["name"]["value"]
    where = guide.get("district_name") or "北京市"
    rows = []
    for e in ELEMENTS:
        local = '<div class="local">可由各区调整</div>' if e.scope == "local" else ""
        value = element_html(e.key, elements[e.key]["value"], department_names)
        rows.append(f'<tr id="el-{e.key}"><th>{escape(e.label)}{local}</th><td>{value}</td></tr>')
    materials = []
    for i, m in enumerate(elements["materials"]["value"], 1):
        flags = ("必要" if m["required"] else "非必要") + ("，可容缺" if m["deferrable"] else "")
        note = f"<br><small>{escape(m['note'])}</small>" if m.get("note") else ""
        materials.append(
            f'<tr class="material" id="material-{escape(m["code"])}"><td>{i}</td>'
            f'<td>{escape(m["name"])}<br><small class="code">编码 {escape(m["code"])}</small>{note}</td>'
            f"<td>{escape(m['form'])} {m['copies']}份</td><td>{flags}</td></tr>"
        )
    return f"""<!DOCTYPE html>
<html lang="zh-CN">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(name)} - 办事指南 - {escape(where)}</title>
<style>{_CSS}</style>
</head>
<body>
<header><h1>{escape(name)}</h1>
<p>办事指南 · {escape(where)} · 事项编码 {escape(guide["code"])} · 第{guide["version"]}版</p></header>
<main>
<section><h2>办事指南要素</h2>
<table class="elements">{"".join(rows)}</table></section>
<section><h2>材料清单</h2>
<table class="materials"><tr>{_MATERIAL_HEADER}</tr>
{"".join(materials)}</table></section>
<section class="flowchart"><h2>办理流程图</h2>
{flowchart_svg}</section>
</main>
</body>
</html>
"""
