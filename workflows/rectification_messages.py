"""Messages of the rectification loop (差评整改, and 12345 complaints): verify, rectify or explain,
feedback, review. Plain pydantic models and enums, free of side effects.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, Field

from core.types import Actor, Instant
from workflows.case_messages import CaseEvent, Notification

RECTIFICATION_DAYS = 7


class RectificationStatus(StrEnum):
    VERIFYING = "verifying"  # 核实
    RECTIFYING = "rectifying"  # 整改 (verified as reasonable)
    EXPLAINING = "explaining"  # 解释说明 (unreasonable, or no legal basis)
    AWAITING_FEEDBACK = "awaiting_feedback"  # 回访
    AWAITING_REVIEW = "awaiting_review"  # 督办审核
    CLOSED = "closed"


class RectificationSource(StrEnum):
    RATING = "rating"
    COMPLAINT = "complaint"  # 12345


class RectificationInput(BaseModel):
    rectification_id: str
    source: RectificationSource
    case_id: str | None
    visit_id: str | None = None  # a bad rating of an on-site visit (一次一评)
    department: str
    level: int | None = None
    channel: str
    rater: str | None  # a username for real-name raters; None when anonymous
    opened_at: Instant


class VerifyRequest(BaseModel):
    kind: Literal["verify"] = "verify"
    actor: Actor
    reasonable: bool
    finding: str


class RectifyRequest(BaseModel):
    kind: Literal["rectify"] = "rectify"
    actor: Actor
    problem: str
    action: str


class ExplainRequest(BaseModel):
    kind: Literal["explain"] = "explain"
    actor: Actor
    explanation: str


class DepartmentAnswer(BaseModel):
    """What the responsible department does with it: 核实, then 整改 or 解释说明."""

    act: Annotated[VerifyRequest | RectifyRequest | ExplainRequest, Field(discriminator="kind")]


class FeedbackRequest(BaseModel):
    actor: Actor
    accepted: bool
    note: str = ""


class ReviewRequest(BaseModel):
    actor: Actor
    close: bool
    opinion: str = ""


class RectificationView(BaseModel):
    rectification_id: str
    source: RectificationSource
    case_id: str | None
    visit_id: str | None = None
    department: str
    level: int | None
    channel: str
    rater: str | None
    status: RectificationStatus
    outcome: str | None = None  # "rectified" | "explained"
    finding: str = ""
    problem: str = ""
    action: str = ""
    explanation: str = ""
    feedback_accepted: bool | None = None
    replied_at: Instant | None = None
    sent_back: bool = False
    opened_at: Instant
    deadline: Instant | None = None
    warning: bool = False
    overdue: bool = False
    closed_at: Instant | None = None
    last_seq: int = 0
    events: list[CaseEvent] = Field(default_factory=list)


class RectificationRecord(BaseModel):
    view: RectificationView
    notifications: list[Notification] = Field(default_factory=list)
