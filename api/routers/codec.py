"""The codec endpoint the Temporal UI speaks (`/codec/decode`, `/codec/encode`), operators only.

Payloads in Temporal are sealed (core/codec.py); this lets an operator's UI open them. Bodies
are the proto3 JSON of `temporal.api.common.v1.Payloads`.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends
from google.protobuf.json_format import MessageToDict, ParseDict, ParseError
from temporalio.api.common.v1 import Payloads

from api.deps import require_roles, settings
from api.errors import ApiError
from core.codec import UnknownKeyError
from core.config import Settings
from core.security import Principal
from core.temporal import payload_codec
from core.types import Role

router = APIRouter(prefix="/codec", tags=["codec"])

Operator = Annotated[Principal, Depends(require_roles(Role.OPERATOR))]
PayloadsJson = Annotated[dict[str, Any], Body(examples=[{"payloads": []}])]


def _parse(body: dict[str, Any]) -> Payloads:
    try:
        return ParseDict(body, Payloads())
    except ParseError as exc:
        raise ApiError(422, "invalid_payloads", "载荷格式不正确", str(exc)) from exc


@router.post("/decode")
async def decode(body: PayloadsJson, _: Operator, cfg: Settings = Depends(settings)) -> dict[str, Any]:
    payloads = _parse(body)
    try:
        opened = await payload_codec(cfg).decode(payloads.payloads)
    except (UnknownKeyError, ValueError) as exc:
        raise ApiError(422, "undecodable_payload", "载荷无法解密（密钥不符或数据被篡改）", str(exc)) from exc
    return MessageToDict(Payloads(payloads=opened))


@router.post("/encode")
async def encode(body: PayloadsJson, _: Operator, cfg: Settings = Depends(settings)) -> dict[str, Any]:
    sealed = await payload_codec(cfg).encode(_parse(body).payloads)
    return MessageToDict(Payloads(payloads=sealed))
