"""The long-running processes' heap: what the cyclic garbage collector need not walk, and how often."""

from __future__ import annotations

import gc


def freeze_startup_heap() -> None:
    """Exempt everything alive once a process has started (modules, the app and its routes,
    pydantic and SQLAlchemy metadata) from cyclic collection. Full collections walked all of it
    each time: ~80 ms each in the API. Objects made later are collected as before."""
    gc.collect()
    gc.freeze()


def collect_young_less_often() -> None:
    """The API's requests leave no cycles worth collecting soon: collect the youngest generation
    every 10,000 net allocations, not 700 (API GC 5.5 % -> 1.2 % of its CPU with the freeze,
    BENCHMARKS.md). Not for the worker: evicted workflows are reference cycles that only this
    collector frees, and 10,000 open cases then grew it by 364 MiB instead of 124."""
    gc.set_threshold(10_000, 10, 10)
