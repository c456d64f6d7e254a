"""`python -m bench` (or `make bench`): start an embedded stack, measure, print a table.

The stack is the one `make dev` runs (scripts/dev.py: pgserver, `temporal server start-dev` on a
file-backed SQLite with WAL, the case worker and the API as child processes), on free ports and
in a throw-away data directory, plus a second worker for the baseline workflows (bench/hello.py).
Every figure is a ratio against a baseline measured in the same run on the same servers.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import itertools
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path
from typing import TextIO

import psutil
from temporalio.client import Client, WithStartWorkflowOperation
from temporalio.common import SearchAttributePair, TypedSearchAttributes, WorkflowIDConflictPolicy

from bench import bundle, hello
from bench.common import HistoryCost, all_runs, history_cost, stack_config, table
from bench.http import APPROVE, BenchError, Http, Samples
from core import search_attributes as sa
from core.config import Settings
from core.temporal import bundle_workflow_id, case_workflow_id, data_converter
from scripts.dev import HOST, ChildDied, Stack, StartupFailed, Stopped

HELLO_PHASE = "hello-world throughput (SDK)"
TWIN_PHASE = "case twin throughput (SDK)"
BUNDLE_SHAPE = "5-member bundle, all its workflows"
CASE_PHASE = "case throughput (REST)"
MOVE = "SDK update + status attr"
PHASE_LIMIT = 120.0  # s: no phase runs longer, whatever the counts asked for
RUN_LIMIT = 900.0  # s: the whole run (plus the time --open N may take to open them)


@dataclass
class Options:
    clients: int
    cases: int
    hello: int
    hello_concurrency: int
    twins: int
    latency_clients: int
    latency_requests: int
    latency_rounds: int
    shape_repeats: int
    open: int
    detail: bool
    keep: bool

    @property
    def rounds(self) -> int:
        """The latency rounds that run: no more than there are requests to share out."""
        return min(self.latency_rounds, self.latency_requests)


def parse_args(argv: list[str] | None = None) -> Options:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--clients",
        type=int,
        default=64,
        help="concurrent REST clients for throughput (64: as many as the baselines have in flight)",
    )
    p.add_argument("--cases", type=int, default=240, help="case lifecycles for throughput (240)")
    p.add_argument("--hello", type=int, default=600, help="hello-world workflows for the baseline (600)")
    p.add_argument("--hello-concurrency", type=int, default=64, help="hello-world workflows in flight (64)")
    p.add_argument(
        "--twins",
        type=int,
        default=240,
        help="case twins (the case's Temporal shape alone) for the floor (240)",
    )
    p.add_argument("--latency-clients", type=int, default=8, help="concurrent clients for latency (8)")
    p.add_argument("--latency-requests", type=int, default=40, help="requests per client and call (40)")
    p.add_argument(
        "--latency-rounds",
        type=int,
        default=4,
        help="rounds the latency calls take turns in, so a slow spell of the machine hits all alike (4)",
    )
    p.add_argument("--shape-repeats", type=int, default=2, help="cases per lifecycle shape for history (2)")
    p.add_argument(
        "--open",
        type=int,
        default=0,
        help="worker memory with this many open cases vs as many sleeping workflows (0: skip)",
    )
    p.add_argument("--detail", action="store_true", help="also print history events by type")
    p.add_argument("--keep", action="store_true", help="keep the data directory and the stack log")
    opts = p.parse_args(argv)
    counts = (
        "clients",
        "cases",
        "hello",
        "hello_concurrency",
        "twins",
        "latency_clients",
        "latency_requests",
        "latency_rounds",
    )
    for name in counts:
        if getattr(opts, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be at least 1")
    return Options(**vars(opts))


# ---- measuring ------------------------------------------------------------------------------


@dataclass
class Rate:
    done: int
    seconds: float

    @property
    def per_second(self) -> float:
        return self.done / self.seconds if self.seconds else 0.0


async def run_clients(
    clients: int, total: int, one: Callable[[int], Awaitable[None]], limit: float = PHASE_LIMIT
) -> Rate:
    """`clients` loops share `total` jobs; stops taking new ones after `limit` s. Returns the rate."""
    counter = itertools.count()
    deadline = time.monotonic() + limit
    done = 0

    async def loop() -> None:
        nonlocal done
        while time.monotonic() < deadline:
            n = next(counter)
            if n >= total:
                return
            await one(n)
            done += 1

    started = time.perf_counter()
    await asyncio.gather(*(loop() for _ in range(min(clients, total))))
    return Rate(done, time.perf_counter() - started)


def percentiles(values: list[float]) -> tuple[float, float, float]:
    if len(values) < 2:
        v = values[0] if values else float("nan")
        return v, v, v
    q = statistics.quantiles(values, n=100, method="inclusive")
    return q[49], q[94], q[98]


@dataclass
class Results:
    opts: Options
    hello_rate: Rate | None = None
    twin_rate: Rate | None = None
    case_rate: Rate | None = None
    requests_per_case: float = 0.0
    hello_cost: HistoryCost | None = None
    twin_cost: HistoryCost | None = None
    shape_cost: dict[str, HistoryCost] = field(default_factory=dict)
    latency: Samples = field(default_factory=Samples)
    rss: dict[str, int] = field(default_factory=dict)
    open_rss: dict[str, tuple[int, int]] = field(default_factory=dict)  # worker -> before, after
    cpu: dict[str, dict[str, float]] = field(default_factory=dict)  # phase -> process -> CPU s
    call_cpu: dict[str, dict[str, float]] = field(default_factory=dict)  # latency call -> process -> s
    phase_seconds: dict[str, float] = field(default_factory=dict)


class CpuMeter:
    """CPU seconds (user + system) used so far by each process of the stack and by the bench."""

    def __init__(self, stack: Stack) -> None:
        self.processes = {c.name: psutil.Process(c.proc.pid) for c in stack.children}
        self.processes["bench"] = psutil.Process()
        pid_file = stack.cfg.data_dir / "pg" / "postmaster.pid"
        self.postmaster = psutil.Process(int(pid_file.read_text().split()[0]))

    def read(self) -> dict[str, float]:
        used = {name: sum(p.cpu_times()[:2]) for name, p in self.processes.items()}
        # PostgreSQL: the postmaster, the backends alive now, and those it has reaped.
        pm = self.postmaster.cpu_times()
        pg = pm.user + pm.system + pm.children_user + pm.children_system
        for child in self.postmaster.children():
            with contextlib.suppress(psutil.Error):
                pg += sum(child.cpu_times()[:2])
        used["postgres"] = pg
        return used


class Bench:
    def __init__(
        self, opts: Options, http: Http, client: Client, progress: TextIO, cpu: CpuMeter | None = None
    ) -> None:
        self.cpu = cpu
        self.opts = opts
        self.http = http
        self.client = client
        self.progress = progress
        self.results = Results(opts)
        self.run_id = uuid.uuid4().hex[:8]
        self.loaded_cases: list[str] = []

    def say(self, message: str) -> None:
        print(f"bench | {message}", file=self.progress, flush=True)

    async def phase(self, name: str, work: Awaitable[None]) -> None:
        self.say(f"{name} ...")
        before = self.cpu.read() if self.cpu else {}
        started = time.perf_counter()
        await work
        self.results.phase_seconds[name] = time.perf_counter() - started
        if self.cpu:
            after = self.cpu.read()
            self.results.cpu[name] = {k: after[k] - before[k] for k in after}

    async def run(self) -> Results:
        await self.phase("warm-up", self.warm_up())
        await self.phase("history cost per lifecycle shape", self.shapes())
        await self.phase(HELLO_PHASE, self.hello_throughput())
        await self.phase(TWIN_PHASE, self.twin_throughput())
        await self.phase(CASE_PHASE, self.case_throughput())
        # Not in the case phase: fetching histories would count as the cases' own CPU.
        await self.phase("history of the cases under load", self.loaded_cost())
        await self.phase("latency", self.latencies())
        if self.opts.open:
            await self.phase(f"worker memory, {self.opts.open} open workflows", self.open_workflows())
        return self.results

    async def warm_up(self) -> None:
        """First calls pay for imports, connections and caches; measure none of them."""
        await self.http.login()
        for i in range(3):
            await self.hello_workflow(f"warm-{i}")
            await self.twin_lifecycle(f"warm-{i}")
            await self.http.lifecycle()

    async def hello_workflow(self, suffix: str) -> str:
        wid = f"hello-{self.run_id}-{suffix}"
        await self.client.execute_workflow(
            hello.HelloWorkflow.run, suffix, id=wid, task_queue=hello.TASK_QUEUE
        )
        return wid

    async def twin_lifecycle(self, suffix: str) -> str:
        """The case's lifecycle as bare SDK calls: update-with-start, then one update per step."""
        wid = f"twin-{self.run_id}-{suffix}"
        start = WithStartWorkflowOperation(
            hello.LifecycleTwin.run,
            id=wid,
            task_queue=hello.TASK_QUEUE,
            id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
            search_attributes=TypedSearchAttributes([SearchAttributePair(sa.CASE_STATUS, "submitted")]),
        )
        await self.client.execute_update_with_start_workflow(
            hello.LifecycleTwin.registered, start_workflow_operation=start
        )
        handle = self.client.get_workflow_handle(wid)
        for status in hello.TWIN_STEPS:
            await handle.execute_update(hello.LifecycleTwin.step, status)
        return wid

    async def shapes(self) -> None:
        self.results.hello_cost = await history_cost(self.client, [await self.hello_workflow("history")])
        self.results.twin_cost = await history_cost(self.client, [await self.twin_lifecycle("history")])
        for shape in ("sign-once", "sign-twice", "with-supplements"):
            ids = [case_workflow_id(await self.http.lifecycle(shape)) for _ in range(self.opts.shape_repeats)]
            self.results.shape_cost[shape] = await history_cost(self.client, ids)
        self.results.shape_cost[BUNDLE_SHAPE] = await self.bundle_cost()

    async def bundle_cost(self) -> HistoryCost:
        """A 5-member bundle ("开办餐饮店一件事") as one entry: the bundle's runs and its members'."""
        await self.http.login(bundle.USERS)
        cost = HistoryCost()
        for _ in range(self.opts.shape_repeats):
            view = await bundle.one_bundle(self.http)
            ids = [
                bundle_workflow_id(view["bundle_id"]),
                *(case_workflow_id(m["case_id"]) for m in view["members"]),
            ]
            cost.add([history for wid in ids for history in await all_runs(self.client, wid)])
        return cost

    async def hello_throughput(self) -> None:
        async def one(n: int) -> None:
            await self.hello_workflow(f"t{n}")

        opts = self.opts
        self.results.hello_rate = await run_clients(opts.hello_concurrency, opts.hello, one)

    async def twin_throughput(self) -> None:
        async def one(n: int) -> None:
            await self.twin_lifecycle(f"t{n}")

        opts = self.opts
        self.results.twin_rate = await run_clients(opts.hello_concurrency, opts.twins, one)

    async def case_throughput(self) -> None:
        case_ids: list[str] = []

        async def one(n: int) -> None:
            case_ids.append(await self.http.lifecycle())

        requests = self.http.requests
        self.results.case_rate = await run_clients(self.opts.clients, self.opts.cases, one)
        self.results.requests_per_case = (self.http.requests - requests) / max(self.results.case_rate.done, 1)
        self.loaded_cases = case_ids

    async def loaded_cost(self) -> None:
        ids = [case_workflow_id(c) for c in self.loaded_cases]
        self.results.shape_cost["sign-once, under load"] = await history_cost(self.client, ids)

    async def latencies(self) -> None:
        """Each call by `latency_clients` concurrent clients, `latency_requests` times each, in
        `latency_rounds` rounds: every call takes its turn in each round, so a slow spell of a
        shared machine falls on writes and their baselines alike."""
        clients, per = self.opts.latency_clients, self.opts.latency_requests
        rounds = self.opts.rounds
        http = self.http
        # The bench's own garbage collections would show up in the tails: start from a clean heap.
        gc.collect()
        gc.freeze()
        mine: dict[int, list[str]] = {c: [] for c in range(clients)}
        used: dict[str, dict[str, float]] = {}

        async def each_client(
            requests: range, work: Callable[[int, int], Awaitable[None]], label: str | None = None
        ) -> None:
            async def client_loop(c: int) -> None:
                for r in requests:
                    await work(c, r)

            cpu = self.cpu if label else None
            before = cpu.read() if cpu else {}
            await asyncio.wait_for(asyncio.gather(*(client_loop(c) for c in range(clients))), PHASE_LIMIT)
            if cpu and label and before:
                after = cpu.read()
                total = used.setdefault(label, dict.fromkeys(after, 0.0))
                for k in after:
                    total[k] += after[k] - before[k]

        async def submit(c: int, r: int) -> None:
            mine[c].append(await http.submit(label="POST /cases"))

        async def prepare(c: int, r: int) -> None:
            await http.to_awaiting_signature(mine[c][r])

        async def sign(c: int, r: int) -> None:
            await http.act(mine[c][r], "signatures", "market-handler", APPROVE, "POST signature")

        async def get_case(c: int, r: int) -> None:
            await http.call("GET", f"/api/v1/cases/{mine[c][r]}", "applicant1", "GET /cases/{id}")

        filtered = {"status": "approved", "item_code": "market-001", "limit": 20}

        async def list_cases(c: int, r: int) -> None:
            await http.call("GET", "/api/v1/cases", "supervisor1", "GET /cases?filtered", params=filtered)

        async def healthz(c: int, r: int) -> None:
            await http.call("GET", "/healthz", None, "GET /healthz")

        started: list = []

        async def sdk_start(c: int, r: int) -> None:
            t0 = time.perf_counter()
            handle = await self.client.start_workflow(
                hello.HelloWorkflow.run,
                f"s{c}-{r}",
                id=f"hello-{self.run_id}-start-{c}-{r}",
                task_queue=hello.TASK_QUEUE,
            )
            http.samples.add("SDK start_workflow", time.perf_counter() - t0)
            started.append(handle)

        sleepers: list = []

        async def sdk_update_with_start(c: int, r: int) -> None:
            """What `POST /cases` asks of Temporal: start, and answer once the worker has run."""
            start = WithStartWorkflowOperation(
                hello.SleepyWorkflow.run,
                id=f"sleepy-{self.run_id}-latency-{c}-{r}",
                task_queue=hello.TASK_QUEUE,
                id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
            )
            t0 = time.perf_counter()
            await self.client.execute_update_with_start_workflow(
                hello.SleepyWorkflow.started, start_workflow_operation=start
            )
            http.samples.add("SDK update-with-start", time.perf_counter() - t0)
            sleepers.append(await start.workflow_handle())

        idle = [
            await self.client.start_workflow(
                hello.IdleWorkflow.run, id=f"idle-{self.run_id}-{c}", task_queue=hello.TASK_QUEUE
            )
            for c in range(clients)
        ]

        async def sdk_update(c: int, r: int) -> None:
            t0 = time.perf_counter()
            await idle[c].execute_update(hello.IdleWorkflow.ping, r)
            http.samples.add("SDK execute_update", time.perf_counter() - t0)

        async def sdk_move(c: int, r: int) -> None:
            t0 = time.perf_counter()
            await idle[c].execute_update(hello.IdleWorkflow.move, r)
            http.samples.add(MOVE, time.perf_counter() - t0)

        for turn in range(rounds):
            turn_requests = range(turn * per // rounds, (turn + 1) * per // rounds)
            await each_client(turn_requests, submit, "POST /cases")
            await each_client(turn_requests, sdk_update_with_start, "SDK update-with-start")
            await each_client(turn_requests, prepare)
            await each_client(turn_requests, sign, "POST signature")
            await each_client(turn_requests, sdk_move, MOVE)
            await each_client(turn_requests, sdk_update, "SDK execute_update")
            await each_client(turn_requests, get_case, "GET /cases/{id}")
            await each_client(turn_requests, list_cases, "GET /cases?filtered")
            await each_client(turn_requests, healthz, "GET /healthz")
            # Not metered: the hello-worlds it starts run their activity after their start returns.
            await each_client(turn_requests, sdk_start)
            await asyncio.wait_for(asyncio.gather(*(h.result() for h in started)), PHASE_LIMIT)
            started.clear()
        self.results.call_cpu = {
            label: {k: v / (clients * per) for k, v in total.items()} for label, total in used.items()
        }
        await asyncio.gather(*(h.terminate() for h in sleepers))  # out of the hello worker's cache
        for handle in idle:
            await handle.signal(hello.IdleWorkflow.finish)
        await asyncio.wait_for(asyncio.gather(*(h.result() for h in idle)), PHASE_LIMIT)
        # The measured cases go on to close, so nothing is left waiting in an inbox.
        await each_client(range(per), lambda c, r: http.finish_signed(mine[c][r]))
        self.results.latency = http.samples

    async def open_workflows(self) -> None:
        """Worker RSS before and after `open` cases wait on their acceptance timer, against as many
        sleeping workflows on the hello-world worker. Both are started with update-with-start and
        answered by their worker, so each is in its worker's cache when counted."""
        assert self.cpu is not None
        n, clients = self.opts.open, 2 * self.opts.latency_clients
        workers = {"case worker": self.cpu.processes["worker"], "hello worker": self.cpu.processes["hello"]}
        before = {name: p.memory_info().rss for name, p in workers.items()}

        async def submit(i: int) -> None:
            await self.http.submit()

        async def sleepy(i: int) -> None:
            start = WithStartWorkflowOperation(
                hello.SleepyWorkflow.run,
                id=f"sleepy-{self.run_id}-{i}",
                task_queue=hello.TASK_QUEUE,
                id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
            )
            await self.client.execute_update_with_start_workflow(
                hello.SleepyWorkflow.started, start_workflow_operation=start
            )

        # Opening is bounded too, but 10,000 cases through the REST API take minutes.
        limit = max(PHASE_LIMIT, n / 5)
        for kind, one in (("case", submit), ("hello", sleepy)):
            rate = await run_clients(clients, n, one, limit)
            self.say(f"  {rate.done} {kind} workflows opened in {rate.seconds:.0f} s")
            if rate.done < n:
                raise BenchError(f"only {rate.done} of {n} {kind} workflows opened in {limit:.0f} s")
        for name, p in workers.items():
            self.results.open_rss[name] = (before[name], p.memory_info().rss)


# ---- the table ------------------------------------------------------------------------------


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f}"


