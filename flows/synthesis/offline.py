"""A note composed from the gathered context alone: no model, no network.

Used when neither the tenant nor the installation configures an LLM. It lays out what the
gatherers found and derives next steps from it, and says that it was composed offline.
"""

from __future__ import annotations

import json

from aiops.events import Event
from flows.context import OK, Context
from flows.synthesis import Synthesis

_RESOLUTION_CHARS = 400
_MONITORING_CHARS = 600

HEADER = (
    "AI Ops suggestions, composed offline from your ticket history, knowledge base, "
    "inventory and monitoring (no language model is configured)."
)


def _clip(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _next_steps(context: Context) -> list[str]:
    steps = []
    resolved = [t for t in context.similar_tickets if t.resolution]
    if resolved:
        best = resolved[0]
        steps.append(
            f"Try what resolved #{best.ticket_id} ({_clip(best.subject, 80)}): "
            f"{_clip(best.resolution or '', 200)}"
        )
    for article in context.kb_articles[:1]:
        where = f" ({article.url})" if article.url else ""
        steps.append(f'Follow KB article {article.article_id} "{article.title}"{where}.')
    for host in context.hosts[:3]:
        owner = f"; owner: {host.owner}" if host.owner else ""
        steps.append(
            f"Check {host.hostname} ({host.ip_address or 'no IP on record'}, "
            f"{host.os or 'OS unknown'}{owner})."
        )
    if context.monitoring:
        steps.append("Compare the monitoring data below with the time the problem started.")
    unavailable = [name for name, status in context.sources.items() if status.startswith("failed")]
    if unavailable:
        steps.append(f"Context from {', '.join(unavailable)} was unavailable; check it by hand.")
    if not steps:
        steps.append(
            "Nothing similar is on record yet: collect the exact error message, when it "
            "started, who is affected and what changed recently."
        )
    steps.append("Confirm scope and impact with the requester before changing anything.")
    return steps


def compose(context: Context, header: str = HEADER) -> str:
    lines = [header, "", "Suggested next steps:"]
    lines += [f"{n}. {step}" for n, step in enumerate(_next_steps(context), start=1)]
    if context.similar_tickets:
        lines += ["", "Similar resolved tickets:"]
        for t in context.similar_tickets:
            resolution = _clip(t.resolution, _RESOLUTION_CHARS) if t.resolution else "not recorded"
            lines.append(
                f"- #{t.ticket_id} {_clip(t.subject, 120)} (closeness {t.score:.0%}): "
                f"resolution: {resolution}"
            )
    if context.kb_articles:
        lines += ["", "Knowledge-base articles:"]
        for a in context.kb_articles:
            lines.append(f"- {a.article_id} {a.title}{f' ({a.url})' if a.url else ''}")
    if context.hosts:
        lines += ["", "Systems mentioned in the ticket:"]
        for h in context.hosts:
            facts = ", ".join(
                value for value in (h.ip_address, h.kind, h.os, h.location, h.owner) if value
            )
            lines.append(f"- {h.hostname}{f' ({facts})' if facts else ''}")
    if context.monitoring:
        monitoring = json.dumps(context.monitoring, default=str)
        lines += ["", "Monitoring:", _clip(monitoring, _MONITORING_CHARS)]
    not_ok = [f"{name}: {status}" for name, status in context.sources.items() if status != OK]
    if not_ok:
        lines += ["", "Context sources without results: " + "; ".join(not_ok)]
    return "\n".join(lines)


class OfflineSynthesizer:
    """`header` says why the note was composed offline (by default: no model configured)."""

    name = "offline"

    def __init__(self, header: str = HEADER) -> None:
        self._header = header

    def synthesize(self, event: Event, context: Context) -> Synthesis:
        return Synthesis(text=compose(context, self._header), synthesizer=self.name)
