"""The Jira stand-in keeps to the documented formats our client relies on."""

from __future__ import annotations

import base64
from collections.abc import Iterator

import httpx
import pytest

from tests.fakes.jira_server import JiraServer
from tests.itsm.jira_fixtures import load

ISSUE = load("dc_issue_created.json")["issue"]
DOCUMENTED_COMMENT = load("servicedeskapi_comment_response.json")


@pytest.fixture()
def jira() -> Iterator[JiraServer]:
    with JiraServer(flavor="cloud", email="a@b.example", token="t0k") as server:
        server.add_issue(ISSUE)
        yield server


def _auth() -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(b"a@b.example:t0k").decode()}


def test_a_servicedesk_comment_answers_the_documented_comment_shape(jira: JiraServer) -> None:
    url = f"{jira.base_url}/rest/servicedeskapi/request/HELP-42/comment"
    made = httpx.post(url, json={"body": "hi", "public": False}, headers=_auth())
    assert made.status_code == 201
    assert set(DOCUMENTED_COMMENT) <= set(made.json())
    assert set(DOCUMENTED_COMMENT["created"]) == set(made.json()["created"])
    listed = httpx.get(url, params={"internal": "true", "public": "false"}, headers=_auth())
    page = listed.json()
    assert {"size", "start", "limit", "isLastPage", "values"} <= set(page)
    assert [c["body"] for c in page["values"]] == ["hi"]


def test_a_platform_comment_on_a_service_project_is_public(jira: JiraServer) -> None:
    url = f"{jira.base_url}/rest/api/3/issue/HELP-42/comment"
    assert httpx.post(url, json={"body": {"type": "doc"}}, headers=_auth()).status_code == 201
    assert [c["public"] for c in jira.comments("HELP-42")] == [True]


def test_refusals_use_jiras_error_bodies(jira: JiraServer) -> None:
    url = f"{jira.base_url}/rest/servicedeskapi/request/HELP-42/comment"
    unauthenticated = httpx.post(url, json={"body": "x", "public": False})
    assert unauthenticated.status_code == 401 and unauthenticated.json()["errorMessages"]
    jira.add_issue({**ISSUE, "key": "DEV-7"}, service_project=False)
    other = f"{jira.base_url}/rest/servicedeskapi/request/DEV-7/comment"
    not_service = httpx.post(other, json={"body": "x", "public": False}, headers=_auth())
    assert (
        not_service.status_code == 404 and "service project" in not_service.json()["errorMessage"]
    )
    empty = httpx.post(url, json={"body": " ", "public": False}, headers=_auth())
    assert empty.status_code == 400
    assert jira.comment_posts == 0


def test_cloud_issues_come_back_with_an_adf_description_on_v3_only(jira: JiraServer) -> None:
    v3 = httpx.get(f"{jira.base_url}/rest/api/3/issue/HELP-42", headers=_auth()).json()
    v2 = httpx.get(f"{jira.base_url}/rest/api/2/issue/HELP-42", headers=_auth()).json()
    assert v3["fields"]["description"]["type"] == "doc"
    assert isinstance(v2["fields"]["description"], str)
