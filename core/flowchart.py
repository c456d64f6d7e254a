"""The process flowchart (办理流程图) of a guide, drawn as SVG from its process steps.

Stages run top to bottom; steps sharing a stage sit side by side (parallel), and arrows join
every step of a stage to every step of the next. Text stays text, in a CJK font stack, so the
Chinese labels stay sharp, selectable and readable by screen readers.
"""

from __future__ import annotations

from itertools import groupby
from xml.sax.saxutils import escape

from core.catalogue import ProcessStep

FONT = (
    "'Noto Sans CJK SC','Source Han Sans SC','PingFang SC','Microsoft YaHei','WenQuanYi Micro Hei',sans-serif"
)
BOX_W, BOX_H, GAP_X, ROW_H, MARGIN, TERMINAL_H = 220, 72, 40, 130, 40, 40


def _truncate(text: str, limit: int = 15) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def flowchart_svg(title: str, steps: list[ProcessStep], department_names: dict[str, str]) -> str:
    stages = [
        list(group) for _, group in groupby(sorted(steps, key=lambda s: s.stage), key=lambda s: s.stage)
    ]
    widest = max((len(stage) for stage in stages), default=1)
    title_w = (len(title) + 7) * 21  # the title in 20px CJK glyphs
    width = max(MARGIN * 2 + widest * BOX_W + (widest - 1) * GAP_X, MARGIN * 2 + title_w, 480)
    top = MARGIN + 40  # below the title
    height = top + TERMINAL_H + len(stages) * ROW_H + TERMINAL_H + MARGIN + 40
    cx = width / 2
    out: list[str] = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}办理流程图" '
        f'font-family="{FONT}">',
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="8" '
        'markerHeight="8" orient="auto-start-reverse">'
        '<path d="M0,0 L10,5 L0,10 z" fill="#1f4e8c"/></marker></defs>',
        f'<rect width="{width}" height="{height}" fill="#ffffff"/>',
        f'<text class="title" x="{cx}" y="{MARGIN + 8}" text-anchor="middle" font-size="20" '
        f'font-weight="bold" fill="#1a1a1a">{escape(title)}　办理流程图</text>',
    ]

    def terminal(y: float, label: str) -> tuple[float, float]:
        out.append(
            f'<rect class="terminal" x="{cx - 80}" y="{y}" width="160" height="{TERMINAL_H}" rx="20" '
            f'fill="#e8f0fb" stroke="#1f4e8c" stroke-width="2"/>'
        )
        out.append(
            f'<text x="{cx}" y="{y + TERMINAL_H / 2 + 6}" text-anchor="middle" font-size="16" '
            f'fill="#1a1a1a">{escape(label)}</text>'
        )
        return y, y + TERMINAL_H

    def arrow(x1: float, y1: float, x2: float, y2: float) -> None:
        out.append(
            f'<line class="arrow" x1="{x1}" y1="{y1}" x2="{x2}" y2="{y2}" stroke="#1f4e8c" '
            f'stroke-width="2" marker-end="url(#arrow)"/>'
        )

    _, start_bottom = terminal(top, "申请人提出申请")
    previous = [(cx, start_bottom)]
    y = start_bottom + (ROW_H - BOX_H)
    for stage in stages:
        row_w = len(stage) * BOX_W + (len(stage) - 1) * GAP_X
        x0 = (width - row_w) / 2
        current = []
        for i, step in enumerate(stage):
            x = x0 + i * (BOX_W + GAP_X)
            department = department_names.get(step.department, step.department)
            out.append(f'<g class="step" data-stage="{step.stage}">')
            out.append(f"<title>{escape(f'{step.name}：{department}。{step.action}')}</title>")
            out.append(
                f'<rect x="{x}" y="{y}" width="{BOX_W}" height="{BOX_H}" rx="8" fill="#ffffff" '
                f'stroke="#1f4e8c" stroke-width="2"/>'
            )
            out.append(
                f'<text class="step-name" x="{x + BOX_W / 2}" y="{y + 26}" text-anchor="middle" '
                f'font-size="17" font-weight="bold" fill="#1a1a1a">{escape(step.name)}</text>'
            )
            out.append(
                f'<text class="department" x="{x + BOX_W / 2}" y="{y + 50}" text-anchor="middle" '
                f'font-size="13" fill="#333333">{escape(_truncate(department))}</text>'
            )
            if len(stage) > 1:
                out.append(
                    f'<text class="parallel" x="{x + BOX_W - 6}" y="{y + 14}" text-anchor="end" '
                    f'font-size="11" fill="#b45309">并联</text>'
                )
            out.append("</g>")
            current.append((x + BOX_W / 2, y))
        for px, py in previous:
            for nx, ny in current:
                arrow(px, py, nx, ny)
        previous = [(nx, ny + BOX_H) for nx, ny in current]
        y += ROW_H
    end_top = y
    for px, py in previous:
        arrow(px, py, cx, end_top)
    terminal(end_top, "办结")
    out.append("</svg>")
    return "\n".join(out)
