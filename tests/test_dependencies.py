"""Every third-party package the repository imports is declared in pyproject.toml: what the
application imports at run time (the Docker image installs only `[project].dependencies`) among
the dependencies, anything else (scripts, bench, tests) there or in the `dev` extra."""

from __future__ import annotations

import ast
import importlib.metadata
import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RUNTIME = ("api", "core", "workflows", "activities", "migrations", "worker.py", "scripts/bootstrap.py")
SKIP = {".venv", ".data", ".git", "node_modules", "test-artifacts"}


def _name(requirement: str) -> str:
    return re.sub(r"[-_.]+", "-", re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", requirement).group()).lower()


def _imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found


def test_every_imported_package_is_declared() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    runtime_declared = {_name(r) for r in project["dependencies"]}
    dev_declared = runtime_declared | {_name(r) for r in project["optional-dependencies"]["dev"]}
    local = {p.name for p in ROOT.iterdir() if p.is_dir()} | {p.stem for p in ROOT.glob("*.py")}
    distributions = importlib.metadata.packages_distributions()

    missing = []
    for path in sorted(ROOT.rglob("*.py")):
        relative = path.relative_to(ROOT)
        if SKIP.intersection(relative.parts):
            continue
        runtime = relative.as_posix().startswith(RUNTIME)
        declared = runtime_declared if runtime else dev_declared
        for module in _imports(path) - local - set(sys.stdlib_module_names) - {"__future__"}:
            names = {_name(d) for d in distributions.get(module, [])}
            if not names & declared:
                where = "dependencies" if runtime else "dependencies or the dev extra"
                missing.append(
                    f"{relative}: {module} ({', '.join(sorted(names)) or 'not installed'}) not in {where}"
                )
    assert not missing, "\n".join(missing)
