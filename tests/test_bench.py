"""`python -m bench` on a tiny scale: it brings its own stack up, drives every phase to the end and
prints the whole table. Figures are not judged here (benchmarks are not timed asserts); that every
measured run completed, and that every row is there, is."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.bench

ROOT = Path(__file__).resolve().parent.parent
COUNTS = {"--cases": 3, "--twins": 3, "--hello": 4}
ARGS = [
    *(str(x) for pair in COUNTS.items() for x in pair),
    "--clients",
    "2",
    "--hello-concurrency",
    "2",
    "--latency-clients",
    "2",
    "--latency-requests",
    "2",
    "--shape-repeats",
    "1",
]


def _row(out: str, label: str) -> list[str]:
    """The cells after the first of the row that starts with `label` (end it with two spaces to
    name a whole first cell)."""
    line = next((line for line in out.splitlines() if line.startswith(label)), None)
    assert line is not None, f"no row {label!r} in:\n{out}"
    return re.split(r"\s{2,}", line.strip())[1:]


def test_bench_prints_every_figure_of_a_complete_run(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "bench", *ARGS],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=420,
    )
    out = proc.stdout
    assert proc.returncode == 0, out + proc.stderr

    # 1. Throughput: each kind ran exactly as many times as asked, and has a ratio to hello-world.
    for label, flag in (
        ("case lifecycles", "--cases"),
        ("floor: case twin", "--twins"),
        ("baseline: hello", "--hello"),
    ):
        rate, count, ratio = _row(out, label)[-3:]
        assert count.startswith(f"{COUNTS[flag]} in "), (label, count)
        assert re.fullmatch(r"\d+\.\d\dx", ratio), (label, ratio)
    assert re.search(r"case / twin: \d+\.\d\dx", out)
    cpu = {label: _row(out, label) for label in ("case  ", "case twin  ", "hello-world  ")}
    assert all(len(cells) == 6 and all(c.isdigit() for c in cells) for cells in cpu.values()), cpu

    # 2. History cost: a hello-world workflow is 11 events; the twin has a case's updates, no more.
    assert _row(out, "baseline: hello-world (1 runs)")[0] == "11.0"
    case_events, *_, case_updates, _ = _row(out, "sign-once (1 runs)")
    twin_events, *_, twin_updates, _ = _row(out, "floor: case twin (1 runs)")
    assert case_updates == twin_updates == "6.0"
    assert float(twin_events) <= float(case_events)
    # A 5-member bundle: its own runs and its five member cases, counted together.
    bundle_events, _, bundle_tasks, _, _ = _row(out, "5-member bundle, all its workflows (1 runs)")
    assert float(bundle_events) > 5 * float(case_events) and float(bundle_tasks) > 5 * 6

    # 3. Latency: every call measured, each write against its raw SDK call, the calls taking turns.
    assert "2 concurrent clients, 4 requests per call in 2 rounds" in out
    writes = ("POST /cases", "POST signature", "SDK update-with-start")
    for call in (*writes, "GET /cases/{id}", "GET /cases?filtered"):
        assert re.fullmatch(r"\d+\.\d\dx", _row(out, call)[-1]), call
    # A submission also against its floor: the same Temporal call on a bare workflow.
    lines = out.splitlines()
    assert sum(line.startswith("POST /cases") and "update-with-start" in line for line in lines) == 1, out
    # A signature also against its floor: an update that moves the status search attribute.
    assert sum(line.startswith("POST signature") and "status attr" in line for line in lines) == 1, out
    # Each metered call's CPU, by process (at 10 ms ticks, so no figure is judged at this scale).
    per_call = out.split("CPU ms per call", 1)[1]
    sdk = ("SDK execute_update", "SDK update + status attr")
    for call in (*writes, *sdk, "GET /cases/{id}", "GET /healthz"):
        cells = _row(per_call, f"{call}  ")
        assert len(cells) == 6 and all(re.fullmatch(r"\d+\.\d", c) for c in cells), (call, cells)
    assert "bench | kept" not in out  # the throw-away data directory is gone
