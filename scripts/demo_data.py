"""The demo data (dev only): departments, catalogue items with their guides, themes and accounts,
read from the YAML files in `demo/` at the top of the source tree.

Every record is validated on load with the models the API validates the same thing with (an item
as the body of POST /api/v1/catalogue/items, a theme as the body of PUT /api/v1/themes/{code}),
then checked as the seed will publish it: each guide as publication checks it, each theme against
the items and departments. Any problem raises DemoDataError naming the file and the record.

`demo/` is next to `core/`, as `migrations/` is (see core.migrate): found from a checkout, an
editable install and the image (which keeps the source tree in /app); it is not installed with
the package, so a deployment carries no demo data and no demo password.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from api.schemas import THEME_CODE_PATTERN, ItemCreate
from core import guides, themes

# The types this module needs from the domain model, imported in this one place.
from core.catalogue import ItemSnapshot, ThemeDefinition
from core.types import DEPARTMENT_ROLES, DISTRICTS, Role

DEMO_DIR = Path(__file__).resolve().parent.parent / "demo"


class DemoDataError(ValueError):
    """A demo data file is missing, not YAML, or holds a record that does not validate."""


DepartmentCode = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,31}$")]  # departments.code
DepartmentName = Annotated[str, Field(min_length=1, max_length=100)]  # departments.name
_DEPARTMENTS = TypeAdapter(dict[DepartmentCode, DepartmentName])
_THEME_CODE = TypeAdapter(Annotated[str, Field(pattern=THEME_CODE_PATTERN)])


class DemoAccount(BaseModel):
    """A row of `accounts` (core.models.Account) less its password hash."""

    model_config = ConfigDict(extra="forbid")

    username: str = Field(min_length=1, max_length=64, pattern=r"^[a-z][a-z0-9_-]*$")
    role: Role
    display_name: str = Field(min_length=1, max_length=100)
    department: str | None = Field(default=None, max_length=32)
    district: str | None = Field(default=None, max_length=32)


class DemoAccounts(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # The password of every demo account.
    password: str = Field(min_length=1, max_length=128)
    accounts: list[DemoAccount] = Field(min_length=1)


@dataclass(frozen=True)
class DemoData:
    departments: dict[str, str]
    items: list[ItemCreate]  # in file name order
    themes: dict[str, ThemeDefinition]
    accounts: list[DemoAccount]
    password: str

    def item(self, code: str) -> ItemCreate:
        return next(i for i in self.items if i.code == code)

    def snapshot(self, code: str, version: int = 1) -> ItemSnapshot:
        """The item as a case submitted against its seeded version would hold it."""
        return guides.snapshot(code, version, self.item(code).content, self.departments)


def load(directory: Path | None = None) -> DemoData:
    """All the demo data, validated; from demo/ unless told (that is read once and cached)."""
    return _default() if directory is None else read(directory)


@functools.cache
def _default() -> DemoData:
    return read(DEMO_DIR)


def read(directory: Path) -> DemoData:
    """The demo data in this folder, read and validated now."""
    if not directory.is_dir():
        raise DemoDataError(
            f"demo data folder not found: {directory} (it is part of the source tree, next to core/)"
        )
    departments_file = directory / "departments.yaml"
    departments = _validate(_DEPARTMENTS, _read_yaml(departments_file), departments_file, "departments")
    items = _load_items(directory / "items", departments)
    themes_file = directory / "themes.yaml"
    defined = _load_themes(themes_file, items, departments)
    accounts_file = directory / "accounts.yaml"
    accounts = _validate(DemoAccounts, _read_yaml(accounts_file), accounts_file, "accounts")
    _check_accounts(accounts, departments, accounts_file)
    return DemoData(departments, items, defined, accounts.accounts, accounts.password)


def _load_items(folder: Path, departments: dict[str, str]) -> list[ItemCreate]:
    files = sorted(folder.glob("*.yaml"))
    if not files:
        raise DemoDataError(f"{folder}: no item files (*.yaml)")
    items: list[ItemCreate] = []
    for path in files:
        item = _validate(ItemCreate, _read_yaml(path), path, "item")
        if item.code != path.stem:
            raise DemoDataError(f"{path}: item {item.code}: the file must be named {item.code}.yaml")
        problems = guides.validate(item.code, item.content, departments)
        if problems:
            raise DemoDataError(_listing(path, f"item {item.code}", [p.message for p in problems]))
        items.append(item)
    return items


def _load_themes(
    path: Path, items: list[ItemCreate], departments: dict[str, str]
) -> dict[str, ThemeDefinition]:
    raw = _read_yaml(path)
    if not isinstance(raw, dict):
        raise DemoDataError(f"{path}: expected a mapping of theme code to definition")
    snapshots = {i.code: guides.snapshot(i.code, 1, i.content, departments) for i in items}
    defined: dict[str, ThemeDefinition] = {}
    for code, definition in raw.items():
        _validate(_THEME_CODE, code, path, f"theme {code!r}")
        theme = _validate(ThemeDefinition, definition, path, f"theme {code}")
        problems = themes.validate(theme, snapshots, set(departments))
        if problems:
            raise DemoDataError(_listing(path, f"theme {code}", [p["message"] for p in problems]))
        defined[code] = theme
    return defined


def _check_accounts(accounts: DemoAccounts, departments: dict[str, str], path: Path) -> None:
    seen: set[str] = set()
    for account in accounts.accounts:
        problems = []
        if account.username in seen:
            problems.append("用户名重复")
        seen.add(account.username)
        if account.role in DEPARTMENT_ROLES and account.department is None:
            problems.append(f"角色 {account.role.value} 须指定部门（department）")
        if account.department is not None and account.department not in departments:
            problems.append(f"部门不存在：{account.department}")
        if account.district is not None and account.district not in DISTRICTS:
            problems.append(f"区不存在：{account.district}")
        if problems:
            raise DemoDataError(_listing(path, f"account {account.username}", problems))


def _read_yaml(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise DemoDataError(f"{path}: cannot be read: {exc}") from exc
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise DemoDataError(f"{path}: not valid YAML: {exc}") from exc


def _validate(model: Any, data: Any, path: Path, record: str) -> Any:
    adapter = model if isinstance(model, TypeAdapter) else TypeAdapter(model)
    try:
        return adapter.validate_python(data)
    except ValidationError as exc:
        lines = [
            f"{'.'.join(str(p) for p in e['loc']) or '(record)'}: {e['msg']} (got {e['input']!r:.80})"
            for e in exc.errors()
        ]
        raise DemoDataError(_listing(path, _named(record, data), lines)) from None


def _named(record: str, data: Any) -> str:
    """`item` → `item market-001` when the record names itself."""
    if " " not in record and isinstance(data, dict) and isinstance(data.get("code"), str):
        return f"{record} {data['code']}"
    return record


def _listing(path: Path, record: str, problems: list[str]) -> str:
    return f"{path}: {record} is invalid:\n" + "\n".join(f"  - {p}" for p in problems)
