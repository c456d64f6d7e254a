"""The worker's activities replaced by name, for the fast tier: no PostgreSQL, no HTTP.

Each fake keeps what it was handed in memory, so a test asserts what the read model would have
received (timeline entries, notices, inbox rows, escalations, ratings). The calendar fake counts
every day as a working day except those a test declares off (`days_off`), so deadlines are known
in advance: N working days after the start's day (Beijing), at 23:59:59 of that day.
"""

from __future__ import annotations

import asyncio
import inspect
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from temporalio import activity
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHandle
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from core.catalogue import DepartmentRef, ItemSnapshot, MaterialRef, SignatureMode
from core.types import Actor, Role
from workflows.bundle_messages import BundleRecordRequest
from workflows.calendar_messages import CalendarChange, DeadlineResult, DeadlineSpec
from workflows.case_messages import Escalation, Notification, RecordRequest
from workflows.rating_messages import RatingRecord
from workflows.rectification_messages import RectificationRecord
from workflows.visit_messages import VisitRecord

BEIJING = ZoneInfo("Asia/Shanghai")
T = TypeVar("T")


def day_of(moment: datetime) -> date:
    return moment.astimezone(BEIJING).date()


def end_of(day: date) -> datetime:
    return datetime.combine(day, time(23, 59, 59), tzinfo=BEIJING)


def start_of(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=BEIJING)


