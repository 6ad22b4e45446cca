"""`aiops dlq`: dead letters as the flow writes them, listed and replayed to their stream."""

from __future__ import annotations

import redis
from typer.testing import CliRunner

from aiops.events import EVENT_FIELD, Event, Ticket, shard_for, utcnow
from aiops.settings import Settings
from cli.main import app
from flows.decode import dead_letter, decode_entry
from flows.items import Entry, Received
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


def _shard(settings: Settings, tenant_id: str) -> str:
    return settings.stream_name(shard_for(tenant_id, settings.stream_shards))


def _failed(
    client: redis.Redis,
    settings: Settings,
    tenant_id: str,
    event_id: str,
    stream: str = "",
    error: str = "ServiceDesk Plus answered 401 Unauthorized",
) -> str:
    """A dead letter as the flow writes it for an event that failed permanently."""
    event = Event(
        event_id=event_id,
        tenant_id=tenant_id,
        source="servicedesk",
        kind="created",
        ticket=Ticket(id="555", subject="VPN down"),
        received_at=utcnow(),
    )
    received = Received(stream or _shard(settings, tenant_id), "1700000000000-0", event)
    letter = received.dead_letter(error, "permanent")
    return _text(client.xadd(settings.dead_letter_stream, letter.fields))  # type: ignore[arg-type]


def test_list_shows_why_an_event_failed(
    aiops: Invoke, redis_client: redis.Redis, settings: Settings, tenant_id: str
) -> None:
    entry = _failed(redis_client, settings, tenant_id, "ev-dead")

    result = aiops("dlq", "list")

    assert result.exit_code == 0, result.output
    for text in (entry, tenant_id, "ev-dead", "555", "permanent", "401 Unauthorized"):
        assert text in result.output


def test_list_shows_the_whole_reason_at_80_columns(
    cli_env: dict[str, str], redis_client: redis.Redis, settings: Settings, tenant_id: str
) -> None:
    error = (
        "ServiceDesk Plus answered 401 Unauthorized for POST /api/v3/requests/555/notes: "
        "the technician key of this tenant was revoked; ask the tenant for a new key"
    )
    _failed(redis_client, settings, tenant_id, "ev-long", error=error)

    result = CliRunner().invoke(app, ["dlq", "list"], env={**cli_env, "COLUMNS": "80"})

    assert result.exit_code == 0, result.output
    assert max(len(line) for line in result.output.splitlines()) <= 80
    # The cell wraps; its words, the last ones included, are all there in order.
    words = " ".join(
        line.split("│")[-2].strip() for line in result.output.splitlines() if line.count("│") > 2
    ).split()
    assert " ".join(error.split()[-6:]) in " ".join(words)


def test_replay_moves_the_entry_back_and_the_flow_takes_it_as_a_replay(
    aiops: Invoke, redis_client: redis.Redis, settings: Settings, tenant_id: str
) -> None:
    kept = _failed(redis_client, settings, tenant_id, "ev-keep")
    entry = _failed(redis_client, settings, tenant_id, "ev-again")
    original = dict(_entries(redis_client, settings.dead_letter_stream))[entry]

    result = aiops("dlq", "replay", entry)

    assert result.exit_code == 0, result.output
    shard = _shard(settings, tenant_id)
    ((entry_id, fields),) = _entries(redis_client, shard)
    assert fields == {EVENT_FIELD: original[EVENT_FIELD], "replayed_from": entry}
    decoded = decode_entry(Entry(shard, entry_id, fields))
    assert isinstance(decoded, Received)
    assert (decoded.event.event_id, decoded.replayed_from) == ("ev-again", entry)
    assert [eid for eid, _ in _entries(redis_client, settings.dead_letter_stream)] == [kept]


def test_replay_all_returns_each_letter_to_its_source_stream(
    aiops: Invoke, redis_client: redis.Redis, settings: Settings, tenant_id: str
) -> None:
    backfill = settings.backfill_stream_name(shard_for(tenant_id, settings.stream_shards))
    _failed(redis_client, settings, tenant_id, "ev-live")
    _failed(redis_client, settings, tenant_id, "ev-backfill", stream=backfill)
    # An entry the flow could not decode (say, a newer schema): replayable after an upgrade.
    undecodable = dead_letter(
        Entry(_shard(settings, tenant_id), "1-0", {EVENT_FIELD: '{"schema_version": 2}'}),
        "not a v1 event",
        "undecodable",
    )
    redis_client.xadd(settings.dead_letter_stream, undecodable.fields)  # type: ignore[arg-type]
    junk = _text(redis_client.xadd(settings.dead_letter_stream, {"note": "no event here"}))

    result = aiops("dlq", "replay", "--all")

    assert result.exit_code == 0, result.output
    assert "Replayed 3 of 4" in result.output
    assert redis_client.xlen(_shard(settings, tenant_id)) == 2
    assert redis_client.xlen(backfill) == 1
    assert [eid for eid, _ in _entries(redis_client, settings.dead_letter_stream)] == [junk]


def test_replay_needs_ids_or_all_and_knows_unknown_ids(aiops: Invoke) -> None:
    neither = aiops("dlq", "replay")
    unknown = aiops("dlq", "replay", "1-1")

    assert neither.exit_code == 1 and "--all" in neither.output
    assert unknown.exit_code == 1 and "no dead letter 1-1" in unknown.output
