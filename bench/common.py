"""What the benchmarks share: the embedded stack's configuration, the cost of a workflow's
history, and the tables they print. Imports no other bench module, so each of them may import it."""

from __future__ import annotations

import asyncio
import random
import socket
import statistics
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHistory

from scripts.dev import HOST, Config

# ---- the stack ------------------------------------------------------------------------------


# Below the kernel's ephemeral range (32768-60999 here): a port asked of the kernel (bind to 0)
# comes from that range, and an outgoing connection of any process may take it between this check
# and the server's own bind (seen once: the Temporal UI's "address already in use").
_PORTS = range(20000, 32768)


def _free_ports(count: int) -> list[int]:
    """`count` distinct ports of 127.0.0.1 nothing listens on, outside the ephemeral range."""
    found: list[int] = []
    for port in random.sample(_PORTS, len(_PORTS)):
        with socket.socket() as s:
            try:
                s.bind((HOST, port))
            except OSError:
                continue
        found.append(port)
        if len(found) == count:
            return found
    raise RuntimeError("no free ports below the ephemeral range")


def stack_config(data_dir: Path) -> Config:
    api, temporal, ui = _free_ports(3)
    # Never an external database or cluster from the environment: the bench measures its own.
    return Config(
        data_dir=data_dir,
        api_port=api,
        temporal_port=temporal,
        ui_port=ui,
        namespace="default",
        external_database_url=None,
        external_temporal_address=None,
    )


# ---- history cost ---------------------------------------------------------------------------


@dataclass
class HistoryCost:
    events: list[int] = field(default_factory=list)
    activities: list[int] = field(default_factory=list)
    workflow_tasks: list[int] = field(default_factory=list)
    updates: list[int] = field(default_factory=list)
    by_type: Counter[str] = field(default_factory=Counter)

    def mean(self, what: str) -> float:
        values = getattr(self, what)
        return statistics.fmean(values) if values else float("nan")

    def add(self, histories: list[WorkflowHistory]) -> None:
        """One entry: these histories together (a workflow's runs, or a bundle and its members)."""
        types = [e.event_type for history in histories for e in history.events]
        self.events.append(len(types))
        self.activities.append(types.count(EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED))
        self.workflow_tasks.append(types.count(EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED))
        self.updates.append(types.count(EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED))
        self.by_type.update(EventType.Name(t).removeprefix("EVENT_TYPE_") for t in types)


async def all_runs(client: Client, workflow_id: str) -> list[WorkflowHistory]:
    """Every run of a closed workflow (it may have continued as new), the first first."""
    handle = client.get_workflow_handle(workflow_id)
    await asyncio.wait_for(handle.result(), timeout=60)  # closed: the history is complete
    run_id = (await handle.describe()).raw_description.workflow_execution_info.first_run_id
    histories = []
    while run_id:
        history = await client.get_workflow_handle(workflow_id, run_id=run_id).fetch_history()
        histories.append(history)
        run_id = history.events[-1].workflow_execution_continued_as_new_event_attributes.new_execution_run_id
    return histories


async def history_cost(client: Client, workflow_ids: list[str]) -> HistoryCost:
    cost = HistoryCost()
    for wid in workflow_ids:
        cost.add(await all_runs(client, wid))
    return cost


# ---- tables ---------------------------------------------------------------------------------


def table(rows: list[list[str]], header: list[str]) -> str:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        pairs = enumerate(zip(cells, widths, strict=True))
        padded = (c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in pairs)
        return "  ".join(padded)

    return "\n".join([line(header), "  ".join("-" * w for w in widths), *(line(r) for r in rows)])
