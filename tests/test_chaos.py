"""`python -m bench.chaos` on a small scale: every fault of the drill once (worker and API killed,
PostgreSQL stopped, the Temporal dev server killed, each started again) while cases run through
the REST API, and nothing lost or duplicated. The drill at scale is the same command with its
defaults (BENCHMARKS.md, Fault tests)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from bench.chaos import FAULT_LABELS

pytestmark = pytest.mark.faults

ROOT = Path(__file__).resolve().parent.parent
ARGS = ["--cases", "6", "--clients", "3", "--interval", "3", "--pg-outage", "3", "--rounds", "1"]


def test_the_drill_injects_every_fault_and_every_check_holds() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "bench.chaos", *ARGS], cwd=ROOT, capture_output=True, text=True, timeout=600
    )
    out = proc.stdout
    assert proc.returncode == 0, out + proc.stderr[-3000:]

    for label in FAULT_LABELS.values():
        times = re.search(re.escape(label) + r"\s+(\d+)\s", out)
        assert times is not None and int(times.group(1)) == 1, (label, out)
    cases = int(re.search(r"Fault drill: (\d+) sign-once cases", out).group(1))
    assert cases >= 6
    checks = re.findall(r"^(\s*\S.*?)\s{2,}(\d+)\s+(\d+)\s+(ok|FAILED)$", out, re.MULTILINE)
    assert len(checks) == 15, out
    assert all(verdict == "ok" and expected == found for _, expected, found, verdict in checks), out
    closed = next(c for c in checks if c[0] == "cases closed in the read model")
    assert int(closed[2]) == cases
    assert "chaos | kept" not in out  # a clean run leaves nothing behind
