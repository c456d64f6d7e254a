"""Payload encryption (AES-256-GCM) for everything the workflows put into Temporal.

Every workflow and activity payload is sealed before it leaves the process; the key id travels
in the payload's metadata, so keys rotate: new payloads use the active key, old ones still open
with the key they name. Payloads written before encryption (no `binary/encrypted` encoding)
pass through unchanged, so recorded histories still replay.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Mapping, Sequence

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from temporalio.api.common.v1 import Payload
from temporalio.converter import PayloadCodec

ENCODING = b"binary/encrypted"
KEY_ID = "encryption-key-id"
_NONCE = 12


class UnknownKeyError(ValueError):
    pass


class EncryptionCodec(PayloadCodec):
    def __init__(self, keys: Mapping[str, bytes], active: str) -> None:
        if active not in keys:
            raise UnknownKeyError(f"active payload key {active!r} is not among the keys")
        self._ciphers = {kid: AESGCM(key) for kid, key in keys.items()}
        self._active = active

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self._seal(p) for p in payloads]

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self._open(p) for p in payloads]

    def _seal(self, payload: Payload) -> Payload:
        nonce = os.urandom(_NONCE)
        # The key id is bound as associated data: a payload cannot be re-labelled with another key.
        sealed = self._ciphers[self._active].encrypt(
            nonce, payload.SerializeToString(), self._active.encode()
        )
        metadata = {"encoding": ENCODING, KEY_ID: self._active.encode()}
        return Payload(metadata=metadata, data=nonce + sealed)

    def _open(self, payload: Payload) -> Payload:
        if payload.metadata.get("encoding") != ENCODING:
            return payload
        kid = payload.metadata[KEY_ID].decode()
        if kid not in self._ciphers:
            raise UnknownKeyError(f"no payload key {kid!r} configured")
        nonce, sealed = payload.data[:_NONCE], payload.data[_NONCE:]
        return Payload.FromString(self._ciphers[kid].decrypt(nonce, sealed, kid.encode()))


def parse_keys(spec: str) -> dict[str, bytes]:
    """`kid:base64key,kid2:base64key` → {kid: 32-byte key}."""
    keys: dict[str, bytes] = {}
    for item in filter(None, (part.strip() for part in spec.split(","))):
        kid, _, encoded = item.partition(":")
        key = base64.b64decode(encoded)
        if not kid or len(key) != 32:
            raise ValueError(f"payload key {kid!r} must be 32 bytes, base64-encoded")
        keys[kid] = key
    return keys


def new_key() -> str:
    return base64.b64encode(AESGCM.generate_key(bit_length=256)).decode()
