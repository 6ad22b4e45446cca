"""Masking an event's ticket and its gathered context before they reach a model or storage.

The enhancement applies it at one place (flows.process): the ticket as soon as the tenant's
configuration is known, so the stored copy, the context queries (the monitoring endpoint is
a third party too) and the prompt see only the masked text; and what the gatherers found,
since history, KB articles and monitoring data carry pasted credentials as well.
Credentials are always masked (ingest masked them in the ticket before the stream already;
masking is idempotent); e-mail addresses, phone numbers and the requester's name only for
tenants with mask_personal_data.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any, TypeVar

from aiops.events import Event
from aiops.redaction import Redactor
from aiops.ticket_masking import mask_ticket
from flows.context import Context
from warehouse.tenants import TenantConfig

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

D = TypeVar("D", bound="DataclassInstance")


def redactor_for(tenant: TenantConfig, event: Event) -> Redactor:
    requester = event.ticket.requester
    return Redactor(personal=tenant.mask_personal_data, names=(requester,) if requester else ())


def mask_event(event: Event, redactor: Redactor) -> Event:
    """The event with every text field of its ticket masked; ids and timestamps as they are."""
    return event.model_copy(update={"ticket": mask_ticket(event.ticket, redactor)})


def _masked_fields(item: D, redactor: Redactor) -> D:
    """A frozen dataclass with each of its string (and JSON-like) fields masked."""
    values: dict[str, Any] = {
        f.name: redactor.value(getattr(item, f.name)) for f in dataclasses.fields(item)
    }
    return dataclasses.replace(item, **values)


def mask_context(context: Context, redactor: Redactor) -> Context:
    return Context(
        similar_tickets=[_masked_fields(t, redactor) for t in context.similar_tickets],
        kb_articles=[_masked_fields(a, redactor) for a in context.kb_articles],
        mentions=context.mentions,  # found in the ticket text, which is masked already
        hosts=[_masked_fields(h, redactor) for h in context.hosts],
        monitoring=redactor.value(context.monitoring),
        sources={name: redactor.text(status) for name, status in context.sources.items()},
        timings_ms=context.timings_ms,
        dropped=redactor.value(context.dropped),
    )
