"""Messages of the bundle workflow (办好一件事): its input, its members, the commands its one window
sends them and their reports, and its live view. Plain pydantic models and enums, free of side
effects.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, Field

from core.catalogue import ThemeSnapshot
from core.types import Actor, Instant
from workflows.case_messages import CaseEvent, CaseStatus, DeliveryMethod, Notification, SubmissionChannel
from workflows.rating_messages import RatingRecord


class BundleStatus(StrEnum):
    SUBMITTED = "submitted"
    IN_PROGRESS = "in_progress"
    SUPPLEMENT_REQUESTED = "supplement_requested"
    READY = "ready"
    DELIVERED = "delivered"
    CLOSED = "closed"


BUNDLE_STATUS_LABELS: dict[BundleStatus, str] = {
    BundleStatus.SUBMITTED: "待受理",
    BundleStatus.IN_PROGRESS: "办理中",
    BundleStatus.SUPPLEMENT_REQUESTED: "待补正",
    BundleStatus.READY: "已办结，待领取",
    BundleStatus.DELIVERED: "已送达",
    BundleStatus.CLOSED: "已结束",
}


class MemberState(StrEnum):
    WAITING = "waiting"  # 等待前置事项办结
    BLOCKED = "blocked"  # 前置事项未通过，未启动
    STARTED = "started"  # a case is running; see `case_status`


# A member's case has ended without a result its dependants could use.
FAILED_CASE = frozenset({CaseStatus.REJECTED, CaseStatus.DENIED, CaseStatus.WITHDRAWN})
# A member's case has its result (approved, possibly already handed over).
APPROVED_CASE = frozenset({CaseStatus.APPROVED, CaseStatus.DELIVERED, CaseStatus.CLOSED})


class MemberView(BaseModel):
    key: str
    item_code: str
    item_name: str
    departments: list[str]
    needs: list[str] = Field(default_factory=list)
    state: MemberState = MemberState.WAITING
    case_id: str | None = None
    attempt: int = 0
    case_status: CaseStatus | None = None
    completion_deadline: Instant | None = None
    overdue: bool = False
    result_number: str | None = None
    missing_materials: list[str] = Field(default_factory=list)
    reason: str = ""
    delivered: bool = False
    report_seq: int = 0
    earlier_case_ids: list[str] = Field(default_factory=list)

    @property
    def finished(self) -> bool:
        """Nothing more will happen to it unless the clerk retries it."""
        if self.state == MemberState.BLOCKED:
            return True
        return self.state == MemberState.STARTED and (
            self.case_status in FAILED_CASE or self.case_status in APPROVED_CASE
        )

    @property
    def deliverable(self) -> bool:
        """A decision is waiting to be handed over (approval or denial)."""
        decided = self.case_status in (CaseStatus.APPROVED, CaseStatus.DENIED)
        return self.state == MemberState.STARTED and decided and not self.delivered


class BundleView(BaseModel):
    """The live state of a bundle (办好一件事), as its workflow sees it."""

    bundle_id: str
    theme_code: str
    theme_name: str
    lead_department: str
    status: BundleStatus
    applicant_username: str | None
    contact_clerk: str
    district: str
    channel: SubmissionChannel
    submitted_at: Instant
    accepted_at: Instant | None = None
    ready_at: Instant | None = None
    delivered_at: Instant | None = None
    deadline: Instant | None = None
    members: list[MemberView]
    materials: list[str] = Field(default_factory=list)
    missing_materials: list[str] = Field(default_factory=list)
    delivery_method: DeliveryMethod | None = None
    rating_level: int | None = None
    withdrawn: bool = False
    runs: int = 1
    last_seq: int = 0

    @property
    def departments(self) -> list[str]:
        return sorted({d for m in self.members for d in m.departments})

    def member(self, key: str) -> MemberView | None:
        return next((m for m in self.members if m.key == key), None)


class BundleCarry(BaseModel):
    """What a bundle hands to its next run when it continues as new."""

    view: BundleView
    form: dict[str, str]
    resume_status: BundleStatus
    command_seq: int
    auto_accepted: list[str] = Field(default_factory=list)
    news: list[str] = Field(default_factory=list)
    failures: list[str] = Field(default_factory=list)


class BundleInput(BaseModel):
    bundle_id: str
    theme: ThemeSnapshot
    applicant_username: str | None
    contact_clerk: str
    district: str
    channel: SubmissionChannel
    form: dict[str, str]
    materials: list[str]
    submitted_by: Actor
    rating_window_days: int = 7
    # Continue as new past this many history events (the server may suggest it sooner).
    history_limit: int = 10_000
    carried: BundleCarry | None = None


class AcceptMember(BaseModel):
    kind: Literal["accept"] = "accept"


class AskMemberForSupplements(BaseModel):
    """The member's part of the bundle's one supplement notice (一次性告知)."""

    kind: Literal["supplement"] = "supplement"
    materials: list[str]
    reason: str = ""


class SupplyMember(BaseModel):
    kind: Literal["supply"] = "supply"
    materials: list[str]


class DeliverMember(BaseModel):
    kind: Literal["deliver"] = "deliver"
    method: DeliveryMethod


class WithdrawMember(BaseModel):
    kind: Literal["withdraw"] = "withdraw"
    reason: str = ""


MemberAction = Annotated[
    AcceptMember | AskMemberForSupplements | SupplyMember | DeliverMember | WithdrawMember,
    Field(discriminator="kind"),
]


class BundleCommand(BaseModel):
    """An action the bundle's one window takes on a member case (sent as a signal)."""

    command_id: int
    actor: Actor
    action: MemberAction


class MemberReport(BaseModel):
    """A member case tells its bundle where it stands (sent as a signal)."""

    member_key: str
    case_id: str
    seq: int
    status: CaseStatus
    completion_deadline: Instant | None = None
    overdue: bool = False
    result_number: str | None = None
    missing_materials: list[str] = Field(default_factory=list)
    reason: str = ""
    # Commands of the bundle handled since the last report; refusals carry the reason.
    acks: list[int] = Field(default_factory=list)
    refused: dict[int, str] = Field(default_factory=dict)


class BundleAcceptRequest(BaseModel):
    actor: Actor


class BundleSupplementNotice(BaseModel):
    actor: Actor
    missing_materials: list[str]
    reason: str = ""


class BundleSupplyRequest(BaseModel):
    actor: Actor
    materials: list[str]


class BundleDeliveryRequest(BaseModel):
    actor: Actor
    method: DeliveryMethod
    partial: bool = False


class BundleWithdrawRequest(BaseModel):
    actor: Actor
    reason: str = ""


class BundleRetryRequest(BaseModel):
    actor: Actor
    member_key: str
    materials: list[str] = Field(default_factory=list)
    form: dict[str, str] = Field(default_factory=dict)


class BundleRecordRequest(BaseModel):
    """What the bundle hands the read model: its view plus new timeline entries and notices."""

    view: BundleView
    events: list[CaseEvent]
    notifications: list[Notification] = Field(default_factory=list)
    # Written in the same transaction: the one rating that closes the bundle.
    rating: RatingRecord | None = None