def _ratio(value: float, base: float) -> str:
    return f"{value / base:.2f}x" if base else "n/a"


def machine() -> str:
    mem = psutil.virtual_memory().total / 2**30
    temporal_cli = shutil.which("temporal", path=str(Path(sys.executable).parent)) or "temporal"
    try:
        out = subprocess.run([temporal_cli, "--version"], capture_output=True, text=True, timeout=10).stdout
        server = out.strip().replace("temporal version ", "")
    except (OSError, subprocess.SubprocessError):
        server = "?"
    return (
        f"{os.cpu_count()} CPUs, {mem:.1f} GiB RAM, {platform.system()} {platform.machine()}; "
        f"Python {platform.python_version()}; temporalio {version('temporalio')}; temporal CLI {server}"
    )


def _cpu_table(res: Results, runs: list[tuple[str, str, Rate]]) -> list[str]:
    """The baselines run on the hello worker: its CPU goes in their "worker" column."""
    names = [n for n in res.cpu[CASE_PHASE] if n != "hello"]
    rows = []
    for label, phase, rate in runs:
        cpu = dict(res.cpu[phase])
        if phase != CASE_PHASE:
            cpu["worker"] = cpu.pop("hello")
        per = 1000 / max(rate.done, 1)
        rows.append(
            [label, *(f"{cpu.get(n, 0.0) * per:.0f}" for n in names), f"{sum(cpu.values()) * per:.0f}"]
        )
    return [table(rows, ["   ", *names, "total"])]


