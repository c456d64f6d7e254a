"""The Temporal client and data converter, configured the same way for the API, the worker,
the tests and the replayer: pydantic payloads, sealed by the payload codec."""

from __future__ import annotations

import dataclasses

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DataConverter

from core.codec import EncryptionCodec, parse_keys
from core.config import Settings


def payload_codec(settings: Settings) -> EncryptionCodec:
    keys = parse_keys(settings.payload_keys)
    return EncryptionCodec(keys, settings.payload_key_id or next(iter(keys)))


def data_converter(settings: Settings) -> DataConverter:
    return dataclasses.replace(pydantic_data_converter, payload_codec=payload_codec(settings))


async def connect(settings: Settings) -> Client:
    return await Client.connect(
        settings.temporal_address,
        namespace=settings.temporal_namespace,
        data_converter=data_converter(settings),
    )


def case_workflow_id(case_id: str) -> str:
    return f"case-{case_id}"


def bundle_workflow_id(bundle_id: str) -> str:
    return f"bundle-{bundle_id}"
