"""`aiops agents`: a tenant's enhancement agents from the terminal, through the same code as
the management API's /tenants/{id}/agents routes (warehouse.agents, flows.agent_sandbox,
flows.agent_deploy)."""

from __future__ import annotations

import getpass
import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import TypeAdapter, ValidationError

from aiops.agent_spec import AgentSpec, Expectation, default_spec
from aiops.events import Ticket
from cli.console import fail, heading, print_table, table
from cli.runtime import Runtime, connect, load_settings
from flows import agent_deploy
from flows.agent_sandbox import Sandbox
from warehouse import agent_metrics, agent_runs, agents
from warehouse.agent_runs import RunRecord
from warehouse.db import TenantConnection
from warehouse.tenants import tenant_summary

app = typer.Typer(
    help="Enhancement agents of a tenant: versions, sandbox runs with their trace, test "
    "cases, activation (gated by the tests), rollback and per-version figures.",
    no_args_is_help=True,
)

TenantArg = Annotated[str, typer.Argument(metavar="TENANT", help="The tenant id, e.g. acme.")]
AgentArg = Annotated[str, typer.Argument(metavar="AGENT", help="The agent id, e.g. email.")]
VersionArg = Annotated[int, typer.Argument(metavar="VERSION", help="The version number.")]
SpecOpt = Annotated[
    Path | None,
    typer.Option(
        "--spec",
        help="JSON file with the version's spec (docs/agents-api.md); none: the default "
        "agent's spec.",
        exists=True,
        dir_okay=False,
    ),
]
TicketOpt = Annotated[
    Path | None,
    typer.Option("--ticket", help="JSON file with a ticket.", exists=True, dir_okay=False),
]
TicketIdOpt = Annotated[
    str | None, typer.Option("--ticket-id", help="A ticket of the tenant's history.")
]
_EXPECTATIONS: TypeAdapter[Expectation] = TypeAdapter(Expectation)


def _actor() -> str:
    return f"cli:{getpass.getuser()}"


@contextmanager
def _tenant(tenant_id: str) -> Iterator[Runtime]:
    with connect(load_settings()) as rt:
        if tenant_summary(rt.db, tenant_id) is None:
            fail(f"there is no tenant {tenant_id!r}; see `aiops tenants list`")
        yield rt


def _agent(conn: TenantConnection, agent_id: str) -> agents.Agent:
    agent = agents.get_agent(conn, agent_id)
    if agent is None:
        fail(f"there is no agent {agent_id!r}; see `aiops agents list TENANT`")
    return agent


def _version(conn: TenantConnection, agent_id: str, version: int) -> agents.Version:
    _agent(conn, agent_id)
    found = agents.get_version(conn, agent_id, version)
    if found is None:
        fail(f"agent {agent_id!r} has no version {version}; see `aiops agents versions`")
    return found


def _read_json(path: Path, what: str) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        fail(f"{path} is not a readable JSON {what}: {exc}")


def _spec(path: Path | None) -> AgentSpec:
    if path is None:
        settings = load_settings()
        return default_spec(settings.similar_tickets_k, settings.kb_articles_k)
    try:
        return AgentSpec.model_validate(_read_json(path, "spec"))
    except ValidationError as exc:
        fail(f"{path} is not a valid spec: {_problems(exc)}")


def _problems(exc: ValidationError) -> str:
    return "; ".join(f"{'.'.join(map(str, e['loc'])) or 'value'}: {e['msg']}" for e in exc.errors())


def _ticket(rt: Runtime, tenant_id: str, path: Path | None, ticket_id: str | None) -> Ticket:
    if (path is None) == (ticket_id is None):
        fail("give --ticket FILE or --ticket-id ID (one of them)")
    if path is not None:
        try:
            return Ticket.model_validate(_read_json(path, "ticket"))
        except ValidationError as exc:
            fail(f"{path} is not a valid ticket: {_problems(exc)}")
    assert ticket_id is not None
    with rt.db.tenant(tenant_id) as conn:
        found = agent_runs.history_ticket(conn, ticket_id)
    if found is None:
        fail(f"no ticket {ticket_id!r} in the tenant's history; use --ticket FILE instead")
    return found


