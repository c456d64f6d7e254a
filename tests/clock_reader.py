"""A workflow that breaks the rule on purpose (it reads the clock), for the replay guard's own
test. Kept in a module of its own so the sandbox imports nothing else."""

from __future__ import annotations

from datetime import datetime

from temporalio import workflow


@workflow.defn(name="ClockReader")
class ClockReader:
    @workflow.run
    async def run(self) -> str:
        return datetime.now().isoformat()
