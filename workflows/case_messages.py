"""Messages of the case workflow (办件): its input, updates, tasks, timeline, notifications and
live view. Plain pydantic models and enums, free of side effects, so the API, the activities
and the workflows share one shape.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field

from core.catalogue import ItemSnapshot, SignatureMode
from core.types import Actor, Instant, Role
from workflows.calendar_messages import DeadlineResult, Pause
from workflows.rating_messages import RatingChannel, RatingRecord


class CaseStatus(StrEnum):
    SUBMITTED = "submitted"
    SUPPLEMENT_REQUESTED = "supplement_requested"
    REJECTED = "rejected"
    UNDER_REVIEW = "under_review"
    AWAITING_SIGNATURE = "awaiting_signature"
    APPROVED = "approved"
    DENIED = "denied"
    DELIVERED = "delivered"
    CLOSED = "closed"
    WITHDRAWN = "withdrawn"


STATUS_LABELS: dict[CaseStatus, str] = {
    CaseStatus.SUBMITTED: "待受理",
    CaseStatus.SUPPLEMENT_REQUESTED: "待补正",
    CaseStatus.REJECTED: "不予受理",
    CaseStatus.UNDER_REVIEW: "审查中",
    CaseStatus.AWAITING_SIGNATURE: "待签批",
    CaseStatus.APPROVED: "准予许可",
    CaseStatus.DENIED: "不予许可",
    CaseStatus.DELIVERED: "已送达",
    CaseStatus.CLOSED: "已办结",
    CaseStatus.WITHDRAWN: "已撤回",
}


WITHDRAWABLE = frozenset(
    {
        CaseStatus.SUBMITTED,
        CaseStatus.SUPPLEMENT_REQUESTED,
        CaseStatus.UNDER_REVIEW,
        CaseStatus.AWAITING_SIGNATURE,
    }
)


SIGNERS: dict[SignatureMode, tuple[Role, ...]] = {
    SignatureMode.SIGN_ONCE: (Role.HANDLER,),
    SignatureMode.SIGN_TWICE: (Role.HANDLER, Role.CHIEF),
    # The chief records the collective body's decision; still never a third signature.
    SignatureMode.COLLECTIVE: (Role.HANDLER, Role.CHIEF),
}


class SubmissionChannel(StrEnum):
    ONLINE = "online"
    WINDOW = "window"


class AcceptanceDecision(StrEnum):
    ACCEPT = "accept"
    REJECT = "reject"
    SUPPLEMENT = "supplement"


class SignDecision(StrEnum):
    APPROVE = "approve"
    DENY = "deny"


class TaskOutcome(StrEnum):
    PASS = "pass"
    FAIL = "fail"


class TaskStatus(StrEnum):
    PENDING = "pending"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


class DeliveryMethod(StrEnum):
    WINDOW_PICKUP = "window_pickup"
    MAIL = "mail"
    ELECTRONIC = "electronic"


class BundleLink(BaseModel):
    """Set when a case is a member of a bundle: whom it reports to, and as which member."""

    bundle_id: str
    member_key: str


class CaseInput(BaseModel):
    case_id: str
    item: ItemSnapshot
    applicant_username: str | None
    channel: SubmissionChannel
    district: str
    materials: list[str]
    submitted_by: Actor
    rating_window_days: int = 7
    form: dict[str, str] = Field(default_factory=dict)
    bundle: BundleLink | None = None
    # Set by the API: when it received the case, and the 1-working-day acceptance deadline from
    # then. Without them (bundle members) the workflow takes its start time and computes the
    # deadline in an activity.
    submitted_at: Instant | None = None
    acceptance_due: DeadlineResult | None = None


class AcceptanceRequest(BaseModel):
    actor: Actor
    decision: AcceptanceDecision
    reason: str = ""
    missing_materials: list[str] = Field(default_factory=list)
    # Set by the API on an acceptance: when it received it, and the completion deadline counted
    # from then over the case's `time_limit_days`, so the workflow needs no activity for it.
    # Without them (bundle commands, direct callers) the workflow counts from its own time.
    accepted_at: Instant | None = None
    completion_due: DeadlineResult | None = None


class SupplementNotice(BaseModel):
    """一次性告知 during review: the clock pauses until every listed material arrives."""

    actor: Actor
    missing_materials: list[str]
    reason: str = ""


class SupplementRequest(BaseModel):
    actor: Actor
    materials: list[str]


class SignatureRequest(BaseModel):
    actor: Actor
    decision: SignDecision
    opinion: str = ""


class DeliveryRequest(BaseModel):
    actor: Actor
    method: DeliveryMethod


class RatingRequest(BaseModel):
    actor: Actor
    level: int = Field(ge=1, le=5)
    channel: RatingChannel
    comment: str = ""
    anonymous: bool = False


class WithdrawRequest(BaseModel):
    actor: Actor
    reason: str = ""


class ReviewTask(BaseModel):
    """A department's review task (部门审查): an inbox row the department completes through the API."""

    task_id: str
    case_id: str
    department: str
    item_code: str
    item_name: str


