"""What every workflow does at each step (全过程记录): a timeline entry, the notices it sends,
and the read-model record that carries them, written one at a time in the order claimed."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, Protocol

from temporalio import workflow

from workflows.common import QUICK, RETRY_FOREVER, quick_activity

with workflow.unsafe.imports_passed_through():
    from core.types import Actor
    from workflows.case_messages import CaseEvent, Notification


class Numbered(Protocol):
    """A workflow's view, whose `last_seq` is its timeline's last entry."""

    last_seq: int


class Steps:
    """The steps of one workflow's subject. `key` starts each notice's id; `subject` is whose
    notices they are in the read model (a rectification's are its case's); the `view`'s
    `last_seq` numbers the timeline (carried over when a workflow continues as new). A step logged
    with `notify` is told to `applicant`, if there is one, after `notice_prefix`."""

    def __init__(
        self,
        key: str,
        view: Numbered,
        subject: str | None = None,
        applicant: str | None = None,
        notice_prefix: str = "",
    ) -> None:
        self.key = key
        self.subject = subject or key
        self._view = view
        self._applicant = applicant
        self._notice_prefix = notice_prefix
        self._events: list[CaseEvent] = []
        self._notes: list[Notification] = []
        self._writing = asyncio.Lock()

    def log(
        self,
        event: str,
        actor: Actor | None,
        message: str,
        detail: dict[str, Any] | None = None,
        notify: bool = False,
    ) -> CaseEvent:
        self._view.last_seq += 1
        entry = CaseEvent(
            seq=self._view.last_seq,
            at=workflow.now(),
            event=event,
            actor=actor.username if actor else "system",
            role=actor.role.value if actor else "system",
            message=message,
            detail=detail or {},
        )
        self._events.append(entry)
        if notify and self._applicant:
            self.notify(self._applicant, self._notice_prefix + message)
        return entry

    def notify(self, recipient: str, message: str) -> None:
        self._notes.append(
            Notification(
                notification_id=f"{self.key}:{self._view.last_seq}:{recipient}",
                case_id=self.subject,
                recipient=recipient,
                message=message,
                at=workflow.now(),
            )
        )

    async def record(
        self,
        activity: Callable[..., Any],
        request: Callable[[list[CaseEvent], list[Notification]], Any],
        local: bool = True,
    ) -> None:
        """Hand the read model what is new. `request` builds the activity's argument from the
        events and notices claimed (claimed before the await, so none goes twice), or returns None
        when there is nothing to write. Writes side by side could commit out of order and show a
        later state before an earlier notice, so they take turns. `local=False` for a workflow
        whose children may end at any moment (see BundleWorkflow._record)."""
        async with self._writing:
            events, notes = self._events, self._notes
            self._events, self._notes = [], []
            argument = request(events, notes)
            if argument is None:
                return
            if local:
                await quick_activity(activity, argument)
            else:
                await workflow.execute_activity(
                    activity, argument, start_to_close_timeout=QUICK, retry_policy=RETRY_FOREVER
                )
