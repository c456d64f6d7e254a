"""Shared vocabulary of every process: Beijing time, roles and the actor, error codes, districts.

The messages of each process live beside it (workflows/*_messages.py), the catalogue's content
in core/catalogue.py. No personal data (ID numbers, phones, names, addresses) ever goes into
these types or those messages: it stays in PostgreSQL.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, PlainSerializer

# Beijing has kept UTC+8 without daylight saving since 1991; a fixed offset needs no tz database.
BEIJING_OFFSET = timezone(timedelta(hours=8), "Asia/Shanghai")

# An aware instant, written out in Beijing time (+08:00) for clerks and applicants.
Instant = Annotated[
    datetime,
    PlainSerializer(lambda d: d.astimezone(BEIJING_OFFSET).isoformat(), when_used="json"),
]


# 北京市各区 (the districts whose centres the demo serves)
DISTRICTS: dict[str, str] = {
    "chaoyang": "朝阳区",
    "haidian": "海淀区",
    "dongcheng": "东城区",
    "xicheng": "西城区",
    "daxing": "大兴区",
    "mentougou": "门头沟区",
    "miyun": "密云区",
}


class Role(StrEnum):
    APPLICANT = "applicant"
    CLERK = "clerk"
    DEPARTMENT = "department"
    HANDLER = "handler"
    CHIEF = "chief"
    SUPERVISOR = "supervisor"
    OPERATOR = "operator"


DEPARTMENT_ROLES = frozenset({Role.DEPARTMENT, Role.HANDLER, Role.CHIEF})


class CaseErrorCode(StrEnum):
    """Machine-readable refusals raised by the case workflow; the API maps them to HTTP."""

    INVALID_STATE = "invalid_state"
    SIGNATURE_LIMIT = "signature_limit_reached"
    WRONG_SIGNER = "wrong_signer"
    WRONG_DEPARTMENT = "wrong_department"
    ALREADY_RATED = "already_rated"
    UNLISTED_MATERIAL = "unlisted_material"
    MISSING_MATERIALS = "missing_materials_required"
    UNKNOWN_MEMBER = "unknown_member"
    TASK_NOT_OPEN = "task_not_open"


class Actor(BaseModel):
    """Who did something, taken from the authenticated token (never from a request body)."""

    username: str
    role: Role
    department: str | None = None
