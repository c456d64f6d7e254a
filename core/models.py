"""PostgreSQL read model and reference data (sqlmodel tables).

The schema itself is owned by the Alembic migrations in `migrations/`; a test checks that
these models and the migrations agree.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Column, DateTime, Index, String, UniqueConstraint, text
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlmodel import Field, SQLModel

from core.fields import Sealed


def _tz(**kw) -> Column:
    return Column(DateTime(timezone=True), **kw)


class Department(SQLModel, table=True):
    """政府部门."""

    __tablename__ = "departments"
    code: str = Field(primary_key=True, max_length=32)
    name: str = Field(max_length=100)


class ServiceItem(SQLModel, table=True):
    """A catalogue entry (政务服务事项): only its code. Everything a guide states lives in its
    versions (`guide_versions`); the published version in force is what every channel shows."""

    __tablename__ = "service_items"
    code: str = Field(primary_key=True, max_length=64)
    created_at: datetime = Field(sa_column=_tz(nullable=False))


class GuideVersion(SQLModel, table=True):
    """One version of an item's city-level guide (办事指南): a draft, or published and immutable.

    `content` is a GuideContent (core.catalogue); a published version takes effect at
    `effective_from`, and the version in force is the newest published one already effective.
    """

    __tablename__ = "guide_versions"
    __table_args__ = (Index("ix_guide_versions_in_force", "item_code", "status", "effective_from"),)
    item_code: str = Field(primary_key=True, max_length=64, foreign_key="service_items.code")
    version: int = Field(primary_key=True)
    status: str = Field(max_length=16)
    content: dict = Field(sa_column=Column(JSONB, nullable=False))
    content_hash: str | None = Field(default=None, max_length=64)
    effective_from: datetime | None = Field(default=None, sa_column=_tz())
    published_at: datetime | None = Field(default=None, sa_column=_tz())
    published_by: str | None = Field(default=None, max_length=64)
    created_at: datetime = Field(sa_column=_tz(nullable=False))
    created_by: str = Field(max_length=64)
    updated_at: datetime = Field(sa_column=_tz(nullable=False))


class DistrictGuide(SQLModel, table=True):
    """A district's variant of a guide: only its localized elements (place, hours, contacts),
    overlaid on whichever city version is in force, so a new city version reaches every
    district at the same moment."""

    __tablename__ = "district_guides"
    item_code: str = Field(primary_key=True, max_length=64, foreign_key="service_items.code")
    district: str = Field(primary_key=True, max_length=32)
    localized: dict = Field(sa_column=Column(JSONB, nullable=False))
    updated_at: datetime = Field(sa_column=_tz(nullable=False))
    updated_by: str = Field(max_length=64)


class Account(SQLModel, table=True):
    __tablename__ = "accounts"
    username: str = Field(primary_key=True, max_length=64)
    password_hash: str = Field(max_length=255)
    role: str = Field(max_length=16)
    department: str | None = Field(default=None, max_length=32)
    district: str | None = Field(default=None, max_length=32)
    display_name: str = Field(max_length=100)


class Submission(SQLModel, table=True):
    """The intake record of a case: what was handed in, including personal data.

    It never enters Temporal; `(submitted_by, idempotency_key)` makes a retried POST find
    the case it already created.
    """

    __tablename__ = "submissions"
    __table_args__ = (UniqueConstraint("submitted_by", "idempotency_key"),)
    case_id: str = Field(primary_key=True, max_length=32)
    idempotency_key: str | None = Field(default=None, max_length=128)
    submitted_by: str = Field(max_length=64)
    request_hash: str = Field(max_length=64)
    # Personal data is sealed at rest (core/fields.py); the ID number is findable by its token.
    applicant: dict = Field(
        default_factory=dict, sa_column=Column(Sealed("submissions.applicant"), nullable=False)
    )
    applicant_id_token: str | None = Field(default=None, max_length=64, index=True)
    form: dict = Field(default_factory=dict, sa_column=Column(JSONB, nullable=False))
    delivery_address: str | None = Field(
        default=None, sa_column=Column(Sealed("submissions.delivery_address"))
    )
    created_at: datetime = Field(sa_column=_tz(nullable=False))


class Case(SQLModel, table=True):
    """办件: the read-model row of a case, written only by workflow activities."""

    __tablename__ = "cases"
    __table_args__ = (
        Index("ix_cases_status", "status"),
        Index("ix_cases_item_code", "item_code"),
        Index("ix_cases_applicant", "applicant_username"),
        Index("ix_cases_departments", "departments", postgresql_using="gin"),
        Index("ix_cases_submitted_at", "submitted_at"),
        Index("ix_cases_status_submitted_at", "status", "submitted_at"),
        Index("ix_cases_overdue_submitted_at", "submitted_at", postgresql_where=text("overdue")),
        Index("ix_cases_acceptance_deadline", "acceptance_deadline"),
        Index("ix_cases_completion_deadline", "completion_deadline"),
    )
    case_id: str = Field(primary_key=True, max_length=32)
    status: str = Field(max_length=32)
    item_code: str = Field(max_length=64)
    item_name: str = Field(max_length=200)
    item_version: int
    departments: list[str] = Field(sa_column=Column(ARRAY(String(32)), nullable=False))
    lead_department: str = Field(max_length=32)
    applicant_username: str | None = Field(default=None, max_length=64)
    channel: str = Field(max_length=16)
    district: str = Field(max_length=32)
    submitted_at: datetime = Field(sa_column=_tz(nullable=False))
    accepted_at: datetime | None = Field(default=None, sa_column=_tz())
    decided_at: datetime | None = Field(default=None, sa_column=_tz())
    acceptance_deadline: datetime | None = Field(default=None, sa_column=_tz())
    completion_deadline: datetime | None = Field(default=None, sa_column=_tz())
    overdue: bool = False
    warning: bool = False
    view: dict = Field(sa_column=Column(JSONB, nullable=False))
    last_seq: int = 0
    updated_at: datetime = Field(sa_column=_tz(nullable=False))


class TimelineEntry(SQLModel, table=True):
    __tablename__ = "case_timeline"
    case_id: str = Field(primary_key=True, max_length=32)
    seq: int = Field(primary_key=True)
    at: datetime = Field(sa_column=_tz(nullable=False))
    event: str = Field(max_length=64)
    actor: str = Field(max_length=64)
    role: str = Field(max_length=16)
    message: str
    detail: dict = Field(default_factory=dict, sa_column=Column(JSONB, nullable=False))


class ReviewTaskRow(SQLModel, table=True):
    """A department inbox entry. The Temporal task token stays here, never in a response."""

    __tablename__ = "review_tasks"
    __table_args__ = (Index("ix_review_tasks_department_status", "department", "status"),)
    task_id: str = Field(primary_key=True, max_length=40)
    case_id: str = Field(max_length=32, index=True)
    department: str = Field(max_length=32)
    item_code: str = Field(max_length=64)
    item_name: str = Field(max_length=200)
    status: str = Field(max_length=16)
    outcome: str | None = Field(default=None, max_length=8)
    opinion: str = ""
    completed_by: str | None = Field(default=None, max_length=64)
    created_at: datetime = Field(sa_column=_tz(nullable=False))
    completed_at: datetime | None = Field(default=None, sa_column=_tz())


class NotificationRow(SQLModel, table=True):
    """Notification outbox (全过程实时告知); a sender marks `sent_at`."""

    __tablename__ = "notifications"
    __table_args__ = (Index("ix_notifications_recipient", "recipient", "created_at"),)
    notification_id: str = Field(primary_key=True, max_length=80)
    case_id: str = Field(max_length=32)
    recipient: str = Field(max_length=64)
    message: str
    created_at: datetime = Field(sa_column=_tz(nullable=False))
    sent_at: datetime | None = Field(default=None, sa_column=_tz())


class CalendarOverride(SQLModel, table=True):
    """An operator's ruling on one date, on top of the statutory calendar."""

    __tablename__ = "calendar_overrides"
    day: date = Field(primary_key=True)
    working: bool
    reason: str = Field(max_length=200)
    updated_by: str = Field(max_length=64)
    updated_at: datetime = Field(sa_column=_tz(nullable=False))


