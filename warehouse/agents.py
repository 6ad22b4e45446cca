"""Agents, their versions and test cases, and which version runs: one tenant's rows.

Changes of the running version (activate, rollback, deactivate, shadow on/off) lock the
agent's row, change it and write the audit row in one transaction: a reader sees the old
state or the new one, never a half.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from psycopg.rows import DictRow
from psycopg.types.json import Jsonb
from pydantic import TypeAdapter

from aiops.agent_spec import AgentSpec, Expectation
from aiops.events import Ticket
from aiops.ticket_masking import mask_ticket
from warehouse.db import TenantConnection

MAX_SHADOWS = 3
_EXPECTATIONS = TypeAdapter(list[Expectation])
_TENANT = "current_setting('app.current_tenant_id', true)"

VersionState = Literal["active", "previous", "shadow", "inactive"]


class AgentStateError(Exception):
    """The change conflicts with the agent's current state (the message says how)."""


@dataclass(frozen=True)
class Agent:
    agent_id: str
    name: str
    description: str
    priority: int
    active_version: int | None
    previous_version: int | None
    shadow_versions: list[int]
    latest_version: int | None
    created_at: datetime
    updated_at: datetime

    def state_of(self, version: int) -> VersionState:
        if version == self.active_version:
            return "active"
        if version in self.shadow_versions:
            return "shadow"
        if version == self.previous_version:
            return "previous"
        return "inactive"


@dataclass(frozen=True)
class Version:
    agent_id: str
    version: int
    spec: AgentSpec
    comment: str
    created_by: str
    created_at: datetime


@dataclass(frozen=True)
class TestCase:
    case_id: int
    agent_id: str
    version: int
    name: str
    ticket: Ticket
    expectations: list[Expectation]
    created_at: datetime
    last_passed: bool | None = None
    last_run_id: str | None = None


@dataclass(frozen=True)
class Deployment:
    deployment_id: int
    agent_id: str
    action: str
    version: int | None
    previous_version: int | None
    actor: str
    overridden: bool
    reason: str
    tests_passed: int | None
    tests_total: int | None
    created_at: datetime


@dataclass(frozen=True)
class Running:
    """A version the flow runs: the active one of an agent, or one of its shadows."""

    agent_id: str
    priority: int
    version: int
    spec: AgentSpec


@dataclass(frozen=True)
class Deployed:
    """What the flow needs of a tenant's agents: active versions by priority, and shadows."""

    active: tuple[Running, ...] = ()
    shadows: dict[str, tuple[Running, ...]] = field(default_factory=dict)


_AGENT_COLUMNS = """
    a.agent_id, a.name, a.description, a.priority, a.active_version, a.previous_version,
    a.shadow_versions, a.created_at, a.updated_at,
    (SELECT max(v.version) FROM agent_versions v WHERE v.agent_id = a.agent_id) AS latest_version
"""


def _agent(row: DictRow) -> Agent:
    return Agent(**{**row, "shadow_versions": sorted(row["shadow_versions"] or [])})


def list_agents(conn: TenantConnection) -> list[Agent]:
    rows = conn.execute(
        f"SELECT {_AGENT_COLUMNS} FROM agents a ORDER BY a.priority, a.agent_id"
    ).fetchall()
    return [_agent(r) for r in rows]


def get_agent(conn: TenantConnection, agent_id: str, *, lock: bool = False) -> Agent | None:
    row = conn.execute(
        f"SELECT {_AGENT_COLUMNS} FROM agents a WHERE a.agent_id = %s"
        + (" FOR UPDATE OF a" if lock else ""),
        (agent_id,),
    ).fetchone()
    return _agent(row) if row is not None else None


def create_agent(
    conn: TenantConnection, agent_id: str, name: str, description: str, priority: int
) -> None:
    made = conn.execute(
        f"INSERT INTO agents (tenant_id, agent_id, name, description, priority) "
        f"VALUES ({_TENANT}, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
        (agent_id, name, description, priority),
    )
    if made.rowcount != 1:
        raise AgentStateError(f"there is an agent {agent_id!r} already; choose another id")


def update_agent(
    conn: TenantConnection,
    agent_id: str,
    name: str | None,
    description: str | None,
    priority: int | None,
) -> None:
    conn.execute(
        "UPDATE agents SET name = coalesce(%s, name), description = coalesce(%s, description),"
        " priority = coalesce(%s, priority), updated_at = now() WHERE agent_id = %s",
        (name, description, priority, agent_id),
    )


