"""Request and response bodies: what clients send and see, apart from how rows are stored.

Secrets only ever come in (as SecretStr, so they are masked in reprs and logs); responses
say whether a secret is set, never what it is.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    StringConstraints,
    field_validator,
    model_validator,
)

from aiops.events import Ticket
from aiops.llm import is_known_model
from itsm import registry
from warehouse.tenants import FallbackSummary, TenantSummary

TenantId = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$")]
_HEADER_TOKEN = re.compile(r"[!-~]{1,1000}")
HttpUrlText = Annotated[str, StringConstraints(pattern=r"^https?://\S+$", max_length=2_000)]


class ItsmConnectionIn(BaseModel):
    """A tenant's ITSM connection: the fields each plugin declares (GET /itsm-plugins
    lists them, with where each goes), checked against the plugin and tried against the
    ITSM before saving."""

    model_config = ConfigDict(extra="forbid")

    itsm_base_url: HttpUrlText | None = Field(
        default=None, description="Without it (and a key) notes are stored, not posted."
    )
    itsm_flavor: str | None = Field(
        default=None,
        max_length=40,
        description="ServiceDesk Plus: onprem or cloud; Jira: cloud or datacenter.",
    )
    itsm_api_key: SecretStr | None = Field(
        default=None,
        description="ServiceDesk Plus technician key or OAuth token; Jira Cloud API token; "
        "Jira Data Center personal access token; the plugin's API key or token.",
    )
    itsm_username: str | None = Field(
        default=None,
        max_length=320,
        description="Whose key it is, where the ITSM wants both (Jira Cloud, Zendesk: the "
        "agent's e-mail).",
    )
    itsm_options: dict[Annotated[str, StringConstraints(max_length=64)], str] = Field(
        default_factory=dict,
        max_length=20,
        description="The plugin's own non-secret settings by name.",
    )
    itsm_secrets: dict[Annotated[str, StringConstraints(max_length=64)], SecretStr] = Field(
        default_factory=dict,
        max_length=10,
        description="The plugin's secrets beyond itsm_api_key, by name; never returned.",
    )
    check_itsm_credentials: bool = Field(
        default=True,
        description="Try the credentials against the ITSM before saving (refused: 422, "
        "unreachable: 502). False saves them unchecked.",
    )

    def itsm_given(self) -> bool:
        return bool(
            self.itsm_base_url
            or self.itsm_api_key
            or self.itsm_username
            or self.itsm_flavor
            or self.itsm_options
            or self.itsm_secrets
        )


class TenantCreate(ItsmConnectionIn):
    model_config = ConfigDict(extra="forbid")

    tenant_id: TenantId
    display_name: str = Field(min_length=1, max_length=200)
    itsm_source: str = Field(
        default="servicedesk",
        description="The ITSM plugin: servicedesk, jira, zendesk, freshservice, ...",
    )
    webhook_secret: SecretStr = Field(
        min_length=24,
        description="The secret the ITSM signs webhooks with. Chosen by the caller, because "
        "this API never returns secrets; e.g. `openssl rand -hex 32`.",
    )
    llm_model: str | None = None
    llm_fallbacks: list[str] = Field(default_factory=list)
    llm_api_base: HttpUrlText | None = None
    llm_api_key: SecretStr | None = None
    monitoring_url: HttpUrlText | None = None
    mask_personal_data: bool = Field(
        default=False,
        description="Mask e-mail addresses, phone numbers and the requester's name before "
        "anything goes to an LLM (credentials are always masked).",
    )

    @field_validator("itsm_source")
    @classmethod
    def _known_plugin(cls, name: str) -> str:
        if name not in registry.PLUGINS:
            raise ValueError(
                f"no ITSM plugin {name!r}; known: {', '.join(sorted(registry.PLUGINS))}"
            )
        return name


class WebhookUrls(BaseModel):
    tickets: str
    resolved_tickets: str
    signature_header: str = "X-ServiceDesk-Signature"


class TenantOut(BaseModel):
    tenant_id: str
    display_name: str
    itsm_source: str
    itsm_base_url: str | None
    itsm_flavor: str | None
    itsm_options: dict[str, str]
    has_itsm_credentials: bool
    llm_model: str | None
    llm_fallbacks: list[str | FallbackOut]
    llm_api_base: str | None
    has_llm_api_key: bool
    monitoring_url: str | None
    mask_personal_data: bool
    created_at: datetime
    webhook_urls: WebhookUrls

    @classmethod
    def of(cls, summary: TenantSummary, urls: dict[str, str]) -> TenantOut:
        return cls(
            tenant_id=summary.tenant_id,
            display_name=summary.display_name,
            itsm_source=summary.itsm_source,
            itsm_base_url=summary.itsm_base_url,
            itsm_flavor=summary.itsm_flavor,
            itsm_options=summary.itsm_options,
            has_itsm_credentials=summary.has_itsm_credentials,
            llm_model=summary.llm_model,
            llm_fallbacks=FallbackOut.listed(summary.llm_fallbacks),
            llm_api_base=summary.llm_api_base,
            has_llm_api_key=summary.has_llm_api_key,
            monitoring_url=summary.monitoring_url,
            mask_personal_data=summary.mask_personal_data,
            created_at=summary.created_at,
            webhook_urls=WebhookUrls(
                **urls,
                signature_header=_signature_header(summary.itsm_source),
            ),
        )


def _signature_header(source: str) -> str:
    plugin = registry.PLUGINS.get(source)
    return plugin.signature_header if plugin is not None else "X-ServiceDesk-Signature"


class TenantUpdate(ItsmConnectionIn):
    """What a tenant's admin may change about it; omitted fields stay as they are. Any
    itsm_* field replaces the whole ITSM connection (secrets included: give them again)."""

    model_config = ConfigDict(extra="forbid")

    display_name: str | None = Field(default=None, min_length=1, max_length=200)
    mask_personal_data: bool | None = Field(
        default=None,
        description="Mask e-mail addresses, phone numbers and the requester's name before "
        "anything goes to an LLM.",
    )


class TenantRemoved(BaseModel):
    """What removing a tenant deleted: rows per table, and the audit record that says so."""

    tenant_id: str
    audit_id: int = Field(description="The row of tenancy.tenant_audit recording the removal.")
    removed: dict[str, int] = Field(description="Rows deleted, by table.")


def _known_model(name: str) -> str:
    if not is_known_model(name):
        raise ValueError(
            f"{name!r} is not a litellm model name; use provider/model, e.g. "
            "openai/gpt-4o-mini or anthropic/claude-3-5-haiku-latest"
        )
    return name


LlmModelName = Annotated[
    str, StringConstraints(min_length=1, max_length=200), AfterValidator(_known_model)
]


def _header_token(key: SecretStr | None) -> SecretStr | None:
    # The key travels in an Authorization header: anything but visible ASCII would fail
    # there, and look like an unreachable provider rather than a mistyped key.
    if key is not None and not _HEADER_TOKEN.fullmatch(key.get_secret_value()):
        raise ValueError("an API key is 1 to 1000 visible ASCII characters, no spaces")
    return key


ApiKey = Annotated[SecretStr, AfterValidator(_header_token)]


class FallbackIn(BaseModel):
    """A fallback at a provider of its own: model, endpoint and key (e.g. Azure OpenAI
    after OpenAI). A plain model name instead shares the primary's endpoint and key."""

    model_config = ConfigDict(extra="forbid")

    model: LlmModelName
    api_base: HttpUrlText | None = Field(
        default=None, description="None: the provider's own endpoint (e.g. Anthropic's)."
    )
    api_key: ApiKey | None = Field(
        default=None,
        description="Tested before saving. Omit to keep the key stored for this same model "
        "and api_base.",
    )


