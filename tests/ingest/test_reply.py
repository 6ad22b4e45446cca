"""The webhook answers' JSON (ingest.reply)."""

from __future__ import annotations

import json

import pytest

from ingest.reply import render, render_accepted


def test_render_is_json_as_starlette_renders_it() -> None:
    content = {"detail": [{"loc": ["body", "request", 0], "msg": 'é "x"\n'}], "n": 1.5}
    expected = json.dumps(content, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    assert render(content) == expected.encode()


@pytest.mark.parametrize("event_id", ["bench-1", 'a"b\\c', "tab\there\x01", "Ünïcødé-☃", ""])
@pytest.mark.parametrize("duplicate", [False, True])
def test_the_accepted_answer_is_rendered_as_its_dict_would_be(
    event_id: str, duplicate: bool
) -> None:
    assert render_accepted(event_id, duplicate) == render(
        {"event_id": event_id, "duplicate": duplicate}
    )
