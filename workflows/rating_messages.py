"""好差评: rating levels and channels, and a case's rating as the read model keeps it; shared by
the case, the bundle and the on-site visit. Plain pydantic models and enums, free of side effects.
"""

from __future__ import annotations

from enum import IntEnum, StrEnum

from pydantic import BaseModel

from core.types import Instant


class RatingChannel(StrEnum):
    DEVICE = "device"
    WEBSITE = "website"
    APP = "app"
    QR = "qr"
    KIOSK = "kiosk"
    PHONE = "phone"


# On site one rating per visit (一次一评); online (website, app) and by phone one per matter.
ON_SITE_CHANNELS = frozenset({RatingChannel.DEVICE, RatingChannel.KIOSK, RatingChannel.QR})


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


BAD_RATING_MAX = 2  # 1 非常不满意 and 2 不满意 are bad ratings (差评)


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
