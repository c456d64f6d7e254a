"""The public guide page in a real browser: headless Chromium (Debian's `chromium` package, which
`make test` installs through scripts/ensure_browser.sh) opens it at phone size; the screenshot
lands in the test artefacts."""

from __future__ import annotations

import asyncio
import os
import shutil
from pathlib import Path

import pytest

from tests.png import read_png
from tests.test_catalogue import LABELS

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="session")]

ARTIFACTS = Path(os.environ.get("TEST_ARTIFACTS", Path(__file__).resolve().parent.parent / "test-artifacts"))
PHONE = (412, 2600)  # CSS pixels: a common Android phone width, tall enough for the whole page


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    assert found, "headless Chromium is required: sh scripts/ensure_browser.sh (make test runs it)"
    return found


async def run_chromium(profile: Path, *args: str, size: tuple[int, int] = PHONE) -> bytes:
    # Asynchronously: the API under test is served by this same event loop.
    proc = await asyncio.create_subprocess_exec(
        chromium(),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--hide-scrollbars",
        "--force-device-scale-factor=1",
        f"--user-data-dir={profile}",
        f"--window-size={size[0]},{size[1]}",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout=90)
    assert proc.returncode == 0, err.decode(errors="replace")[-2000:]
    return out


def artifact(name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / name
    path.unlink(missing_ok=True)
    return path


async def test_guide_page_renders_in_headless_chromium(api_url: str, tmp_path: Path) -> None:
    url = f"{api_url}/guides/culture-001?district=chaoyang"
    dom = (await run_chromium(tmp_path / "dom", "--dump-dom", url)).decode()
    assert "<title>娱乐场所从事娱乐场所经营活动审批 - 办事指南 - 朝阳区</title>" in dom
    assert all(f"<th>{label}" in dom for label in LABELS)
    assert dom.count('<tr class="material"') == 4
    assert dom.count('class="step"') == 5 and "北京市公安局" in dom

    shot = artifact("guide-culture-001-chaoyang-phone.png")
    await run_chromium(tmp_path / "shot", f"--screenshot={shot}", url)
    image = read_png(shot.read_bytes())  # noqa: ASYNC240 (a local file, once)
    assert (image.width, image.height) == PHONE
    red = image.pixel(4, 4)[:3]  # the header band, #b91c1c
    assert abs(red[0] - 0xB9) < 8 and abs(red[1] - 0x1C) < 8 and abs(red[2] - 0x1C) < 8
    # It fits the phone: beside the sections, the right margin stays page background (#f5f7fa).
    margin = {image.pixel(image.width - 3, y)[:3] for y in range(150, 1600, 5)}
    assert margin == {(0xF5, 0xF7, 0xFA)}, margin
    # Text, tables and the flowchart make for many colours; a blank or error page has few.
    colours = {image.pixel(x, y)[:3] for y in range(0, 1600, 3) for x in range(0, image.width, 3)}
    assert len(colours) > 50


async def test_flowchart_renders_in_headless_chromium(api_url: str, tmp_path: Path) -> None:
    shot = artifact("flowchart-culture-001.png")
    await run_chromium(
        tmp_path / "svg",
        f"--screenshot={shot}",
        f"{api_url}/api/v1/items/culture-001/flowchart.svg",
        size=(760, 800),
    )
    image = read_png(shot.read_bytes())  # noqa: ASYNC240 (a local file, once)
    pixels = [image.pixel(x, y)[:3] for y in range(image.height) for x in range(image.width)]
    strokes = sum(1 for p in pixels if p == (0x1F, 0x4E, 0x8C))  # box borders and arrows
    terminals = sum(1 for p in pixels if p == (0xE8, 0xF0, 0xFB))  # start and end ovals
    text = sum(1 for p in pixels if max(p) < 0x60)  # dark glyphs of the labels
    assert strokes > 2000 and terminals > 5000 and text > 1000, (strokes, terminals, text)
