"""A tenant's triage policy: whether category/priority/type suggestions are written to the
ticket's own fields, from which confidence, and which fields. Suggestions are always shown
in the note and kept in the enhancement history; writing them is the tenant's choice (an
admin-scope key of the tenant, or the platform admin token)."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from api.deps import AdminScopeDep, ReadScopeDep, errors
from warehouse import triage
from warehouse.triage import TriageSettings

router = APIRouter(prefix="/tenants/{tenant_id}/triage", tags=["triage"])

TriageField = Literal["category", "priority", "type"]


class TriageIn(BaseModel):
    """What to change; a field left out keeps its value."""

    model_config = ConfigDict(extra="forbid")

    write_fields: bool | None = Field(
        default=None, description="Write suggestions to the ticket's own fields."
    )
    threshold: float | None = Field(
        default=None, gt=0, le=1, description="Lowest confidence that is written."
    )
    fields: list[TriageField] | None = Field(
        default=None, description="Fields that may be written."
    )


class TriageOut(BaseModel):
    write_fields: bool
    threshold: float
    fields: list[str]


def _out(policy: TriageSettings) -> TriageOut:
    return TriageOut(
        write_fields=policy.write_fields, threshold=policy.threshold, fields=list(policy.fields)
    )


@router.get("", response_model=TriageOut, responses=errors(401, 404))
def get_triage(scope: ReadScopeDep) -> TriageOut:
    with scope.connection() as conn:
        return _out(triage.get_settings(conn))


@router.put("", response_model=TriageOut, responses=errors(401, 403, 404, 422))
def put_triage(scope: AdminScopeDep, body: TriageIn) -> TriageOut:
    with scope.connection() as conn:
        policy = triage.set_settings(
            conn, write_fields=body.write_fields, threshold=body.threshold, fields=body.fields
        )
    return _out(policy)
