"""The model's own triage answer: one structured line at the end of its note.

The prompt (flows.synthesis.prompt) asks the model to end its note with
`TRIAGE {"category": ..., "priority": ..., "type": ..., "confidence": 0..1}`. Asking in the
same call costs no second completion. The line is taken out of the note, read strictly
(JSON object, short strings, a confidence in 0..1; anything else is ignored) and combined
with the history's vote per field:

- the model agrees with the history: confidence 1 - (1 - h)(1 - m), origin both;
- otherwise the more confident of the two is kept.

The model read the ticket, and a ticket's text can steer it: a suggestion only the model
makes is shown in the note but never written to the ticket (flows.triage.to_write).
Pure logic.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from flows.triage import HISTORY, Suggestion
from itsm.base import TRIAGE_FIELDS

MODEL = "model"
BOTH = f"{HISTORY} and the model"
_LINE = re.compile(r"^[ \t>*_`]*TRIAGE:?[ \t]*(\{.*\})[ \t`*_]*$", re.MULTILINE)
_VALUE_CHARS = 100


def split_answer(text: str) -> tuple[str, dict[str, Any] | None]:
    """The note without its TRIAGE line, and the line's object if it reads as one."""
    matches = list(_LINE.finditer(text))
    if not matches:
        return text, None
    last = matches[-1]
    note = (text[: last.start()] + text[last.end() :]).strip()
    try:
        answer = json.loads(last.group(1))
    except ValueError:
        return note, None
    return note, answer if isinstance(answer, dict) else None


def model_suggestions(answer: dict[str, Any] | None) -> list[Suggestion]:
    if answer is None:
        return []
    confidence = answer.get("confidence")
    if isinstance(confidence, bool) or not isinstance(confidence, int | float):
        return []
    if not 0 <= confidence <= 1:
        return []
    found = []
    for field in TRIAGE_FIELDS:
        value = answer.get(field)
        if isinstance(value, str) and value.strip() and len(value) <= _VALUE_CHARS:
            found.append(Suggestion(field, value.strip(), round(float(confidence), 3), MODEL, 0, 0))
    return found


def combine(history: Sequence[Suggestion], model: Sequence[Suggestion]) -> list[Suggestion]:
    """Per field, the history's and the model's suggestion made one (see the docstring)."""
    by_field = {s.field: s for s in history}
    for m in model:
        h = by_field.get(m.field)
        if h is None:
            by_field[m.field] = m
        elif h.value.casefold() == m.value.casefold():
            joint = 1 - (1 - h.confidence) * (1 - m.confidence)
            by_field[m.field] = replace(h, confidence=round(joint, 3), origin=BOTH)
        elif m.confidence > h.confidence:
            by_field[m.field] = m
    return [by_field[f] for f in TRIAGE_FIELDS if f in by_field]
