"""Hostile webhooks through the real app into the real Redis: each is refused with a clear
4xx and enqueues nothing, or (replays) is answered as a duplicate and enqueues nothing new."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator

import pytest
import redis
from fastapi.testclient import TestClient

from aiops.crypto import SecretBox
from aiops.settings import Settings
from aiops.tenant_directory import WebhookScheme, publish
from ingest.app import create_app
from itsm.servicedesk import DELIVERY_HEADER
from itsm.standard_webhooks import ID_HEADER
from tests.ingest import sdp, standard
from tests.ingest.streams import enqueued_count

URL = "/webhook/servicedesk"
TIMESTAMP_DETAIL = "outside the tolerance"
UNAUTHORIZED = {"detail": "unknown tenant or invalid signature"}


def _post(client: TestClient, tenant: str, raw: bytes, headers: dict[str, str]) -> tuple:
    response = client.post(URL, params={"tenant": tenant}, content=raw, headers=headers)
    return response.status_code, response.json()


def _counted(client: TestClient, outcome: str) -> float:
    for line in client.get("/metrics").text.splitlines():
        if line.startswith("aiops_ingest_webhooks_total{") and f'outcome="{outcome}"' in line:
            return float(line.rsplit(" ", 1)[1])
    return 0.0


# Replays --------------------------------------------------------------------------------


def test_a_resent_body_and_signature_under_a_new_delivery_id_is_a_replay(
    client: TestClient,
    redis_client: redis.Redis,
    settings: Settings,
    tenant: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    raw = sdp.body("1001")
    captured = sdp.headers(raw, delivery_id="d-original")

    first = _post(client, tenant, raw, captured)
    with caplog.at_level(logging.INFO, logger="ingest"):
        replayed = _post(client, tenant, raw, {**captured, DELIVERY_HEADER: "d-forged"})
        unsigned_id = _post(client, tenant, raw, sdp.headers(raw))

    assert first == (202, {"event_id": "d-original", "duplicate": False})
    assert replayed == (202, {"event_id": "d-forged", "duplicate": True})
    assert unsigned_id[0] == 202 and unsigned_id[1]["duplicate"] is True
    assert enqueued_count(redis_client, settings.stream_prefix) == 1
    assert _counted(client, "replay") == 2
    [line, _] = [r for r in caplog.records if r.name.startswith("ingest")]
    assert line.levelno == logging.WARNING
    assert "outcome=replay" in line.getMessage()
    assert "replay_of=d-original" in line.getMessage()


def test_a_standard_webhook_resent_within_the_window_is_a_duplicate(
    client: TestClient, redis_client: redis.Redis, settings: Settings, standard_tenant: str
) -> None:
    raw = sdp.body("1001")
    signed = standard.headers(raw, message_id="msg_7")

    first = _post(client, standard_tenant, raw, signed)
    again = _post(client, standard_tenant, raw, signed)

    assert first == (202, {"event_id": "msg_7", "duplicate": False})
    assert again == (202, {"event_id": "msg_7", "duplicate": True})
    assert enqueued_count(redis_client, settings.stream_prefix) == 1
    assert _counted(client, "duplicate") == 1


def test_a_standard_webhook_under_a_new_id_needs_a_new_signature(
    client: TestClient, redis_client: redis.Redis, settings: Settings, standard_tenant: str
) -> None:
    raw = sdp.body("1001")
    signed = standard.headers(raw, message_id="msg_7")
    assert _post(client, standard_tenant, raw, signed)[0] == 202

    forged = _post(client, standard_tenant, raw, {**signed, ID_HEADER: "msg_8"})
    # The same content as a genuinely new message is a new event, not a replay.
    new_message = _post(client, standard_tenant, raw, standard.headers(raw, message_id="msg_8"))

    assert forged == (401, UNAUTHORIZED)
    assert new_message == (202, {"event_id": "msg_8", "duplicate": False})
    assert enqueued_count(redis_client, settings.stream_prefix) == 2


# Whole seconds against the server's fractional clock: +305 stays past 300 for 4 s.
@pytest.mark.parametrize("drift", [-301, -3600, 305, 86_400])
def test_a_standard_webhook_outside_the_tolerance_is_a_401_that_says_check_the_clock(
    drift: int,
    client: TestClient,
    redis_client: redis.Redis,
    settings: Settings,
    standard_tenant: str,
) -> None:
    raw = sdp.body("1001")
    signed = standard.headers(raw, timestamp=int(time.time()) + drift)

    status, body = _post(client, standard_tenant, raw, signed)

    assert status == 401
    assert TIMESTAMP_DETAIL in body["detail"]
    assert "clock" in body["detail"]
    assert enqueued_count(redis_client, settings.stream_prefix) == 0
    assert _counted(client, "stale_timestamp") == 1


def test_an_old_timestamp_with_a_bad_signature_tells_nothing(
    client: TestClient, standard_tenant: str
) -> None:
    raw = sdp.body("1001")
    forged = standard.headers(raw, secret=standard.OTHER_SECRET, timestamp=0)

    assert _post(client, standard_tenant, raw, forged) == (401, UNAUTHORIZED)
    assert _post(client, "t-nobody", raw, forged) == (401, UNAUTHORIZED)


# Wrong secrets and wrong schemes --------------------------------------------------------


@pytest.mark.parametrize(
    "case",
    [
        "native tenant, another tenant's native secret",
        "standard tenant, another tenant's standard secret",
        "native tenant, a Standard Webhooks signature under its own secret",
        "standard tenant, a native signature under its own secret",
        "standard tenant, a good native signature beside a bad standard one",
    ],
)
def test_signatures_of_another_tenant_or_scheme_are_the_same_401(
    case: str,
    client: TestClient,
    redis_client: redis.Redis,
    settings: Settings,
    box: SecretBox,
    tenant: str,
    standard_tenant: str,
) -> None:
    # A native tenant whose secret has the whsec_ form, so either scheme could sign with it.
    native = tenant + "-n"
    publish(redis_client, settings.stream_prefix, box, native, "servicedesk", [standard.SECRET])
    raw = sdp.body("1001")
    target, headers = {
        "native tenant, another tenant's native secret": (
            tenant,
            sdp.headers(raw, "whsec_another-tenants-secret"),
        ),
        "standard tenant, another tenant's standard secret": (
            standard_tenant,
            standard.headers(raw, standard.OTHER_SECRET),
        ),
        "native tenant, a Standard Webhooks signature under its own secret": (
            native,
            standard.headers(raw, standard.SECRET),
        ),
        "standard tenant, a native signature under its own secret": (
            standard_tenant,
            sdp.headers(raw, standard.SECRET),
        ),
        "standard tenant, a good native signature beside a bad standard one": (
            standard_tenant,
            {**standard.headers(raw, standard.OTHER_SECRET), **sdp.headers(raw, standard.SECRET)},
        ),
    }[case]

    assert _post(client, target, raw, headers) == (401, UNAUTHORIZED)
    assert enqueued_count(redis_client, settings.stream_prefix) == 0


# Rotation -------------------------------------------------------------------------------


@pytest.fixture()
def uncached_client(settings: Settings, redis_client: redis.Redis) -> Iterator[TestClient]:
    """Ingest without its tenant cache, so a republished tenant applies at once."""
    with TestClient(create_app(settings.model_copy(update={"tenant_cache_seconds": 0}))) as c:
        yield c


@pytest.mark.parametrize("scheme", ["native", "standard"])
def test_during_a_rotation_old_and_new_verify_and_afterwards_only_new(
    scheme: WebhookScheme,
    uncached_client: TestClient,
    redis_client: redis.Redis,
    settings: Settings,
    box: SecretBox,
    tenant_id: str,
) -> None:
    old, new = standard.SECRET, standard.OTHER_SECRET

    def post(n: int, secret: str) -> int:
        raw = sdp.body(str(n))
        if scheme == "native":
            headers = sdp.headers(raw, secret, f"d-{n}")
        else:
            headers = standard.headers(raw, secret, f"d-{n}")
        return _post(uncached_client, tenant_id, raw, headers)[0]

    def publish_secrets(*secrets: str) -> None:
        prefix = settings.stream_prefix
        publish(redis_client, prefix, box, tenant_id, "servicedesk", [*secrets], scheme=scheme)

    publish_secrets(old)
    assert (post(1, old), post(2, new)) == (202, 401)
    publish_secrets(old, new)
    assert (post(3, old), post(4, new)) == (202, 202)
    publish_secrets(new)
    assert (post(5, old), post(6, new)) == (401, 202)
    assert enqueued_count(redis_client, settings.stream_prefix) == 4


# Rate limit -----------------------------------------------------------------------------


def test_over_the_tenants_rate_is_a_429_with_retry_after_then_it_recovers(
    client: TestClient,
    redis_client: redis.Redis,
    settings: Settings,
    box: SecretBox,
    tenant_id: str,
) -> None:
    publish(
        redis_client,
        settings.stream_prefix,
        box,
        tenant_id,
        "servicedesk",
        [sdp.SECRET],
        # A burst of 20, then a slot every 3 s: the burst is sent well within one slot.
        rate_per_minute=20,
    )

    def post(n: int) -> tuple[int, dict[str, str], dict]:
        raw = sdp.body(str(n))
        response = client.post(
            URL,
            params={"tenant": tenant_id},
            content=raw,
            headers=sdp.headers(raw, delivery_id=f"d-{n}"),
        )
        return response.status_code, dict(response.headers), response.json()

    accepted = [post(n)[0] for n in range(20)]
    status, headers, body = post(20)
    stored_while_limited = enqueued_count(redis_client, settings.stream_prefix)
    retry = post(0)  # a retry of an accepted event still gets its answer
    time.sleep(float(headers["retry-after"]) + 0.05)
    recovered = post(20)

    assert accepted == [202] * 20
    assert status == 429
    assert 1 <= int(headers["retry-after"]) <= 3
    assert "20 webhooks a minute" in body["detail"]
    assert f"retry after {headers['retry-after']} s" in body["detail"]
    assert stored_while_limited == 20
    assert retry[0] == 202 and retry[2]["duplicate"] is True
    assert recovered[0] == 202 and recovered[2] == {"event_id": "d-20", "duplicate": False}
    assert enqueued_count(redis_client, settings.stream_prefix) == 21
    assert _counted(client, "rate_limited") == 1


def test_strangers_do_not_spend_a_tenants_budget(
    client: TestClient,
    redis_client: redis.Redis,
    settings: Settings,
    box: SecretBox,
    tenant_id: str,
) -> None:
    publish(
        redis_client,
        settings.stream_prefix,
        box,
        tenant_id,
        "servicedesk",
        [sdp.SECRET],
        rate_per_minute=1,
    )
    raw = sdp.body("1")
    for _ in range(5):
        assert _post(client, tenant_id, raw, sdp.headers(raw, "whsec_forged"))[0] == 401

    assert _post(client, tenant_id, raw, sdp.headers(raw))[0] == 202


# Bodies ---------------------------------------------------------------------------------


def _signed_refusal(
    client: TestClient, redis_client: redis.Redis, settings: Settings, tenant: str, raw: bytes
) -> tuple[int, dict]:
    """A body signed with the tenant's real secret: only the body's content is at fault."""
    answer = _post(client, tenant, raw, sdp.headers(raw, delivery_id="d-hostile"))
    assert enqueued_count(redis_client, settings.stream_prefix) == 0
    return answer


@pytest.mark.parametrize(
    ("raw", "says"),
    [
        (sdp.body("1001")[:-7], "not valid JSON"),
        (b"\xff\xfe" + sdp.body("1001").decode().encode("utf-16-le"), "not UTF-8"),
        (sdp.body("1001").decode().encode("utf-16"), "not UTF-8"),
        ('{"request": {"id": "1", "subject": "café"}}'.encode("latin-1"), "not UTF-8"),
        (b'{"request": {"id": "1", "subject": "\xc3\x28"}}', "not UTF-8"),
        (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
        (b"[" * 100_000, "not valid JSON"),
        (b'{"request": {"id": "1", "subject": "x", "udf_fields": {"a": NaN}}}', "NaN"),
        (b'{"request": {"id": 1' + b"1" * 5000 + b', "subject": "x"}}', "not valid JSON"),
        (b"", "not valid JSON"),
        (b'{"request": {"id": "1001", "subject": "x", "id": "2002"}}', "appears twice"),
    ],
    ids=[
        "truncated",
        "utf-16-le with bom",
        "utf-16",
        "latin-1",
        "invalid utf-8 sequence",
        "100000 levels",
        "100000 unclosed levels",
        "NaN",
        "5000-digit number",
        "empty",
        "a second id smuggled into the request",
    ],
)
def test_signed_bodies_that_are_not_utf8_json_are_a_400(
    raw: bytes,
    says: str,
    client: TestClient,
    redis_client: redis.Redis,
    settings: Settings,
    tenant: str,
) -> None:
    status, body = _signed_refusal(client, redis_client, settings, tenant, raw)

    assert status == 400
    assert says in body["detail"]


@pytest.mark.parametrize(
    ("request_fields", "loc"),
    [
        ({"udf_fields": {"deep": json.loads("[" * 300 + "]" * 300)}}, "udf_fields"),
        ({"display_id": "\ud800"}, "display_id"),
        ({"subject": "\udfff"}, "subject"),
        ({"site": {"name": "\ud800"}}, "site"),
    ],
    ids=["300 levels in a custom field", "lone surrogate", "lone surrogate subject", "lookup"],
)
def test_signed_json_that_no_event_could_carry_is_a_422_naming_the_field(
    request_fields: dict,
    loc: str,
    client: TestClient,
    redis_client: redis.Redis,
    settings: Settings,
    tenant: str,
) -> None:
    # json.dumps escapes lone surrogates as \\udXXX: valid JSON, but not valid Unicode.
    raw = sdp.body("1001", **request_fields)

    status, body = _signed_refusal(client, redis_client, settings, tenant, raw)

    assert status == 422
    assert ["body", "request", loc] in [problem["loc"] for problem in body["detail"]]


def test_a_truncated_body_under_the_full_bodys_signature_is_a_401(
    client: TestClient, redis_client: redis.Redis, settings: Settings, tenant: str
) -> None:
    raw = sdp.body("1001")

    answer = _post(client, tenant, raw[:-7], sdp.headers(raw))

    assert answer == (401, UNAUTHORIZED)
    assert enqueued_count(redis_client, settings.stream_prefix) == 0


def test_a_content_length_that_lies_low_does_not_get_past_the_cap(
    client: TestClient, redis_client: redis.Redis, settings: Settings, tenant: str
) -> None:
    raw = b" " * (settings.max_webhook_bytes + 1)
    headers = {**sdp.headers(raw), "Content-Length": "10"}

    response = client.post(URL, params={"tenant": tenant}, content=raw, headers=headers)

    assert response.request.headers["content-length"] == "10"
    assert response.status_code == 413
    assert enqueued_count(redis_client, settings.stream_prefix) == 0
