"""Which workflow code is running, for changes that must reach workflows already running.

README, "Changing a running workflow", is the policy; `tests/test_replay.py` enforces it.
"""

from __future__ import annotations

# The release of the workflow code as it is now: `tests/histories/<RELEASE>/` holds the histories
# recorded with it, one per lifecycle shape, and every later release replays them until no run
# started under this release is open.
RELEASE = "2026-12-baseline"

# Patch ids in use (`workflow.patched` / `workflow.deprecate_patch`), each with the release that
# introduced it. A patch stays until no run started before that release is open; then it becomes
# `deprecate_patch` for one release, then it goes, with the histories of the releases before it.
PATCHES: dict[str, str] = {}
