"""The demo data in demo/: every file validates on load, and a bad record is refused naming its file
and record. No PostgreSQL needed."""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from api.schemas import ItemCreate
from core.types import DEPARTMENT_ROLES
from scripts import demo_data
from scripts.demo_data import DEMO_DIR, DemoDataError, load

ROOT = Path(__file__).resolve().parent.parent
PRODUCTION = ("core", "api", "workflows", "activities")


@pytest.fixture
def demo_copy(tmp_path: Path) -> Path:
    """A copy of demo/ to break."""
    return Path(shutil.copytree(DEMO_DIR, tmp_path / "demo"))


def edit(path: Path, change) -> None:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    change(data)
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")


def test_demo_data_is_in_its_own_folder_and_validates() -> None:
    assert DEMO_DIR == ROOT / "demo"
    data = load()
    assert data.departments and data.password
    assert sorted(i.code for i in data.items) == sorted(p.stem for p in (DEMO_DIR / "items").glob("*.yaml"))
    # The body each item file holds is what POST /api/v1/catalogue/items accepts.
    for path in sorted((DEMO_DIR / "items").glob("*.yaml")):
        assert ItemCreate.model_validate(yaml.safe_load(path.read_text(encoding="utf-8"))).code == path.stem
    for code, theme in data.themes.items():
        assert theme.lead_department in data.departments, code
        assert {m.item_code for m in theme.members} <= {i.code for i in data.items}
    usernames = [a.username for a in data.accounts]
    assert len(usernames) == len(set(usernames))
    for dept in data.departments:  # a reviewer, a handler and a chief in every department
        assert {a.role for a in data.accounts if a.department == dept} == set(DEPARTMENT_ROLES), dept
    assert data.snapshot("market-001").departments[0].name == data.departments["market"]


def test_the_data_is_found_from_any_working_directory(tmp_path: Path) -> None:
    code = "from scripts.demo_data import load; d = load(); print(len(d.items), len(d.accounts))"
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.split() == [str(len(load().items)), str(len(load().accounts))]


def password_literals(tree: ast.AST) -> list[str]:
    """String constants given as a password: `X_PASSWORD = "..."`, `password="..."`, {"password": "..."}."""
    named = re.compile("passw(or)?d", re.IGNORECASE)
    found = []
    for node in ast.walk(tree):
        pairs: list[tuple[str | None, ast.AST | None]] = []
        if isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            pairs += [(t.id if isinstance(t, ast.Name) else None, node.value) for t in targets]
        elif isinstance(node, ast.keyword):
            pairs.append((node.arg, node.value))
        elif isinstance(node, ast.Dict):
            keys = [k.value if isinstance(k, ast.Constant) else None for k in node.keys]
            pairs += list(zip(keys, node.values, strict=True))
        for name, value in pairs:
            if isinstance(name, str) and named.search(name) and isinstance(value, ast.Constant):
                if isinstance(value.value, str) and value.value:
                    found.append(f"{name} = {value.value!r} (line {value.lineno})")
    return found


def test_the_production_packages_carry_no_demo_password() -> None:
    password = load().password
    for package in PRODUCTION:
        for path in (ROOT / package).rglob("*.py"):
            text = path.read_text(encoding="utf-8")
            assert not password_literals(ast.parse(text)), path
            assert f"hash_password({password!r})" not in text and f'hash_password("{password}")' not in text
    # The check itself finds what the seed used to hold.
    assert password_literals(ast.parse(f'DEMO_PASSWORD = "{password}"'))
    assert password_literals(ast.parse(f'post(data={{"password": "{password}"}})'))


def test_an_invalid_item_is_refused_naming_its_file_record_and_field(demo_copy: Path) -> None:
    path = demo_copy / "items" / "market-002.yaml"
    edit(path, lambda d: d["content"]["materials"][1].update(copies="two"))
    with pytest.raises(DemoDataError) as err:
        load(demo_copy)
    message = str(err.value)
    assert str(path) in message and "item market-002" in message
    assert "content.materials.1.copies" in message


def test_an_unknown_field_is_refused(demo_copy: Path) -> None:
    path = demo_copy / "items" / "tax-001.yaml"
    edit(path, lambda d: d["content"].update(fee="免费"))
    with pytest.raises(DemoDataError, match=r"tax-001\.yaml: item tax-001 is invalid:\n  - content\.fee: "):
        load(demo_copy)


def test_a_guide_that_could_not_be_published_is_refused(demo_copy: Path) -> None:
    path = demo_copy / "items" / "hpf-001.yaml"
    edit(path, lambda d: d["content"].update(departments=["nowhere"]))
    with pytest.raises(DemoDataError, match="审查部门不存在：nowhere") as err:
        load(demo_copy)
    assert str(path) in str(err.value)


def test_an_item_file_is_named_by_its_code(demo_copy: Path) -> None:
    (demo_copy / "items" / "police-001.yaml").rename(demo_copy / "items" / "police-009.yaml")
    with pytest.raises(DemoDataError, match=r"police-009\.yaml: item police-001: the file must be named"):
        load(demo_copy)


def test_an_invalid_theme_is_refused(demo_copy: Path) -> None:
    path = demo_copy / "themes.yaml"
    edit(path, lambda d: d["hiring"]["members"][1].update(item_code="hpf-404"))
    with pytest.raises(DemoDataError, match=r"themes\.yaml: theme hiring is invalid:\n  - .*hpf-404"):
        load(demo_copy)
    edit(path, lambda d: d["hiring"]["members"][1].update(item_code="hpf-002"))
    load(demo_copy)
    edit(path, lambda d: d.update({"Bad-Code": d["hiring"]}))
    with pytest.raises(DemoDataError, match=r"themes\.yaml: theme 'Bad-Code' is invalid"):
        load(demo_copy)


def test_an_invalid_account_is_refused(demo_copy: Path) -> None:
    path = demo_copy / "accounts.yaml"
    edit(path, lambda d: d["accounts"][0].update(role="mayor"))
    with pytest.raises(DemoDataError, match=r"accounts\.yaml: accounts is invalid:\n  - accounts\.0\.role: "):
        load(demo_copy)
    edit(path, lambda d: d["accounts"][0].update(role="handler"))
    with pytest.raises(DemoDataError, match=r"account applicant1 is invalid:\n  - 角色 handler 须指定部门"):
        load(demo_copy)
    edit(path, lambda d: d.pop("password"))
    with pytest.raises(DemoDataError, match=r"accounts is invalid:\n  - password: Field required"):
        load(demo_copy)


def test_broken_yaml_and_a_missing_folder_are_named(demo_copy: Path, tmp_path: Path) -> None:
    (demo_copy / "departments.yaml").write_text("market: [unclosed\n", encoding="utf-8")
    with pytest.raises(DemoDataError, match=r"departments\.yaml: not valid YAML"):
        load(demo_copy)
    with pytest.raises(DemoDataError, match="demo data folder not found"):
        demo_data.load(tmp_path / "nowhere")
