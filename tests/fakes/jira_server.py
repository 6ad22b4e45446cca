"""A Jira Service Management-shaped HTTP server on loopback, for driving our real client.

It follows the documented formats: Cloud basic auth (e-mail:API token) or Data Center
bearer personal access tokens; `GET /rest/api/3/issue/{key}` (Cloud, ADF description) or
`/rest/api/2/issue/{key}` (Data Center, wiki markup); the Service Management API's
`POST /rest/servicedeskapi/request/{key}/comment` (`{"body": str, "public": bool}`,
answered 201 with a CommentDTO) and `GET` of the same path, paged (`start`, `limit`,
`public`, `internal` -> `{size, start, limit, isLastPage, values}`); the platform API's
`POST /rest/api/{2,3}/issue/{key}/comment`, which on a service project makes a comment the
customer sees; errors as `{"errorMessage": ...}` (servicedeskapi) or `{"errorMessages":
[...], "errors": {}}` (platform). Issues in a project that is not a service project answer
404 on the servicedeskapi, as Jira does.

    with JiraServer(flavor="cloud") as jira:
        jira.add_issue({"key": "HELP-1", "fields": {...}})
        ... jira.base_url ...
"""

from __future__ import annotations

import base64
import copy
import itertools
import json
import re
import time
from typing import Any
from urllib.parse import parse_qs, unquote

from tests.fakes.vendor_server import Received, Reply, StoredButDropped, VendorServer

_ISSUE = re.compile(r"^/rest/api/([23])/issue/([^/]+)$")
_PLATFORM_COMMENT = re.compile(r"^/rest/api/([23])/issue/([^/]+)/comment$")
_MYSELF = re.compile(r"^/rest/api/([23])/myself$")
_SD_COMMENT = re.compile(r"^/rest/servicedeskapi/request/([^/]+)/comment$")


def _sd_error(message: str) -> dict[str, Any]:
    return {"errorMessage": message, "i18nErrorMessage": {"i18nKey": "sd.error", "parameters": []}}


def _platform_error(message: str) -> dict[str, Any]:
    return {"errorMessages": [message], "errors": {}}


