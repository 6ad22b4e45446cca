"""The one settings object. Every knob is an `AI_AGENTS_*` environment variable."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from aiops.crypto import parse_key

# The admin token reaches every tenant: in production it must not be guessable.
MIN_ADMIN_TOKEN_CHARS = 32


class LlmFallback(BaseModel):
    """A fallback provider of its own: model, endpoint and key."""

    model_config = ConfigDict(extra="forbid")

    model: str = Field(min_length=1)
    api_base: str | None = None
    api_key: SecretStr | None = None


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="AI_AGENTS_", env_file=".env", extra="ignore")

    environment: Literal["development", "production"] = "development"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = Field(
        default="INFO", description="Every process's log level (DEBUG shows each webhook)."
    )
    log_format: Literal["text", "json"] = Field(
        default="text",
        description="json: one object per line with timestamp, level, process, tenant_id "
        "and event_id, for a log pipeline.",
    )

    @field_validator("log_level", mode="before")
    @classmethod
    def _level_in_any_case(cls, value: object) -> object:
        return value.strip().upper() if isinstance(value, str) else value

    @field_validator("log_format", mode="before")
    @classmethod
    def _format_in_any_case(cls, value: object) -> object:
        return value.strip().lower() if isinstance(value, str) else value

    state_dir: Path = Field(
        default=Path(".aiops"),
        description="Folder for embedded PostgreSQL/Redis data, generated keys and recovery.",
    )

    # Connections. Unset means: start (or attach to) the embedded servers in state_dir.
    database_url: str | None = Field(
        default=None, description="Application role: must not be superuser or BYPASSRLS."
    )
    migration_database_url: str | None = Field(
        default=None, description="Owner role that runs migrations; defaults to database_url."
    )
    operator_database_url: str | None = Field(
        default=None,
        description="A role granted aiops_operator, which alone creates and removes tenants; "
        "defaults to migration_database_url.",
    )
    redis_url: str | None = None

    # Secrets. Embedded development generates them once into state_dir.
    encryption_key: SecretStr | None = Field(
        default=None, description="Base64 of 32 random bytes: the AES-256-GCM master key."
    )
    previous_encryption_keys: list[SecretStr] = Field(
        default_factory=list, description="Older master keys that may still decrypt."
    )
    admin_token: SecretStr | None = None

    # Streams and ingest.
    stream_prefix: str = "aiops"
    stream_shards: int = Field(default=4, ge=1, le=256)
    stream_maxlen: int = Field(default=1_000_000, description="Approximate cap per shard.")
    dedupe_ttl_seconds: int = 7 * 24 * 3600
    max_webhook_bytes: int = 256 * 1024
    webhook_timestamp_tolerance_seconds: int = Field(
        default=300, ge=1, description="Standard Webhooks: how far a signed timestamp may drift."
    )
    webhook_rate_per_minute: int = Field(
        default=600, ge=1, description="Webhooks accepted per tenant and minute, unless its own."
    )
    tenant_cache_seconds: float = 30.0
    redis_timeout_seconds: float = Field(
        default=2.0, description="Per Redis call in the webhook path; past it ingest answers 503."
    )

    # Processes started by `aiops up`.
    host: str = "127.0.0.1"
    ingest_port: int = 8000
    ingest_workers: int = Field(
        default=1,
        ge=1,
        le=64,
        description="Ingest processes sharing the ingest port (uvicorn --workers); one per "
        "core that ingest may use. Every guarantee holds across them: dedupe, replay and "
        "rate state live in Redis.",
    )
    api_port: int = 8001
    public_base_url: str | None = Field(
        default=None, description="How ITSMs reach ingest; defaults to http://host:ingest_port."
    )
    api_public_url: str | None = Field(
        default=None,
        description="How technicians reach the management API (notes' rating links); "
        "defaults to http://host:api_port.",
    )

    # Flow.
    flow_concurrency: int = Field(
        default=256, ge=1, description="Tickets in flight per flow process, shared fairly."
    )
    flow_busy_slots: int = Field(
        default=8,
        ge=1,
        description="Tickets in their CPU-bound stages at once; the others wait, quietest "
        "tenant first.",
    )
    flow_batch_size: int = Field(default=256, ge=1, description="Entries per stream read.")
    flow_read_ahead: int = Field(
        default=50_000,
        ge=1,
        description="Entries a shard partition reads past its oldest unfinished one.",
    )
    flow_tenant_queue: int = Field(
        default=64, ge=1, description="Decoded events kept per tenant; beyond, only ids."
    )
    flow_db_pool_size: int = Field(default=16, ge=2, description="Database connections.")
    flow_attempts: int = Field(default=4, ge=1, description="Tries for a transient failure.")
    flow_retry_base_seconds: float = 0.5
    gather_timeout_seconds: float = 5.0
    similar_tickets_k: int = 5
    similar_tickets_min_relevance: float = Field(
        default=0.45,
        ge=0.0,
        le=1.0,
        description="Similar tickets less close than this (0..1) are left out of the note.",
    )
    kb_articles_k: int = 3
    incident_window_minutes: float = Field(
        default=15, gt=0, description="How far back a new ticket looks for its ongoing incident."
    )
    flow_recovery_partitions: int = Field(
        default=4, ge=1, description="Recovery partitions; fixed once `aiops up` creates the store."
    )
    flow_snapshot_seconds: int = Field(
        default=10, ge=1, description="Snapshot interval; a resume replays at most this much."
    )
    flow_backup_seconds: int = Field(
        default=0, ge=0, description="How long to keep older snapshots for off-machine backups."
    )
    flow_dedupe_seconds: float = Field(
        default=600.0, ge=0, description="Drop an event id seen again within this much stream time."
    )
    flow_metrics_port: int = Field(
        default=8002, ge=0, le=65535, description="Prometheus metrics of the flow process; 0 = off."
    )
    sandbox_worker_port: int = Field(
        default=8003,
        ge=0,
        le=65535,
        description="Health and Prometheus metrics of the agent sandbox worker; 0 = off.",
    )
    sandbox_wait_seconds: float = Field(
        default=20.0,
        ge=0,
        le=300,
        description="How long the API waits for a sandbox run, test cases or an activation "
        "before answering 202 with the job to poll.",
    )

    # LLM: no model means the offline synthesizer.
    llm_model: str | None = None
    llm_fallbacks: list[str | LlmFallback] = Field(
        default_factory=list,
        description='JSON list of models tried next: "model" (same endpoint and key) or '
        '{"model", "api_base", "api_key"} (a provider of its own).',
    )
    llm_api_base: str | None = None
    llm_api_key: SecretStr | None = None
    llm_timeout_seconds: float = 60.0
    llm_monthly_budget_usd: float | None = Field(
        default=None,
        ge=0,
        description="LLM cost a tenant may spend per calendar month (UTC) unless it has its "
        "own limit; past it its notes are composed offline. Unset = no limit.",
    )

    # Tracing: spans go over OTLP/HTTP only when an endpoint is set (or the standard
    # OTEL_EXPORTER_OTLP_ENDPOINT is).
    otlp_endpoint: str | None = None

    itsm_timeout_seconds: float = 15.0

    # Dagster and the analytics warehouse.
    warehouse_dir: Path | None = Field(
        default=None, description="Parquet, DuckDB, ticket indexes; default state_dir/warehouse."
    )
    dagster_port: int = 3000
    analytics_query_timeout_seconds: float = Field(
        default=30.0, gt=0, description="Longest a tenant's analytics SQL may run (API)."
    )
    dagster_database_url: str | None = Field(
        default=None,
        description="Dagster's run, event-log and schedule storage (PostgreSQL); defaults to a "
        "`dagster` database on the server of the migration URL, or with no database URL "
        "(embedded) to Dagster's local SQLite storage in state_dir/dagster.",
    )

    @model_validator(mode="after")
    def _refuse_missing_secrets_in_production(self) -> Settings:
        if self.environment == "production":
            missing = [
                name
                for name, value in (
                    ("AI_AGENTS_ENCRYPTION_KEY", self.encryption_key),
                    ("AI_AGENTS_ADMIN_TOKEN", self.admin_token),
                    ("AI_AGENTS_DATABASE_URL", self.database_url),
                    ("AI_AGENTS_REDIS_URL", self.redis_url),
                )
                if value is None
            ]
            if missing:
                raise ValueError("production needs explicit settings; set " + ", ".join(missing))
            assert self.admin_token is not None and self.encryption_key is not None
            if len(self.admin_token.get_secret_value()) < MIN_ADMIN_TOKEN_CHARS:
                raise ValueError(
                    f"AI_AGENTS_ADMIN_TOKEN must be at least {MIN_ADMIN_TOKEN_CHARS} random "
                    "characters in production; e.g. `python -c 'import secrets; "
                    "print(secrets.token_urlsafe(32))'`"
                )
            for name, key in (
                ("AI_AGENTS_ENCRYPTION_KEY", self.encryption_key),
                *(("AI_AGENTS_PREVIOUS_ENCRYPTION_KEYS", k) for k in self.previous_encryption_keys),
            ):
                try:
                    parse_key(key.get_secret_value())
                except ValueError as exc:
                    raise ValueError(f"{name}: {exc}; `aiops keys generate` makes one") from exc
        return self

    @property
    def ingest_base_url(self) -> str:
        return self.public_base_url or f"http://{self.host}:{self.ingest_port}"

    @property
    def api_base_url(self) -> str:
        return self.api_public_url or f"http://{self.host}:{self.api_port}"

    def webhook_urls(self, source: str, tenant_id: str) -> dict[str, str]:
        """Where a tenant's ITSM sends new tickets and resolved ones (ingest's two routes)."""
        base = f"{self.ingest_base_url.rstrip('/')}/webhook/{source}"
        query = f"?tenant={tenant_id}"
        return {"tickets": base + query, "resolved_tickets": f"{base}/resolved-ticket{query}"}

    def stream_name(self, shard: int) -> str:
        return f"{self.stream_prefix}:events:{shard}"

    def backfill_stream_name(self, shard: int) -> str:
        """Re-enhancement requests: read only when the live shard has nothing waiting."""
        return f"{self.stream_prefix}:backfill:{shard}"

    @property
    def warehouse_path(self) -> Path:
        return self.warehouse_dir or self.state_dir / "warehouse"

    @property
    def dead_letter_stream(self) -> str:
        return f"{self.stream_prefix}:dlq"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