class CalendarSchedule(SQLModel, table=True):
    """A year whose official schedule (国务院办公厅节假日安排) an operator has uploaded."""

    __tablename__ = "calendar_schedules"
    year: int = Field(primary_key=True)
    notice: str = Field(max_length=300)
    uploaded_by: str = Field(max_length=64)
    uploaded_at: datetime = Field(sa_column=_tz(nullable=False))


class Escalation(SQLModel, table=True):
    """督办: a missed deadline in the supervisors' inbox, one per case and kind."""

    __tablename__ = "escalations"
    __table_args__ = (Index("ix_escalations_open", "resolved_at", "created_at"),)
    case_id: str = Field(primary_key=True, max_length=32)
    kind: str = Field(primary_key=True, max_length=32)
    department: str = Field(max_length=32)
    deadline: datetime = Field(sa_column=_tz(nullable=False))
    created_at: datetime = Field(sa_column=_tz(nullable=False))
    resolved_at: datetime | None = Field(default=None, sa_column=_tz())


class Rating(SQLModel, table=True):
    """好差评: one rating of a matter, attributed to its departments and clerk."""

    __tablename__ = "ratings"
    __table_args__ = (
        Index("ix_ratings_created_at", "created_at"),
        Index("ix_ratings_departments", "departments", postgresql_using="gin"),
    )
    rating_id: str = Field(primary_key=True, max_length=48)
    case_id: str = Field(max_length=32, index=True)
    level: int
    channel: str = Field(max_length=16)
    rater: str | None = Field(default=None, max_length=64)
    departments: list[str] = Field(sa_column=Column(ARRAY(String(32)), nullable=False))
    clerk: str | None = Field(default=None, max_length=64)
    item_code: str = Field(max_length=64)
    district: str = Field(max_length=32)
    comment: str = ""
    created_at: datetime = Field(sa_column=_tz(nullable=False))


