"""Recorded histories: the determinism guard of every workflow's code (README, "Changing a
running workflow"). Each release's histories live in `tests/histories/<release>/`."""

from __future__ import annotations

import os
from pathlib import Path

from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from core.config import Settings
from core.temporal import data_converter
from worker import WORKFLOWS
from workflows.versions import RELEASE

HISTORIES = Path(__file__).parent / "histories"


def replayer(*workflows: type) -> Replayer:
    """The worker's workflows, or the ones given. The default runner: Temporal's full sandbox,
    unlike the worker's (worker.py). This is where a clock, randomness or I/O call fails."""
    return Replayer(workflows=list(workflows or WORKFLOWS), data_converter=data_converter(Settings()))


def recorded() -> dict[str, list[Path]]:
    """Every release's recorded histories: release → files."""
    return {
        release.name: sorted(release.glob("*.json"))
        for release in sorted(HISTORIES.iterdir())
        if release.is_dir()
    }


async def replays_and_is_recorded(history: WorkflowHistory, name: str) -> None:
    """The history replays with the current code. `RECORD_HISTORIES=1` records it for this release
    if it is not recorded yet; `RECORD_HISTORIES=overwrite` replaces the recording."""
    result = await replayer().replay_workflow(history, raise_on_replay_failure=False)
    assert result.replay_failure is None, f"{name}: {result.replay_failure}"
    mode = os.environ.get("RECORD_HISTORIES")
    path = HISTORIES / RELEASE / f"{name}.json"
    if mode == "overwrite" or (mode == "1" and not path.exists()):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(history.to_json())
