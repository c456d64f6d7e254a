"""好差评 statistics, aggregated in PostgreSQL (one GROUP BY with FILTERs, however many ratings).

Matter ratings (一事一评, `ratings`) and visit ratings (一次一评, `visit_ratings`) are one
stream here. A rating counts once in every group it belongs to: under each of its departments
(a visit: the departments of every case handled in it) and each of its items; once under its
centre (district), clerk (the visit's, or the one who accepted the case; none: not counted),
channel, kind (matter / visit), day or month (Beijing dates). Its rectification loop (`R<case id>` or
`R<visit id>`) gives the bad ratings' open / rectified / explained / overdue counts; a bad rating
is open until its loop is closed (also while the loop's row is not written yet).
"""

from __future__ import annotations

from datetime import date, datetime, time

from sqlalchemy import String, func, literal_column, select, true, union_all
from sqlalchemy.dialects.postgresql import array
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel import col

from api.schemas import RatingStatsRow
from core.calendar import BEIJING
from core.models import Rating, Rectification, VisitRating
from workflows.rating_messages import BAD_RATING_MAX

GROUPS = ("department", "item", "centre", "clerk", "channel", "kind", "day", "month")
KINDS = ("matter", "visit")


def _rated(first: date | None, last: date | None, kind: str | None):
    """Every rating in the period, matter and visit alike, as one row shape."""

    def period(created_at) -> list:
        conditions = []
        if first is not None:
            conditions.append(created_at >= datetime.combine(first, time(0), BEIJING))
        if last is not None:
            conditions.append(created_at <= datetime.combine(last, time.max, BEIJING))
        return conditions

    names = (
        "kind",
        "loop_id",
        "level",
        "channel",
        "district",
        "clerk",
        "departments",
        "item_codes",
        "created_at",
    )

    def shaped(*columns):
        return select(*(c.label(name) for c, name in zip(columns, names, strict=True)))

    matters = shaped(
        literal_column("'matter'"),
        func.concat("R", Rating.case_id),
        col(Rating.level),
        col(Rating.channel),
        col(Rating.district),
        col(Rating.clerk),
        col(Rating.departments),
        array([col(Rating.item_code)], type_=String(64)),
        col(Rating.created_at),
    ).where(*period(col(Rating.created_at)))
    visits = shaped(
        literal_column("'visit'"),
        func.concat("R", VisitRating.visit_id),
        col(VisitRating.level),
        col(VisitRating.channel),
        col(VisitRating.district),
        col(VisitRating.clerk),
        col(VisitRating.departments),
        col(VisitRating.item_codes),
        col(VisitRating.created_at),
    ).where(*period(col(VisitRating.created_at)))
    branches = {"matter": matters, "visit": visits}
    chosen = [branches[kind]] if kind else list(branches.values())
    return union_all(*chosen).subquery("rated")


async def rating_statistics(
    conn: AsyncConnection,
    group_by: str,
    first: date | None = None,
    last: date | None = None,
    kind: str | None = None,
) -> list[RatingStatsRow]:
    rated = _rated(first, last, kind)
    loop = Rectification.__table__.alias("loop")  # type: ignore[attr-defined]
    source = rated.outerjoin(loop, loop.c.rectification_id == rated.c.loop_id)
    # Constants inline, not bound: GROUP BY must repeat the very expression the SELECT has.
    local = func.timezone(literal_column("'Asia/Shanghai'"), rated.c.created_at)
    if group_by in ("department", "item"):
        column = rated.c.departments if group_by == "department" else rated.c.item_codes
        keys = func.unnest(column).table_valued("key").render_derived(name="keys")
        source = source.join(keys, true())  # a function in FROM sees the rows before it
        key = keys.c.key
    else:
        key = {
            "centre": rated.c.district,
            "clerk": rated.c.clerk,
            "channel": rated.c.channel,
            "kind": rated.c.kind,
            "day": func.to_char(local, literal_column("'YYYY-MM-DD'")),
            "month": func.to_char(local, literal_column("'YYYY-MM'")),
        }[group_by]
    bad = rated.c.level <= BAD_RATING_MAX
    counted = key.is_not(None)

    def count(*conditions):
        return func.count().filter(*conditions) if conditions else func.count()

    query = (
        select(
            key.label("key"),
            count(),
            *(count(rated.c.level == n) for n in range(1, 6)),
            count(bad),
            # A bad rating is open until its loop is closed, even before the loop's row is written.
            count(bad, loop.c.status.is_distinct_from("closed")),
            count(bad, loop.c.outcome == "rectified"),
            count(bad, loop.c.outcome == "explained"),
            count(bad, loop.c.overdue),
            count(bad, loop.c.on_time.is_not(None)),
            count(bad, loop.c.on_time),
        )
        .select_from(source)
        .where(counted)
        .group_by(key)
        .order_by(key)
    )
    rows = (await conn.execute(query)).all()
    return [_row(*tuple(row)) for row in rows]


def _row(key, total, l1, l2, l3, l4, l5, bad, bad_open, rectified, explained, overdue, replied, on_time):
    return RatingStatsRow(
        key=key,
        total=total,
        levels={str(n): c for n, c in enumerate((l1, l2, l3, l4, l5), start=1)},
        good_rate=round((total - bad) / total, 4) if total else None,
        bad=bad,
        bad_open=bad_open,
        bad_rectified=rectified,
        bad_explained=explained,
        bad_overdue=overdue,
        on_time_rate=round(on_time / replied, 4) if replied else None,
    )