def delete_agent(conn: TenantConnection, agent_id: str) -> None:
    agent = get_agent(conn, agent_id, lock=True)
    if agent is None:
        return
    if agent.active_version is not None or agent.shadow_versions:
        raise AgentStateError(
            f"agent {agent_id!r} still runs (active or shadow versions); deactivate it and "
            "stop its shadows first"
        )
    conn.execute("DELETE FROM sandbox_runs WHERE agent_id = %s", (agent_id,))
    conn.execute("DELETE FROM sandbox_jobs WHERE agent_id = %s", (agent_id,))
    conn.execute("DELETE FROM agents WHERE agent_id = %s", (agent_id,))


# Versions ---------------------------------------------------------------------------------


def _version(row: DictRow) -> Version:
    return Version(**{**row, "spec": AgentSpec.model_validate(row["spec"])})


_VERSION_COLUMNS = "agent_id, version, spec, comment, created_by, created_at"


def add_version(
    conn: TenantConnection,
    agent_id: str,
    spec: AgentSpec,
    comment: str,
    created_by: str,
    *,
    copy_test_cases_from: int | None = None,
) -> Version:
    """The next version number; the agent row is locked so two callers get two numbers."""
    conn.execute("SELECT 1 FROM agents WHERE agent_id = %s FOR UPDATE", (agent_id,))
    row = conn.execute(
        f"""
        INSERT INTO agent_versions (tenant_id, agent_id, version, spec, comment, created_by)
        SELECT {_TENANT}, %(agent)s,
               coalesce((SELECT max(version) FROM agent_versions WHERE agent_id = %(agent)s), 0)
               + 1, %(spec)s, %(comment)s, %(by)s
        RETURNING {_VERSION_COLUMNS}
        """,
        {
            "agent": agent_id,
            "spec": Jsonb(spec.model_dump(mode="json")),
            "comment": comment,
            "by": created_by,
        },
    ).fetchone()
    assert row is not None
    made = _version(row)
    if copy_test_cases_from is not None:
        conn.execute(
            f"""
            INSERT INTO agent_test_cases (tenant_id, agent_id, version, name, ticket, expectations)
            SELECT {_TENANT}, agent_id, %s, name, ticket, expectations FROM agent_test_cases
            WHERE agent_id = %s AND version = %s ORDER BY id
            """,
            (made.version, agent_id, copy_test_cases_from),
        )
    conn.execute("UPDATE agents SET updated_at = now() WHERE agent_id = %s", (agent_id,))
    return made


def list_versions(conn: TenantConnection, agent_id: str) -> list[Version]:
    rows = conn.execute(
        f"SELECT {_VERSION_COLUMNS} FROM agent_versions WHERE agent_id = %s ORDER BY version DESC",
        (agent_id,),
    ).fetchall()
    return [_version(r) for r in rows]


def get_version(conn: TenantConnection, agent_id: str, version: int) -> Version | None:
    row = conn.execute(
        f"SELECT {_VERSION_COLUMNS} FROM agent_versions WHERE agent_id = %s AND version = %s",
        (agent_id, version),
    ).fetchone()
    return _version(row) if row is not None else None


# Test cases -------------------------------------------------------------------------------


def add_test_case(
    conn: TenantConnection,
    agent_id: str,
    version: int,
    name: str,
    ticket: Ticket,
    expectations: Sequence[Expectation],
) -> TestCase:
    row = conn.execute(
        f"""
        INSERT INTO agent_test_cases (tenant_id, agent_id, version, name, ticket, expectations)
        VALUES ({_TENANT}, %s, %s, %s, %s, %s)
        RETURNING id AS case_id, agent_id, version, name, ticket, expectations, created_at
        """,
        (
            agent_id,
            version,
            name,
            # Credentials pasted into a ticket are never stored in the clear.
            Jsonb(mask_ticket(ticket).model_dump(mode="json")),
            Jsonb(_EXPECTATIONS.dump_python(list(expectations), mode="json")),
        ),
    ).fetchone()
    assert row is not None
    return _case(row)


