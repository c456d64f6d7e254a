"""The guide's other faces: the flowchart drawn from its process steps, the QR code that opens
its public page, and the public HTML page itself — all public, all from the published version."""

from __future__ import annotations

import uuid
from html.parser import HTMLParser
from xml.etree import ElementTree

import pytest
import segno

from tests.conftest import Api
from tests.png import read_png
from tests.test_catalogue import LABELS, full_content

pytestmark = pytest.mark.asyncio(loop_scope="session")

SVG = "{http://www.w3.org/2000/svg}"


def svg_tree(body: bytes) -> ElementTree.Element:
    root = ElementTree.fromstring(body)
    assert root.tag == f"{SVG}svg"
    return root


def texts(root: ElementTree.Element, cls: str | None = None) -> list[str]:
    return [t.text or "" for t in root.iter(f"{SVG}text") if cls is None or t.get("class") == cls]


async def test_flowchart_is_drawn_from_the_process_steps(api: Api) -> None:
    r = await api.http.get("/api/v1/items/culture-001/flowchart.svg")  # public, no login
    assert r.status_code == 200
    assert r.headers["content-type"] == "image/svg+xml"
    root = svg_tree(r.content)
    assert "Noto Sans CJK SC" in root.get("font-family")
    assert texts(root, "title") == ["娱乐场所从事娱乐场所经营活动审批　办理流程图"]
    assert texts(root, "step-name") == ["受理", "审查", "审查", "决定", "送达"]
    assert set(texts(root, "department")) == {"北京市文化和旅游局", "北京市公安局"}
    assert texts(root, "parallel") == ["并联", "并联"]  # culture and police review side by side
    # start→受理, 受理→2 reviews, 2 reviews→决定, 决定→送达, 送达→end
    assert len([e for e in root.iter(f"{SVG}line") if e.get("class") == "arrow"]) == 7
    again = await api.http.get(
        "/api/v1/items/culture-001/flowchart.svg", headers={"If-None-Match": r.headers["etag"]}
    )
    assert again.status_code == 304

    # An operator's process steps become the chart: three departments in parallel, one row.
    code = f"test-{uuid.uuid4().hex[:10]}"
    process = [
        {"stage": 1, "name": "综窗收件", "department": "market", "action": "收件"},
        {"stage": 2, "name": "名称核准", "department": "market", "action": "核名"},
        {"stage": 2, "name": "涉税登记", "department": "tax", "action": "税务登记"},
        {"stage": 2, "name": "社保登记", "department": "hrss", "action": "社保开户"},
        {"stage": 3, "name": "联合发证", "department": "market", "action": "发照"},
    ]
    content = full_content(process=process, departments=["market", "tax", "hrss"])
    assert (
        await api.post("/catalogue/items", "operator1", {"code": code, "content": content})
    ).status_code == 201
    assert (await api.post(f"/catalogue/items/{code}/versions/1/publish", "operator1")).status_code == 200
    root = svg_tree((await api.http.get(f"/api/v1/items/{code}/flowchart.svg")).content)
    steps = [g for g in root.iter(f"{SVG}g") if g.get("class") == "step"]
    assert [g.find(f"{SVG}text").text for g in steps] == [
        "综窗收件",
        "名称核准",
        "涉税登记",
        "社保登记",
        "联合发证",
    ]
    rows = {g.get("data-stage"): set() for g in steps}
    for g in steps:
        rows[g.get("data-stage")].add(g.find(f"{SVG}rect").get("y"))
    assert all(len(ys) == 1 for ys in rows.values())  # each stage is one row
    assert len({next(iter(ys)) for ys in rows.values()}) == 3  # three rows, top to bottom
    assert "国家税务总局北京市税务局" in texts(root, "department")
    assert steps[2].find(f"{SVG}title").text == "涉税登记：国家税务总局北京市税务局。税务登记"


def png_modules(png: bytes, size: int, scale: int, border: int) -> list[list[bool]]:
    """Read a QR code PNG back into its dark/light modules (the centre pixel of each)."""
    image = read_png(png)
    assert image.width == image.height == (size + 2 * border) * scale
    middle = scale // 2
    return [
        [
            image.pixel((border + c) * scale + middle, (border + r) * scale + middle) == (0,)
            for c in range(size)
        ]
        for r in range(size)
    ]


async def test_qr_code_opens_the_public_guide_page(api: Api, api_url: str) -> None:
    r = await api.http.get("/api/v1/items/market-001/qr.png", params={"district": "haidian"})
    assert r.status_code == 200 and r.headers["content-type"] == "image/png"
    expected_url = f"{api_url}/guides/market-001?district=haidian"
    expected = segno.make(expected_url, error="m")
    size = expected.symbol_size(scale=1, border=0)[0]
    modules = png_modules(r.content, size, scale=8, border=4)
    assert modules == [[bool(v) for v in row] for row in expected.matrix]
    # ... and that URL is the page.
    page = await api.http.get(expected_url.removeprefix(api_url))
    assert page.status_code == 200 and "个体工商户设立登记" in page.text and "海淀区" in page.text
    assert (await api.http.get("/api/v1/items/nope-404/qr.png")).status_code == 404


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.element_labels: list[str] = []
        self.materials: list[list[str]] = []
        self.svg = 0
        self._table: str | None = None
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "table":
            self._table = a.get("class")
        if tag == "svg":
            self.svg += 1
        if tag == "tr" and a.get("class") == "material":
            self.materials.append([])
        if tag in ("th", "td"):
            self._cell = [tag]

    def handle_endtag(self, tag: str) -> None:
        if tag in ("th", "td") and self._cell is not None:
            kind, text = self._cell[0], "".join(self._cell[1:]).strip()
            if self._table == "elements" and kind == "th":
                self.element_labels.append(text.removesuffix("可由各区调整"))
            if self._table == "materials" and kind == "td" and self.materials:
                self.materials[-1].append(text)
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


async def test_public_guide_page_shows_all_elements_materials_and_flowchart(api: Api) -> None:
    r = await api.http.get("/guides/market-002")  # public, no login
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    page = _Page()
    page.feed(r.text)
    assert page.element_labels == LABELS
    assert [m[1][-3:] for m in page.materials] == ["F01", "F02", "F03", "F04", "F05"]
    assert page.materials[2] == [
        "3",
        "与食品经营相适应的主要设备设施布局、操作流程等文件编码 F03",
        "原件 1份",
        "必要，可容缺",
    ]
    assert page.svg == 1
    assert 'name="viewport"' in r.text and "20个工作日" in r.text and "10个工作日" in r.text
    missing = await api.http.get("/guides/nope-404")
    assert missing.status_code == 404 and "事项办事指南不存在" in missing.text