class Rectification(SQLModel, table=True):
    """整改: the closed loop of a bad rating or a 12345 complaint (read model)."""

    __tablename__ = "rectifications"
    __table_args__ = (Index("ix_rectifications_department_status", "department", "status"),)
    rectification_id: str = Field(primary_key=True, max_length=40)
    source: str = Field(max_length=16)
    case_id: str | None = Field(default=None, max_length=32, index=True)
    department: str = Field(max_length=32)
    rater: str | None = Field(default=None, max_length=64)
    status: str = Field(max_length=20)
    outcome: str | None = Field(default=None, max_length=16)
    deadline: datetime | None = Field(default=None, sa_column=_tz())
    overdue: bool = False
    on_time: bool | None = None
    opened_at: datetime = Field(sa_column=_tz(nullable=False))
    closed_at: datetime | None = Field(default=None, sa_column=_tz())
    view: dict = Field(sa_column=Column(JSONB, nullable=False))
    last_seq: int = 0


class Complaint(SQLModel, table=True):
    """A 12345 hotline complaint; the caller's personal data stays here, never in Temporal."""

    __tablename__ = "complaints"
    complaint_id: str = Field(primary_key=True, max_length=32)
    case_id: str | None = Field(default=None, max_length=32)
    department: str = Field(max_length=32)
    content: str
    caller: dict = Field(default_factory=dict, sa_column=Column(Sealed("complaints.caller"), nullable=False))
    received_by: str = Field(max_length=64)
    created_at: datetime = Field(sa_column=_tz(nullable=False))


