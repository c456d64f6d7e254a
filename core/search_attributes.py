"""Typed search attributes of case and bundle workflows, declared once, and what operators
see of a case in the Temporal UI (never personal data).

The dev server registers them from `DEV_SERVER_FLAGS`; tests register them from `ALL`.
"""

from __future__ import annotations

from typing import Any

from temporalio.common import SearchAttributeKey, SearchAttributePair, TypedSearchAttributes

from core.types import DISTRICTS
from workflows.case_messages import CaseInput

CASE_STATUS = SearchAttributeKey.for_keyword("CaseStatus")
ITEM_CODE = SearchAttributeKey.for_keyword("ItemCode")
DEPARTMENT = SearchAttributeKey.for_keyword("Department")
DISTRICT = SearchAttributeKey.for_keyword("District")
ACCEPTANCE_DEADLINE = SearchAttributeKey.for_datetime("AcceptanceDeadline")
COMPLETION_DEADLINE = SearchAttributeKey.for_datetime("CompletionDeadline")
OVERDUE = SearchAttributeKey.for_bool("Overdue")
# The bundle a member case belongs to (and a bundle's own id): `BundleId="BD…"` lists them all.
BUNDLE_ID = SearchAttributeKey.for_keyword("BundleId")

ALL: list[SearchAttributeKey[Any]] = [
    CASE_STATUS,
    ITEM_CODE,
    DEPARTMENT,
    DISTRICT,
    ACCEPTANCE_DEADLINE,
    COMPLETION_DEADLINE,
    OVERDUE,
    BUNDLE_ID,
]

_CLI_TYPES = {
    "KEYWORD": "Keyword",
    "TEXT": "Text",
    "INT": "Int",
    "FLOAT": "Double",
    "BOOL": "Bool",
    "DATETIME": "Datetime",
    "KEYWORD_LIST": "KeywordList",
}


def dev_server_flags() -> list[str]:
    """`--search-attribute Name=Type` flags for `temporal server start-dev`."""
    flags: list[str] = []
    for key in ALL:
        flags += ["--search-attribute", f"{key.name}={_CLI_TYPES[key.indexed_value_type.name]}"]
    return flags


def case_attributes(inp: CaseInput) -> TypedSearchAttributes:
    pairs: list[SearchAttributePair[Any]] = [
        SearchAttributePair(CASE_STATUS, "submitted"),
        SearchAttributePair(ITEM_CODE, inp.item.code),
        SearchAttributePair(DEPARTMENT, inp.item.lead_department),
        SearchAttributePair(DISTRICT, inp.district),
        SearchAttributePair(OVERDUE, False),
    ]
    if inp.bundle is not None:
        pairs.append(SearchAttributePair(BUNDLE_ID, inp.bundle.bundle_id))
    if inp.acceptance_due is not None:
        pairs.append(SearchAttributePair(ACCEPTANCE_DEADLINE, inp.acceptance_due.at))
    return TypedSearchAttributes(pairs)


def case_summary(inp: CaseInput) -> str:
    district = DISTRICTS.get(inp.district, inp.district)
    return f"{inp.item.name}｜{district}｜办件号 {inp.case_id}"
