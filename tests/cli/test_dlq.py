"""`aiops dlq`: dead letters listed, and replayed onto their shard stream."""

from __future__ import annotations

import redis

from aiops.events import EVENT_FIELD, Event, Ticket, shard_for, utcnow
from aiops.settings import Settings
from tests.cli.conftest import Invoke


def _text(value: bytes | str | None) -> str:
    assert value is not None
    return value.decode() if isinstance(value, bytes) else value


def _entries(client: redis.Redis, stream: str) -> list[tuple[str, dict[str, str]]]:
    found = client.xrange(stream) or []
    return [
        (_text(eid), {_text(k): _text(v) for k, v in (fields or {}).items()})
        for eid, fields in found
    ]


def _dead_letter(client: redis.Redis, settings: Settings, tenant_id: str, event_id: str) -> str:
    event = Event(
        event_id=event_id,
        tenant_id=tenant_id,
        source="servicedesk",
        kind="created",
        ticket=Ticket(id="555", subject="VPN down"),
        received_at=utcnow(),
    )
    entry = client.xadd(
        settings.dead_letter_stream,
        {
            EVENT_FIELD: event.to_json(),
            "error": "ServiceDesk Plus answered 401 Unauthorized",
            "error_kind": "permanent",
        },
    )
    return _text(entry)


def _shard(settings: Settings, tenant_id: str) -> str:
    return settings.stream_name(shard_for(tenant_id, settings.stream_shards))


def test_list_shows_why_an_event_failed(
    aiops: Invoke, redis_client: redis.Redis, settings: Settings, tenant_id: str
) -> None:
    entry = _dead_letter(redis_client, settings, tenant_id, "ev-dead")

    result = aiops("dlq", "list")

    assert result.exit_code == 0, result.output
    for text in (entry, tenant_id, "ev-dead", "555", "permanent", "401 Unauthorized"):
        assert text in result.output


def test_replay_moves_the_entry_back_to_its_shard(
    aiops: Invoke, redis_client: redis.Redis, settings: Settings, tenant_id: str
) -> None:
    kept = _dead_letter(redis_client, settings, tenant_id, "ev-keep")
    entry = _dead_letter(redis_client, settings, tenant_id, "ev-again")
    original = dict(_entries(redis_client, settings.dead_letter_stream))[entry]

    result = aiops("dlq", "replay", entry)

    assert result.exit_code == 0, result.output
    replayed = _entries(redis_client, _shard(settings, tenant_id))
    assert [fields for _, fields in replayed] == [{EVENT_FIELD: original[EVENT_FIELD]}]
    assert [eid for eid, _ in _entries(redis_client, settings.dead_letter_stream)] == [kept]


def test_replay_all_and_unreplayable_entries_stay(
    aiops: Invoke, redis_client: redis.Redis, settings: Settings, tenant_id: str
) -> None:
    _dead_letter(redis_client, settings, tenant_id, "ev-1")
    _dead_letter(redis_client, settings, tenant_id, "ev-2")
    junk = _text(redis_client.xadd(settings.dead_letter_stream, {EVENT_FIELD: "not json"}))

    result = aiops("dlq", "replay", "--all")

    assert result.exit_code == 0, result.output
    assert "Replayed 2 of 3" in result.output
    assert redis_client.xlen(_shard(settings, tenant_id)) == 2
    assert [eid for eid, _ in _entries(redis_client, settings.dead_letter_stream)] == [junk]


def test_replay_needs_ids_or_all_and_knows_unknown_ids(aiops: Invoke) -> None:
    neither = aiops("dlq", "replay")
    unknown = aiops("dlq", "replay", "1-1")

    assert neither.exit_code == 1 and "--all" in neither.output
    assert unknown.exit_code == 1 and "no dead letter 1-1" in unknown.output