@app.command("list")
def list_(tenant_id: TenantArg) -> None:
    """The tenant's agents, by priority (none: the default agent handles every ticket)."""
    with _tenant(tenant_id) as rt, rt.db.tenant(tenant_id) as conn:
        found = agents.list_agents(conn)
    if not found:
        typer.echo(
            "No agents: every ticket gets the default agent. Make one with `aiops agents create`."
        )
        return
    shown = table(
        "agent", "name", "priority", "active", "previous", "shadows", "latest", whole=("agent",)
    )
    for a in found:
        shown.add_row(
            a.agent_id,
            a.name,
            str(a.priority),
            str(a.active_version or "-"),
            str(a.previous_version or "-"),
            ", ".join(map(str, a.shadow_versions)) or "-",
            str(a.latest_version or "-"),
        )
    print_table(shown)


@app.command("create")
def create(
    tenant_id: TenantArg,
    agent_id: AgentArg,
    name: Annotated[str, typer.Option("--name", help="What it is for, e.g. 'E-mail tickets'.")],
    spec: SpecOpt = None,
    priority: Annotated[int, typer.Option(help="Lowest applies first.")] = 100,
) -> None:
    """Make an agent (inactive) and its version 1."""
    made = _spec(spec)
    with _tenant(tenant_id) as rt, rt.db.tenant(tenant_id) as conn:
        try:
            agents.create_agent(conn, agent_id, name, "", priority)
        except agents.AgentStateError as exc:
            fail(str(exc))
        agents.add_version(conn, agent_id, made, "", _actor())
    heading(f"Agent {agent_id!r} made with version 1 (inactive).")
    typer.echo(f"Try it: aiops agents sandbox {tenant_id} {agent_id} 1 --ticket-id ID")


@app.command("add-version")
def add_version(
    tenant_id: TenantArg,
    agent_id: AgentArg,
    spec: SpecOpt = None,
    comment: Annotated[str, typer.Option(help="What changed, and why.")] = "",
    copy_tests_from: Annotated[
        int | None, typer.Option(help="Copy that version's test cases.")
    ] = None,
) -> None:
    """Add the next version (versions never change once made)."""
    made = _spec(spec)
    with _tenant(tenant_id) as rt, rt.db.tenant(tenant_id) as conn:
        _agent(conn, agent_id)
        if copy_tests_from is not None:
            _version(conn, agent_id, copy_tests_from)
        version = agents.add_version(
            conn, agent_id, made, comment, _actor(), copy_test_cases_from=copy_tests_from
        )
    heading(f"Version {version.version} of {agent_id!r} made (inactive).")


@app.command("versions")
def versions(tenant_id: TenantArg, agent_id: AgentArg) -> None:
    """The agent's versions, newest first."""
    with _tenant(tenant_id) as rt, rt.db.tenant(tenant_id) as conn:
        agent = _agent(conn, agent_id)
        rows = [
            (v, agents.count_test_cases(conn, agent_id, v.version))
            for v in agents.list_versions(conn, agent_id)
        ]
    shown = table("version", "state", "tests", "by", "made", "comment")
    for v, cases in rows:
        shown.add_row(
            str(v.version),
            agent.state_of(v.version),
            str(cases),
            v.created_by,
            f"{v.created_at:%Y-%m-%d %H:%M}",
            v.comment,
        )
    print_table(shown)


@app.command("show")
def show(tenant_id: TenantArg, agent_id: AgentArg, version: VersionArg) -> None:
    """Print a version's spec as JSON (a starting point for --spec)."""
    with _tenant(tenant_id) as rt, rt.db.tenant(tenant_id) as conn:
        found = _version(conn, agent_id, version)
    typer.echo(found.spec.model_dump_json(indent=2))


def _print_run(run: RunRecord, verbose: bool) -> None:
    verdict = "" if run.passed is None else (" PASSED" if run.passed else " FAILED")
    heading(f"Run {run.run_id}: {run.status}{verdict} in {run.ms:.0f} ms")
    for stage in run.stages:
        typer.echo(f"  {stage['name']:<16} {stage['status']:<10} {stage['ms']:>8.1f} ms")
        if verbose:
            for part in ("input", "output"):
                text = json.dumps(stage[part], default=str, indent=2)
                typer.echo("    " + f"{part}: " + text.replace("\n", "\n    "))
    for failure in run.failures:
        typer.echo(f"  - {failure}")
    if run.error:
        typer.echo(f"  error: {run.error}")
    if run.note is not None:
        typer.echo("\nNote:\n" + run.note)