class JiraServer(VendorServer):
    def __init__(
        self,
        flavor: str = "cloud",
        email: str = "agent@acme.example",
        token: str = "jira-test-token",
    ) -> None:
        super().__init__()
        if flavor not in ("cloud", "datacenter"):
            raise ValueError(f"flavor must be cloud or datacenter, not {flavor!r}")
        self.flavor = flavor
        self.email = email
        self.token = token
        self.comment_delay_seconds = 0.0
        self.crash_after_post = False
        self._issues: dict[str, dict[str, Any]] = {}
        self._service_projects: set[str] = set()
        self._comments: dict[str, list[dict[str, Any]]] = {}
        self._comment_posts = 0
        self._ids = itertools.count(10_000)

    # Test hooks ---------------------------------------------------------------------------

    def add_issue(self, issue: dict[str, Any], *, service_project: bool = True) -> None:
        """Stores an issue (REST v2 field shapes); its project is a service project unless
        told otherwise."""
        key = str(issue["key"])
        project = key.rsplit("-", 1)[0]
        with self._lock:
            self._issues[key] = copy.deepcopy(issue)
            if service_project:
                self._service_projects.add(project)

    def comments(self, key: str) -> list[dict[str, Any]]:
        """Every comment on the issue, as stored: `body`, `public`, `via` (which API)."""
        with self._lock:
            return copy.deepcopy(self._comments.get(key, []))

    @property
    def comment_posts(self) -> int:
        with self._lock:
            return self._comment_posts

    # Behaviour ----------------------------------------------------------------------------

    def _authorized(self, headers: dict[str, str]) -> bool:
        given = headers.get("authorization") or ""
        if self.flavor == "datacenter":
            return given == f"Bearer {self.token}"
        pair = base64.b64encode(f"{self.email}:{self.token}".encode()).decode()
        return given == f"Basic {pair}"

    def _get_issue(self, version: str, key: str) -> Reply:
        with self._lock:
            issue = copy.deepcopy(self._issues.get(key))
        if issue is None:
            return (
                404,
                _platform_error("Issue does not exist or you do not have permission to see it."),
                {},
            )
        if version == "3":
            description = issue["fields"].get("description")
            if isinstance(description, str):
                issue["fields"]["description"] = _adf(description)
        return 200, issue, {}

    def _request_known(self, key: str) -> str | None:
        """Why the servicedeskapi has no request `key`, or None if it has."""
        if key not in self._issues:
            return f"Request with id or key '{key}' does not exist."
        if key.rsplit("-", 1)[0] not in self._service_projects:
            return (
                f"Issue '{key}' is not a customer request (its project is not a service project)."
            )
        return None

    def _list_comments(self, key: str, query: str) -> Reply:
        params = parse_qs(query)
        try:
            start = max(int(params.get("start", ["0"])[0]), 0)
            limit = min(max(int(params.get("limit", ["50"])[0]), 1), 100)
        except ValueError:
            return 400, _sd_error("start and limit must be numbers"), {}
        want_public = params.get("public", ["true"])[0] != "false"
        want_internal = params.get("internal", ["true"])[0] != "false"
        with self._lock:
            missing = self._request_known(key)
            if missing:
                return 404, _sd_error(missing), {}
            every = [
                c
                for c in self._comments.get(key, [])
                if (c["public"] and want_public) or (not c["public"] and want_internal)
            ]
        page = every[start : start + limit]
        values = [_comment_dto(self.base_url, key, c) for c in page]
        body = {
            "size": len(values),
            "start": start,
            "limit": limit,
            "isLastPage": start + limit >= len(every),
            "values": values,
            "_links": {
                "base": self.base_url,
                "context": "",
                "self": f"{self.base_url}/rest/servicedeskapi/request/{key}/comment",
            },
        }
        return 200, body, {}

    def error_body(self, status: int, message: str) -> dict[str, Any]:
        return _sd_error(message)

    def _post_comment(self, key: str, raw_body: bytes, via: str) -> Reply:
        try:
            given = json.loads(raw_body)
        except ValueError:
            return 400, _sd_error("The request body is not valid JSON."), {}
        body = given.get("body") if isinstance(given, dict) else None
        with self._lock:
            failure = self.take_failure()
            if failure is not None:
                return failure
            if via == "servicedeskapi":
                missing = self._request_known(key)
                if missing:
                    return 404, _sd_error(missing), {}
                if not isinstance(body, str) or not body.strip():
                    return 400, _sd_error("The comment body must not be empty."), {}
                public = given.get("public", True)
                if not isinstance(public, bool):
                    return 400, _sd_error("public must be true or false."), {}
            else:
                if key not in self._issues:
                    return 404, _platform_error("Issue does not exist."), {}
                if body is None:
                    return (
                        400,
                        {
                            "errorMessages": [],
                            "errors": {"comment": "Comment body can not be empty!"},
                        },
                        {},
                    )
                # On a service project a platform comment is a reply the customer sees.
                public = True
            comment = {
                "id": str(next(self._ids)),
                "body": body,
                "public": public,
                "via": via,
                "created": time.time(),
            }
            self._comments.setdefault(key, []).append(comment)
            self._comment_posts += 1
            answer = _comment_dto(self.base_url, key, comment)
        if self.crash_after_post:
            raise StoredButDropped("stand-in crashed after storing the comment")
        # Stored first, answered late: a client that times out cannot know it succeeded.
        if self.comment_delay_seconds:
            time.sleep(self.comment_delay_seconds)
        return 201, answer, {}

    def route(self, request: Received) -> Reply:
        if not self._authorized(request.headers):
            message = (
                "You are not authenticated. Authentication required to perform this operation."
            )
            return 401, _platform_error(message), {}
        method, path = request.method, request.path
        if method == "GET" and (match := _MYSELF.match(path)):
            return 200, {"accountId": "712020:aa11bb22", "emailAddress": self.email}, {}
        if method == "GET" and (match := _ISSUE.match(path)):
            return self._get_issue(match[1], unquote(match[2]))
        if method == "GET" and (match := _SD_COMMENT.match(path)):
            return self._list_comments(unquote(match[1]), request.query)
        if method == "POST" and (match := _SD_COMMENT.match(path)):
            return self._post_comment(unquote(match[1]), request.body, "servicedeskapi")
        if method == "POST" and (match := _PLATFORM_COMMENT.match(path)):
            return self._post_comment(unquote(match[2]), request.body, f"api/{match[1]}")
        return 404, _platform_error("No resource at this path."), {}


def _adf(text: str) -> dict[str, Any]:
    paragraphs = [p for p in text.split("\n\n") if p]
    return {
        "type": "doc",
        "version": 1,
        "content": [
            {"type": "paragraph", "content": [{"type": "text", "text": p}]} for p in paragraphs
        ],
    }


def _comment_dto(base_url: str, key: str, comment: dict[str, Any]) -> dict[str, Any]:
    millis = int(comment["created"] * 1000)
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S+0000", time.gmtime(comment["created"]))
    return {
        "id": comment["id"],
        "body": comment["body"],
        "public": comment["public"],
        "author": {
            "accountId": "712020:aa11bb22-cc33-4d44-8e55-ff6677889900",
            "displayName": "AI Ops",
            "active": True,
        },
        "created": {"iso8601": stamp, "jira": stamp, "friendly": "Today", "epochMillis": millis},
        "_links": {"self": f"{base_url}/rest/servicedeskapi/request/{key}/comment/{comment['id']}"},
    }