def report(res: Results) -> str:
    o = res.opts
    out = [f"Machine: {machine()}", ""]

    hr, cr, tr = res.hello_rate, res.case_rate, res.twin_rate
    assert hr is not None and cr is not None and tr is not None
    out.append("1. Throughput (completed per second), target >= 0.25x")
    rates = [
        (f"case lifecycles, sign-once, REST, {o.clients} clients", cr),
        (f"floor: case twin (its Temporal shape alone), SDK, {o.hello_concurrency} in flight", tr),
        (f"baseline: hello-world, SDK, {o.hello_concurrency} in flight", hr),
    ]
    rows = [
        [
            label,
            f"{r.per_second:.2f}/s",
            f"{r.done} in {r.seconds:.1f} s",
            _ratio(r.per_second, hr.per_second),
        ]
        for label, r in rates
    ]
    out.append(table(rows, ["", "rate", "count", "ratio"]))
    out.append(
        f"   case / twin: {_ratio(cr.per_second, tr.per_second)} "
        "(what the API, the worker's read model and PostgreSQL leave of the floor)"
    )
    if all(p in res.cpu for p in (CASE_PHASE, HELLO_PHASE, TWIN_PHASE)):
        out += ["", "   CPU ms per completed lifecycle / workflow, by process (all cores)"]
        out += _cpu_table(
            res, [("case", CASE_PHASE, cr), ("case twin", TWIN_PHASE, tr), ("hello-world", HELLO_PHASE, hr)]
        )
        out.append(f"   HTTP requests per case: {res.requests_per_case:.1f} (inbox and status polls too)")

    out += ["", "2. Cost per case: Temporal history events (mean per lifecycle; a bundle with its members)"]
    hc, tc = res.hello_cost, res.twin_cost
    assert hc is not None and tc is not None
    rows = []
    for name, cost in [*res.shape_cost.items(), ("floor: case twin", tc), ("baseline: hello-world", hc)]:
        rows.append(
            [
                f"{name} ({len(cost.events)} runs)",
                f"{cost.mean('events'):.1f}",
                f"{cost.mean('activities'):.1f}",
                f"{cost.mean('workflow_tasks'):.1f}",
                f"{cost.mean('updates'):.1f}",
                _ratio(cost.mean("events"), hc.mean("events")),
            ]
        )
    out.append(table(rows, ["", "events", "activities", "wf tasks", "updates", "ratio"]))
    if o.detail:
        for name, cost in res.shape_cost.items():
            runs = max(len(cost.events), 1)
            kinds = ", ".join(f"{k.lower()} {v / runs:.1f}" for k, v in cost.by_type.most_common())
            out.append(f"   {name}: {kinds}")

    n = o.latency_clients * o.latency_requests
    head = f"{o.latency_clients} concurrent clients, {n} requests per call in {o.rounds} rounds"
    out += ["", f"3. Latency in ms, {head} (each call takes its turn in every round)"]
    out.append("   writes: target p99 <= 1.5x the raw SDK call; reads against GET /healthz")
    s = res.latency.by_label
    pairs = [
        ("POST /cases", "SDK start_workflow"),
        # The floor for a submission: the same Temporal call the API makes, on a bare workflow.
        ("POST /cases", "SDK update-with-start"),
        ("POST signature", "SDK execute_update"),
        # The floor for a signature: an update that moves the status search attribute, as it does.
        ("POST signature", MOVE),
        ("GET /cases/{id}", "GET /healthz"),
        ("GET /cases?filtered", "GET /healthz"),
        ("SDK start_workflow", None),
        ("SDK update-with-start", "SDK start_workflow"),
        ("SDK execute_update", None),
        (MOVE, "SDK execute_update"),
        ("GET /healthz", None),
    ]
    rows = []
    for label, base in pairs:
        p = percentiles(s[label])
        if base is None:
            rows.append([label, *(_ms(v) for v in p), "baseline", "", ""])
        else:
            b = percentiles(s[base])
            rows.append([label, *(_ms(v) for v in p), base, _ratio(p[0], b[0]), _ratio(p[2], b[2])])
    out.append(table(rows, ["call", "p50", "p95", "p99", "against", "p50 ratio", "p99 ratio"]))
    if res.call_cpu:
        out += ["", "   CPU ms per call, by process (all cores): with every client busy, latency follows it"]
        names = [n for n in next(iter(res.call_cpu.values())) if n != "hello"]
        rows = []
        for label, cpu in res.call_cpu.items():
            cpu = dict(cpu)
            if label.startswith("SDK"):
                cpu["worker"] = cpu.pop("hello")
            else:
                cpu.pop("hello")
            rows.append(
                [label, *(f"{cpu.get(n, 0.0) * 1000:.1f}" for n in names), f"{sum(cpu.values()) * 1000:.1f}"]
            )
        out.append(table(rows, ["", *names, "total"]))

    if res.open_rss:
        out += ["", f"4. Worker memory (RSS, MiB) with {o.open} open workflows, target <= 1.5x"]
        case_before, case_after = res.open_rss["case worker"]
        hello_before, hello_after = res.open_rss["hello worker"]
        rows = [
            [
                f"case worker, {o.open} cases waiting on acceptance timers",
                f"{case_before / 2**20:.0f}",
                f"{case_after / 2**20:.0f}",
                f"{(case_after - case_before) / 2**20:+.0f}",
                _ratio(case_after, hello_after),
            ],
            [
                f"baseline: hello worker, {o.open} sleeping workflows",
                f"{hello_before / 2**20:.0f}",
                f"{hello_after / 2**20:.0f}",
                f"{(hello_after - hello_before) / 2**20:+.0f}",
                "1.00x",
            ],
        ]
        out.append(table(rows, ["", "before", "after", "growth", "ratio"]))

    if res.rss:
        rss = ", ".join(f"{k} {v / 2**20:.0f}" for k, v in res.rss.items())
        out += ["", f"Resident memory after the run (MiB): {rss}"]
    phases = ", ".join(f"{k} {v:.0f} s" for k, v in res.phase_seconds.items())
    out += [f"Phases: {phases}"]
    return "\n".join(out)


