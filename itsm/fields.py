"""Checks shared by every plugin's normalizer: what fits into an event's Ticket."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeGuard

from annotated_types import MaxLen

from aiops.events import Ticket

_MAX_DELIVERY_ID = 200  # Event.event_id's limit
# Extra fields are a level or two deep; far deeper would not serialize into an event.
_MAX_EXTRA_DEPTH = 32


def max_length(field: str) -> int:
    return next(m.max_length for m in Ticket.model_fields[field].metadata if isinstance(m, MaxLen))


def clip(text: str, limit: int) -> str:
    """Long email threads are real: keep the start rather than reject the ticket."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def is_unicode(text: str) -> bool:
    """False for text with lone surrogates (JSON's "\\ud800"), which no UTF-8 can carry."""
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


def is_mapping(value: Any) -> TypeGuard[Mapping[Any, Any]]:
    """isinstance(value, Mapping), with the plain dicts and nulls of JSON bodies answered
    before the (several times slower) abstract-class check."""
    return type(value) is dict or (value is not None and isinstance(value, Mapping))


def unstorable(value: Any) -> str | None:
    """Why `value` cannot go into an event's JSON document, or None if it can."""
    if value is None:  # most extra fields of most tickets: skip the walk
        return None
    pending: list[tuple[Any, int]] = [(value, 1)]
    while pending:
        item, depth = pending.pop()
        if depth > _MAX_EXTRA_DEPTH:
            return f"nested deeper than {_MAX_EXTRA_DEPTH} levels"
        if isinstance(item, str):
            if not is_unicode(item):
                return "text with an unpaired surrogate (not valid Unicode)"
        elif is_mapping(item):
            for key, inner in item.items():
                if not isinstance(key, str) or not is_unicode(key):
                    return "keys must be valid Unicode text"
                pending.append((inner, depth + 1))
        elif isinstance(item, list | tuple):
            pending.extend((inner, depth + 1) for inner in item)
        elif not (item is None or isinstance(item, bool | int | float)):
            return f"unsupported value of type {type(item).__name__}"
    return None


def header_delivery_id(headers: Mapping[str, str], name: str) -> str | None:
    """The ITSM's delivery id from header `name`; None when absent or too long to be an event
    id (the derived id, stable too, is used instead)."""
    value = (headers.get(name) or "").strip()
    return value if 0 < len(value) <= _MAX_DELIVERY_ID else None


def json_id(value: Any) -> str | None:
    """An id as a JSON answer gives it (a number or a string) as text; None otherwise."""
    if isinstance(value, int | str) and not isinstance(value, bool) and str(value):
        return str(value)
    return None
