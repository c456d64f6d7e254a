"""The catalogue's content: service guides (办事指南), an item as a case keeps it, and themes.

Plain pydantic models and enums, shared by the API, the activities and the workflows (a case
keeps its item's snapshot, a bundle its theme's). Validation and versions: core/guides.py and
core/themes.py.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, Field, StrictBool, StrictInt


class SignatureMode(StrEnum):
    """签一次 / 签两次 / 集体决策."""

    SIGN_ONCE = "sign_once"
    SIGN_TWICE = "sign_twice"
    COLLECTIVE = "collective"


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


# ---- an item as a case keeps it ----------------------------------------------------------------


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


# ---- 办好一件事: themes ------------------------------------------------------------------------


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
