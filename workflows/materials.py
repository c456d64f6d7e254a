"""The materials a case or a bundle may name (材料清单): only what its guide or theme lists, and a
supplement is complete only when it brings everything the notice asked for (一次性告知)."""

from __future__ import annotations

from temporalio import workflow

from workflows.common import refuse

with workflow.unsafe.imports_passed_through():
    from core.types import CaseErrorCode


class MaterialList:
    """`names`: code → name of every listed material; `scope` says where they are listed."""

    def __init__(self, names: dict[str, str], scope: str) -> None:
        self._names = names
        self._scope = scope

    def names(self, codes: list[str]) -> str:
        return "、".join(self._names.get(c, c) for c in codes)

    def require_listed(self, codes: list[str]) -> None:
        unlisted = sorted(set(codes) - set(self._names))
        if unlisted:
            raise refuse(CaseErrorCode.UNLISTED_MATERIAL, f"材料不在{self._scope}内：{'、'.join(unlisted)}")

    def require_supplied(self, requested: list[str], supplied: list[str]) -> None:
        """What the applicant supplies is listed and covers every material requested."""
        self.require_listed(supplied)
        missing = set(requested) - set(supplied)
        if missing:
            raise refuse(CaseErrorCode.MISSING_MATERIALS, f"仍缺少材料：{self.names(sorted(missing))}")
