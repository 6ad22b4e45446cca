"""The SDP stand-in keeps to the v3 formats our client is checked against."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest

from tests.fakes.sdp_server import ACCEPT, SdpServer

KEY = "k-123"


@pytest.fixture(params=["onprem", "cloud"])
def sdp(request: pytest.FixtureRequest) -> Iterator[SdpServer]:
    with SdpServer(flavor=request.param, api_key=KEY) as server:
        server.add_request({"id": 7, "subject": "Disk full"})
        yield server


def auth(flavor: str) -> dict[str, str]:
    if flavor == "onprem":
        return {"authtoken": KEY}
    return {"Authorization": f"Zoho-oauthtoken {KEY}"}


def post_note(sdp: SdpServer, description: str) -> httpx.Response:
    wrapper = "note" if sdp.flavor == "onprem" else "request_note"
    return httpx.post(
        f"{sdp.base_url}/api/v3/requests/7/notes",
        data={"input_data": json.dumps({wrapper: {"description": description}})},
        headers={"Accept": ACCEPT} | auth(sdp.flavor),
    )


def test_auth_and_accept_are_enforced(sdp: SdpServer) -> None:
    url = f"{sdp.base_url}/api/v3/requests/7"
    unauthenticated = httpx.get(url, headers={"Accept": ACCEPT})
    assert unauthenticated.status_code == 401
    assert unauthenticated.json()["response_status"]["messages"][0]["status_code"] == 4001
    assert httpx.get(url, headers=auth(sdp.flavor)).status_code == 400
    ok = httpx.get(url, headers={"Accept": ACCEPT} | auth(sdp.flavor))
    assert ok.status_code == 200
    assert ok.json()["request"]["subject"] == "Disk full"


def test_note_list_shape_per_flavor(sdp: SdpServer) -> None:
    assert post_note(sdp, "<p>first</p>").status_code == 201
    listing = httpx.get(
        f"{sdp.base_url}/api/v3/requests/7/notes",
        params={"input_data": json.dumps({"list_info": {"row_count": 10, "start_index": 1}})},
        headers={"Accept": ACCEPT} | auth(sdp.flavor),
    ).json()
    key = "notes" if sdp.flavor == "onprem" else "request_notes"
    [note] = listing[key]
    assert ("description" in note) is (sdp.flavor == "cloud")
    assert listing["list_info"]["has_more_rows"] is False
    assert listing["response_status"] == [{"status_code": 2000, "status": "success"}]


def test_fail_next_answers_in_order_then_recovers(sdp: SdpServer) -> None:
    sdp.retry_after_seconds = 3
    sdp.fail_next(429, 503)
    limited = post_note(sdp, "a")
    assert (limited.status_code, limited.headers["Retry-After"]) == (429, "3")
    assert post_note(sdp, "a").status_code == 503
    assert post_note(sdp, "a").status_code == 201
    assert sdp.note_posts == 1
    assert [n["description"] for n in sdp.notes("7")] == ["a"]
