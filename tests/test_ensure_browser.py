"""scripts/ensure_browser.sh, which `make test` runs before the suite, on a PATH of stand-ins: it
is silent when Chromium and the CJK fonts are there, and otherwise installs Debian's packages as
root or through sudo (DRY_RUN=1 prints the commands instead), or says why it cannot."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "ensure_browser.sh"
INSTALL = "apt-get install -y -qq --no-install-recommends chromium fonts-noto-cjk"


def run(tmp_path: Path, uid: int = 0, fonts: str = "", tools: tuple[str, ...] = ("apt-get",)) -> tuple:
    """The script with only `grep` and the stand-ins named on its PATH."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    os.symlink(shutil.which("grep"), bin_dir / "grep")
    stubs = {"id": f"echo {uid}", "fc-list": f"printf '%s' '{fonts}'"} | {t: "exit 0" for t in tools}
    for name, body in stubs.items():
        (bin_dir / name).write_text(f"#!/bin/sh\n{body}\n")
        (bin_dir / name).chmod(0o755)
    env = {"PATH": str(bin_dir), "DRY_RUN": "1"}
    proc = subprocess.run(["/bin/sh", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=30)
    return proc.returncode, proc.stdout, proc.stderr


def test_silent_when_chromium_and_the_fonts_are_there(tmp_path: Path) -> None:
    fonts = "/usr/share/fonts/NotoSansCJK-Regular.ttc: Noto Sans CJK SC:style=Regular\n"
    assert run(tmp_path, fonts=fonts, tools=("chromium",)) == (0, "", "")


@pytest.mark.parametrize("browser", ["chromium", "chromium-browser"])
def test_fonts_missing_installs_both_packages(tmp_path: Path, browser: str) -> None:
    code, out, err = run(tmp_path, tools=(browser, "apt-get"))
    assert code == 0, err
    assert out.splitlines() == ["+ apt-get update -qq", f"+ env DEBIAN_FRONTEND=noninteractive {INSTALL}"]
    assert "CJK fonts missing" in err and "Chromium" not in err.split("missing")[0]


def test_not_root_goes_through_sudo(tmp_path: Path) -> None:
    code, out, err = run(tmp_path, uid=1000, tools=("apt-get", "sudo"))
    assert code == 0, err
    assert out.splitlines()[-1] == f"+ sudo env DEBIAN_FRONTEND=noninteractive {INSTALL}"
    assert "headless Chromium and CJK fonts missing" in err


@pytest.mark.parametrize(
    ("uid", "tools", "why"),
    [(0, (), "no apt-get"), (1000, ("apt-get",), "neither root nor sudo")],
)
def test_says_what_to_install_when_it_cannot(tmp_path: Path, uid: int, tools: tuple, why: str) -> None:
    code, out, err = run(tmp_path, uid=uid, tools=tools)
    assert code == 1 and out == ""
    assert why in err and "make test-fast needs neither" in err
