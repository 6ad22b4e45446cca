"""The ticketing systems this installation speaks, and the settings each one takes: what a
front end needs to build a tenant's ITSM form without knowing any system by name."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, Field

from api.deps import PrincipalDep, errors
from api.itsm_connection import api_name
from itsm import registry

router = APIRouter(prefix="/itsm-plugins", tags=["tenants"])


class ConnectionFieldOut(BaseModel):
    name: str
    api_field: str = Field(description="Where it goes in POST /tenants or PATCH /tenants/{id}.")
    label: str
    help: str
    example: str
    required: bool
    secret: bool = Field(description="Taken, stored encrypted, never returned.")
    flavors: list[str] = Field(description="Asked for only with these flavors (all if empty).")
    choices: list[str]
    default: str | None


class ItsmPluginOut(BaseModel):
    name: str = Field(description="The itsm_source, and the webhook path /webhook/<name>.")
    title: str
    signature_header: str
    fields: list[ConnectionFieldOut]


@router.get("", response_model=list[ItsmPluginOut], responses=errors(401))
def list_plugins(_principal: PrincipalDep) -> list[ItsmPluginOut]:
    return [
        ItsmPluginOut(
            name=name,
            title=plugin.title,
            signature_header=plugin.signature_header,
            fields=[
                ConnectionFieldOut(
                    name=spec.name,
                    api_field=api_name(spec),
                    label=spec.label,
                    help=spec.help,
                    example=spec.example,
                    required=spec.required,
                    secret=spec.secret,
                    flavors=list(spec.flavors),
                    choices=list(spec.choices),
                    default=spec.default,
                )
                for spec in plugin.connection_fields
            ],
        )
        for name, plugin in sorted(registry.PLUGINS.items())
    ]
