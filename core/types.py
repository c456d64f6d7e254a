"""Shared vocabulary: enums, workflow inputs and messages, and the case's live view.

Everything that crosses the Temporal boundary is a pydantic model here, so the API, the
workflows and the activities agree on one shape. No personal data (ID numbers, phones,
names, addresses) ever goes into these messages: it stays in PostgreSQL.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from enum import IntEnum, StrEnum
from typing import Annotated

from pydantic import AfterValidator, BaseModel, Field, PlainSerializer, StrictBool, StrictInt

# Beijing has kept UTC+8 without daylight saving since 1991; a fixed offset needs no tz database.
BEIJING_OFFSET = timezone(timedelta(hours=8), "Asia/Shanghai")

# An aware instant, written out in Beijing time (+08:00) for clerks and applicants.
Instant = Annotated[
    datetime,
    PlainSerializer(lambda d: d.astimezone(BEIJING_OFFSET).isoformat(), when_used="json"),
]

_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"


def _valid_id_number(value: str) -> str:
    """居民身份证号码 (GB 11643): 17 digits, a valid birth date, and its check character."""
    value = value.strip().upper()
    if len(value) != 18 or not value[:17].isdigit():
        raise ValueError("身份证号码应为18位")
    try:
        datetime.strptime(value[6:14], "%Y%m%d")
    except ValueError as exc:
        raise ValueError("身份证号码中的出生日期无效") from exc
    if _ID_CHECK[sum(int(c) * w for c, w in zip(value, _ID_WEIGHTS, strict=False)) % 11] != value[17]:
        raise ValueError("身份证号码校验位不正确")
    return value


def _valid_phone(value: str) -> str:
    """A mainland mobile number, or a landline with its area code."""
    digits = value.strip().replace("-", "").replace(" ", "")
    mobile = len(digits) == 11 and digits.startswith("1") and digits[1] in "3456789"
    landline = digits.startswith("0") and 10 <= len(digits) <= 12
    if not digits.isdigit() or not (mobile or landline):
        raise ValueError("电话号码格式不正确")
    return digits


IdNumber = Annotated[str, AfterValidator(_valid_id_number)]
PhoneNumber = Annotated[str, AfterValidator(_valid_phone)]


def mask_id_number(value: str) -> str:
    """110105********1234: enough to recognise, not enough to misuse."""
    return value[:6] + "*" * 8 + value[-4:]


def mask_phone(value: str) -> str:
    """138****5678 (a landline keeps its area code and last 4 digits the same way)."""
    return value[:3] + "*" * max(len(value) - 7, 0) + value[-4:]


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


class Role(StrEnum):
    APPLICANT = "applicant"
    CLERK = "clerk"
    DEPARTMENT = "department"
    HANDLER = "handler"
    CHIEF = "chief"
    SUPERVISOR = "supervisor"
    OPERATOR = "operator"


DEPARTMENT_ROLES = frozenset({Role.DEPARTMENT, Role.HANDLER, Role.CHIEF})


class SignatureMode(StrEnum):
    """签一次 / 签两次 / 集体决策."""

    SIGN_ONCE = "sign_once"
    SIGN_TWICE = "sign_twice"
    COLLECTIVE = "collective"


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


class RatingChannel(StrEnum):
    DEVICE = "device"
    WEBSITE = "website"
    APP = "app"
    QR = "qr"
    KIOSK = "kiosk"
    PHONE = "phone"


class RatingLevel(IntEnum):
    VERY_DISSATISFIED = 1
    DISSATISFIED = 2
    BASICALLY_SATISFIED = 3
    SATISFIED = 4
    VERY_SATISFIED = 5


RATING_LABELS: dict[int, str] = {
    1: "非常不满意",
    2: "不满意",
    3: "基本满意",
    4: "满意",
    5: "非常满意",
}


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


# ---- messages -------------------------------------------------------------------------


class Actor(BaseModel):
    """Who did something, taken from the authenticated token (never from a request body)."""

    username: str
    role: Role
    department: str | None = None


class DepartmentRef(BaseModel):
    code: str
    name: str


class MaterialRef(BaseModel):
    code: str
    name: str
    required: bool = True
    shared_code: str | None = None


class ItemSnapshot(BaseModel):
    """The catalogue item as it stood when the case was submitted; the case keeps it."""

    code: str
    name: str
    version: int
    departments: list[DepartmentRef]
    materials: list[MaterialRef]
    signature_mode: SignatureMode
    legal_time_limit_days: int
    promised_time_limit_days: int
    form_fields: list[str] = Field(default_factory=list)
    result_name: str = ""

    @property
    def lead_department(self) -> str:
        return self.departments[0].code


class BundleLink(BaseModel):
    """Set when a case is a member of a bundle: whom it reports to, and as which member."""

    bundle_id: str
    member_key: str


class Pause(BaseModel):
    """Time the clock stood still while the applicant supplied materials (补正不计时)."""

    start: Instant
    end: Instant


class DeadlineSpec(BaseModel):
    """What a deadline counts from, so it can be recomputed when the calendar changes."""

    start: Instant
    working_days: int = 0
    # A period of calendar days instead (e.g. 7 days to rectify a bad rating).
    calendar_days: int = 0
    pauses: list[Pause] = Field(default_factory=list)


class DeadlineResult(BaseModel):
    at: Instant
    warning_at: Instant
    provisional: bool = False
    paused_working_days: int = 0


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


class RatingRecord(BaseModel):
    """A rating as the read model keeps it, attributed to the departments and the clerk."""

    rating_id: str
    case_id: str
    level: int
    channel: RatingChannel
    rater: str | None
    departments: list[str]
    clerk: str | None
    item_code: str
    district: str
    at: Instant


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


class CalendarChange(BaseModel):
    """Dates whose working status changed; open cases whose deadlines span them re-arm."""

    change_id: str
    first_day: date
    last_day: date
    cursor: str = ""
    signalled: int = 0


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
    detail: dict = Field(default_factory=dict)


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


# ---- 好差评: ratings and the rectification loop ----------------------------------------------

BAD_RATING_MAX = 2  # 1 非常不满意 and 2 不满意 are bad ratings (差评)
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
    actor: Actor
    reasonable: bool
    finding: str


class RectifyRequest(BaseModel):
    actor: Actor
    problem: str
    action: str


class ExplainRequest(BaseModel):
    actor: Actor
    explanation: str


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


# ---- 一次一评: on-site visits and their one rating ---------------------------------------------

# On site one rating per visit (一次一评); online (website, app) and by phone one per matter.
ON_SITE_CHANNELS = frozenset({RatingChannel.DEVICE, RatingChannel.KIOSK, RatingChannel.QR})


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


class VisitView(BaseModel):
    visit_id: str
    status: VisitStatus
    clerk: str
    district: str
    applicant_username: str | None
    case_ids: list[str]
    departments: list[str]
    item_codes: list[str]
    lead_department: str
    opened_at: Instant
    rating_deadline: Instant
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


# ---- service guides (办事指南) -----------------------------------------------------------------


class GuideStatus(StrEnum):
    DRAFT = "draft"
    PUBLISHED = "published"


class MaterialForm(StrEnum):
    """材料形式."""

    ORIGINAL = "原件"
    COPY = "复印件"
    ELECTRONIC = "电子"


class HandlingChannel(StrEnum):
    """办理形式."""

    ONLINE = "online"
    WINDOW = "window"
    MAIL = "mail"


HANDLING_CHANNEL_LABELS: dict[HandlingChannel, str] = {
    HandlingChannel.ONLINE: "网上办理",
    HandlingChannel.WINDOW: "窗口办理",
    HandlingChannel.MAIL: "邮寄办理",
}


class GuideChannel(StrEnum):
    """Where a guide is shown; a channel changes presentation, never content."""

    ONLINE = "online"
    WINDOW = "window"
    MOBILE = "mobile"
    KIOSK = "kiosk"


class HandlingScope(StrEnum):
    """通办范围."""

    CITY_WIDE = "city_wide"
    DISTRICT_WIDE = "district_wide"
    LOCAL = "local"


HANDLING_SCOPE_LABELS: dict[HandlingScope, str] = {
    HandlingScope.CITY_WIDE: "全市通办",
    HandlingScope.DISTRICT_WIDE: "全区通办",
    HandlingScope.LOCAL: "属地办理",
}


class GuideMaterial(BaseModel):
    """One required material (所需材料) as a guide states it."""

    model_config = {"extra": "forbid"}

    code: str = Field(min_length=1, max_length=16)
    name: str = Field(min_length=1, max_length=200)
    form: MaterialForm
    copies: StrictInt = Field(ge=0, le=20)
    required: StrictBool = True
    # May be supplied after acceptance under 容缺受理.
    deferrable: StrictBool = False
    # The same material across items (e.g. the business licence): handed in once in a bundle.
    shared_code: str | None = Field(default=None, pattern=r"^[A-Z][A-Z0-9_]{1,31}$")
    note: str = Field(default="", max_length=500)


class ProcessStep(BaseModel):
    """One step of 办理流程; steps sharing a `stage` run in parallel, stages run in order."""

    model_config = {"extra": "forbid"}

    stage: StrictInt = Field(ge=1, le=50)
    name: str = Field(min_length=1, max_length=100)
    department: str = Field(min_length=1, max_length=32)
    action: str = Field(default="", max_length=500)


class Availability(BaseModel):
    """预约办理 / 网上支付 / 物流快递: whether it is offered, and how."""

    model_config = {"extra": "forbid"}

    available: StrictBool
    note: str = Field(default="", max_length=500)


class GuideContent(BaseModel):
    """A guide version's content. In a draft any field may still be missing (None); validation
    (core.guides.validate) names each missing or inconsistent element before publication."""

    model_config = {"extra": "forbid"}

    name: str | None = Field(default=None, max_length=200)
    item_type: str | None = Field(default=None, max_length=50)
    legal_basis: list[str] | None = None
    implementing_body: str | None = Field(default=None, max_length=200)
    acceptance_conditions: list[str] | None = None
    served_parties: list[str] | None = None
    legal_time_limit_days: StrictInt | None = Field(default=None, ge=0, le=3650)
    promised_time_limit_days: StrictInt | None = Field(default=None, ge=0, le=3650)
    result_name: str | None = Field(default=None, max_length=200)
    result_sample: str | None = Field(default=None, max_length=500)
    fee_standard: str | None = Field(default=None, max_length=500)
    fee_basis: str | None = Field(default=None, max_length=500)
    materials: list[GuideMaterial] | None = None
    deferral_policy: str | None = Field(default=None, max_length=1000)
    process: list[ProcessStep] | None = None
    channels: list[HandlingChannel] | None = None
    review_criteria: list[str] | None = None
    handling_scope: HandlingScope | None = None
    appointment: Availability | None = None
    online_payment: Availability | None = None
    courier_delivery: Availability | None = None
    place: str | None = Field(default=None, max_length=500)
    hours: str | None = Field(default=None, max_length=500)
    consultation: str | None = Field(default=None, max_length=500)
    complaint: str | None = Field(default=None, max_length=500)
    # Engine settings: who reviews (departments[0] leads and signs) and how many signatures.
    signature_mode: SignatureMode | None = None
    departments: list[str] | None = None
    # The application form's fields (申请表), keys of core.form_fields.FORM_FIELDS.
    form_fields: list[str] | None = None


class GuideProblem(BaseModel):
    """A validation finding that names the element (要素) it concerns."""

    element: str
    label: str
    code: str
    message: str


# ---- 办好一件事: themes and bundles ---------------------------------------------------------


class ThemeNeed(BaseModel):
    """A member needs another's result: its number fills `field`, and it stands in for the
    materials with these shared codes (e.g. the business licence)."""

    model_config = {"extra": "forbid"}

    member: str = Field(min_length=1, max_length=32)
    field: str | None = Field(default=None, max_length=64)
    materials: list[str] = Field(default_factory=list, max_length=20)


class ThemeMember(BaseModel):
    model_config = {"extra": "forbid"}

    key: str = Field(pattern=r"^[a-z][a-z0-9_]{0,31}$")
    item_code: str = Field(min_length=1, max_length=64)
    needs: list[ThemeNeed] = Field(default_factory=list, max_length=20)


class ThemeDefinition(BaseModel):
    """A themed service (主题服务) as an operator defines it."""

    model_config = {"extra": "forbid"}

    name: str = Field(min_length=1, max_length=100)
    description: str = Field(default="", max_length=1000)
    lead_department: str = Field(min_length=1, max_length=32)
    members: list[ThemeMember] = Field(min_length=2, max_length=20)


class ThemeMemberSnapshot(BaseModel):
    key: str
    item: ItemSnapshot
    needs: list[ThemeNeed] = Field(default_factory=list)


class ThemeSnapshot(BaseModel):
    """A theme with each member's item as in force when the bundle was submitted."""

    code: str
    name: str
    lead_department: str
    members: list[ThemeMemberSnapshot]


class MergedField(BaseModel):
    """A field of the merged form (填一表): asked once however many items need it."""

    key: str
    label: str
    kind: str
    required: bool
    asked_by: list[str]
    # Filled from another member's result instead of by the applicant.
    provided_by: str | None = None


class MergedMaterial(BaseModel):
    """A material of the merged list: handed in once however many items need it."""

    code: str
    name: str
    required: bool
    used_by: dict[str, str]  # item code → the item's own material code
    provided_by: str | None = None


class ThemeForm(BaseModel):
    theme_code: str
    fields: list[MergedField]
    materials: list[MergedMaterial]


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


class BundleCommand(BaseModel):
    """An action the bundle's one window takes on a member case (sent as a signal)."""

    command_id: int
    kind: str  # accept | supplement | supply | deliver | withdraw
    actor: Actor
    materials: list[str] = Field(default_factory=list)
    reason: str = ""
    method: DeliveryMethod | None = None


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
