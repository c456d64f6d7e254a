"""Request and response bodies of the REST API. Unknown fields are refused."""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    model_validator,
)

from core.catalogue import GuideContent, GuideProblem, GuideStatus, MaterialRef, SignatureMode, ThemeMember
from core.types import Instant
from workflows.bundle_messages import BUNDLE_STATUS_LABELS, BundleStatus, BundleView
from workflows.case_messages import (
    STATUS_LABELS,
    AcceptanceDecision,
    CaseStatus,
    CaseView,
    DeliveryMethod,
    SignDecision,
    SubmissionChannel,
    TaskOutcome,
    TaskStatus,
)
from workflows.rating_messages import RatingChannel

# The largest value an INTEGER column (and so a version number or a page offset) can hold.
MAX_INT = 2**31 - 1

# A theme's code (PUT /api/v1/themes/{code}).
THEME_CODE_PATTERN = r"^[a-z][a-z0-9_]{1,63}$"

# Dates and times are ISO 8601 text: no unix timestamps in disguise (`0` is not 1970-01-01).
_ISO_DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
_ISO_DATETIME = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}")


def _iso(pattern: re.Pattern[str], example: str):
    def check(value: Any) -> Any:
        if isinstance(value, (date, datetime)):
            return value
        if not isinstance(value, str) or not pattern.match(value):
            raise ValueError(f"须为 ISO 8601 格式，例如 {example}")
        return value

    return check


IsoDate = Annotated[date, BeforeValidator(_iso(_ISO_DATE, "2026-10-01"))]
IsoDateTime = Annotated[datetime, BeforeValidator(_iso(_ISO_DATETIME, "2026-10-01T09:00:00+08:00"))]


# Personal data as an applicant or a clerk enters it (it is sealed at rest: core/fields.py).

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


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


# ---- auth ----------------------------------------------------------------------------------


