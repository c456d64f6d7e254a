"""Payloads are sealed in Temporal: round trip, key rotation, tampering, histories, codec endpoint."""

from __future__ import annotations

import base64
import json

import pytest
from temporalio.api.common.v1 import Payload
from temporalio.client import Client

from core.codec import ENCODING, EncryptionCodec, UnknownKeyError, new_key
from core.temporal import case_workflow_id
from tests.conftest import Api
from tests.helpers import submit

pytestmark = pytest.mark.asyncio(loop_scope="session")


def _keys(*kids: str) -> dict[str, bytes]:
    return {kid: base64.b64decode(new_key()) for kid in kids}


def _plain(text: str) -> Payload:
    return Payload(metadata={"encoding": b"json/plain"}, data=text.encode())


async def test_round_trip_seals_and_opens() -> None:
    codec = EncryptionCodec(_keys("k1"), "k1")
    (sealed,) = await codec.encode([_plain('{"id_number": "110105199001011234"}')])
    assert sealed.metadata["encoding"] == ENCODING and sealed.metadata["encryption-key-id"] == b"k1"
    assert b"110105" not in sealed.data
    (opened,) = await codec.decode([sealed])
    assert opened == _plain('{"id_number": "110105199001011234"}')


async def test_rotation_keeps_old_payloads_readable() -> None:
    keys = _keys("2025", "2026")
    old = EncryptionCodec({"2025": keys["2025"]}, "2025")
    (sealed_before,) = await old.encode([_plain('"before rotation"')])
    rotated = EncryptionCodec(keys, "2026")
    (sealed_after,) = await rotated.encode([_plain('"after rotation"')])
    assert sealed_after.metadata["encryption-key-id"] == b"2026"
    opened = await rotated.decode([sealed_before, sealed_after])
    assert [p.data for p in opened] == [b'"before rotation"', b'"after rotation"']
    with pytest.raises(UnknownKeyError):
        await old.decode([sealed_after])


async def test_tampering_and_relabelling_are_detected() -> None:
    keys = _keys("a", "b")
    codec = EncryptionCodec(keys, "a")
    (sealed,) = await codec.encode([_plain('"x"')])
    flipped = Payload(metadata=dict(sealed.metadata), data=sealed.data[:-1] + bytes([sealed.data[-1] ^ 1]))
    relabelled = Payload(metadata={**sealed.metadata, "encryption-key-id": b"b"}, data=sealed.data)
    for bad in (flipped, relabelled):
        with pytest.raises(Exception):  # noqa: B017 - cryptography's InvalidTag
            await codec.decode([bad])


async def test_unsealed_payloads_pass_through() -> None:
    codec = EncryptionCodec(_keys("k1"), "k1")
    assert await codec.decode([_plain('"recorded before encryption"')]) == [
        _plain('"recorded before encryption"')
    ]


def _payloads(message) -> list[Payload]:
    """Every Payload inside a protobuf message, however deeply nested."""
    if isinstance(message, Payload):
        return [message]
    found: list[Payload] = []
    for field, value in message.ListFields():
        if field.message_type is None:
            continue
        if field.message_type.GetOptions().map_entry:
            items = [v for v in value.values() if hasattr(v, "ListFields")]
        elif field.is_repeated:
            items = list(value)
        else:
            items = [value]
        for item in items:
            found += _payloads(item)
    return found


# What the SDK writes, unsealed, into a local activity's marker beside its (sealed) result.
_MARKER_KEYS = {
    "seq",
    "attempt",
    "activity_id",
    "activity_type",
    "complete_time",
    "backoff",
    "original_schedule_time",
    "activation_index",
}


def _local_activity_marker(p: Payload) -> bool:
    try:
        data = json.loads(p.data)
    except ValueError:
        return False
    return isinstance(data, dict) and set(data) <= _MARKER_KEYS | {
        "original_schedule_time",
        "activation_index",
    }


async def test_case_history_holds_only_sealed_payloads(api: Api, client: Client) -> None:
    case = await submit(api, as_="applicant2")
    history = await client.get_workflow_handle(case_workflow_id(case["case_id"])).fetch_history()
    payloads = [p for event in history.events for p in _payloads(event)]
    data_payloads = [p for p in payloads if p.metadata.get("encoding") != b"json/plain" or p.data]
    assert len(data_payloads) >= 5
    unsealed = [p for p in data_payloads if p.metadata.get("encoding") != ENCODING]

    # Left open only what the server must read: search attributes (typed, indexed) and the SDK's
    # own markers (patches; a local activity's seq, attempt, type and times — its result is
    # sealed). None carries personal data.
    def server_readable(p: Payload) -> bool:
        return bool(p.metadata.get("type")) or b'"deprecated"' in p.data or _local_activity_marker(p)

    assert all(server_readable(p) for p in unsealed), [p for p in unsealed if not server_readable(p)][:3]
    raw = b"".join(event.SerializeToString() for event in history.events)
    assert b"applicant2" not in raw


async def test_operators_decode_through_the_codec_endpoint(api: Api, client: Client) -> None:
    case = await submit(api)
    history = await client.get_workflow_handle(case_workflow_id(case["case_id"])).fetch_history()
    started = history.events[0].workflow_execution_started_event_attributes.input.payloads[0]
    body = {
        "payloads": [
            {
                "metadata": {k: base64.b64encode(v).decode() for k, v in started.metadata.items()},
                "data": base64.b64encode(started.data).decode(),
            }
        ]
    }
    opened = await api.post("/codec/decode", "operator1", body, headers={"X-Namespace": "default"})
    # The codec is mounted outside /api/v1, as the Temporal UI expects.
    assert opened.status_code == 404
    opened = await api.http.post(
        "/codec/decode", json=body, headers={"Authorization": f"Bearer {await api.token('operator1')}"}
    )
    assert opened.status_code == 200, opened.text
    (payload,) = opened.json()["payloads"]
    assert case["case_id"].encode() in base64.b64decode(payload["data"])
    clerk = await api.http.post(
        "/codec/decode", json=body, headers={"Authorization": f"Bearer {await api.token('clerk1')}"}
    )
    assert clerk.status_code == 403
    preflight = await api.http.options(
        "/codec/decode",
        headers={"Origin": "http://localhost:8233", "Access-Control-Request-Method": "POST"},
    )
    assert preflight.headers["access-control-allow-origin"] == "http://localhost:8233"

    sealed = await api.http.post(
        "/codec/encode",
        json={
            "payloads": [
                {
                    "metadata": {"encoding": base64.b64encode(b"json/plain").decode()},
                    "data": base64.b64encode(b'"hello"').decode(),
                }
            ]
        },
        headers={"Authorization": f"Bearer {await api.token('operator1')}"},
    )
    (enc,) = sealed.json()["payloads"]
    assert base64.b64decode(enc["metadata"]["encoding"]) == ENCODING