class Fakes:
    """Every activity the worker registers (worker.build_worker), by name, recording its calls."""

    def __init__(self) -> None:
        self.days_off: set[date] = set()
        self.deadline_specs: list[DeadlineSpec] = []
        self.cases: list[RecordRequest] = []
        self.escalations: list[Escalation] = []
        self.bundles: list[BundleRecordRequest] = []
        self.ratings: list[RatingRecord] = []
        self.rectifications: list[RectificationRecord] = []
        self.visits: list[VisitRecord] = []
        # What the calendar change pages through (sorted ids), `page_size` at a time, and every
        # page it signalled, as ("cases" | "rectifications", ids).
        self.affected: dict[str, list[str]] = {"cases": [], "rectifications": []}
        self.page_size = 1
        self.signalled: list[tuple[str, list[str]]] = []
        # Activities held (by name) until the test sets the event; `entered` is set when one is.
        self.holds: dict[str, tuple[asyncio.Event, Callable[[Any], bool]]] = {}
        self.entered: dict[str, asyncio.Event] = {}
        # Every workflow that called one: the harness ends those still open when the test does.
        self.workflow_ids: set[str] = set()

    def activities(self) -> list[Callable[..., Any]]:
        return [
            self.deadline,
            self.affected_cases,
            self.signal_calendar_changed,
            self.affected_rectifications,
            self.signal_rectifications,
            self.record_case,
            self.escalate,
            self.record_bundle,
            self.record_rectification,
            self.record_visit,
        ]

    # ---- the calendar ------------------------------------------------------------------------

    def working(self, day: date) -> bool:
        return day not in self.days_off

    def add_working_days(self, start: datetime, days: int) -> date:
        day = day_of(start)
        while days:
            day += timedelta(days=1)
            days -= self.working(day)
        return day

    def working_days_between(self, start: datetime, end: datetime) -> int:
        first, last = day_of(start), day_of(end)
        return sum(self.working(first + timedelta(n)) for n in range(1, (last - first).days + 1))

    def due(self, spec: DeadlineSpec) -> DeadlineResult:
        """What the real calendar does (core.calendar.WorkingCalendar.due), on this calendar."""
        if spec.calendar_days:
            day = day_of(spec.start) + timedelta(days=spec.calendar_days)
            while not self.working(day):
                day += timedelta(days=1)
            return DeadlineResult(at=end_of(day), warning_at=start_of(day))
        paused = sum(self.working_days_between(p.start, p.end) for p in spec.pauses)
        day = self.add_working_days(spec.start, spec.working_days + paused)
        return DeadlineResult(at=end_of(day), warning_at=start_of(day), paused_working_days=paused)

    @activity.defn(name="deadline")
    async def deadline(self, spec: DeadlineSpec) -> DeadlineResult:
        self._seen()
        self.deadline_specs.append(spec)
        return self.due(spec)

    @activity.defn(name="affected_cases")
    async def affected_cases(self, change: CalendarChange) -> list[str]:
        self._seen()
        return self._page("cases", change.cursor)

    @activity.defn(name="signal_calendar_changed")
    async def signal_calendar_changed(self, case_ids: list[str]) -> int:
        self._seen()
        self.signalled.append(("cases", case_ids))
        return len(case_ids)

    @activity.defn(name="affected_rectifications")
    async def affected_rectifications(self, change: CalendarChange) -> list[str]:
        self._seen()
        return self._page("rectifications", change.cursor)

    @activity.defn(name="signal_rectifications")
    async def signal_rectifications(self, rectification_ids: list[str]) -> int:
        self._seen()
        self.signalled.append(("rectifications", rectification_ids))
        return len(rectification_ids)

    def _seen(self) -> None:
        self.workflow_ids.add(activity.info().workflow_id)

    def hold(self, name: str, when: Callable[[Any], bool] = lambda arg: True) -> asyncio.Event:
        """Hold the activity `name` (its calls whose argument passes `when`) until the returned
        event is set; `entered[name]` is set once one is held."""
        self.entered[name] = asyncio.Event()
        release = asyncio.Event()
        self.holds[name] = (release, when)
        return release

    async def _held(self, name: str, arg: Any) -> None:
        if name in self.holds:
            release, when = self.holds[name]
            if when(arg):
                self.entered[name].set()
                await release.wait()

    def _page(self, kind: str, cursor: str) -> list[str]:
        return [i for i in self.affected[kind] if i > cursor][: self.page_size]

    # ---- the read model ------------------------------------------------------------------------

    @activity.defn(name="record_case")
    async def record_case(self, req: RecordRequest) -> None:
        self._seen()
        await self._held("record_case", req)
        self.cases.append(req)
        if req.rating is not None:
            self.ratings.append(req.rating)

    @activity.defn(name="escalate")
    async def escalate(self, req: Escalation) -> None:
        self._seen()
        self.escalations.append(req)

    @activity.defn(name="record_bundle")
    async def record_bundle(self, req: BundleRecordRequest) -> None:
        self._seen()
        await self._held("record_bundle", req)
        self.bundles.append(req)
        if req.rating is not None:
            self.ratings.append(req.rating)

    @activity.defn(name="record_rectification")
    async def record_rectification(self, record: RectificationRecord) -> None:
        self._seen()
        self.rectifications.append(record)

    @activity.defn(name="record_visit")
    async def record_visit(self, record: VisitRecord) -> None:
        self._seen()
        await self._held("record_visit", record)
        self.visits.append(record)

    # ---- what a test reads back ------------------------------------------------------------------

    def case_records(self, case_id: str) -> list[RecordRequest]:
        return [r for r in self.cases if r.view.case_id == case_id]

    def events(self, case_id: str) -> list[str]:
        """The case's timeline as the read model would hold it, in order."""
        return [e.event for r in self.case_records(case_id) for e in r.events]

    def messages(self, case_id: str) -> list[str]:
        return [e.message for r in self.case_records(case_id) for e in r.events]

    def notices(self, subject: str, recipient: str | None = None) -> list[Notification]:
        """Notices about a case, bundle or rectification (by its case), from any workflow."""
        records = [*self.cases, *self.bundles, *self.rectifications]
        found = [n for r in records for n in r.notifications if n.case_id == subject]
        return [n for n in found if recipient is None or n.recipient == recipient]

    def bundle_events(self, bundle_id: str) -> list[str]:
        return [e.event for r in self.bundles if r.view.bundle_id == bundle_id for e in r.events]

    def loops(self, rectification_id: str) -> list[RectificationRecord]:
        return [r for r in self.rectifications if r.view.rectification_id == rectification_id]


# ---- who acts, and on what ---------------------------------------------------------------------

APPLICANT = Actor(username="applicant1", role=Role.APPLICANT)
CLERK = Actor(username="clerk1", role=Role.CLERK)
SUPERVISOR = Actor(username="supervisor1", role=Role.SUPERVISOR)


def staff(department: str) -> Actor:
    return Actor(username=f"{department}-staff", role=Role.DEPARTMENT, department=department)


def handler(department: str) -> Actor:
    return Actor(username=f"{department}-handler", role=Role.HANDLER, department=department)


