"""HTML ticket bodies to plain text, with the standard library's tolerant parser.

ITSMs store descriptions and notes as HTML fragments; the LLM prompt and the similar-ticket
index want text. Block elements become line breaks; scripts and styles are dropped.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

_LOOKS_LIKE_HTML = re.compile(r"<[a-zA-Z/!]")
_SPACES = re.compile(r"\s+")
_BLANK_LINES = re.compile(r"\n{3,}")
_BLOCKS = frozenset(
    {
        *("address", "article", "aside", "blockquote", "dd", "div", "dl", "dt", "fieldset"),
        *("figcaption", "figure", "footer", "form", "h1", "h2", "h3", "h4", "h5", "h6"),
        *("header", "hr", "li", "main", "nav", "ol", "p", "pre", "section", "table"),
        *("tbody", "td", "tfoot", "th", "thead", "tr", "ul"),
    }
)
_HIDDEN = frozenset({"script", "style", "head", "title"})
# Tags the quick path may meet: block breaks and inline styling, never one whose content
# the parser reads raw (script, style, textarea, ...) or hides.
_QUICK_TAGS = _BLOCKS | {"br", "span", "b", "i", "u", "em", "strong", "small", "code"}
# A fragment of bare text (no entities) and attribute-less tags: <p>, </p>, <br/>, <br />.
_QUICK_TOKEN = re.compile(
    r"([^<&]+)|<([a-zA-Z][a-zA-Z0-9]*)>|</([a-zA-Z][a-zA-Z0-9]*)>|<([a-zA-Z][a-zA-Z0-9]*) ?/>"
)


def _single_spaced(text: str) -> str:
    """Each run of white space as one space. Every white-space character but the space is
    unprintable, so printable text without two spaces in a row has none to fold (most
    text between tags) and skips the regex."""
    return text if text.isprintable() and "  " not in text else _SPACES.sub(" ", text)


def _opened(tag: str) -> str:
    """The text a start tag adds."""
    if tag == "li":
        return "\n- "
    return "\n" if tag == "br" or tag in _BLOCKS else ""


def _closed(tag: str) -> str:
    """The text an end tag adds (the next item's start tag breaks a list's line)."""
    return "\n" if tag in _BLOCKS and tag != "li" else ""


def _self_closed(tag: str) -> str:
    """The text a self-closing tag (<br/>) adds."""
    return "\n" if tag == "br" or tag in _BLOCKS else ""


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._hidden_depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _HIDDEN:
            self._hidden_depth += 1
        else:
            self.parts.append(_opened(tag))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.parts.append(_self_closed(tag))

    def handle_endtag(self, tag: str) -> None:
        if tag in _HIDDEN:
            self._hidden_depth = max(0, self._hidden_depth - 1)
        else:
            self.parts.append(_closed(tag))

    def handle_data(self, data: str) -> None:
        if not self._hidden_depth:
            # In HTML, source line breaks are just spaces; real breaks come from tags.
            self.parts.append(_single_spaced(data))


def quick_text(html: str) -> str | None:
    """What _TextExtractor collects from a simple fragment, or None when the fragment needs
    the parser; most ticket bodies are a few <div>/<p>/<br> around plain text."""
    parts: list[str] = []
    position = 0
    for match in _QUICK_TOKEN.finditer(html):
        if match.start() != position:
            return None
        position = match.end()
        # Which group matched: 1 text, 2 a start tag, 3 an end tag, 4 a self-closing tag.
        group = match.lastindex
        if group == 1:
            parts.append(_single_spaced(match[1]))
            continue
        assert group is not None
        tag = match[group].lower()
        if tag not in _QUICK_TAGS:
            return None
        parts.append((_opened, _closed, _self_closed)[group - 2](tag))
    return "".join(parts) if position == len(html) else None


def parsed_text(html: str) -> str:
    """What _TextExtractor collects from `html` (the reference for quick_text)."""
    parser = _TextExtractor()
    parser.feed(html)
    parser.close()
    return "".join(parser.parts)


def html_to_text(html: str) -> str:
    """Plain text of an HTML fragment; text without markup keeps its own line breaks."""
    if _LOOKS_LIKE_HTML.search(html):
        quick = quick_text(html)
        text = parsed_text(html) if quick is None else quick
    else:
        text = html
    lines = "\n".join([" ".join(line.split()) for line in text.splitlines()])
    if "\n\n\n" in lines:  # the regex only where there are blank lines to fold
        lines = _BLANK_LINES.sub("\n\n", lines)
    return lines.strip()
