"""`make dev` end to end: scripts/dev.py brings the whole stack up from an empty data directory,
serves real HTTP, and one SIGINT takes every process it started down with it; a second start on
the same data directory finds its data (accounts, Temporal history, search attributes) again."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil
import pytest

from core import search_attributes as sa

pytestmark = pytest.mark.stack  # its own stack, in subprocesses

ROOT = Path(__file__).resolve().parent.parent
STARTUP_TIMEOUT = 120.0
STOP_TIMEOUT = 30.0
BANNER = "stack is up"
TEMPORAL_CLI = str(Path(sys.executable).parent / "temporal")
PROBE_WORKFLOW_ID = "dev-stack-probe"


def _free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def _alive(proc: psutil.Process) -> bool:
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _describe(proc: psutil.Process) -> str:
    try:
        return f"{proc.pid} {' '.join(proc.cmdline())[:120]}"
    except psutil.Error:
        return str(proc.pid)


def _postgres_processes(pgdata: Path) -> list[psutil.Process]:
    pid_file = pgdata / "postmaster.pid"
    if not pid_file.exists():
        return []
    try:
        postmaster = psutil.Process(int(pid_file.read_text().split()[0]))
        return [postmaster, *postmaster.children(recursive=True)]
    except (psutil.NoSuchProcess, ValueError, IndexError):
        return []


def _wait_for_banner(proc: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if BANNER in log.read_text(errors="replace"):
            return
        if proc.poll() is not None:
            raise AssertionError(f"dev stack exited with {proc.returncode} during startup:\n{_tail(log)}")
        time.sleep(0.2)
    raise AssertionError(f"dev stack not up after {STARTUP_TIMEOUT:.0f} s:\n{_tail(log)}")


def _tail(log: Path, lines: int = 60) -> str:
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])


def _kill_leftovers(procs: list[psutil.Process]) -> None:
    for p in procs:
        try:
            p.kill()
        except psutil.Error:
            pass


def _temporal(address: str, *args: str) -> dict:
    out = subprocess.run(
        [TEMPORAL_CLI, *args, "--address", address, "-o", "json"],
        check=True,
        capture_output=True,
        text=True,
        timeout=30,
    ).stdout
    return json.loads(out)


class DevStack:
    """One run of `python -m scripts.dev`, its output in a log file."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.log = log
        self.data_dir = Path(env["DEV_DATA_DIR"])
        self.api = f"http://127.0.0.1:{env['DEV_API_PORT']}"
        self.ui = f"http://127.0.0.1:{env['DEV_UI_PORT']}"
        self.temporal = f"127.0.0.1:{env['DEV_TEMPORAL_PORT']}"
        self.processes: list[psutil.Process] = []
        started = time.monotonic()
        with log.open("wb") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "scripts.dev"],
                cwd=ROOT,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        try:
            _wait_for_banner(self.proc, log)
        except BaseException:
            self.cleanup()
            raise
        self.startup_seconds = time.monotonic() - started

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def record_processes(self) -> None:
        """Everything this run owns: its children and the PostgreSQL it started."""
        children = psutil.Process(self.proc.pid).children(recursive=True)
        postgres = _postgres_processes(self.data_dir / "pg")
        self.processes = children + postgres
        cmdlines = [" ".join(p.cmdline()) for p in children]
        for expected in ("worker.py", "uvicorn", "temporal server start-dev"):
            assert any(expected in c for c in cmdlines), (expected, cmdlines)
        assert postgres and str(self.data_dir / "pg") in " ".join(postgres[0].cmdline())

    def interrupt(self) -> float:
        """Ctrl-C: the process exits 0 and leaves nothing behind. Returns the seconds it took."""
        self.record_processes()
        stopping = time.monotonic()
        self.proc.send_signal(signal.SIGINT)
        assert self.proc.wait(timeout=STOP_TIMEOUT) == 0, _tail(self.log)
        took = time.monotonic() - stopping
        deadline = time.monotonic() + 5
        while any(_alive(p) for p in self.processes) and time.monotonic() < deadline:
            time.sleep(0.1)
        left = [_describe(p) for p in self.processes if _alive(p)]
        assert not left, f"processes left behind: {left}"
        assert not (self.data_dir / "pg" / "postmaster.pid").exists()
        return took

    def cleanup(self) -> None:
        """Only matters when an assertion failed half-way: take everything down regardless."""
        if self.proc.poll() is None:
            if not self.processes:
                try:
                    self.processes = psutil.Process(self.proc.pid).children(recursive=True)
                except psutil.NoSuchProcess:
                    pass
            self.proc.terminate()
            try:
                self.proc.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        leftovers = self.processes + _postgres_processes(self.data_dir / "pg")
        _kill_leftovers([p for p in leftovers if _alive(p)])


