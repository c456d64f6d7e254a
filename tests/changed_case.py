"""The case workflow as someone might change it without versioning the change (a new timer
before anything else), for the replay guard's own test. In a module of its own so the sandbox
imports nothing else."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

from workflows.case import CaseWorkflow

with workflow.unsafe.imports_passed_through():
    from workflows.case_messages import CaseInput, CaseView


@workflow.defn(name="CaseWorkflow")
class CaseWithAnUnversionedChange(CaseWorkflow):
    @workflow.run
    async def run(self, inp: CaseInput) -> CaseView:
        await workflow.sleep(timedelta(seconds=1))
        return await super().run(inp)
