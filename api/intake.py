"""Case intake (收件): validate a submission, record it once, start its workflow once.

The submission row (with any personal data) is written before the workflow starts, keyed
by `(submitted_by, Idempotency-Key)`, and the workflow id derives from the case number:
a retried or double-clicked POST finds the same case instead of creating a second one.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import NamedTuple

from sqlalchemy import text
from sqlalchemy.dialects.postgresql import insert
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from api.errors import ApiError, forbidden
from api.routers.items import load_item
from api.schemas import BundleCreate, CaseCreate, ItemOut
from core import fields
from core.calendar import BEIJING, count_due
from core.catalogue import ItemSnapshot
from core.models import CASE_NUMBER_SEQUENCE, Account, Submission
from core.security import Principal
from core.types import DISTRICTS, Role
from workflows.calendar_messages import DeadlineResult, DeadlineSpec
from workflows.case_messages import SubmissionChannel


def request_hash(body: CaseCreate | BundleCreate) -> str:
    # Keyed: a plain hash of a body holding an ID number could be brute-forced back to it.
    canonical = json.dumps(body.model_dump(mode="json"), sort_keys=True, ensure_ascii=False)
    return fields.cipher().mac(canonical, "request")


async def validated_item(db: AsyncSession, body: CaseCreate) -> ItemOut:
    item = await load_item(db, body.item_code)
    if item is None:
        raise ApiError(422, "unknown_item", f"事项目录中没有该事项：{body.item_code}")
    if body.district not in DISTRICTS:
        raise ApiError(422, "unknown_district", f"未知的办理区域：{body.district}")
    refuse_unlisted(body.materials, {m.code for m in item.materials}, "本事项办事指南所列范围")
    return item


def refuse_unlisted(materials: list[str], listed: set[str], scope: str) -> None:
    """Only materials the guide (or the theme's merged list) names may be handed in."""
    unlisted = sorted(set(materials) - listed)
    if unlisted:
        raise ApiError(
            422,
            "unlisted_material",
            f"材料不在{scope}内：{'、'.join(unlisted)}",
            {"unlisted": unlisted, "listed": sorted(listed)},
        )


async def applicant_of(db: AsyncSession, principal: Principal, body: CaseCreate | BundleCreate) -> str | None:
    """The account that owns the case: the applicant themself, or whom a clerk names."""
    if principal.role == Role.APPLICANT:
        if body.applicant_username not in (None, principal.username):
            raise forbidden("申请人只能为本人申报", "applicant_mismatch")
        return principal.username
    if principal.district and body.district != principal.district:
        raise forbidden("只能受理本区域的办件", "district_forbidden")
    if body.applicant_username is None:
        if body.applicant is None:
            raise ApiError(422, "applicant_required", "窗口代为申报时须填写申请人信息")
        return None
    account = await db.get(Account, body.applicant_username)
    if account is None or account.role != Role.APPLICANT:
        raise ApiError(422, "unknown_applicant", "申请人账号不存在")
    return account.username


class Received(NamedTuple):
    """A submission as recorded: its case (or bundle) id and when the platform received it."""

    id: str
    at: datetime


async def acceptance_due(db: AsyncSession, received: datetime) -> DeadlineResult:
    """受理时限: 1 working day from receipt, computed here so the workflow starts with it."""
    return await count_due(db.bind, DeadlineSpec(start=received, working_days=1))


def default_channel(principal: Principal, body: CaseCreate | BundleCreate) -> SubmissionChannel:
    if body.channel is not None:
        return body.channel
    return SubmissionChannel.ONLINE if principal.role == Role.APPLICANT else SubmissionChannel.WINDOW


async def _new_case_id(db: AsyncSession, prefix: str) -> str:
    seq = await db.scalar(text(f"SELECT nextval('{CASE_NUMBER_SEQUENCE}')"))
    return f"{prefix}{datetime.now(BEIJING):%Y%m%d}{seq:06d}"


async def record_submission(
    db: AsyncSession,
    principal: Principal,
    body: CaseCreate | BundleCreate,
    key: str | None,
    prefix: str = "BJ",
) -> Received:
    """Insert the submission once; return its id and when it was received (the first attempt's,
    for a retry). Cases are numbered BJ…, bundles BD… (one sequence, so a key reused across the
    two is caught)."""
    digest = request_hash(body)
    if key is not None:
        existing = await _by_key(db, principal.username, key)
        if existing is not None:
            return _same_request(existing, digest)
    case_id = await _new_case_id(db, prefix)
    received = datetime.now(UTC)
    row = insert(Submission).values(
        case_id=case_id,
        idempotency_key=key,
        submitted_by=principal.username,
        request_hash=digest,
        applicant=body.applicant.model_dump() if body.applicant else {},  # sealed by the column type
        applicant_id_token=_id_token(body),
        form=body.form,
        created_at=received,
    )
    inserted = await db.exec(row.on_conflict_do_nothing().returning(col(Submission.case_id)))
    await db.commit()
    if inserted.first() is None:  # a concurrent request with the same key won the race
        existing = await _by_key(db, principal.username, key)
        assert existing is not None
        return _same_request(existing, digest)
    return Received(case_id, received)


def _id_token(body: CaseCreate | BundleCreate) -> str | None:
    id_number = body.applicant.id_number if body.applicant else None
    return fields.id_number_token(id_number) if id_number else None


async def _by_key(db: AsyncSession, username: str, key: str | None) -> Submission | None:
    query = select(Submission).where(Submission.submitted_by == username, Submission.idempotency_key == key)
    return (await db.exec(query)).first()


def _same_request(existing: Submission, digest: str) -> Received:
    if existing.request_hash != digest:
        raise ApiError(422, "idempotency_key_reused", "该幂等键已用于另一份不同的申报，请勿重复使用")
    return Received(existing.case_id, existing.created_at)


def snapshot(item: ItemOut) -> ItemSnapshot:
    return ItemSnapshot(**item.model_dump())
