from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from itsm.base import FieldError, NormalizationError
from itsm.html_text import html_to_text
from itsm.servicedesk import ServiceDeskPlugin, ticket_from_request
from tests.conftest import FIXTURES

SDP = FIXTURES / "itsm"
plugin = ServiceDeskPlugin()


def fixture(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((SDP / name).read_text())
    return data


def sdp_request(**changes: Any) -> dict[str, Any]:
    request = copy.deepcopy(fixture("sdp_cloud_v3_get_request_response.json")["request"])
    request.update(changes)
    return request


def locations(exc: NormalizationError) -> set[tuple[str | int, ...]]:
    return {error.loc for error in exc.errors}


def test_the_documented_v3_request_object_normalizes() -> None:
    # The GET response is itself a valid webhook body: {"request": {...}, ...}.
    kind, ticket = plugin.normalize(fixture("sdp_cloud_v3_get_request_response.json"))
    assert kind == "created"
    assert ticket.id == "123640000000240013"
    assert ticket.subject == "Test create request"
    assert ticket.description == "Update the description"
    assert (ticket.priority, ticket.status, ticket.category) == ("High", "Open", None)
    assert (ticket.requester, ticket.requester_email) == ("First Last", None)
    assert ticket.created_at == datetime(2020, 6, 24, 12, 5, 0, 533000, tzinfo=UTC)
    assert ticket.updated_at == datetime(2020, 6, 24, 15, 27, 44, 184000, tzinfo=UTC)
    assert ticket.resolved_at is None
    assert ticket.extra == {
        "display_id": "102",
        "group": "Network",
        "impact": "Affects Business",
        "level": "Tier 1",
        "mode": "E-Mail",
        "request_type": "Incident",
        "template": "Default Request",
        "urgency": "Normal",
    }


def test_kind_comes_from_the_caller_then_the_body_then_defaults_to_created() -> None:
    body = {"request": sdp_request(), "event": "updated"}
    assert plugin.normalize(body)[0] == "updated"
    assert plugin.normalize(body, "resolved")[0] == "resolved"
    assert plugin.normalize({"request": sdp_request()})[0] == "created"


def test_an_unknown_event_is_a_field_error() -> None:
    with pytest.raises(NormalizationError) as caught:
        plugin.normalize({"request": sdp_request(), "event": "deleted"})
    assert locations(caught.value) == {("event",)}


def test_resolved_ticket_carries_resolution_text_and_time() -> None:
    resolution = fixture("sdp_cloud_v3_get_request_resolution_response.json")["resolution"]
    resolution = resolution | {"content": "<p>Replaced the <b>VPN</b> certificate.</p>"}
    request = sdp_request(
        resolution=resolution,
        resolved_time={"display_value": "Jun 9, 2020 05:32 PM", "value": "1591713135801"},
        status={"name": "Resolved"},
    )
    kind, ticket = plugin.normalize({"request": request}, "resolved")
    assert kind == "resolved"
    assert ticket.resolution == "Replaced the VPN certificate."
    assert ticket.resolved_at == datetime(2020, 6, 9, 14, 32, 15, 801000, tzinfo=UTC)
    assert ticket.status == "Resolved"


def test_lenient_where_sdp_is() -> None:
    request = {
        "id": 4711,  # a number, as some trigger templates send it
        "subject": "Printer offline",
        "description": None,
        "priority": "High",  # a plain name instead of a lookup
        "status": None,
        "requester": {"name": "Ann", "email_id": "ann@example.com"},
        "technician": {"name": "Bob", "email_id": "bob@example.com"},
        "site": None,
        "created_time": 1593000300533,  # bare epoch ms
        "udf_fields": {"udf_sline_1": "Floor 3"},
    }
    _, ticket = plugin.normalize({"request": request})
    assert ticket.id == "4711"
    assert ticket.description == ""
    assert ticket.priority == "High"
    assert ticket.status is None
    assert (ticket.requester, ticket.requester_email) == ("Ann", "ann@example.com")
    assert ticket.created_at == datetime(2020, 6, 24, 12, 5, 0, 533000, tzinfo=UTC)
    assert ticket.extra == {"technician": "Bob", "udf_fields": {"udf_sline_1": "Floor 3"}}


def test_html_description_becomes_plain_text() -> None:
    html = (
        "<div>Hi team,<br>Outlook&nbsp;crashes on start.</div>"
        "<ul><li>since Monday</li><li>only on &lt;Win11&gt;</li></ul>"
        "<style>p {color: red}</style>"
    )
    _, ticket = plugin.normalize({"request": sdp_request(description=html)})
    assert ticket.description == (
        "Hi team,\nOutlook crashes on start.\n\n- since Monday\n- only on <Win11>"
    )


def test_description_alone_is_enough() -> None:
    _, ticket = plugin.normalize({"request": sdp_request(subject=None, description="<p>x</p>")})
    assert (ticket.subject, ticket.description) == ("", "x")


def test_an_over_long_description_is_clipped_not_rejected() -> None:
    _, ticket = plugin.normalize({"request": sdp_request(description="a" * 300_000)})
    assert len(ticket.description) == 200_000
    assert ticket.description.endswith("…")


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        ([], {()}),
        ({}, {("request",)}),
        ({"request": "123"}, {("request",)}),
        ({"request": sdp_request(id=None)}, {("request", "id")}),
        ({"request": sdp_request(id="  ")}, {("request", "id")}),
        ({"request": sdp_request(id=True)}, {("request", "id")}),
        ({"request": sdp_request(id="9" * 201)}, {("request", "id")}),
        ({"request": sdp_request(subject=" ", description="")}, {("request", "subject")}),
        ({"request": sdp_request(subject=["x"])}, {("request", "subject")}),
        ({"request": sdp_request(priority=3)}, {("request", "priority")}),
        ({"request": sdp_request(priority={"name": 3})}, {("request", "priority")}),
        (
            {"request": sdp_request(created_time={"value": "yesterday"})},
            {("request", "created_time")},
        ),
        (
            {"request": sdp_request(resolution={"content": ["x"]})},
            {("request", "resolution", "content")},
        ),
    ],
)
def test_strict_where_it_matters(payload: Any, expected: set[tuple[str | int, ...]]) -> None:
    with pytest.raises(NormalizationError) as caught:
        plugin.normalize(payload)
    assert locations(caught.value) == expected


def test_every_problem_is_reported_at_once() -> None:
    payload = {"event": 5, "request": {"id": None, "subject": "", "last_updated_time": "soon"}}
    with pytest.raises(NormalizationError) as caught:
        plugin.normalize(payload)
    assert caught.value.errors == [
        FieldError(("event",), "must be one of created, updated, resolved"),
        FieldError(("request", "subject"), "subject or description is required"),
        FieldError(("request", "id"), "required: a string or number"),
        FieldError(
            ("request", "last_updated_time"), "expected epoch milliseconds or an ISO 8601 time"
        ),
    ]
    assert "request.id: required" in str(caught.value)


def test_ticket_from_request_reads_a_bare_request_object() -> None:
    assert ticket_from_request(sdp_request()).id == "123640000000240013"
    with pytest.raises(NormalizationError):
        ticket_from_request(None)


def test_html_to_text_keeps_plain_text_line_breaks() -> None:
    assert html_to_text("line one\n\n\n\nline   two") == "line one\n\nline two"
    assert html_to_text("a < b and c > d") == "a < b and c > d"
    assert html_to_text("<p>wrapped\n  source</p><p>next</p>") == "wrapped source\n\nnext"
    assert html_to_text("") == ""
