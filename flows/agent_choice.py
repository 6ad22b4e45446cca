"""What the chosen agent version changes in one event's processing (flows.process).

The default agent is today's behaviour exactly: the settings' sources, the platform's
prompt, the note as the model wrote it. Any other version brings its own plan, prompt and
note length. The history row names the version as the event begins.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from aiops.agent_spec import DEFAULT_AGENT
from aiops.crypto import SecretBox
from aiops.events import Event
from aiops.feedback_token import feedback_url, make_token
from aiops.settings import Settings
from flows.agents import Choice, GatherPlan, clip_note, plan_for
from flows.synthesis import Synthesis
from flows.synthesis.instructions import Messages, messages_for
from flows.synthesis.prompt import build_messages
from warehouse import agents, enhancements
from warehouse.db import TenantConnection
from warehouse.enhancements import Prior

_DONE = ("succeeded", "stored")


def plan_of(choice: Choice) -> GatherPlan | None:
    return None if choice.is_default else plan_for(choice.spec)


def prompt_of(choice: Choice) -> Messages:
    return build_messages if choice.is_default else messages_for(choice.spec)


def shaped(synthesis: Synthesis, choice: Choice) -> Synthesis:
    if choice.is_default:
        return synthesis
    return dataclasses.replace(synthesis, text=clip_note(synthesis.text, choice.spec))


def begin_for(
    conn: TenantConnection,
    event: Event,
    choice: Choice,
    triage: dict[str, Any] | None = None,
) -> tuple[Prior | None, Choice]:
    """enhancements.begin, and the version that produces the row. A first attempt's row
    names its version (and holds `triage`) as it is written. A new attempt at an
    unfinished event (the flow stopped midway) finishes on the version it started with,
    whatever was deployed since; a handled event that is only skipped keeps its version;
    the caller records `triage` for a new attempt itself, if it goes on."""
    agent = (choice.agent_id, choice.version)
    prior = enhancements.begin(conn, event, agent=agent, triage=triage)
    if prior is None:
        return None, choice
    if prior.status not in _DONE and not event.backfill:
        choice = _started_on(conn, event.event_id) or choice
    if prior.status not in _DONE or event.backfill:
        agents.record_version(conn, event.event_id, choice.agent_id, choice.version)
    return prior, choice


def _started_on(conn: TenantConnection, event_id: str) -> Choice | None:
    row = conn.execute(
        "SELECT agent_id, agent_version FROM enhancement_history WHERE event_id = %s",
        (event_id,),
    ).fetchone()
    if row is None or row["agent_id"] in (None, DEFAULT_AGENT):
        return None
    running = agents.running_version(conn, row["agent_id"], row["agent_version"])
    if running is None:  # the agent was deleted meanwhile
        return None
    return Choice(running.agent_id, running.version, running.spec, "the version it started on")


class NoteLinks:
    """The rating link every posted note ends with (aiops.feedback_token)."""

    def __init__(self, box: SecretBox, settings: Settings) -> None:
        self._box = box
        self._base = settings.api_base_url

    def footer(self, event: Event) -> str:
        """Plain text: notes carry no links with attributes (flows.writeback), and
        ticketing systems make a bare URL clickable themselves."""
        url = feedback_url(self._base, make_token(self._box, event.tenant_id, event.event_id))
        return f"Was this note helpful? Rate it: {url}"
