"""Personal data at rest (ID numbers, phones, names, addresses): sealed in PostgreSQL.

Columns typed `Sealed(purpose)` hold AES-256-GCM ciphertext (BYTEA); the ORM seals on write
and opens on read, so code keeps working with plain dicts and strings while the rows, their
backups and anyone with SQL access see only ciphertext. The blob is
`version(1) | len(kid)(1) | kid | nonce(12) | ciphertext+tag`; the key id and the column's
purpose (e.g. `submissions.applicant`) are bound as associated data, so a blob cannot be
re-labelled with another key or moved to another column. Keys rotate like the payload keys:
`FIELD_KEYS=kid:base64key,…`, `FIELD_KEY_ID` the active one; old rows open with the key they
name.

Where a lookup is needed (a clerk finding a walk-in applicant's cases by ID number), a keyed
HMAC-SHA256 token of the normalized value is stored beside the ciphertext (`FIELD_LOOKUP_KEY`):
equal values give equal tokens, and nothing can be read back from one.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
from collections.abc import Mapping
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import LargeBinary
from sqlalchemy.types import TypeDecorator

from core.codec import parse_keys
from core.config import Settings

_VERSION = 1
_NONCE = 12


class FieldCipher:
    def __init__(self, keys: Mapping[str, bytes], active: str, lookup_key: bytes) -> None:
        if active not in keys:
            raise ValueError(f"active field key {active!r} is not among FIELD_KEYS")
        if len(lookup_key) < 32:
            raise ValueError("FIELD_LOOKUP_KEY must be at least 32 bytes, base64-encoded")
        self._ciphers = {kid: AESGCM(key) for kid, key in keys.items()}
        self._active = active
        self._lookup_key = lookup_key

    @classmethod
    def from_settings(cls, settings: Settings) -> FieldCipher:
        keys = parse_keys(settings.field_keys)
        active = settings.field_key_id or next(iter(keys))
        return cls(keys, active, base64.b64decode(settings.field_lookup_key))

    def seal(self, plaintext: bytes, purpose: str) -> bytes:
        kid = self._active.encode()
        nonce = os.urandom(_NONCE)
        sealed = self._ciphers[self._active].encrypt(nonce, plaintext, _aad(kid, purpose))
        return bytes([_VERSION, len(kid)]) + kid + nonce + sealed

    def open(self, blob: bytes, purpose: str) -> bytes:
        if len(blob) < 2 or blob[0] != _VERSION:
            raise ValueError("not a sealed field")
        end = 2 + blob[1]
        kid = blob[2:end]
        cipher = self._ciphers.get(kid.decode())
        if cipher is None:
            raise ValueError(f"no field key {kid.decode()!r} configured")
        return cipher.decrypt(blob[end : end + _NONCE], blob[end + _NONCE :], _aad(kid, purpose))

    def token(self, value: str, purpose: str) -> str:
        """A keyed, deterministic token of a normalized value, for equality lookups only."""
        return self.mac(value.strip().upper().replace(" ", ""), purpose)

    def mac(self, value: str, purpose: str) -> str:
        """HMAC-SHA256 of the exact value (hex)."""
        return hmac.new(self._lookup_key, f"{purpose}\0{value}".encode(), hashlib.sha256).hexdigest()


def _aad(kid: bytes, purpose: str) -> bytes:
    return kid + b"\0" + purpose.encode()


_cipher: FieldCipher | None = None


def configure(settings: Settings) -> None:
    """Called by each process at start (API, worker, migrations) with its settings."""
    global _cipher
    _cipher = FieldCipher.from_settings(settings)


def cipher() -> FieldCipher:
    if _cipher is None:
        configure(Settings.from_env())
    assert _cipher is not None
    return _cipher


ID_NUMBER = "id_number"


def id_number_token(id_number: str) -> str:
    return cipher().token(id_number, ID_NUMBER)


class Sealed(TypeDecorator):
    """A column whose value (JSON-able: a dict or a string) is stored sealed as BYTEA."""

    impl = LargeBinary
    cache_ok = True

    def __init__(self, purpose: str) -> None:
        super().__init__()
        self.purpose = purpose

    def process_bind_param(self, value: Any, dialect: Any) -> bytes | None:
        if value is None:
            return None
        plaintext = json.dumps(value, ensure_ascii=False, sort_keys=True).encode()
        return cipher().seal(plaintext, self.purpose)

    def process_result_value(self, value: Any, dialect: Any) -> Any:
        if value is None:
            return None
        return json.loads(cipher().open(bytes(value), self.purpose))

    def copy(self, **kw: Any) -> Sealed:
        return Sealed(self.purpose)
