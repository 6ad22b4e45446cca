"""Request and response models of the operator routes: system health and dead letters."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field


class ComponentOut(BaseModel):
    name: str
    state: str = Field(description="running, restarting or failing.")
    restarts: int
    last_exit: str | None


class QueueDepthOut(BaseModel):
    url: str | None = Field(description="The flow metrics endpoint read, if any.")
    depth: dict[str, int] = Field(
        description="Events not finished yet per stream, as the flow last counted them "
        "(capped at 10000); empty when the flow could not be asked."
    )
    error: str | None = Field(description="Why there is no figure, when there is none.")


class FailureOut(BaseModel):
    tenant_id: str
    event_id: str
    ticket_id: str
    error_kind: str | None
    error: str | None
    created_at: datetime


class SystemHealthOut(BaseModel):
    status: str = Field(description="ready, degraded (a component is down) or unavailable.")
    checks: dict[str, str] = Field(description="postgres and redis: ok or unreachable.")
    supervised: bool = Field(
        description="Whether an `aiops up` supervisor runs beside this API; without one "
        "(Kubernetes) the orchestrator watches the processes and `components` is empty."
    )
    components: list[ComponentOut]
    queue_depth: QueueDepthOut
    stream_entries: dict[str, int] | None = Field(
        description="Entries kept per stream, finished ones included; null if Redis is down."
    )
    dead_letters: int | None = Field(description="Entries in the dead-letter stream.")
    recent_failures: list[FailureOut] | None = Field(
        description="The newest failed enhancements over every tenant; null if PostgreSQL is down."
    )


class DeadLetterOut(BaseModel):
    entry_id: str
    tenant_id: str | None
    event_id: str | None
    ticket_id: str | None
    fields: dict[str, str] = Field(
        description="What the flow recorded: error, error_kind, source_stream, ..."
    )
    event: str | None = Field(description="The event document as it was on the stream.")
    replayable: bool = Field(description="Whether it holds an event and knows its stream.")


class DeadLetterPage(BaseModel):
    total: int = Field(description="Entries in the dead-letter stream.")
    letters: list[DeadLetterOut] = Field(description="The oldest ones, up to `limit`.")


class ReplayOut(BaseModel):
    entry_id: str
    event_id: str | None
    stream: str = Field(description="The stream the event was put back on.")