def _login(http: httpx.Client, username: str) -> str:
    resp = http.post("/api/v1/auth/token", data={"username": username, "password": "demo"})
    assert resp.status_code == 200, resp.text
    return resp.json()["access_token"]


def test_dev_stack_starts_serves_restarts_and_stops_cleanly(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    api_port, temporal_port, ui_port = _free_ports(3)
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DATABASE_URL", "TEMPORAL_ADDRESS", "TEMPORAL_NAMESPACE"} and not k.startswith("DEV_")
    }
    env.update(
        DEV_DATA_DIR=str(data_dir),
        DEV_API_PORT=str(api_port),
        DEV_TEMPORAL_PORT=str(temporal_port),
        DEV_UI_PORT=str(ui_port),
    )

    # First start, from nothing.
    stack = DevStack(env, tmp_path / "dev-1.log")
    first_start = stack.startup_seconds
    try:
        output = stack.output()
        assert f"{stack.api}/docs" in output
        assert stack.ui in output
        assert str(data_dir) in output
        assert "applicant1" in output and "market" in output

        with httpx.Client(base_url=stack.api, timeout=10) as http:
            assert http.get("/readyz").status_code == 200
            token = _login(http, "applicant1")
            resp = http.get("/api/v1/items", headers={"Authorization": f"Bearer {token}"})
            assert resp.status_code == 200, resp.text
            assert isinstance(resp.json(), list) and resp.json(), resp.text
            assert http.get("/docs").status_code == 200
        assert httpx.get(f"{stack.ui}/", timeout=10, follow_redirects=True).status_code == 200
        # The UI is pointed at the API's codec endpoint.
        ui_settings = httpx.get(f"{stack.ui}/api/v1/settings", timeout=10).json()
        assert ui_settings["Codec"]["Endpoint"] == f"{stack.api}/codec", ui_settings

        custom = _temporal(stack.temporal, "operator", "search-attribute", "list")["customAttributes"]
        assert {key.name for key in sa.ALL} <= set(custom), custom
        # A workflow no worker polls for: it stays running, in temporal.db.
        _temporal(
            stack.temporal, "workflow", "start", "--type", "Probe", "-t", "dev-probe", "-w", PROBE_WORKFLOW_ID
        )
        first_stop = stack.interrupt()
    finally:
        stack.cleanup()

    # Second start on the same data: nothing to initialise, everything still there.
    stack = DevStack(env, tmp_path / "dev-2.log")
    try:
        assert "registering search attributes" not in stack.output()
        with httpx.Client(base_url=stack.api, timeout=10) as http:
            _login(http, "market-chief")
        described = _temporal(stack.temporal, "workflow", "describe", "-w", PROBE_WORKFLOW_ID)
        assert described["workflowExecutionInfo"]["status"] == "WORKFLOW_EXECUTION_STATUS_RUNNING"
        second_stop = stack.interrupt()
    finally:
        stack.cleanup()
    print(
        f"dev stack: up in {first_start:.1f} s, stopped in {first_stop:.1f} s; "
        f"restarted in {stack.startup_seconds:.1f} s, stopped in {second_stop:.1f} s"
    )
