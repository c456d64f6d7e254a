"""Password hashing (argon2) and bearer tokens (JWT, HS256)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerifyMismatchError

from core.types import Actor, Role

_hasher = PasswordHasher()
_ALGORITHM = "HS256"


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerifyMismatchError, InvalidHashError):
        return False


class Principal(Actor):
    """An authenticated caller: the actor plus the scope the token grants."""

    district: str | None = None

    def actor(self) -> Actor:
        return Actor(username=self.username, role=self.role, department=self.department)


def issue_token(principal: Principal, secret: str, ttl: timedelta) -> str:
    now = datetime.now(UTC)
    claims = {
        "sub": principal.username,
        "role": principal.role.value,
        "dept": principal.department,
        "district": principal.district,
        "iat": now,
        "exp": now + ttl,
    }
    return jwt.encode(claims, secret, algorithm=_ALGORITHM)


def read_token(token: str, secret: str) -> Principal | None:
    try:
        claims = jwt.decode(token, secret, algorithms=[_ALGORITHM], options={"require": ["exp"]})
        return Principal(
            username=claims["sub"],
            role=Role(claims["role"]),
            department=claims.get("dept"),
            district=claims.get("district"),
        )
    except (jwt.PyJWTError, KeyError, ValueError):
        return None