@app.command("sandbox")
def sandbox(
    tenant_id: TenantArg,
    agent_id: AgentArg,
    version: VersionArg,
    ticket: TicketOpt = None,
    ticket_id: TicketIdOpt = None,
    trace: Annotated[bool, typer.Option(help="Each stage's input and output too.")] = False,
) -> None:
    """Run a version on a ticket with no side effect: nothing posted, no history row.
    Prints each stage with its time, and the note."""
    with _tenant(tenant_id) as rt:
        with rt.db.tenant(tenant_id) as conn:
            spec = _version(conn, agent_id, version).spec
        given = _ticket(rt, tenant_id, ticket, ticket_id)
        runner = Sandbox(rt.db, rt.settings, rt.box)
        try:
            run = runner.run(tenant_id, agent_id, version, spec, given, kind="sandbox")
        finally:
            runner.close()
    _print_run(run, trace)


@app.command("add-test")
def add_test(
    tenant_id: TenantArg,
    agent_id: AgentArg,
    version: VersionArg,
    name: Annotated[str, typer.Option("--name", help="What the case checks.")],
    expect: Annotated[
        list[str],
        typer.Option(
            "--expect",
            help="KIND=VALUE, repeatable: cites=KB-101, mentions=SQL01, avoids=reboot, "
            "shorter_than=1200, category=Email, succeeds.",
        ),
    ],
    ticket: TicketOpt = None,
    ticket_id: TicketIdOpt = None,
) -> None:
    """Add a test case: a ticket and what the note must show."""
    expectations = []
    for item in expect:
        kind, _, value = item.partition("=")
        body: dict[str, Any] = {"kind": kind.strip()}
        if value:
            body["value"] = value
        try:
            expectations.append(_EXPECTATIONS.validate_python(body))
        except ValidationError as exc:
            fail(f"--expect {item!r}: {_problems(exc)}")
    with _tenant(tenant_id) as rt:
        with rt.db.tenant(tenant_id) as conn:
            _version(conn, agent_id, version)
        given = _ticket(rt, tenant_id, ticket, ticket_id)
        with rt.db.tenant(tenant_id) as conn:
            case = agents.add_test_case(conn, agent_id, version, name, given, expectations)
    heading(f"Test case {case.case_id} added to version {version}.")


def _print_case(run: RunRecord) -> None:
    """Each case as it ends: a version's tests may take a while (a model call each)."""
    mark = "pass" if run.passed else "FAIL"
    typer.echo(f"{mark}  case {run.case_id}  run {run.run_id}  {'; '.join(run.failures)}")


@app.command("test")
def test(tenant_id: TenantArg, agent_id: AgentArg, version: VersionArg) -> None:
    """Run every test case of a version; exits 1 if any fails."""
    with _tenant(tenant_id) as rt:
        runner = Sandbox(rt.db, rt.settings, rt.box)
        try:
            outcome = agent_deploy.run_test_cases(runner, tenant_id, agent_id, version, _print_case)
        except agents.AgentStateError as exc:
            fail(str(exc))
        finally:
            runner.close()
    typer.echo(f"{len(outcome.runs) - outcome.failed} of {len(outcome.runs)} cases pass.")
    if not outcome.passed:
        raise typer.Exit(1)


@app.command("activate")
def activate(
    tenant_id: TenantArg,
    agent_id: AgentArg,
    version: VersionArg,
    override: Annotated[
        str | None,
        typer.Option(help="Activate although test cases fail: why (recorded with who)."),
    ] = None,
) -> None:
    """Put a version live once all its test cases pass (they are run now)."""
    with _tenant(tenant_id) as rt:
        runner = Sandbox(rt.db, rt.settings, rt.box)
        try:
            typer.echo("Running the version's test cases…")
            made = agent_deploy.activate(
                runner, tenant_id, agent_id, version, _actor(), override, _print_case
            )
        except (agent_deploy.TestsFailedError, agents.AgentStateError) as exc:
            fail(str(exc))
        finally:
            runner.close()
    heading(f"Version {version} of {agent_id!r} is active (was {made.previous_version or '-'}).")
    typer.echo(f"Undo with: aiops agents rollback {tenant_id} {agent_id}")


