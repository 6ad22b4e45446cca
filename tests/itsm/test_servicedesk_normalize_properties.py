"""Properties of the SDP normalizer: any JSON is a ticket or a NormalizationError, and every
ticket it returns fits the event contract (it serializes, decodes back, and is within the
event's limits)."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aiops.events import Event, Ticket, decode_event, utcnow
from itsm.base import NormalizationError
from itsm.servicedesk import normalize_webhook

# What json.loads can produce, lone surrogates ("\ud800") included.
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(),
)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


def _deep(depth: int) -> Any:
    value: Any = "leaf"
    for _ in range(depth):
        value = {"x": [value]}
    return value


texts = st.one_of(st.text(), st.text(min_size=2_000, max_size=3_000), json_values)
lookups = st.one_of(st.none(), st.text(), st.fixed_dictionaries({"name": texts}), json_values)
times = st.one_of(
    st.none(),
    st.integers(),
    st.fixed_dictionaries({"value": st.one_of(st.text(), st.integers(), json_values)}),
    st.sampled_from(["1732000000000", "2024-11-19T10:00:00", "2024-11-19T10:00:00+02:00", ""]),
    json_values,
)
requests = st.fixed_dictionaries(
    {"id": st.one_of(st.integers(), st.text(max_size=300), json_values)},
    optional={
        "subject": texts,
        "description": st.one_of(texts, st.just("<p>" + "a" * 250_000 + "</p>")),
        "priority": lookups,
        "status": lookups,
        "category": lookups,
        "requester": st.one_of(lookups, st.fixed_dictionaries({"name": texts, "email_id": texts})),
        "site": lookups,
        "technician": lookups,
        "display_id": texts,
        "created_time": times,
        "last_updated_time": times,
        "resolved_time": times,
        "resolution": st.one_of(texts, st.fixed_dictionaries({"content": texts})),
        "udf_fields": st.one_of(
            st.dictionaries(st.text(), json_values, max_size=4),
            st.integers(min_value=30, max_value=200).map(lambda d: {"udf_deep": _deep(d)}),
            json_values,
        ),
    },
)
payloads = st.fixed_dictionaries(
    {"request": requests},
    optional={"event": st.one_of(st.sampled_from(["created", "updated", "resolved"]), texts)},
)


def _check_contract(ticket: Ticket) -> None:
    assert ticket.id.strip()
    assert len(ticket.id) <= 200
    assert len(ticket.subject) <= 2_000
    assert len(ticket.description) <= 200_000
    assert ticket.subject.strip() or ticket.description
    event = Event(
        event_id="e-1",
        tenant_id="t-1",
        source="servicedesk",
        kind="created",
        ticket=ticket,
        received_at=utcnow(),
    )
    assert decode_event(event.to_json().encode()) == event
    assert event.to_json_bytes() == event.to_json().encode()  # what ingest appends


@settings(max_examples=200, deadline=None)
@given(payload=json_values)
def test_any_json_value_is_a_ticket_or_a_normalization_error(payload: Any) -> None:
    try:
        _, ticket = normalize_webhook(payload)
    except NormalizationError as exc:
        assert exc.errors
        return
    _check_contract(ticket)


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(payload=payloads, kind=st.sampled_from([None, "resolved"]))
def test_sdp_shaped_payloads_give_tickets_that_fit_the_event_contract(
    payload: dict[str, Any], kind: Any
) -> None:
    try:
        normalized_kind, ticket = normalize_webhook(payload, kind)
    except NormalizationError as exc:
        assert exc.errors
        assert all(isinstance(error.msg, str) and error.msg for error in exc.errors)
        return
    assert normalized_kind in ("created", "updated", "resolved")
    _check_contract(ticket)


@settings(max_examples=50, deadline=None)
@given(ticket_id=st.text(min_size=1, max_size=200).filter(str.strip), subject=st.text())
def test_valid_payloads_normalize(ticket_id: str, subject: str) -> None:
    payload = {"request": {"id": ticket_id, "subject": subject or "x", "description": "d"}}
    try:
        _, ticket = normalize_webhook(payload)
    except NormalizationError as exc:
        # Only text no event could carry (lone surrogates) may be refused here.
        assert any("unicode" in e.msg.lower() for e in exc.errors), exc
        return
    assert ticket.id == ticket_id.strip()
    _check_contract(ticket)


# Every field of the type SDP documents, any content: these must all become tickets.
clean_text = st.text(st.characters(codec="utf-8"), max_size=300)
named = st.fixed_dictionaries({"name": clean_text})
well_formed = st.fixed_dictionaries(
    {
        "id": st.one_of(
            st.integers(min_value=1, max_value=10**12),
            st.text(st.characters(codec="utf-8"), min_size=1, max_size=200).filter(str.strip),
        ),
        "subject": clean_text.filter(str.strip),
    },
    optional={
        "description": clean_text,
        "priority": named,
        "status": named,
        "category": named,
        "requester": st.fixed_dictionaries({"name": clean_text, "email_id": clean_text}),
        "created_time": st.fixed_dictionaries(
            {"value": st.integers(min_value=0, max_value=4_102_444_800_000).map(str)}
        ),
        "resolution": st.fixed_dictionaries({"content": clean_text}),
        "udf_fields": st.dictionaries(clean_text, clean_text, max_size=4),
    },
)


@settings(max_examples=150, deadline=None)
@given(request=well_formed)
def test_well_formed_payloads_always_give_tickets_that_fit_the_event_contract(
    request: dict[str, Any],
) -> None:
    _, ticket = normalize_webhook({"request": request})

    _check_contract(ticket)