# ---- main -----------------------------------------------------------------------------------


async def main(opts: Options, out: TextIO) -> int:
    data_dir = Path(tempfile.mkdtemp(prefix="gov-bench-"))
    log_path = data_dir / "stack.log"
    stack = Stack(stack_config(data_dir))
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stack.request_stop, sig)
    status = 1
    started = time.monotonic()
    # scripts.dev writes its messages and its children's output to sys.stdout: into the log here,
    # so the terminal shows the bench's progress and its table only.
    with log_path.open("w") as log, contextlib.redirect_stdout(log):
        try:
            print(f"bench | starting the stack in {data_dir} (log: {log_path})", file=out, flush=True)
            await stack.start()
            await stack.spawn("hello", [sys.executable, "-m", "bench.hello"])
            print(f"bench | stack up in {time.monotonic() - started:.0f} s", file=out, flush=True)
            client = await Client.connect(stack.temporal_address, data_converter=data_converter(Settings()))
            connections = 2 * max(opts.clients, opts.latency_clients) + 4
            http = Http.open(f"http://{HOST}:{stack.cfg.api_port}", connections)
            try:
                bench = Bench(opts, http, client, out, CpuMeter(stack))
                limit = RUN_LIMIT + 2 * max(PHASE_LIMIT, opts.open / 5)
                results = await stack.guard(asyncio.wait_for(bench.run(), limit))
            finally:
                await http.close()
            for child in stack.children:
                if child.name in ("worker", "hello", "api"):
                    results.rss[child.name] = psutil.Process(child.proc.pid).memory_info().rss
            print("", file=out)
            print(report(results), file=out, flush=True)
            print(f"Total {time.monotonic() - started:.0f} s", file=out, flush=True)
            status = 0
        except Stopped:
            print("bench | interrupted", file=out)
        except (ChildDied, StartupFailed) as exc:
            print(f"bench | ERROR: {exc}; see {log_path}", file=out)
            opts.keep = True
        except Exception as exc:
            print(f"bench | ERROR: {type(exc).__name__}: {exc}; see {log_path}", file=out)
            opts.keep = True
            raise
        finally:
            await stack.shutdown()
    if opts.keep:
        print(f"bench | kept {data_dir}", file=out)
    else:
        shutil.rmtree(data_dir, ignore_errors=True)
    return status


def run(argv: list[str] | None = None) -> None:
    opts = parse_args(argv)
    sys.exit(asyncio.run(main(opts, sys.stdout)))
