"""What a PromQL expression refers to: metric names, label matchers and grouping labels.

Enough of PromQL for the expressions in deploy/prometheus and deploy/grafana (selectors,
ranges, aggregations with by/without, vector matching with on/ignoring), so the tests can
hold them against the metrics the code registers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

FUNCTIONS = frozenset(
    {
        "abs",
        "absent",
        "avg",
        "ceil",
        "clamp_min",
        "count",
        "delta",
        "floor",
        "histogram_quantile",
        "increase",
        "irate",
        "max",
        "min",
        "rate",
        "round",
        "sum",
        "topk",
        "vector",
    }
)
KEYWORDS = frozenset({"and", "or", "unless", "bool"})

_SELECTOR = re.compile(r"([a-zA-Z_:][a-zA-Z0-9_:]*)\s*\{([^}]*)\}")
_MATCHER = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"\s*,?')
_GROUPING = re.compile(r"\b(by|without|on|ignoring)\s*\(([^)]*)\)")
_IDENTIFIER = re.compile(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(\s*\()?")


@dataclass(frozen=True)
class Matcher:
    label: str
    op: str
    value: str


@dataclass
class References:
    metrics: set[str] = field(default_factory=set)
    matchers: list[tuple[str, Matcher]] = field(default_factory=list)  # (metric, matcher)
    grouping: set[str] = field(default_factory=set)


def references(expr: str) -> References:
    refs = References()
    for selector in _SELECTOR.finditer(expr):
        metric, body = selector.group(1), selector.group(2)
        refs.metrics.add(metric)
        parsed = list(_MATCHER.finditer(body))
        assert "".join(m.group(0) for m in parsed) == body, f"unparsed matchers in {body!r}"
        refs.matchers.extend((metric, Matcher(m.group(1), m.group(2), m.group(3))) for m in parsed)
    rest = _SELECTOR.sub(lambda m: m.group(1), expr)
    for grouping in _GROUPING.finditer(rest):
        refs.grouping.update(label.strip() for label in grouping.group(2).split(",") if label)
    rest = _GROUPING.sub(" ", rest)
    rest = re.sub(r"\[[^\]]*\]", " ", rest)
    rest = re.sub(r"\b\d+(\.\d+)?\b", " ", rest)
    for token in _IDENTIFIER.finditer(rest):
        name, call = token.group(1), token.group(2)
        if name in KEYWORDS:
            continue
        if call:
            assert name in FUNCTIONS, f"unknown PromQL function {name!r} in {expr!r}"
        else:
            refs.metrics.add(name)
    return refs
