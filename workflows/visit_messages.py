"""Messages of an on-site visit (一次一评): one trip to a window, the cases handled in it, and its
one rating. Plain pydantic models and enums, free of side effects.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, Field

from core.types import Actor, Instant
from workflows.rating_messages import RatingChannel


class VisitStatus(StrEnum):
    OPEN = "open"  # waiting for its rating
    RATED = "rated"
    CLOSED_UNRATED = "closed_unrated"  # the rating window passed


class VisitInput(BaseModel):
    """One applicant's trip to a service window (一次办事), listing the cases handled in it.

    Codes, case numbers and usernames only: no personal data enters Temporal."""

    visit_id: str
    clerk: str
    district: str
    applicant_username: str | None  # None for a walk-in without an account
    case_ids: list[str]
    departments: list[str]
    item_codes: list[str]
    # Verifies and rectifies a bad rating: the lead department of the first case listed.
    lead_department: str
    opened_at: Instant
    rating_deadline: Instant


class VisitRatingRequest(BaseModel):
    """The rater's free-text comment is not here: the API stores it in PostgreSQL."""

    actor: Actor
    level: int = Field(ge=1, le=5)
    channel: RatingChannel
    anonymous: bool = False


class VisitView(VisitInput):
    """The visit as it stands: what it was opened with, then its one rating or its close."""

    status: VisitStatus
    rating_level: int | None = None
    rating_channel: RatingChannel | None = None
    rater: str | None = None  # None when anonymous
    rated_at: Instant | None = None
    rectification_id: str | None = None
    closed_at: Instant | None = None


class VisitRatingRecord(BaseModel):
    """A visit's rating as the read model keeps it: attributed to the clerk and the departments
    and items of every case handled in the visit."""

    visit_id: str
    level: int
    channel: RatingChannel
    rater: str | None
    clerk: str
    district: str
    departments: list[str]
    item_codes: list[str]
    case_ids: list[str]
    at: Instant


class VisitRecord(BaseModel):
    view: VisitView
    rating: VisitRatingRecord | None = None
