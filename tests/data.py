"""Test data the tests share: demo catalogue items by signature mode, and what a case run to its
rating leaves behind. The tests' own (bench/http.py keeps the benchmarks' copy): changing one
never changes the other."""

from __future__ import annotations

# (item code, the materials a complete submission brings)
SIGN_ONCE = ("market-001", ["M01", "M02", "M03"])
SIGN_TWICE = ("market-002", ["F01", "F02", "F03", "F04", "F05"])
# The timeline of a sign-once case run to its rating.
SIGN_ONCE_EVENTS = [
    "submitted",
    "accepted",
    "task_completed",
    "review_finished",
    "signed",
    "decided",
    "delivered",
    "rated",
    "closed",
]
# The updates such a case receives, each once: the department's result is an update too.
SIGN_ONCE_UPDATES = {
    "registered": 1,
    "decide_acceptance": 1,
    "complete_task": 1,
    "sign": 1,
    "deliver": 1,
    "rate": 1,
}
