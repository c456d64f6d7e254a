"""Baseline workflows for the benchmarks, and their worker (`python -m bench.hello`).

`HelloWorkflow` is the hello-world of Temporal: one trivial activity, then done. `IdleWorkflow`
waits until told to finish and answers a trivial update: the cheapest round trip an update can
make. `LifecycleTwin` has a case's Temporal shape and nothing else (the floor any implementation
of the lifecycle pays on this server). All run on their own task queue, in their own process,
beside the case worker.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import Callable
from datetime import timedelta

from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.worker import Worker

with workflow.unsafe.imports_passed_through():
    from core import search_attributes as sa
    from core.config import Settings
    from core.temporal import data_converter

TASK_QUEUE = "bench-hello"


@activity.defn
async def say_hello(name: str) -> str:
    return f"你好, {name}"


@workflow.defn(name="BenchHello")
class HelloWorkflow:
    @workflow.run
    async def run(self, name: str) -> str:
        return await workflow.execute_activity(say_hello, name, start_to_close_timeout=timedelta(seconds=30))


@workflow.defn(name="BenchIdle")
class IdleWorkflow:
    def __init__(self) -> None:
        self._done = False
        self._pings = 0

    @workflow.run
    async def run(self) -> int:
        await workflow.wait_condition(lambda: self._done)
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self._pings

    @workflow.update
    def ping(self, n: int) -> int:
        self._pings += 1
        return n

    @workflow.update
    def move(self, n: int) -> int:
        """A ping that moves the status search attribute, as every step of a case does: the
        Temporal call a signature makes, without the platform."""
        self._pings += 1
        workflow.upsert_search_attributes([sa.CASE_STATUS.value_set(f"step-{n}")])
        return n

    @workflow.signal
    def finish(self) -> None:
        self._done = True


@workflow.defn(name="BenchSleepy")
class SleepyWorkflow:
    """Started like a case (update-with-start), then waits on a long timer, as an open case does."""

    @workflow.run
    async def run(self) -> None:
        await workflow.sleep(timedelta(days=7))

    @workflow.update
    def started(self) -> None:
        return None


# A sign-once case's steps after submission, each one update from a user (bench/http.py).
TWIN_STEPS = ("under_review", "awaiting_signature", "approved", "delivered", "closed")


@workflow.defn(name="BenchLifecycleTwin")
class LifecycleTwin:
    """A sign-once case as Temporal sees it, without the platform: started with update-with-start,
    then one update per user step, each moving the status search attribute, with a deadline timer
    waiting between steps. No activity, no database, no API."""

    def __init__(self) -> None:
        self._status = "submitted"

    @workflow.run
    async def run(self) -> str:
        while self._status != "closed":
            with contextlib.suppress(TimeoutError):
                await workflow.wait_condition(self._moved(self._status), timeout=timedelta(days=1))
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self._status

    def _moved(self, status: str) -> Callable[[], bool]:
        return lambda: self._status != status

    @workflow.update
    def registered(self) -> str:
        return self._status

    @workflow.update
    def step(self, status: str) -> str:
        self._status = status
        workflow.upsert_search_attributes([sa.CASE_STATUS.value_set(status)])
        return status


def build_worker(client: Client, task_queue: str = TASK_QUEUE) -> Worker:
    workflows = [HelloWorkflow, IdleWorkflow, SleepyWorkflow, LifecycleTwin]
    return Worker(client, task_queue=task_queue, workflows=workflows, activities=[say_hello])


async def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s hello-worker %(levelname)s %(message)s")
    address = os.environ.get("TEMPORAL_ADDRESS", "localhost:7233")
    namespace = os.environ.get("TEMPORAL_NAMESPACE", "default")
    # The same data converter as the case worker, so the baseline pays the same encoding.
    client = await Client.connect(address, namespace=namespace, data_converter=data_converter(Settings()))
    worker = build_worker(client)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    logging.info("polling task queue %s at %s", TASK_QUEUE, address)
    async with worker:
        await stop.wait()
    logging.info("stopped")


if __name__ == "__main__":
    asyncio.run(main())