def _case(row: DictRow) -> TestCase:
    return TestCase(
        **{
            **row,
            "ticket": Ticket.model_validate(row["ticket"]),
            "expectations": _EXPECTATIONS.validate_python(row["expectations"]),
        }
    )


def list_test_cases(conn: TenantConnection, agent_id: str, version: int) -> list[TestCase]:
    rows = conn.execute(
        """
        SELECT c.id AS case_id, c.agent_id, c.version, c.name, c.ticket, c.expectations,
               c.created_at, last.passed AS last_passed, last.run_id AS last_run_id
        FROM agent_test_cases c
        LEFT JOIN LATERAL (
            SELECT r.passed, r.run_id FROM sandbox_runs r
            WHERE r.case_id = c.id ORDER BY r.created_at DESC LIMIT 1
        ) last ON true
        WHERE c.agent_id = %s AND c.version = %s ORDER BY c.id
        """,
        (agent_id, version),
    ).fetchall()
    return [_case(r) for r in rows]


def count_test_cases(conn: TenantConnection, agent_id: str, version: int) -> int:
    row = conn.execute(
        "SELECT count(*) AS n FROM agent_test_cases WHERE agent_id = %s AND version = %s",
        (agent_id, version),
    ).fetchone()
    return int(row["n"]) if row is not None else 0


def delete_test_case(conn: TenantConnection, agent_id: str, version: int, case_id: int) -> bool:
    gone = conn.execute(
        "DELETE FROM agent_test_cases WHERE agent_id = %s AND version = %s AND id = %s",
        (agent_id, version, case_id),
    )
    return gone.rowcount == 1


# Which version runs -----------------------------------------------------------------------


def _record(
    conn: TenantConnection,
    agent_id: str,
    action: str,
    version: int | None,
    previous: int | None,
    actor: str,
    *,
    overridden: bool = False,
    reason: str = "",
    tests: tuple[int, int] | None = None,
) -> Deployment:
    row = conn.execute(
        f"""
        INSERT INTO agent_deployments (tenant_id, agent_id, action, version, previous_version,
            actor, overridden, reason, tests_passed, tests_total)
        VALUES ({_TENANT}, %s, %s, %s, %s, %s, %s, %s, %s, %s)
        RETURNING id AS deployment_id, agent_id, action, version, previous_version, actor,
                  overridden, reason, tests_passed, tests_total, created_at
        """,
        (
            agent_id,
            action,
            version,
            previous,
            actor,
            overridden,
            reason,
            tests[0] if tests else None,
            tests[1] if tests else None,
        ),
    ).fetchone()
    assert row is not None
    conn.execute("UPDATE agents SET updated_at = now() WHERE agent_id = %s", (agent_id,))
    return Deployment(**row)


def _locked(conn: TenantConnection, agent_id: str) -> Agent:
    agent = get_agent(conn, agent_id, lock=True)
    if agent is None:
        raise AgentStateError(f"no agent {agent_id!r}")
    return agent


def activate(
    conn: TenantConnection,
    agent_id: str,
    version: int,
    actor: str,
    *,
    overridden: bool,
    reason: str,
    tests: tuple[int, int],
) -> Deployment:
    """`version` becomes active; the one it replaces is what a rollback returns to."""
    agent = _locked(conn, agent_id)
    if get_version(conn, agent_id, version) is None:
        raise AgentStateError(f"agent {agent_id!r} has no version {version}")
    if agent.active_version == version:
        raise AgentStateError(f"version {version} of {agent_id!r} is active already")
    previous = agent.active_version if agent.active_version is not None else agent.previous_version
    conn.execute(
        "UPDATE agents SET active_version = %s, previous_version = %s, "
        "shadow_versions = array_remove(shadow_versions, %s) WHERE agent_id = %s",
        (version, previous, version, agent_id),
    )
    return _record(
        conn,
        agent_id,
        "activate",
        version,
        previous,
        actor,
        overridden=overridden,
        reason=reason,
        tests=tests,
    )


def rollback(conn: TenantConnection, agent_id: str, actor: str, reason: str) -> Deployment:
    """The previous version is active again; the one rolled back from becomes the previous
    (so a second rollback undoes the first)."""
    agent = _locked(conn, agent_id)
    if agent.previous_version is None:
        raise AgentStateError(f"agent {agent_id!r} has no previous version to roll back to")
    back_to, leaving = agent.previous_version, agent.active_version
    conn.execute(
        "UPDATE agents SET active_version = %s, previous_version = %s, "
        "shadow_versions = array_remove(shadow_versions, %s) WHERE agent_id = %s",
        (back_to, leaving, back_to, agent_id),
    )
    return _record(conn, agent_id, "rollback", back_to, leaving, actor, reason=reason)


