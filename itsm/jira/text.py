"""Jira's two text formats to plain text and back: pure, no I/O.

Jira Cloud's REST v3 holds rich text as Atlassian Document Format (a JSON tree); Jira
Data Center, REST v2 and webhooks hold it as wiki markup (`*bold*`, `h1.`, `{code}`,
`[text|url]`). The LLM and the similar-ticket index want plain text; a comment we post
through the servicedeskapi is a string that Jira renders as wiki markup, so our text is
escaped to show exactly as written.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

_ADF_BLOCKS = frozenset(
    {
        *("paragraph", "heading", "blockquote", "codeBlock", "rule", "panel", "table"),
        *("tableRow", "mediaSingle", "mediaGroup", "decisionList", "taskList", "expand"),
    }
)
_MAX_ADF_DEPTH = 64  # deeper than any editor makes; guards a hostile body


def adf_to_text(document: Any) -> str:
    """Plain text of an ADF document (or any node of one); unknown nodes keep their text."""
    parts: list[str] = []
    _walk_adf(document, parts, 0)
    lines = [line.rstrip() for line in "".join(parts).splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def _walk_adf(node: Any, parts: list[str], depth: int) -> None:
    if depth > _MAX_ADF_DEPTH:
        return
    if isinstance(node, list):
        for child in node:
            _walk_adf(child, parts, depth + 1)
        return
    if not isinstance(node, Mapping):
        return
    kind = node.get("type")
    given = node.get("attrs")
    attrs: Mapping[str, Any] = given if isinstance(given, Mapping) else {}
    if kind == "text":
        text = node.get("text")
        parts.append(text if isinstance(text, str) else "")
        return
    if kind == "hardBreak":
        parts.append("\n")
        return
    if kind in ("mention", "emoji", "status", "date"):
        label = attrs.get("text") or attrs.get("shortName") or attrs.get("timestamp")
        parts.append(str(label) if label is not None else "")
        return
    if kind in ("inlineCard", "blockCard", "embedCard"):
        url = attrs.get("url")
        parts.append(url if isinstance(url, str) else "")
        return
    if kind in ("listItem", "taskItem"):
        parts.append("\n- ")
        content = node.get("content")
        for child in content if isinstance(content, list) else []:
            # An item's paragraphs are its text, not blocks of their own.
            inline = isinstance(child, Mapping) and child.get("type") == "paragraph"
            _walk_adf(child.get("content") if inline else child, parts, depth + 1)
        return
    if kind == "tableCell" or kind == "tableHeader":
        parts.append(" | ")
    elif kind in _ADF_BLOCKS:
        parts.append("\n")
    _walk_adf(node.get("content"), parts, depth + 1)
    if kind in _ADF_BLOCKS:
        parts.append("\n")


# Wiki markup to text, in order: blocks that hold literal text, then inline marks.
_MONOSPACE = re.compile(r"\{\{(.+?)\}\}")
_CODE_BLOCK = re.compile(r"\{(code|noformat)(?::[^}]*)?\}(.*?)\{\1\}", re.DOTALL)
_PANEL = re.compile(r"\{(?:quote|panel|color)(?::[^}]*)?\}")
_HEADING = re.compile(r"^h[1-6]\.\s*", re.MULTILINE)
_BQ = re.compile(r"^bq\.\s*", re.MULTILINE)
_BULLET = re.compile(r"^[*#-]+\s+", re.MULTILINE)
_LINK = re.compile(r"\[([^\]|\n]*)\|([^\]\n]+)\]|\[((?:https?|mailto):[^\]\n]+)\]|\[~([^\]\n]+)\]")
_IMAGE = re.compile(r"![^!\s][^!\n]*!")
_MARKS = re.compile(r"(?<![\w\\])([*_+^~-]|\?\?)(?=\S)(.+?)(?<=\S)\1(?!\w)")
_TABLE_BARS = re.compile(r"\|\|?")
_ESCAPED = re.compile(r"\\([\\*_+^~{}\[\]|!#?-])")


def _link(match: re.Match[str]) -> str:
    label, url, bare, user = match.groups()
    if bare is not None:
        return bare
    if user is not None:
        return "@" + user
    return f"{label} ({url})" if label else url


# An escaped character is set aside (as a private-use character) while markup is read.
_SET_ASIDE = 0xE000


def wiki_to_text(markup: str) -> str:
    """Plain text of Jira wiki markup; text that is not markup comes through unchanged."""
    text = _ESCAPED.sub(lambda m: chr(_SET_ASIDE + ord(m[1])), markup.replace("\r\n", "\n"))
    text = _CODE_BLOCK.sub(lambda m: m[2].strip("\n"), text)
    text = _MONOSPACE.sub(lambda m: m[1], text)
    text = _PANEL.sub("", text)
    text = _HEADING.sub("", text)
    text = _BQ.sub("", text)
    text = _BULLET.sub("- ", text)
    text = _IMAGE.sub("", text)
    text = _LINK.sub(_link, text)
    text = _MARKS.sub(lambda m: m[2], text)
    text = "\n".join(_TABLE_BARS.sub(" ", line).strip() for line in text.split("\n"))
    text = re.sub("[\ue000-\ue07f]", lambda m: chr(ord(m[0]) - _SET_ASIDE), text)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


# Characters that start wiki markup anywhere; a backslash shows each as itself.
_WIKI_SPECIAL = re.compile(r"([\\*_+^~{}\[\]|!?#])")
# A hyphen is markup only at a word's edge (lists, "--" dashes, -strike-): inside a word
# ("re-push") it is left alone so the stored text stays readable.
_WIKI_HYPHEN = re.compile(r"(?<![^\s-])-|-(?![^\s-])")


def escape_wiki(text: str) -> str:
    """Text that Jira's wiki renderer shows exactly as written (line breaks kept)."""
    return _WIKI_HYPHEN.sub(r"\\-", _WIKI_SPECIAL.sub(r"\\\1", text))


def unescape_wiki(text: str) -> str:
    """The text that `escape_wiki` was given."""
    return _ESCAPED.sub(r"\1", text)


def rich_text(value: Any) -> str | None:
    """An ADF document or a wiki-markup string as plain text; None if neither."""
    if isinstance(value, str):
        return wiki_to_text(value)
    if isinstance(value, Mapping) and value.get("type") == "doc":
        return adf_to_text(value)
    return None