class TokenOut(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_in: int
    role: str
    department: str | None
    district: str | None


class MeOut(BaseModel):
    username: str
    role: str
    department: str | None
    district: str | None
    display_name: str


# ---- catalogue -------------------------------------------------------------------------------


class DepartmentOut(BaseModel):
    code: str
    name: str


class ItemOut(BaseModel):
    code: str
    name: str
    version: int
    departments: list[DepartmentOut]
    materials: list[MaterialRef]
    signature_mode: SignatureMode
    legal_time_limit_days: int
    promised_time_limit_days: int
    form_fields: list[str] = Field(default_factory=list)
    result_name: str = ""


class GuideElementOut(BaseModel):
    label: str
    scope: str
    value: Any


class GuideSettingsOut(BaseModel):
    signature_mode: SignatureMode | None
    departments: list[DepartmentOut]


class GuideOut(BaseModel):
    """A published guide as every channel shows it: the 26 elements plus the engine settings."""

    code: str
    version: int
    effective_from: Instant
    district: str | None
    district_name: str | None
    elements: dict[str, GuideElementOut]
    settings: GuideSettingsOut


# ---- catalogue management (operators) ---------------------------------------------------------


class ItemCreate(Strict):
    code: str = Field(min_length=3, max_length=64, pattern=r"^[a-z][a-z0-9]*(-[a-z0-9]+)+$")
    content: GuideContent = Field(default_factory=GuideContent)


class PublishIn(Strict):
    effective_from: IsoDateTime | None = None


class VersionSummary(BaseModel):
    code: str
    version: int
    status: GuideStatus
    in_force: bool
    effective_from: Instant | None
    published_at: Instant | None
    published_by: str | None
    created_by: str
    updated_at: Instant
    content_hash: str | None


class VersionOut(VersionSummary):
    content: GuideContent
    elements: dict[str, GuideElementOut]


class ValidationOut(BaseModel):
    code: str
    version: int
    valid: bool
    problems: list[GuideProblem]


class ChangeOut(BaseModel):
    element: str
    label: str
    before: Any
    after: Any


class DiffOut(BaseModel):
    code: str
    from_version: int
    to_version: int
    changes: list[ChangeOut]


class DistrictVariantOut(BaseModel):
    code: str
    district: str
    district_name: str
    localized: dict[str, str]
    updated_at: Instant
    updated_by: str


# ---- cases -----------------------------------------------------------------------------------


class ApplicantData(Strict):
    """Personal data of a walk-in applicant; kept in PostgreSQL only, never in Temporal."""

    name: str = Field(min_length=1, max_length=100)
    id_number: IdNumber | None = None
    phone: PhoneNumber | None = None


class CaseCreate(Strict):
    item_code: str = Field(min_length=1, max_length=64)
    form: dict[str, Any] = Field(default_factory=dict)
    materials: list[str] = Field(default_factory=list, max_length=100)
    channel: SubmissionChannel | None = None
    district: str = Field(min_length=1, max_length=32)
    applicant: ApplicantData | None = None
    applicant_username: str | None = Field(default=None, max_length=64)


class AcceptanceIn(Strict):
    decision: AcceptanceDecision
    reason: str = Field(default="", max_length=1000)
    missing_materials: list[str] = Field(default_factory=list, max_length=100)

    @model_validator(mode="after")
    def _complete(self) -> AcceptanceIn:
        if self.decision == AcceptanceDecision.REJECT and not self.reason.strip():
            raise ValueError("不予受理必须说明理由 (reason is required to reject)")
        if self.decision == AcceptanceDecision.SUPPLEMENT and not self.missing_materials:
            raise ValueError("要求补正须一次性列明全部所缺材料 (missing_materials is required)")
        return self


class SupplementIn(Strict):
    materials: list[str] = Field(min_length=1, max_length=100)


class SignatureIn(Strict):
    decision: SignDecision
    opinion: str = Field(default="", max_length=2000)


class DeliveryIn(Strict):
    method: DeliveryMethod
    address: str | None = Field(default=None, max_length=500)


class RatingIn(Strict):
    level: StrictInt = Field(ge=1, le=5)
    channel: RatingChannel
    comment: str = Field(default="", max_length=2000)
    anonymous: StrictBool = False


class VisitCreate(Strict):
    """A clerk opens a visit (一次办事) at their window, listing the cases handled in it."""

    case_ids: list[str] = Field(min_length=1, max_length=20)
    district: str | None = Field(default=None, max_length=32)

    @model_validator(mode="after")
    def _distinct(self) -> VisitCreate:
        if len(set(self.case_ids)) != len(self.case_ids):
            raise ValueError("办件号重复 (case_ids must be distinct)")
        return self


class VisitRatingIn(Strict):
    level: int = Field(ge=1, le=5)
    channel: RatingChannel
    comment: str = Field(default="", max_length=2000)
    # Real-name unless the rater asks otherwise; a rating relayed by the window device is anonymous.
    anonymous: bool | None = None


class WithdrawIn(Strict):
    reason: str = Field(default="", max_length=1000)


class TimelineOut(BaseModel):
    seq: int
    at: Instant
    event: str
    actor: str
    role: str
    message: str
    detail: dict[str, Any]


class CaseOut(CaseView):
    status_label: str = ""
    timeline: list[TimelineOut] = Field(default_factory=list)

    @classmethod
    def of(cls, view: CaseView, timeline: list[TimelineOut] | None = None) -> CaseOut:
        return cls(
            **view.model_dump(),
            status_label=STATUS_LABELS[view.status],
            timeline=timeline or [],
        )


class CaseSummary(BaseModel):
    case_id: str
    status: CaseStatus
    status_label: str
    item_code: str
    item_name: str
    lead_department: str
    departments: list[str]
    district: str
    applicant_username: str | None
    submitted_at: Instant
    acceptance_deadline: Instant | None
    completion_deadline: Instant | None
    overdue: bool


class CasePage(BaseModel):
    items: list[CaseSummary]
    total: int
    limit: int
    offset: int


# ---- tasks -----------------------------------------------------------------------------------


class TaskOut(BaseModel):
    task_id: str
    case_id: str
    department: str
    item_code: str
    item_name: str
    status: TaskStatus
    outcome: TaskOutcome | None
    opinion: str
    completed_by: str | None
    created_at: Instant
    completed_at: Instant | None


class TaskComplete(Strict):
    outcome: TaskOutcome
    opinion: str = Field(default="", max_length=2000)


class NotificationOut(BaseModel):
    notification_id: str
    case_id: str
    message: str
    created_at: Instant


# ---- calendar & supervision ------------------------------------------------------------------


class CalendarDayOut(BaseModel):
    day: date
    working: bool
    reason: str
    provisional: bool


class DeadlineOut(BaseModel):
    deadline: Instant
    provisional: bool


class CalendarDayIn(Strict):
    working: StrictBool
    reason: str = Field(min_length=1, max_length=200)


class CalendarYearDay(CalendarDayIn):
    day: IsoDate


class CalendarYearIn(Strict):
    notice: str = Field(min_length=1, max_length=300)
    days: list[CalendarYearDay] = Field(max_length=366)


class CalendarChangeOut(BaseModel):
    first_day: date
    last_day: date
    rearm_workflow_id: str


class SupplementNoticeIn(Strict):
    missing_materials: list[str] = Field(min_length=1, max_length=100)
    reason: str = Field(default="", max_length=1000)


class EscalationOut(BaseModel):
    case_id: str  # the case, or the rectification for kind "rectification"
    kind: str
    department: str
    deadline: Instant
    created_at: Instant
    status: CaseStatus | None
    item_name: str | None


class DepartmentLoad(BaseModel):
    department: str
    warning: int
    overdue: int


# ---- 好差评: rectifications, complaints, statistics --------------------------------------------


class VerifyIn(Strict):
    reasonable: StrictBool
    finding: str = Field(min_length=1, max_length=2000)


class RectifyIn(Strict):
    problem: str = Field(min_length=1, max_length=2000)
    action: str = Field(min_length=1, max_length=2000)


class ExplainIn(Strict):
    explanation: str = Field(min_length=1, max_length=2000)


class FeedbackIn(Strict):
    accepted: StrictBool
    note: str = Field(default="", max_length=1000)


class ReviewIn(Strict):
    close: StrictBool
    opinion: str = Field(default="", max_length=1000)


class CallerData(Strict):
    """The 12345 caller: personal data, kept in PostgreSQL only."""

    name: str | None = Field(default=None, max_length=100)
    phone: PhoneNumber | None = None


class ComplaintIn(Strict):
    department: str = Field(min_length=1, max_length=32)
    content: str = Field(min_length=1, max_length=4000)
    case_id: str | None = Field(default=None, max_length=32)
    caller: CallerData | None = None
    rater_username: str | None = Field(default=None, max_length=64)


class RatingStatsRow(BaseModel):
    key: str
    total: int
    levels: dict[str, int]
    good_rate: float | None
    bad: int
    bad_open: int
    bad_rectified: int
    bad_explained: int
    bad_overdue: int
    on_time_rate: float | None


class AuditOut(BaseModel):
    id: int
    at: Instant
    username: str | None
    role: str | None
    method: str
    path: str
    status: int
    client: str | None


# ---- themes and bundles (办好一件事) ---------------------------------------------------------


class ThemeOut(BaseModel):
    code: str
    name: str
    description: str
    lead_department: str
    members: list[ThemeMember]


class BundleCreate(Strict):
    theme_code: str = Field(min_length=1, max_length=64)
    form: dict[str, str] = Field(default_factory=dict, max_length=50)
    materials: list[str] = Field(default_factory=list, max_length=100)
    channel: SubmissionChannel | None = None
    district: str = Field(min_length=1, max_length=32)
    applicant: ApplicantData | None = None
    applicant_username: str | None = Field(default=None, max_length=64)


class BundleSupplementNoticeIn(Strict):
    missing_materials: list[str] = Field(min_length=1, max_length=100)
    reason: str = Field(default="", max_length=1000)


class BundleSupplyIn(Strict):
    materials: list[str] = Field(min_length=1, max_length=100)


class BundleDeliveryIn(Strict):
    method: DeliveryMethod
    # 办一次 by default: everything at once; True hands over what is finished now.
    partial: bool = False
    address: str | None = Field(default=None, max_length=500)


class BundleRetryIn(Strict):
    materials: list[str] = Field(default_factory=list, max_length=100)
    form: dict[str, str] = Field(default_factory=dict, max_length=50)


class BundleTimelineOut(TimelineOut):
    case_id: str


class BundleOut(BundleView):
    status_label: str = ""
    timeline: list[BundleTimelineOut] = Field(default_factory=list)

    @classmethod
    def of(cls, view: BundleView, timeline: list[BundleTimelineOut] | None = None) -> BundleOut:
        return cls(
            **view.model_dump(), status_label=BUNDLE_STATUS_LABELS[view.status], timeline=timeline or []
        )


class BundleSummary(BaseModel):
    bundle_id: str
    theme_code: str
    status: BundleStatus
    status_label: str
    applicant_username: str | None
    contact_clerk: str
    district: str
    departments: list[str]
    submitted_at: Instant
    deadline: Instant | None


class BundlePage(BaseModel):
    items: list[BundleSummary]
    total: int
    limit: int
    offset: int
