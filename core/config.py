"""Process configuration, read once from the environment."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

DEV_JWT_SECRET = "dev-only-signing-secret-never-use-in-production"


@dataclass(frozen=True)
class Settings:
    database_url: str = ""
    temporal_address: str = "localhost:7233"
    temporal_namespace: str = "default"
    task_queue: str = "gov-cases"
    jwt_secret: str = DEV_JWT_SECRET
    token_ttl_minutes: int = 480
    rating_window_days: int = 7
    environment: str = "dev"
    cors_origins: list[str] = field(default_factory=list)

    @classmethod
    def from_env(cls) -> Settings:
        env = os.environ
        return cls(
            database_url=to_async_url(env.get("DATABASE_URL", "")),
            temporal_address=env.get("TEMPORAL_ADDRESS", cls.temporal_address),
            temporal_namespace=env.get("TEMPORAL_NAMESPACE", cls.temporal_namespace),
            task_queue=env.get("TASK_QUEUE", cls.task_queue),
            jwt_secret=env.get("JWT_SECRET", DEV_JWT_SECRET),
            token_ttl_minutes=int(env.get("TOKEN_TTL_MINUTES", cls.token_ttl_minutes)),
            rating_window_days=int(env.get("RATING_WINDOW_DAYS", cls.rating_window_days)),
            environment=env.get("APP_ENV", cls.environment),
        )


def require_production_secrets(settings: Settings) -> None:
    """Outside dev, a missing or default signing secret would let anyone mint tokens."""
    if settings.environment != "dev" and settings.jwt_secret == DEV_JWT_SECRET:
        raise RuntimeError("JWT_SECRET must be set to a private value outside APP_ENV=dev")


def to_async_url(url: str) -> str:
    """SQLAlchemy needs the asyncpg driver named in the scheme; pgserver hands out plain URLs."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url[len(prefix) :]
    return url
