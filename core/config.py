"""Process configuration, read once from the environment."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

DEV_JWT_SECRET = "dev-only-signing-secret-never-use-in-production"
# dev-only payload key (base64 of 32 bytes); production sets PAYLOAD_KEYS and PAYLOAD_KEY_ID.
DEV_PAYLOAD_KEYS = "dev1:ZGV2LW9ubHktcGF5bG9hZC1rZXktbmV2ZXItdXNlIXg="
# dev-only keys of personal data at rest (core/fields.py): AES-GCM keys and the lookup-token key.
DEV_FIELD_KEYS = "devf1:ZGV2LW9ubHktZmllbGQta2V5LW5ldmVyLXVzZSEhISE="
DEV_FIELD_LOOKUP_KEY = "ZGV2LW9ubHktbG9va3VwLWtleS1uZXZlci11c2UhISE="


@dataclass(frozen=True)
class Settings:
    database_url: str = ""
    temporal_address: str = "localhost:7233"
    temporal_namespace: str = "default"
    task_queue: str = "gov-cases"
    jwt_secret: str = DEV_JWT_SECRET
    token_ttl_minutes: int = 480
    rating_window_days: int = 7
    # A bundle continues as new past this many history events (tests set it low).
    bundle_history_limit: int = 10_000
    environment: str = "dev"
    payload_keys: str = DEV_PAYLOAD_KEYS
    payload_key_id: str = ""
    field_keys: str = DEV_FIELD_KEYS
    field_key_id: str = ""
    field_lookup_key: str = DEV_FIELD_LOOKUP_KEY
    # Origins of the Temporal UI, allowed to call the codec endpoint from a browser.
    ui_origins: list[str] = field(default_factory=lambda: ["http://localhost:8233", "http://127.0.0.1:8233"])

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
            bundle_history_limit=int(env.get("BUNDLE_HISTORY_LIMIT", cls.bundle_history_limit)),
            environment=env.get("APP_ENV", cls.environment),
            payload_keys=env.get("PAYLOAD_KEYS", DEV_PAYLOAD_KEYS),
            payload_key_id=env.get("PAYLOAD_KEY_ID", ""),
            field_keys=env.get("FIELD_KEYS", DEV_FIELD_KEYS),
            field_key_id=env.get("FIELD_KEY_ID", ""),
            field_lookup_key=env.get("FIELD_LOOKUP_KEY", DEV_FIELD_LOOKUP_KEY),
            ui_origins=[o for o in env.get("TEMPORAL_UI_ORIGINS", "").split(",") if o] or cls().ui_origins,
        )


def require_production_secrets(settings: Settings) -> None:
    """Outside dev, a missing or default signing secret would let anyone mint tokens."""
    if settings.environment == "dev":
        return
    if settings.jwt_secret == DEV_JWT_SECRET:
        raise RuntimeError("JWT_SECRET must be set to a private value outside APP_ENV=dev")
    if settings.payload_keys == DEV_PAYLOAD_KEYS:
        raise RuntimeError("PAYLOAD_KEYS must be set to private keys outside APP_ENV=dev")
    if DEV_FIELD_KEYS.partition(":")[2] in settings.field_keys:
        raise RuntimeError("FIELD_KEYS must be set to private keys outside APP_ENV=dev")
    if settings.field_lookup_key == DEV_FIELD_LOOKUP_KEY:
        raise RuntimeError("FIELD_LOOKUP_KEY must be set to a private key outside APP_ENV=dev")


def to_async_url(url: str) -> str:
    """SQLAlchemy needs the asyncpg driver named in the scheme; pgserver hands out plain URLs."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url[len(prefix) :]
    return url