class FallbackOut(BaseModel):
    model: str
    api_base: str | None
    has_api_key: bool

    @classmethod
    def listed(cls, fallbacks: tuple[str | FallbackSummary, ...]) -> list[str | FallbackOut]:
        return [
            f
            if isinstance(f, str)
            else cls(model=f.model, api_base=f.api_base, has_api_key=f.has_api_key)
            for f in fallbacks
        ]


class LlmConfigIn(BaseModel):
    """The tenant's own model and, optionally, its own key (bring your own key)."""

    model_config = ConfigDict(extra="forbid")

    model: LlmModelName
    fallbacks: list[LlmModelName | FallbackIn] = Field(
        default_factory=list,
        max_length=10,
        description="Tried in order when the model fails: a model name (same endpoint and "
        "key) or {model, api_base, api_key} (a provider of its own).",
    )
    api_base: HttpUrlText | None = Field(
        default=None, description="The tenant's own OpenAI-compatible endpoint; needs a key."
    )
    api_key: SecretStr | None = Field(
        default=None, description="Omit to keep the stored key; it is tested before saving."
    )
    clear_api_key: bool = Field(
        default=False,
        description="Remove the stored key: the installation's endpoint and key are used.",
    )

    @model_validator(mode="after")
    def _key_or_clear(self) -> LlmConfigIn:
        if self.clear_api_key and self.api_key is not None:
            raise ValueError("send api_key or clear_api_key, not both")
        return self

    @field_validator("api_key")
    @classmethod
    def _key_fits_a_header(cls, key: SecretStr | None) -> SecretStr | None:
        return _header_token(key)


