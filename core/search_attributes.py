"""Typed search attributes of case workflows, declared once.

The dev server registers them from `DEV_SERVER_FLAGS`; tests register them from `ALL`.
"""

from __future__ import annotations

from temporalio.common import SearchAttributeKey

CASE_STATUS = SearchAttributeKey.for_keyword("CaseStatus")
ITEM_CODE = SearchAttributeKey.for_keyword("ItemCode")
DEPARTMENT = SearchAttributeKey.for_keyword("Department")
DISTRICT = SearchAttributeKey.for_keyword("District")
ACCEPTANCE_DEADLINE = SearchAttributeKey.for_datetime("AcceptanceDeadline")
COMPLETION_DEADLINE = SearchAttributeKey.for_datetime("CompletionDeadline")
OVERDUE = SearchAttributeKey.for_bool("Overdue")

ALL = [
    CASE_STATUS,
    ITEM_CODE,
    DEPARTMENT,
    DISTRICT,
    ACCEPTANCE_DEADLINE,
    COMPLETION_DEADLINE,
    OVERDUE,
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