def chief(department: str) -> Actor:
    return Actor(username=f"{department}-chief", role=Role.CHIEF, department=department)


def item(
    code: str,
    departments: dict[str, str],
    materials: dict[str, str],
    mode: SignatureMode = SignatureMode.SIGN_ONCE,
    days: int = 3,
    shared: dict[str, str] | None = None,
    **extra: Any,
) -> ItemSnapshot:
    """A catalogue item as a case holds it; `shared` gives materials their theme-wide codes."""
    shared = shared or {}
    return ItemSnapshot(
        code=code,
        name=f"测试事项{code}",
        version=1,
        departments=[DepartmentRef(code=c, name=n) for c, n in departments.items()],
        materials=[MaterialRef(code=c, name=n, shared_code=shared.get(c)) for c, n in materials.items()],
        signature_mode=mode,
        legal_time_limit_days=days + 10,
        promised_time_limit_days=days,
        **extra,
    )


@dataclass
class Harness:
    """One test's worker: the real workflows, these fakes, a task queue of its own."""

    env: WorkflowEnvironment
    queue: str
    fakes: Fakes = field(default_factory=Fakes)

    @property
    def client(self) -> Client:
        return self.env.client

    async def now(self) -> datetime:
        return await self.env.get_current_time()

    async def skip_to_noon(self) -> datetime:
        """To the next noon in Beijing: far from midnight, so day counts do not depend on when
        the test runs."""
        noon = start_of(day_of(await self.now()) + timedelta(days=1)) + timedelta(hours=12)
        await self.skip_to(noon)
        return noon

    async def skip_to(self, moment: datetime) -> None:
        """Let the test server's clock run (skipping) until `moment`."""
        await self.env.sleep(moment - await self.now())

    async def start(self, run: Any, arg: Any, workflow_id: str, **kw: Any) -> WorkflowHandle:
        self.fakes.workflow_ids.add(workflow_id)
        return await self.client.start_workflow(run, arg, id=workflow_id, task_queue=self.queue, **kw)

    async def end_open_workflows(self) -> None:
        """Terminate what the test left running, while its worker still runs.

        The time-skipping test server does not skip time while any workflow task is outstanding
        (`scheduleWorkflowTask` locks it until the task completes). A workflow left running would
        get one when a timer of it fires after the worker is gone, and one terminated with a task
        in flight never releases its lock: every later test's sleep would hang. So each open
        workflow first answers a query (the server holds it until the task in flight, if any, is
        done), then is terminated with nothing outstanding."""

        async def end(workflow_id: str) -> None:
            handle = self.client.get_workflow_handle(workflow_id)
            for _ in range(2):
                if (await handle.describe()).status != WorkflowExecutionStatus.RUNNING:
                    return
                await handle.query("__stack_trace")
            await handle.terminate(reason="test finished")

        for release, _ in self.fakes.holds.values():  # a failed test may have left one held
            release.set()
        await asyncio.gather(*(end(w) for w in sorted(self.fakes.workflow_ids)))

    async def check_time_runs(self) -> None:
        """Fail loudly if time skipping is stuck (a lock leaked), naming the test that leaked it."""
        try:
            await asyncio.wait_for(self.env.sleep(timedelta(seconds=1)), timeout=10)
        except TimeoutError:
            raise AssertionError("the test server no longer skips time: a workflow task was left") from None


def unique(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:10].upper()}"


async def until(check: Callable[[], Awaitable[T] | T], what: str, tries: int = 750) -> T:
    """Poll (in real time, 20 ms apart) until `check()` answers something truthy; signals and
    child workflows act on their own time."""
    for _ in range(tries):
        found = check()
        if inspect.isawaitable(found):
            found = await found
        if found:
            return found
        await asyncio.sleep(0.02)
    raise AssertionError(f"never happened: {what}")


async def refused(call: Awaitable[Any]) -> str:
    """The `type` code of the ApplicationError an update's validator raised."""
    try:
        await call
    except Exception as exc:  # WorkflowUpdateFailedError wrapping the validator's ApplicationError
        cause = exc.__cause__ if not isinstance(exc, ApplicationError) else exc
        assert isinstance(cause, ApplicationError), f"not a refusal: {exc!r}"
        assert cause.type is not None
        return cause.type
    raise AssertionError("the update was accepted")