class LlmConfigOut(BaseModel):
    model: str | None = Field(description="None: the installation's AI_AGENTS_LLM_MODEL.")
    fallbacks: list[str | FallbackOut]
    api_base: str | None
    has_api_key: bool

    @classmethod
    def of(cls, summary: TenantSummary) -> LlmConfigOut:
        return cls(
            model=summary.llm_model,
            fallbacks=FallbackOut.listed(summary.llm_fallbacks),
            api_base=summary.llm_api_base,
            has_api_key=summary.has_llm_api_key,
        )


class EnhancementSummary(BaseModel):
    event_id: str
    ticket_id: str
    source: str
    kind: str
    backfill: bool
    status: str
    attempts: int
    synthesizer: str | None
    model: str | None
    note_id: str | None
    note_posted_at: datetime | None
    error: str | None
    error_kind: str | None
    timings: dict[str, float]
    prompt_tokens: int | None
    completion_tokens: int | None
    cost_usd: float | None
    received_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None
    created_at: datetime


class EnhancementDetail(EnhancementSummary):
    context: dict[str, Any]
    prompt: str | None
    output: str | None


class TicketIn(BaseModel):
    """A resolved ticket for the history that similar-ticket search draws on."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1, max_length=200)
    subject: str = Field(default="", max_length=2_000)
    description: str = Field(default="", max_length=200_000)
    resolution: str | None = None
    category: str | None = None
    priority: str | None = None
    status: str | None = None
    tags: list[str] = Field(default_factory=list)
    created_at: datetime | None = None
    resolved_at: datetime | None = None
    extra: dict[str, Any] = Field(default_factory=dict)

    def to_ticket(self) -> Ticket:
        return Ticket(**self.model_dump())


class TicketBatch(BaseModel):
    tickets: list[TicketIn] = Field(min_length=1, max_length=1_000)


class TicketsUpserted(BaseModel):
    upserted: int


class AnalyticsQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sql: str = Field(
        min_length=1,
        max_length=100_000,
        description="One read-only statement over the tenant's views: enhancement_history, "
        "ticket_history, daily_rollup, daily_source_rollup.",
    )
    max_rows: int = Field(default=1_000, ge=1, le=10_000)


class AnalyticsRows(BaseModel):
    columns: list[str]
    rows: list[list[Any]]
    truncated: bool = Field(description="True when the query had more rows than max_rows.")


class AnalyticsRollups(BaseModel):
    daily: list[dict[str, Any]]
    sources: list[dict[str, Any]]


class ErrorOut(BaseModel):
    detail: str


class FieldError(BaseModel):
    loc: list[str | int]
    msg: str
    type: str


class UnprocessableOut(BaseModel):
    detail: str | list[FieldError] = Field(
        description="What is wrong: a sentence, or one entry per invalid field."
    )


class ApiKeyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200, description="What the key is for.")
    scope: Literal["read", "admin"] = Field(
        description="read: GETs and analytics SQL; admin: also changes within the tenant."
    )


class ApiKeyOut(BaseModel):
    key_id: str
    tenant_id: str
    name: str
    scope: Literal["read", "admin"]
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class ApiKeyCreated(ApiKeyOut):
    token: str = Field(
        description="`Authorization: Bearer <token>`. Shown only in this response: only a "
        "hash of it is stored."
    )


class WebhookSecretAdd(BaseModel):
    model_config = ConfigDict(extra="forbid")

    secret: SecretStr = Field(
        min_length=24,
        description="The new signing secret, chosen by the caller because this API never "
        "returns secrets. For the Standard Webhooks scheme it must be `whsec_` + base64 "
        "(e.g. `echo whsec_$(openssl rand -base64 32)`); that form serves both schemes.",
    )


class WebhookOptionsUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    webhook_scheme: Literal["native", "standard"] | None = Field(
        default=None,
        description="native: the ITSM plugin's own signature header; standard: Standard "
        "Webhooks (webhook-id, webhook-timestamp, webhook-signature). Omit to keep.",
    )
    webhook_rate_per_minute: int | None = Field(
        default=None,
        ge=1,
        le=1_000_000,
        description="Webhooks accepted per minute; null for the platform default, omit to keep.",
    )


class WebhookSettingsOut(BaseModel):
    tenant_id: str
    webhook_scheme: Literal["native", "standard"]
    webhook_rate_per_minute: int | None = Field(description="null: the platform default.")
    effective_rate_per_minute: int
    signing_secrets: int = Field(description="How many secrets verify: 2 during a rotation.")
    takes_effect_within_seconds: float = Field(
        description="Ingest caches tenant settings this long: a change applies within it."
    )
