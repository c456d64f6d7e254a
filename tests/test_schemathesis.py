"""Schemathesis against the API's own OpenAPI spec, signed in as each role: no 5xx, and every
answer (errors included) conforms to the spec — status code, content type and body schema.

It runs against its own copy of the stack: the same PostgreSQL server and Temporal dev server
as the other tests, but a fresh database, its own task queue and worker, and its own API
process state, so the fuzzer may change the calendar, publish guide versions and open cases
without touching what the other tests see. Case numbers start at 900000 there, so workflow
ids never collide with the main database's cases.

SCHEMATHESIS_MAX_EXAMPLES (default 4) and SCHEMATHESIS_SEED widen or vary a run.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import pytest_asyncio
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import Client

from core.config import Settings
from core.db import make_engine
from scripts.bootstrap import bootstrap
from tests.conftest import new_database, serve_api
from tests.test_role_matrix import ANY, APPLICANT, CLERK, HANDLER, OPERATOR, POLICY, PUBLIC, STAFF, SUPERVISOR
from worker import build_worker

pytestmark = pytest.mark.asyncio(loop_scope="session")

ARTIFACTS = Path(os.environ.get("TEST_ARTIFACTS", Path(__file__).resolve().parent.parent / "test-artifacts"))
FUZZ_QUEUE = "gov-cases-fuzz"
# Each operation is fuzzed once, signed in as the first of these roles its policy lets through
# (tests/test_role_matrix.POLICY), so every phase reaches past the role gate.
ROLES = {
    OPERATOR: "operator1",
    SUPERVISOR: "supervisor1",
    CLERK: "clerk1",
    STAFF: "market-staff",
    HANDLER: "market-handler",
    APPLICANT: "applicant1",
}


OPERATOR_PARTS = 3
PARALLEL = 3


def operations_by_role() -> dict[str, list[str]]:
    assigned: dict[str, list[str]] = {role: [] for role in ROLES}
    for (method, path), policy in sorted(POLICY.items()):
        role = next(r for r in ROLES if policy in (PUBLIC, ANY) or r in policy)
        assigned[role].append(f"{method} {path}")
    return assigned


CHECKS = ",".join(
    [
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_schema_conformance",
        "negative_data_rejection",
    ]
)


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def fuzz_api_url(engine: AsyncEngine, database_url: str, client: Client) -> AsyncIterator[str]:
    url = await new_database(engine, database_url, "gov_fuzz")
    await bootstrap(url, with_demo_data=True)
    fuzz_engine = make_engine(url)
    async with fuzz_engine.begin() as conn:
        await conn.execute(text("ALTER SEQUENCE case_number_seq RESTART WITH 900000"))
    settings = Settings(
        database_url=url,
        temporal_address=client.service_client.config.target_host,
        task_queue=FUZZ_QUEUE,
    )
    async with build_worker(client, fuzz_engine, FUZZ_QUEUE), serve_api(settings, "error") as url:
        yield url
    await fuzz_engine.dispose()


async def _token(base_url: str, username: str) -> str:
    async with httpx.AsyncClient(base_url=base_url) as http:
        r = await http.post("/api/v1/auth/token", data={"username": username, "password": "demo"})
        assert r.status_code == 200, r.text
        return r.json()["access_token"]


async def _schemathesis(base_url: str, token: str, operations: list[str], report: Path) -> tuple[int, str]:
    args = [
        "run",
        f"{base_url}/openapi.json",
        *(arg for name in operations for arg in ("--include-name", name)),
        "--checks",
        CHECKS,
        "--header",
        f"Authorization: Bearer {token}",
        "--max-examples",
        os.environ.get("SCHEMATHESIS_MAX_EXAMPLES", "4"),
        "--seed",
        os.environ.get("SCHEMATHESIS_SEED", "20261127"),
        "--phases",
        "examples,coverage,fuzzing",
        # One worker: hypothesis parses lambda sources with `ast`, which CPython 3.11 cannot do from
        # two threads at once ("AST constructor recursion depth mismatch").
        "--workers",
        "1",
        "--request-timeout",
        "20",
        "--generation-database",
        "none",
        "--no-color",
        "--report",
        "ndjson",
        "--report-ndjson-path",
        str(report),
    ]
    binary = str(Path(sys.executable).parent / "schemathesis")
    proc = await asyncio.create_subprocess_exec(
        # Run where its cache (.schemathesis/) lands in the temporary directory, not in the repo.
        binary,
        *args,
        cwd=report.parent,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await proc.communicate()
    return proc.returncode or 0, out.decode(errors="replace")


def _keep(name: str, output: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / name).write_text(output, encoding="utf-8")


def jobs() -> list[tuple[str, int, list[str]]]:
    """(role, part, operations): the operator's many operations split in parts, for parallel runs."""
    out = []
    for role, operations in operations_by_role().items():
        parts = OPERATOR_PARTS if role == OPERATOR else 1
        out += [(role, i, operations[i::parts]) for i in range(parts)]
    return out


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def fuzz_results(fuzz_api_url: str, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Every job's run, PARALLEL at a time: the client and the server take turns on the CPU, so
    two or three runs keep both cores busy."""
    gate = asyncio.Semaphore(PARALLEL)
    tokens = {role: await _token(fuzz_api_url, user) for role, user in ROLES.items()}
    reports = tmp_path_factory.mktemp("schemathesis")

    async def run(role: str, part: int, operations: list[str]) -> tuple[int, str]:
        async with gate:
            report = reports / f"{role}-{part}.ndjson"
            code, output = await _schemathesis(fuzz_api_url, tokens[role], operations, report)
        await asyncio.to_thread(_keep, f"schemathesis-{role}-{part}.txt", output)
        return code, output

    todo = jobs()
    results = await asyncio.gather(*(run(*job) for job in todo))
    return {(role, part): (ops, *result) for (role, part, ops), result in zip(todo, results, strict=True)}


@pytest.mark.parametrize(("role", "part"), [(role, part) for role, part, _ in jobs()])
async def test_schemathesis_finds_no_server_error_and_no_spec_violation(
    fuzz_results: dict, role: str, part: int
) -> None:
    operations, code, output = fuzz_results[(role, part)]
    assert code == 0, output[-20000:]
    assert f"Tested: {len(operations)}" in output, output[-3000:]


async def test_every_operation_is_fuzzed_by_a_role_it_admits() -> None:
    assigned = [op for ops in operations_by_role().values() for op in ops]
    assert sorted(assigned) == sorted(f"{m} {p}" for m, p in POLICY)