def deactivate(conn: TenantConnection, agent_id: str, actor: str, reason: str) -> Deployment:
    agent = _locked(conn, agent_id)
    if agent.active_version is None:
        raise AgentStateError(f"agent {agent_id!r} has no active version")
    conn.execute(
        "UPDATE agents SET active_version = NULL, previous_version = %s WHERE agent_id = %s",
        (agent.active_version, agent_id),
    )
    return _record(conn, agent_id, "deactivate", None, agent.active_version, actor, reason=reason)


def shadow(conn: TenantConnection, agent_id: str, version: int, on: bool, actor: str) -> Deployment:
    agent = _locked(conn, agent_id)
    if on:
        if version == agent.active_version:
            raise AgentStateError(f"version {version} is the active one; it cannot shadow itself")
        if version in agent.shadow_versions:
            raise AgentStateError(f"version {version} runs in shadow already")
        if len(agent.shadow_versions) >= MAX_SHADOWS:
            raise AgentStateError(
                f"agent {agent_id!r} has {MAX_SHADOWS} shadow versions; stop one first"
            )
        conn.execute(
            "UPDATE agents SET shadow_versions = array_append(shadow_versions, %s) "
            "WHERE agent_id = %s",
            (version, agent_id),
        )
    else:
        if version not in agent.shadow_versions:
            raise AgentStateError(f"version {version} does not run in shadow")
        conn.execute(
            "UPDATE agents SET shadow_versions = array_remove(shadow_versions, %s) "
            "WHERE agent_id = %s",
            (version, agent_id),
        )
    action = "shadow_on" if on else "shadow_off"
    return _record(conn, agent_id, action, version, agent.active_version, actor)


def list_deployments(conn: TenantConnection, agent_id: str, limit: int) -> list[Deployment]:
    rows = conn.execute(
        """
        SELECT id AS deployment_id, agent_id, action, version, previous_version, actor,
               overridden, reason, tests_passed, tests_total, created_at
        FROM agent_deployments WHERE agent_id = %s ORDER BY id DESC LIMIT %s
        """,
        (agent_id, limit),
    ).fetchall()
    return [Deployment(**r) for r in rows]


def deployed(conn: TenantConnection) -> Deployed:
    """The tenant's running versions, in one query (the flow caches this per tenant)."""
    rows = conn.execute(
        """
        SELECT a.agent_id, a.priority, v.version, v.spec, v.version = a.active_version AS active
        FROM agents a
        JOIN agent_versions v ON v.agent_id = a.agent_id
            AND (v.version = a.active_version OR v.version = ANY (a.shadow_versions))
        ORDER BY a.priority, a.agent_id, v.version
        """
    ).fetchall()
    active: list[Running] = []
    shadows: dict[str, list[Running]] = {}
    for r in rows:
        running = Running(
            r["agent_id"], r["priority"], r["version"], AgentSpec.model_validate(r["spec"])
        )
        if r["active"]:
            active.append(running)
        else:
            shadows.setdefault(r["agent_id"], []).append(running)
    return Deployed(tuple(active), {k: tuple(v) for k, v in shadows.items()})


def running_version(conn: TenantConnection, agent_id: str, version: int) -> Running | None:
    """One version as the flow runs it (to finish an event on the version it started on)."""
    row = conn.execute(
        "SELECT a.priority, v.spec FROM agents a JOIN agent_versions v "
        "ON v.agent_id = a.agent_id WHERE a.agent_id = %s AND v.version = %s",
        (agent_id, version),
    ).fetchone()
    if row is None:
        return None
    return Running(agent_id, row["priority"], version, AgentSpec.model_validate(row["spec"]))


def record_version(conn: TenantConnection, event_id: str, agent_id: str, version: int) -> None:
    """The agent version that produces the event's enhancement_history row."""
    conn.execute(
        "UPDATE enhancement_history SET agent_id = %s, agent_version = %s WHERE event_id = %s",
        (agent_id, version, event_id),
    )