def _change(tenant_id: str, agent_id: str, action: str, **args: Any) -> agents.Deployment:
    with _tenant(tenant_id) as rt, rt.db.tenant(tenant_id) as conn:
        _agent(conn, agent_id)
        try:
            if action == "rollback":
                return agents.rollback(conn, agent_id, _actor(), args["reason"])
            if action == "deactivate":
                return agents.deactivate(conn, agent_id, _actor(), args["reason"])
            return agents.shadow(conn, agent_id, args["version"], args["on"], _actor())
        except agents.AgentStateError as exc:
            fail(str(exc))


ReasonOpt = Annotated[str, typer.Option(help="Why, for the audit trail.")]


@app.command("rollback")
def rollback(tenant_id: TenantArg, agent_id: AgentArg, reason: ReasonOpt = "") -> None:
    """Make the previously active version active again."""
    made = _change(tenant_id, agent_id, "rollback", reason=reason)
    heading(f"Version {made.version} of {agent_id!r} is active again.")


@app.command("deactivate")
def deactivate(tenant_id: TenantArg, agent_id: AgentArg, reason: ReasonOpt = "") -> None:
    """Stop the agent (another agent, or the default, takes its tickets)."""
    _change(tenant_id, agent_id, "deactivate", reason=reason)
    heading(f"Agent {agent_id!r} handles no ticket now.")


@app.command("shadow")
def shadow(
    tenant_id: TenantArg,
    agent_id: AgentArg,
    version: VersionArg,
    stop: Annotated[bool, typer.Option(help="Stop running it in shadow.")] = False,
) -> None:
    """Run a version beside the active one on live tickets, stored, never posted."""
    _change(tenant_id, agent_id, "shadow", version=version, on=not stop)
    heading(f"Version {version} {'no longer runs' if stop else 'runs'} in shadow.")


@app.command("metrics")
def metrics(
    tenant_id: TenantArg,
    agent_id: AgentArg,
    days: Annotated[int, typer.Option(min=1, max=366, help="How far back.")] = 30,
) -> None:
    """Per version: volume, success rate, p50/p95, tokens, cost, feedback (from the
    analytics warehouse, and PostgreSQL for days not exported yet)."""
    since = datetime.now(UTC) - timedelta(days=days)
    with _tenant(tenant_id) as rt, rt.db.tenant(tenant_id) as conn:
        agent = _agent(conn, agent_id)
        rows = agent_metrics.version_metrics(conn, agent_id, since, root=rt.settings.warehouse_path)
    shown = table(
        "version",
        "state",
        "volume",
        "ok %",
        "p50 ms",
        "p95 ms",
        "tokens",
        "cost $",
        "helpful",
        "not",
    )
    for r in rows:
        shown.add_row(
            str(r.version),
            agent.state_of(r.version),
            str(r.volume),
            "-" if r.success_rate is None else f"{r.success_rate * 100:.1f}",
            "-" if r.p50_ms is None else f"{r.p50_ms:.0f}",
            "-" if r.p95_ms is None else f"{r.p95_ms:.0f}",
            str(r.prompt_tokens + r.completion_tokens),
            f"{r.cost_usd:.4f}",
            str(r.helpful),
            str(r.not_helpful),
        )
    print_table(shown)


@app.command("deployments")
def deployments(tenant_id: TenantArg, agent_id: AgentArg) -> None:
    """Every activation, rollback and shadow change, newest first, with who and why."""
    with _tenant(tenant_id) as rt, rt.db.tenant(tenant_id) as conn:
        _agent(conn, agent_id)
        rows = agents.list_deployments(conn, agent_id, 100)
    shown = table("when", "action", "version", "from", "who", "override", "tests", "why")
    for d in rows:
        tests = "-" if d.tests_total is None else f"{d.tests_passed}/{d.tests_total}"
        shown.add_row(
            f"{d.created_at:%Y-%m-%d %H:%M}",
            d.action,
            str(d.version or "-"),
            str(d.previous_version or "-"),
            d.actor,
            "yes" if d.overridden else "",
            tests,
            d.reason,
        )
    print_table(shown)