class TaskCompletion(BaseModel):
    """A department's result for its review task, sent to the case as an update."""

    actor: Actor
    task_id: str
    outcome: TaskOutcome
    opinion: str = ""


class Escalation(BaseModel):
    """督办: a missed deadline handed to the supervisors."""

    case_id: str
    kind: str
    department: str
    deadline: Instant


class TaskView(BaseModel):
    task_id: str
    department: str
    status: TaskStatus
    outcome: TaskOutcome | None = None
    opinion: str = ""
    completed_by: str | None = None


class SignatureView(BaseModel):
    signer: str
    role: Role
    decision: SignDecision
    opinion: str
    at: Instant


class CaseEvent(BaseModel):
    """One timeline entry; `seq` makes re-recording it idempotent."""

    seq: int
    at: Instant
    event: str
    actor: str
    role: str
    message: str
    detail: dict[str, Any] = Field(default_factory=dict)


SUPERVISOR_INBOX = "role:supervisor"


def department_inbox(department: str) -> str:
    """The notification recipient standing for every member of a department."""
    return f"department:{department}"


class Notification(BaseModel):
    """An outbox entry for the applicant or a supervisor (全过程实时告知)."""

    notification_id: str
    case_id: str
    recipient: str
    message: str
    at: Instant


class CaseView(BaseModel):
    """The live state of a case, as the workflow sees it."""

    case_id: str
    status: CaseStatus
    item_code: str
    item_name: str
    item_version: int
    departments: list[str]
    lead_department: str
    signature_mode: SignatureMode
    applicant_username: str | None
    channel: SubmissionChannel
    district: str
    materials: list[str]
    missing_materials: list[str] = Field(default_factory=list)
    submitted_at: Instant
    accepted_at: Instant | None = None
    decided_at: Instant | None = None
    acceptance_deadline: Instant | None = None
    completion_deadline: Instant | None = None
    # 承诺办结时限: working days from acceptance to decision (the promise, never beyond the law).
    time_limit_days: int = 0
    overdue: bool = False
    warning: bool = False
    deadline_provisional: bool = False
    pauses: list[Pause] = Field(default_factory=list)
    decision_reason: str = ""
    tasks: list[TaskView] = Field(default_factory=list)
    signatures: list[SignatureView] = Field(default_factory=list)
    delivery_method: DeliveryMethod | None = None
    rating_level: int | None = None
    last_seq: int = 0
    form: dict[str, str] = Field(default_factory=dict)
    bundle_id: str | None = None
    # The licence or permit number issued with an approval (证照编号).
    result_number: str | None = None


class RecordRequest(BaseModel):
    """What the workflow hands the read model: the current view plus new events."""

    view: CaseView
    events: list[CaseEvent]
    notifications: list[Notification] = Field(default_factory=list)
    # Written in the same transaction: the inbox rows of a case just accepted, and the rating
    # that closes it.
    open_tasks: list[ReviewTask] = Field(default_factory=list)
    rating: RatingRecord | None = None
