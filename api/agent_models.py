"""Request and response bodies of the agent lifecycle: define, sandbox, test, deploy, monitor."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from aiops.agent_spec import DEFAULT_AGENT, AgentId, AgentSpec, Expectation
from aiops.events import Ticket

# 'default' names the built-in agent in history rows; 'default-spec' is a route.
_RESERVED = (DEFAULT_AGENT, "default-spec")


class AgentCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    agent_id: AgentId = Field(description="Short id, unique within the tenant, e.g. 'email'.")
    name: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=2_000)
    priority: int = Field(
        default=100,
        ge=0,
        le=10_000,
        description="When several active agents apply to a ticket, the lowest priority wins "
        "(then the agent id).",
    )
    spec: AgentSpec | None = Field(default=None, description="Given: stored as version 1 at once.")

    @model_validator(mode="after")
    def _not_reserved(self) -> AgentCreate:
        if self.agent_id in _RESERVED:
            raise ValueError(f"agent_id {self.agent_id!r} is reserved; choose another")
        return self


class AgentUpdate(BaseModel):
    """Omitted fields stay as they are. Versions are never changed: add one instead."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=2_000)
    priority: int | None = Field(default=None, ge=0, le=10_000)


class AgentOut(BaseModel):
    agent_id: str
    name: str
    description: str
    priority: int
    active_version: int | None = Field(description="None: the agent handles no ticket.")
    previous_version: int | None = Field(description="What a rollback goes back to.")
    shadow_versions: list[int] = Field(description="Run beside the active one, never posted.")
    latest_version: int | None
    created_at: datetime
    updated_at: datetime


class VersionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    spec: AgentSpec
    comment: str = Field(default="", max_length=2_000, description="What changed, and why.")
    copy_test_cases_from: int | None = Field(
        default=None, ge=1, description="Copy that version's test cases to the new one."
    )


class VersionOut(BaseModel):
    agent_id: str
    version: int
    spec: AgentSpec
    comment: str
    created_by: str
    created_at: datetime
    state: Literal["active", "previous", "shadow", "inactive"]
    test_cases: int


class SandboxIn(BaseModel):
    """A ticket pasted, or the id of one in the tenant's history: exactly one of the two."""

    model_config = ConfigDict(extra="forbid")

    ticket: Ticket | None = None
    ticket_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        description="A ticket of this tenant's history (resolved tickets, or enhanced ones).",
    )

    @model_validator(mode="after")
    def _one(self) -> SandboxIn:
        if (self.ticket is None) == (self.ticket_id is None):
            raise ValueError("send either ticket or ticket_id, not both and not neither")
        return self


class StageOut(BaseModel):
    """One stage of a run, in the order it ran."""

    name: str = Field(
        description="Production's stages in their order (flows.process): mask, agent, "
        "begin, noise, gather and its sources (similar_tickets, kb_articles, inventory, "
        "monitoring), triage, prompt, model, write_back, note. A run stops where "
        "production would: after noise for a skipped ticket, at the stage that failed."
    )
    status: str = Field(description="ok, empty, skipped, failed: <why>.")
    ms: float
    input: Any
    output: Any


class RunOut(BaseModel):
    """A sandbox, test-case or shadow run with its full trace."""

    run_id: str
    agent_id: str
    version: int
    kind: Literal["sandbox", "test_case", "shadow"]
    case_id: int | None
    event_id: str | None = Field(description="Shadow runs: the live event it ran beside.")
    ticket_id: str
    status: Literal["succeeded", "failed", "skipped", "not_applicable"] = Field(
        description="skipped: noise (an auto-reply, say), which production gives no note."
    )
    error: str | None
    note: str | None = Field(description="The note as it would be posted (plain text).")
    passed: bool | None = Field(description="Test-case runs: whether every expectation held.")
    failures: list[str] = Field(description="Test-case runs: each expectation that failed.")
    synthesizer: str | None
    model: str | None
    prompt_tokens: int | None
    completion_tokens: int | None
    cost_usd: float | None
    ms: float
    created_at: datetime
    stages: list[StageOut]