class Visit(SQLModel, table=True):
    """一次办事: one applicant's trip to a service window and the cases handled in it, opened by
    the window's clerk; `(opened_by, idempotency_key)` makes a retried POST find the same visit.
    `view` is the VisitView the visit's workflow last recorded."""

    __tablename__ = "visits"
    __table_args__ = (
        UniqueConstraint("opened_by", "idempotency_key"),
        Index("ix_visits_applicant", "applicant_username"),
        Index("ix_visits_case_ids", "case_ids", postgresql_using="gin"),
    )
    visit_id: str = Field(primary_key=True, max_length=32)
    idempotency_key: str | None = Field(default=None, max_length=128)
    opened_by: str = Field(max_length=64)
    request_hash: str = Field(max_length=64)
    district: str = Field(max_length=32)
    applicant_username: str | None = Field(default=None, max_length=64)
    case_ids: list[str] = Field(sa_column=Column(ARRAY(String(32)), nullable=False))
    status: str = Field(max_length=16)
    view: dict = Field(sa_column=Column(JSONB, nullable=False))
    opened_at: datetime = Field(sa_column=_tz(nullable=False))


class VisitRating(SQLModel, table=True):
    """好差评 一次一评: the one rating of a visit; the primary key refuses a second one."""

    __tablename__ = "visit_ratings"
    __table_args__ = (
        Index("ix_visit_ratings_created_at", "created_at"),
        Index("ix_visit_ratings_departments", "departments", postgresql_using="gin"),
        Index("ix_visit_ratings_item_codes", "item_codes", postgresql_using="gin"),
    )
    visit_id: str = Field(primary_key=True, max_length=32, foreign_key="visits.visit_id")
    level: int
    channel: str = Field(max_length=16)
    rater: str | None = Field(default=None, max_length=64)
    clerk: str = Field(max_length=64)
    district: str = Field(max_length=32)
    departments: list[str] = Field(sa_column=Column(ARRAY(String(32)), nullable=False))
    item_codes: list[str] = Field(sa_column=Column(ARRAY(String(64)), nullable=False))
    case_ids: list[str] = Field(sa_column=Column(ARRAY(String(32)), nullable=False))
    comment: str = ""
    created_at: datetime = Field(sa_column=_tz(nullable=False))


class AuditEntry(SQLModel, table=True):
    """审计日志: every state-changing request, append-only (a trigger refuses changes)."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_username_at", "username", "at"),)
    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(sa_column=_tz(nullable=False, index=True))
    username: str | None = Field(default=None, max_length=64)
    role: str | None = Field(default=None, max_length=16)
    method: str = Field(max_length=8)
    path: str = Field(max_length=300)
    status: int
    client: str | None = Field(default=None, max_length=64)


# Created by the migrations; case numbers are drawn from it.
CASE_NUMBER_SEQUENCE = "case_number_seq"


class Theme(SQLModel, table=True):
    """主题服务: a themed bundle of items as an operator defined it (validated on write)."""

    __tablename__ = "themes"
    code: str = Field(primary_key=True, max_length=64)
    name: str = Field(max_length=100)
    definition: dict = Field(sa_column=Column(JSONB, nullable=False))
    updated_at: datetime = Field(sa_column=_tz(nullable=False))
    updated_by: str = Field(max_length=64)


class Bundle(SQLModel, table=True):
    """办好一件事: the read-model row of a bundle, written only by its workflow's activities.
    Its timeline and notifications share the case tables, keyed by the bundle id."""

    __tablename__ = "bundles"
    __table_args__ = (
        Index("ix_bundles_applicant", "applicant_username"),
        Index("ix_bundles_contact_clerk", "contact_clerk", "status"),
        Index("ix_bundles_departments", "departments", postgresql_using="gin"),
        Index("ix_bundles_submitted_at", "submitted_at"),
    )
    bundle_id: str = Field(primary_key=True, max_length=32)
    theme_code: str = Field(max_length=64)
    status: str = Field(max_length=32)
    applicant_username: str | None = Field(default=None, max_length=64)
    contact_clerk: str = Field(max_length=64)
    district: str = Field(max_length=32)
    departments: list[str] = Field(sa_column=Column(ARRAY(String(32)), nullable=False))
    case_ids: list[str] = Field(sa_column=Column(ARRAY(String(32)), nullable=False))
    submitted_at: datetime = Field(sa_column=_tz(nullable=False))
    deadline: datetime | None = Field(default=None, sa_column=_tz())
    view: dict = Field(sa_column=Column(JSONB, nullable=False))
    last_seq: int = 0
    updated_at: datetime = Field(sa_column=_tz(nullable=False))
