"""Jira webhook bodies (Cloud and Data Center) to events: kinds, text, resolution."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from itsm.base import IgnoredEvent, NormalizationError
from itsm.jira import normalize_webhook, ticket_from_issue
from itsm.jira.text import adf_to_text, escape_wiki, unescape_wiki, wiki_to_text
from tests.conftest import FIXTURES
from tests.itsm.jira_fixtures import SHARED_CAPTURE, load


def test_the_real_cloud_capture_is_a_created_event() -> None:
    kind, ticket = normalize_webhook(load(SHARED_CAPTURE.name))
    assert kind == "created"
    assert ticket.id == "KAN-3"
    assert ticket.subject == "This is test files"
    assert ticket.priority == "Medium"
    assert ticket.status == "To Do"
    assert ticket.requester == "Pritesh Shetty"
    assert ticket.created_at is not None and ticket.created_at.utcoffset() is not None
    assert ticket.extra["project"] == "KAN"


def test_data_center_wiki_markup_becomes_plain_text() -> None:
    kind, ticket = normalize_webhook(load("dc_issue_created.json"))
    assert kind == "created"
    assert ticket.id == "HELP-42"
    assert "Since this morning the VPN client disconnects" in ticket.description
    assert "TLS handshake timeout (code 809)" in ticket.description
    assert "status page (https://status.acme.example)" in ticket.description
    for markup in ("*VPN", "h3.", "{code}", "{{", "[status"):
        assert markup not in ticket.description
    assert ticket.requester_email == "ann.lee@acme.example"
    assert ticket.tags == ["vpn", "remote-work"]
    assert ticket.extra["components"] == ["Network"]


def test_a_cloud_v3_adf_description_becomes_plain_text() -> None:
    _, ticket = normalize_webhook(load("cloud_v3_issue_created_adf.json"))
    assert [line for line in ticket.description.splitlines() if line] == [
        "Outlook asks for my password again and again since the MFA change.",
        "- Laptop: LT-0457",
        "- Reported by @Ann Lee",
        "AADSTS50076",
    ]


def test_the_rest_v3_issue_shape_reads() -> None:
    issue = load_shared("jira_rest_v3_get_issue_response.json")
    ticket = ticket_from_issue(issue, ())
    assert ticket.id == "ED-1"
    assert ticket.description == "Main order flow broken"


def load_shared(name: str) -> dict[str, Any]:
    import json

    body: dict[str, Any] = json.loads((FIXTURES / "itsm" / name).read_text())
    return body


def test_resolution_text_is_the_transition_comment_not_the_resolution_name() -> None:
    kind, ticket = normalize_webhook(load("cloud_issue_resolved.json"))
    assert kind == "resolved"
    assert ticket.resolution is not None
    assert ticket.resolution.startswith("Root cause: the split-tunnel profile")
    assert "vpn-remote-v7" in ticket.resolution
    assert ticket.resolution not in ("Done", "Fixed")
    assert ticket.extra["resolution_name"] == "Done"
    assert ticket.resolved_at is not None


def test_without_a_transition_comment_the_last_human_comment_is_the_resolution() -> None:
    kind, ticket = normalize_webhook(load("dc_issue_resolved.json"))
    assert kind == "resolved"
    assert ticket.resolution is not None
    assert ticket.resolution.startswith("Replaced the network cable at port 3F-12")


def test_our_own_note_is_never_the_resolution() -> None:
    body = load("dc_issue_resolved.json")
    comments = body["issue"]["fields"]["comment"]["comments"]
    comments.append(copy.deepcopy(comments[0]))  # our note, now the last comment
    _, ticket = normalize_webhook(body)
    assert ticket.resolution is not None and "AI Ops ref" not in ticket.resolution
    body["issue"]["fields"]["comment"]["comments"] = [comments[0]]
    _, only_ours = normalize_webhook(body)
    assert only_ours.resolution is None


def test_a_status_move_into_the_done_category_resolves_without_a_resolution_field() -> None:
    body = load("cloud_issue_resolved.json")
    body["changelog"]["items"] = [i for i in body["changelog"]["items"] if i["field"] == "status"]
    body["issue"]["fields"]["resolution"] = None
    assert normalize_webhook(body)[0] == "resolved"
    body["issue"]["fields"]["status"]["statusCategory"]["key"] = "indeterminate"
    with pytest.raises(IgnoredEvent):
        normalize_webhook(body)


@pytest.mark.parametrize(
    "name",
    [
        "cloud_comment_created.json",
        "cloud_own_comment_created.json",
        "dc_issue_commented_legacy.json",
        "cloud_issue_assigned.json",
        "cloud_issue_deleted.json",
    ],
)
def test_events_that_must_not_make_a_note_are_ignored(name: str) -> None:
    with pytest.raises(IgnoredEvent):
        normalize_webhook(load(name))


def test_the_legacy_comment_form_is_ignored_even_with_a_resolving_changelog() -> None:
    body = load("dc_issue_commented_legacy.json")
    body["changelog"] = load("dc_issue_resolved.json")["changelog"]
    with pytest.raises(IgnoredEvent, match="comment"):
        normalize_webhook(body)


def test_the_resolved_route_takes_only_resolved_issues() -> None:
    assert normalize_webhook(load("dc_issue_resolved.json"), "resolved")[0] == "resolved"
    with pytest.raises(IgnoredEvent, match="not resolved"):
        normalize_webhook(load("dc_issue_created.json"), "resolved")


def test_an_automation_issue_body_without_webhook_event_is_created() -> None:
    issue = load("dc_issue_created.json")["issue"]
    kind, ticket = normalize_webhook(issue)
    assert (kind, ticket.id) == ("created", "HELP-42")


@pytest.mark.parametrize(
    ("mutate", "where"),
    [
        (lambda b: b.pop("issue"), ("issue",)),
        (lambda b: b["issue"].pop("key") and b["issue"].pop("id"), ("issue", "key")),
        (
            lambda b: b["issue"]["fields"].update(summary="", description=None),
            ("issue", "fields", "summary"),
        ),
        (
            lambda b: b["issue"]["fields"].update(created="yesterday"),
            ("issue", "fields", "created"),
        ),
        (lambda b: b["issue"]["fields"].update(description=42), ("issue", "fields", "description")),
    ],
)
def test_unreadable_bodies_say_which_field(mutate: Any, where: tuple[str, ...]) -> None:
    body = load("dc_issue_created.json")
    mutate(body)
    with pytest.raises(NormalizationError) as caught:
        normalize_webhook(body)
    assert where in [e.loc for e in caught.value.errors]


def test_wiki_escaping_round_trips_and_renders_literally() -> None:
    text = "Run `ipconfig /renew` - then *reboot* [AI Ops ref e1] {code} a|b ~x~ !img!"
    escaped = escape_wiki(text)
    assert unescape_wiki(escaped) == text
    # Nothing in the escaped text is markup any more: reading it as wiki gives the text.
    assert wiki_to_text(escaped) == text


def test_adf_walk_is_bounded_on_hostile_depth() -> None:
    node: dict[str, Any] = {"type": "text", "text": "deep"}
    for _ in range(500):
        node = {"type": "paragraph", "content": [node]}
    assert adf_to_text({"type": "doc", "content": [node]}) == ""