class RunSummary(BaseModel):
    run_id: str
    agent_id: str
    version: int
    kind: str
    case_id: int | None
    event_id: str | None
    ticket_id: str
    status: str
    passed: bool | None
    ms: float
    cost_usd: float | None
    created_at: datetime


class TestCaseIn(BaseModel):
    """A ticket (pasted, or an id from the tenant's history) and what its note must show."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    ticket: Ticket | None = None
    ticket_id: str | None = Field(default=None, min_length=1, max_length=200)
    expectations: list[Expectation] = Field(min_length=1, max_length=50)

    @model_validator(mode="after")
    def _one(self) -> TestCaseIn:
        if (self.ticket is None) == (self.ticket_id is None):
            raise ValueError("send either ticket or ticket_id, not both and not neither")
        return self


class TestCaseOut(BaseModel):
    case_id: int
    agent_id: str
    version: int
    name: str
    ticket: Ticket
    expectations: list[Expectation]
    created_at: datetime
    last_passed: bool | None = Field(description="The latest run's verdict; None: never run.")
    last_run_id: str | None


class TestRunOut(BaseModel):
    agent_id: str
    version: int
    passed: bool = Field(description="Every case passed (true too when there are no cases).")
    total: int
    failed: int
    results: list[RunOut]


class ActivateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    override_reason: str | None = Field(
        default=None,
        min_length=3,
        max_length=2_000,
        description="Activate although a test case fails: why. Recorded with who did it.",
    )


class ReasonIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(default="", max_length=2_000)


class DeploymentOut(BaseModel):
    """One change of which version runs, as the audit trail keeps it."""

    deployment_id: int
    agent_id: str
    action: Literal["activate", "rollback", "deactivate", "shadow_on", "shadow_off"]
    version: int | None
    previous_version: int | None
    actor: str = Field(description="'platform-admin' or the API key id (CLI: 'cli:<user>').")
    overridden: bool = Field(description="Activated although test cases failed.")
    reason: str
    tests_passed: int | None
    tests_total: int | None
    created_at: datetime


class VersionMetrics(BaseModel):
    version: int
    state: str
    volume: int
    succeeded: int
    failed: int
    success_rate: float | None
    p50_ms: float | None
    p95_ms: float | None
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float
    helpful: int
    not_helpful: int


class AgentMetricsOut(BaseModel):
    agent_id: str
    since: datetime
    source: Literal["postgres", "warehouse"] = Field(
        description="Where the figures come from (see docs/agents-api.md)."
    )
    versions: list[VersionMetrics]


class ShadowResult(BaseModel):
    version: int
    status: str
    note: str | None
    ms: float
    cost_usd: float | None
    run_id: str


class ShadowComparison(BaseModel):
    event_id: str
    ticket_id: str
    created_at: datetime
    active_version: int | None
    active_status: str
    active_note: str | None
    active_ms: float | None
    active_cost_usd: float | None
    shadows: list[ShadowResult]


class FeedbackIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    helpful: bool
    comment: str = Field(default="", max_length=2_000)
    technician: str = Field(default="", max_length=200, description="Who rates, if known.")


class FeedbackOut(BaseModel):
    feedback_id: int
    event_id: str
    agent_id: str | None
    agent_version: int | None
    helpful: bool
    comment: str
    technician: str
    via: Literal["api", "link"]
    created_at: datetime


class FeedbackLinkOut(BaseModel):
    event_id: str
    url: str = Field(description="What the note links to: rating needs no key, only this URL.")


class JobOut(BaseModel):
    """A request to the sandbox worker: a sandbox run, a run of the test cases, or an
    activation the test cases gate."""

    job_id: str
    agent_id: str
    version: int
    kind: Literal["sandbox", "test_cases", "activate"]
    status: Literal["queued", "running", "done", "refused", "failed"] = Field(
        description="refused: an activation whose test cases fail (error names them) or that "
        "the agent's state forbids; failed: the worker could not run it."
    )
    error: str | None
    run_ids: list[str] = Field(description="The runs made so far (GET …/runs/{run_id}).")
    outcome: dict[str, Any] | None = Field(
        description="Once done: sandbox {run_status}; test_cases {passed, failed}; "
        "activate {deployment}."
    )
    created_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None
    poll: str = Field(description="This job's URL: poll it until the status is final.")
