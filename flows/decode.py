"""Stream entries to events; anything else becomes a dead letter, never an exception."""

from __future__ import annotations

from aiops.events import EVENT_FIELD, REPLAYED_FROM_FIELD, UnknownEventError, decode_event
from aiops.tracing import TRACEPARENT
from flows.items import DeadLetter, Entry, RawFields, Received


def _field(fields: RawFields, name: str) -> bytes | str | None:
    value = fields.get(name)
    return value if value is not None else fields.get(name.encode())


def _text(value: bytes | str) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else value


def dead_letter(entry: Entry, error: str, error_kind: str) -> DeadLetter:
    """The entry's own fields, unchanged, plus why and where it came from."""
    fields: dict[str, bytes | str] = {_text(k): v for k, v in entry.fields.items()}
    fields.update(
        error=error,
        error_kind=error_kind,
        source_stream=entry.stream,
        source_id=entry.entry_id,
    )
    return DeadLetter(fields)


def decode_entry(entry: Entry) -> Received | DeadLetter:
    raw = _field(entry.fields, EVENT_FIELD)
    if raw is None:
        return dead_letter(entry, f"entry has no {EVENT_FIELD!r} field", "undecodable")
    try:
        event = decode_event(raw)
    except UnknownEventError as exc:
        return dead_letter(entry, str(exc)[:1000], "undecodable")
    replayed = _field(entry.fields, REPLAYED_FROM_FIELD)
    traceparent = _field(entry.fields, TRACEPARENT)
    return Received(
        entry.stream,
        entry.entry_id,
        event,
        _text(replayed) if replayed else None,
        _text(traceparent) if traceparent else None,
    )
