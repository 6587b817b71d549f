"""Every setting the service reads, in one typed model, read and validated once per container.

Environment variable names are the field names in upper case (``KEY_PREFIX`` -> ``key_prefix``).
The Upstash pair keeps the names every Upstash SDK reads.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Annotated, Self

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from shared import ui_parts
from shared.payload import MAX_REQUEST_BODY_BYTES

DAY = 86_400


class Settings(BaseSettings):
    """The service's configuration. Invalid values stop the container at start, not mid-request."""

    model_config = SettingsConfigDict(extra="ignore", frozen=True, env_ignore_empty=True)

    # Upstash REST endpoint and token, as the Upstash console shows them.
    upstash_redis_rest_url: str
    upstash_redis_rest_token: SecretStr
    # The SDK defaults to no timeout and a 3 s sleep before its retry; Lambda needs both bounded.
    upstash_timeout_seconds: float = Field(default=2.0, gt=0, le=30)
    upstash_retries: int = Field(default=1, ge=0, le=5)
    upstash_retry_interval_seconds: float = Field(default=0.05, ge=0, le=5)
    # The per-container circuit breaker (shared/breaker.py): this many Upstash outages in a row
    # (0: never) make every call fail fast, with no request sent, for the open period; then one
    # probe is let through. A failed probe doubles the period, up to the maximum.
    upstash_breaker_failures: int = Field(default=3, ge=0, le=100)
    upstash_breaker_open_seconds: float = Field(default=5.0, gt=0, le=300)
    upstash_breaker_max_open_seconds: float = Field(default=60.0, gt=0, le=3600)
    # Health checks must answer before an uptime monitor gives up, even when Upstash hangs.
    health_timeout_seconds: float = Field(default=2.0, gt=0, le=30)

    # Identity.
    auth_jwt_secret: SecretStr | None = None
    auth_jwks_url: str | None = None
    auth_jwt_issuer: str | None = None
    auth_jwt_audience: str | None = None
    anonymous_token_secret: SecretStr | None = None
    anonymous_token_ttl_seconds: int = Field(default=30 * DAY, gt=0)

    # HTTP.
    cors_allow_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # The largest body a Lambda event can always carry, escaped or base64 (shared/payload.py).
    max_body_bytes: int = Field(default=MAX_REQUEST_BODY_BYTES, gt=0)

    # Storage layout and retention.
    key_prefix: str = Field(default="chat", pattern=r"^[A-Za-z0-9._-]{1,64}$")
    conversation_ttl_seconds: int = Field(default=90 * DAY, ge=0)
    session_ttl_seconds: int = Field(default=7 * DAY, ge=0)

    # The API's size limits (docs/operations.md, "Configuration").
    max_message_chars: int = Field(default=200_000, gt=0)
    max_messages_per_conversation: int = Field(default=10_000, gt=0)
    max_title_chars: int = Field(default=200, gt=0)
    # A conversation's mcpServers JSON, as Lambda carries it (escapes counted): every list
    # page (100 summaries at most) must fit a 6 MB response.
    max_mcp_servers_bytes: int = Field(default=16_384, gt=0, le=40_960)
    max_conversations_per_user: int = Field(default=500, gt=0)
    # A message's UIMessage parts and metadata (shared/ui_parts.py has why each default): how
    # many parts, the bytes of its metadata's JSON, of one data: URL (a larger file is uploaded
    # elsewhere and linked), and of all its parts' JSON as Lambda carries it (escapes counted):
    # a message read whole must fit a 6 MB Lambda response beside its content.
    max_parts_per_message: int = Field(default=ui_parts.MAX_PARTS_PER_MESSAGE, gt=0)
    max_metadata_bytes: int = Field(default=ui_parts.MAX_METADATA_BYTES, gt=0, le=1_048_576)
    max_data_url_bytes: int = Field(default=ui_parts.MAX_DATA_URL_BYTES, gt=0, le=1_048_576)
    max_parts_bytes: int = Field(default=1_048_576, gt=0, le=4_194_304)

    # Characters of message content one page of GET /api/conversations/{id} carries at most:
    # a Lambda response holds 6 MB. A page stops early (with a nextCursor) rather than fail.
    max_page_chars: int = Field(default=1_000_000, gt=0)

    # A reply still marked streaming after this long without an update reads as interrupted.
    # A live writer sends a delta at least every few seconds (the TypeScript client's streamReply
    # sends an empty one after 5 s of silence: a third of this), so 15 s means three missed beats,
    # not a model that paused; reported in GET /api/limits, where clients take it from.
    streaming_stale_seconds: int = Field(default=15, gt=0)

    # Rate limits (sliding windows). 0 requests turns a limit off.
    rate_limit_user_requests: int = Field(default=600, ge=0)
    rate_limit_user_window_seconds: int = Field(default=60, gt=0)
    # Streamed deltas (PATCH of a message) have a budget of their own: a reply streamed at 20
    # deltas a second for a minute must pass, and must not eat the rest of the user's budget.
    rate_limit_stream_requests: int = Field(default=1500, ge=0)
    rate_limit_stream_window_seconds: int = Field(default=60, gt=0)
    rate_limit_anonymous_requests: int = Field(default=20, ge=0)
    rate_limit_anonymous_window_seconds: int = Field(default=3600, gt=0)
    # A proxy in front of the API (a backend-for-frontend route) makes every visitor arrive from
    # its own address; one holding this secret says whose request it passes on (shared/proxy.py),
    # so the per-IP limit counts visitors, not the proxy. Long enough not to be guessed.
    trusted_proxy_secret: SecretStr | None = Field(default=None, min_length=32)

    # Live pushes over the WebSocket API (docs/sync.md, "Live pushes"): off unless set. The
    # @connections management endpoint, https://<api id>.execute-api.<region>.amazonaws.com/<stage>
    # deployed; make dev serves its own. Set, every write the change feed reports reads the
    # user's connections in its script (one command more) and pushes to them.
    websocket_endpoint: str | None = None
    # Connections kept per user (over it, the one lapsing first goes) and how long a push to
    # one may take (the write waits for its pushes: Lambda freezes once it has answered).
    websocket_max_connections: int = Field(default=20, gt=0, le=100)
    websocket_push_timeout_seconds: float = Field(default=1.0, gt=0, le=10)
    # Reported by the health endpoint and in logs.
    app_version: str = "0.1.0"
    log_level: str = Field(default="INFO", pattern=r"^(DEBUG|INFO|WARNING|ERROR)$")

    @field_validator("cors_allow_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if isinstance(value, str):
            return [origin.strip().rstrip("/") for origin in value.split(",") if origin.strip()]
        return value

    @field_validator("upstash_redis_rest_url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        if not value.startswith(("https://", "http://")):
            msg = "UPSTASH_REDIS_REST_URL must start with https:// (http:// for a local stand-in)"
            raise ValueError(msg)
        return value.rstrip("/")

    @field_validator("websocket_endpoint")
    @classmethod
    def _check_websocket_endpoint(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("https://", "http://")):
            msg = "WEBSOCKET_ENDPOINT must start with https:// (http:// for make dev's own)"
            raise ValueError(msg)
        return value.rstrip("/") if value else value

    @property
    def part_limits(self) -> ui_parts.PartLimits:
        """The limits validation holds a message's parts and metadata to."""
        return ui_parts.PartLimits(
            self.max_parts_per_message, self.max_metadata_bytes, self.max_data_url_bytes
        )

    @model_validator(mode="after")
    def _check_breaker(self) -> Self:
        if self.upstash_breaker_max_open_seconds < self.upstash_breaker_open_seconds:
            msg = "UPSTASH_BREAKER_MAX_OPEN_SECONDS must be at least UPSTASH_BREAKER_OPEN_SECONDS"
            raise ValueError(msg)
        return self

    @model_validator(mode="after")
    def _check_identity(self) -> Self:
        if (
            self.auth_jwt_secret is None
            and self.auth_jwks_url is None
            and (self.anonymous_token_secret is None)
        ):
            msg = (
                "no way to authenticate: set AUTH_JWT_SECRET, AUTH_JWKS_URL or "
                "ANONYMOUS_TOKEN_SECRET"
            )
            raise ValueError(msg)
        return self


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The container's settings, read from the environment on first use and then kept."""
    return Settings()  # required fields come from the environment
