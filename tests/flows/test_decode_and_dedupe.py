from __future__ import annotations

from aiops.events import EVENT_FIELD
from flows.decode import decode_entry
from flows.dedupe import RecentIds, is_fresh
from flows.items import DeadLetter, Entry, Received
from tests.flows.events import entry, event


def test_a_valid_entry_decodes_to_its_event() -> None:
    original = event("t1", "42", "VPN down")
    decoded = decode_entry(entry(original, stream="aiops:events:3"))
    assert isinstance(decoded, Received)
    assert decoded.event == original
    assert decoded.stream == "aiops:events:3"
    assert decoded.replayed_from is None


def test_undecodable_entries_become_dead_letters_with_their_original_fields() -> None:
    for fields, why in (
        ({EVENT_FIELD: "{not json"}, "not a v1 event"),
        ({EVENT_FIELD: '{"schema_version": 2, "event_id": "x"}'}, "not a v1 event"),
        ({"something": "else"}, "no 'event' field"),
    ):
        raw = entry(fields)
        letter = decode_entry(raw)
        assert isinstance(letter, DeadLetter)
        assert why in str(letter.fields["error"])
        assert letter.fields["error_kind"] == "undecodable"
        assert letter.fields["source_stream"] == raw.stream
        assert letter.fields["source_id"] == raw.entry_id
        for key, value in fields.items():
            assert letter.fields[key] == value.encode()


def _ids(window_ms: int, items: list[Received]) -> list[str]:
    recent = RecentIds(window_ms)
    return [item.event.event_id for item in items if is_fresh(recent, item)]


def _at(ms: int, event_id: str, replayed_from: str | None = None) -> Received:
    return Received("s", f"{ms}-0", event("t1", "1", "x", event_id=event_id), replayed_from)


def test_a_repeated_event_id_is_dropped_within_the_window_and_passes_after_it() -> None:
    items = [_at(0, "a"), _at(10, "b"), _at(20, "a"), _at(5_000, "a"), _at(5_500, "a")]
    assert _ids(1_000, items) == ["a", "b", "a"]


def test_a_replay_from_the_dead_letters_or_a_backfill_is_a_new_attempt() -> None:
    backfill = Received("s", "30-0", event("t1", "1", "x", event_id="a", backfill=True))
    items = [_at(0, "a"), _at(10, "a", replayed_from="171-0"), _at(20, "a", "171-0"), backfill]
    assert _ids(60_000, items) == ["a", "a", "a"]


def test_memory_is_bounded_by_count_too() -> None:
    recent = RecentIds(window_ms=10**9, max_ids=3)
    for n in range(5):
        assert recent.admit((str(n), None), n)
    assert list(recent.seen) == [("2", None), ("3", None), ("4", None)]
    assert recent.admit(("0", None), 6)


def test_entries_built_by_hand_with_text_fields_decode_too() -> None:
    original = event("t1", "7", "printer")
    decoded = decode_entry(Entry("s", "1-0", {EVENT_FIELD: original.to_json()}))
    assert isinstance(decoded, Received)
    assert decoded.event.event_id == original.event_id


def test_the_same_entry_read_again_after_a_resume_is_not_a_repeat() -> None:
    recent = RecentIds(window_ms=60_000)
    first = _at(100, "a")
    assert is_fresh(recent, first)
    assert is_fresh(recent, first)  # unfinished at the snapshot, read again: run it
    assert not is_fresh(recent, _at(200, "a"))  # another entry with that event: a repeat
