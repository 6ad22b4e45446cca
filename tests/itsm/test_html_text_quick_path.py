"""html_text's quick path against the full parser: the same text on every fixture string,
every string constant in the tests, and generated fragments of simple markup."""

from __future__ import annotations

import ast
import csv
import json
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from itsm.html_text import _single_spaced, parsed_text, quick_text
from tests.conftest import FIXTURES

TESTS = Path(__file__).resolve().parents[1]


def _json_strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, inner in value.items():
            yield key
            yield from _json_strings(inner)
    elif isinstance(value, list):
        for inner in value:
            yield from _json_strings(inner)


def _file_strings(path: Path) -> Iterator[str]:
    text = path.read_text(errors="replace")
    yield text
    if path.suffix == ".json":
        yield from _json_strings(json.loads(text))
    elif path.suffix == ".csv":
        for row in csv.reader(text.splitlines()):
            yield from row
    elif path.suffix == ".py":
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                yield node.value


def _corpus() -> set[str]:
    # FIXTURES is the shared fixtures folder; tests/fixtures holds the plugins' own payloads.
    files = [*FIXTURES.rglob("*.*"), *(TESTS / "fixtures").rglob("*.*"), *TESTS.rglob("*.py")]
    return {s for path in files if path.is_file() for s in _file_strings(path) if "<" in s}


CORPUS = sorted(_corpus())


def test_the_corpus_has_markup_for_both_paths() -> None:
    quick = [s for s in CORPUS if quick_text(s) is not None]
    assert len(quick) >= 10
    assert len(CORPUS) - len(quick) >= 10


def test_the_quick_path_agrees_with_the_parser_on_every_corpus_string() -> None:
    different = [s for s in CORPUS if quick_text(s) not in (None, parsed_text(s))]
    assert different == []


@pytest.mark.parametrize(
    "html",
    [
        "a &amp; b",
        "<p class='x'>a</p>",
        "<script>a</script>b",
        "<style>p{}</style>",
        "<textarea><b>a</b></textarea>",
        "<title>t</title>",
        "a < b",
        "<!-- c --><p>a</p>",
        "<p>a</p >",
        "<img/>",
    ],
)
def test_fragments_needing_the_parser_take_it(html: str) -> None:
    assert quick_text(html) is None


_TAGS = ["p", "P", "div", "li", "LI", "ul", "br", "BR", "td", "h1", "span", "b", "Strong"]
_TOKENS = st.one_of(
    st.text(st.sampled_from("ab \n\t\r>x"), min_size=1, max_size=6),
    st.sampled_from(_TAGS).map(lambda t: f"<{t}>"),
    st.sampled_from(_TAGS).map(lambda t: f"</{t}>"),
    st.sampled_from(_TAGS).map(lambda t: f"<{t}/>"),
    st.sampled_from(_TAGS).map(lambda t: f"<{t} />"),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_TOKENS, max_size=12).map("".join))
def test_simple_fragments_take_the_quick_path_with_the_parsers_text(html: str) -> None:
    assert quick_text(html) == parsed_text(html)


def test_text_skips_the_space_folding_only_when_it_has_nothing_to_fold() -> None:
    # _single_spaced trusts that every white-space character but the space is unprintable.
    spaces = [c for c in map(chr, range(sys.maxunicode + 1)) if c.isspace()]
    assert [c for c in spaces if c != " " and c.isprintable()] == []
    for text in [*(f"a{c}b" for c in spaces), "a  b", " a ", "plain text", "", "\xad"]:
        assert _single_spaced(text) == re.sub(r"\s+", " ", text)
