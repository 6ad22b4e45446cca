"""`aiops tenants`: register MSP tenants and list them."""

from __future__ import annotations

import getpass
from enum import StrEnum
from typing import Annotated

import typer
from tqdm import tqdm

from aiops.running_system import running_system
from aiops.tenant_directory import is_tenant_id
from cli.console import fail, heading, print_table, table
from cli.runtime import connect, load_settings
from warehouse import budgets, tenant_removal, tenants

app = typer.Typer(
    help="Register MSP tenants, list them, remove them, and rotate their webhook signing secrets.",
    no_args_is_help=True,
)


class Flavor(StrEnum):
    onprem = "onprem"
    cloud = "cloud"


class Itsm(StrEnum):
    servicedesk = "servicedesk"
    jira = "jira"


class JiraFlavor(StrEnum):
    cloud = "cloud"
    datacenter = "datacenter"


def _check_url(option: str, url: str | None) -> None:
    if url is not None and not url.startswith(("http://", "https://")):
        fail(f"{option} must be a full URL starting with https:// (got {url!r})")


@app.command("create")
def create(
    tenant_id: Annotated[
        str,
        typer.Argument(
            metavar="ID",
            help="Short id used in URLs: lower-case letters, digits, '-' and '_' (e.g. acme).",
        ),
    ],
    name: Annotated[str, typer.Option("--name", help="Display name, e.g. 'Acme Corp'.")],
    itsm: Annotated[
        Itsm, typer.Option(help="The tenant's ticketing system: ServiceDesk Plus or Jira.")
    ] = Itsm.servicedesk,
    servicedesk_url: Annotated[
        str | None,
        typer.Option(
            help="ServiceDesk Plus address, e.g. https://sdp.acme.example. Without it the "
            "notes are stored (see `aiops history show`) but not posted to tickets."
        ),
    ] = None,
    servicedesk_key: Annotated[
        str | None,
        typer.Option(
            help="Technician API key (on-premises authtoken) or Zoho OAuth token (cloud). "
            "Asked for when --servicedesk-url is given without it.",
        ),
    ] = None,
    servicedesk_flavor: Annotated[
        Flavor, typer.Option(help="Which ServiceDesk Plus: on-premises or Cloud.")
    ] = Flavor.onprem,
    jira_url: Annotated[
        str | None,
        typer.Option(
            help="Jira site: on Cloud acme.atlassian.net (with https://), or the Data Center "
            "base URL. Without it the notes are stored but not posted."
        ),
    ] = None,
    jira_email: Annotated[
        str | None,
        typer.Option(help="Jira Cloud: the e-mail of the agent account the API token is for."),
    ] = None,
    jira_flavor: Annotated[
        JiraFlavor, typer.Option(help="Jira Cloud (API token) or Data Center (access token).")
    ] = JiraFlavor.cloud,
    llm_model: Annotated[
        str | None,
        typer.Option(
            help="litellm model for this tenant, e.g. gpt-4o-mini or azure/my-deployment. "
            "Default: AI_AGENTS_LLM_MODEL, or the offline summary when that is unset."
        ),
    ] = None,
    llm_api_base: Annotated[
        str | None, typer.Option(help="The tenant's own LLM endpoint (OpenAI-compatible).")
    ] = None,
    llm_api_key: Annotated[
        str | None, typer.Option(help="The tenant's own LLM key (bring your own key).")
    ] = None,
    llm_fallback: Annotated[
        list[str] | None,
        typer.Option(help="A model to try when the first fails; repeat for more."),
    ] = None,
    monitoring_url: Annotated[
        str | None, typer.Option(help="Monitoring endpoint to ask about hosts in tickets.")
    ] = None,
    mask_personal_data: Annotated[
        bool,
        # One name, no --no- twin: off is the default, and a second column of names
        # squeezes the first one into `--servicedesk-u…` at 80 columns.
        typer.Option(
            "--mask-personal-data",
            help="Mask e-mail addresses, phone numbers and requester names before the LLM "
            "sees a ticket (credentials are always masked).",
        ),
    ] = False,
) -> None:
    """Register a tenant and print, once, the webhook URLs and signing secret for its ITSM."""
    if not is_tenant_id(tenant_id):
        fail(
            f"{tenant_id!r} is not a valid tenant id; use up to 63 lower-case letters, digits, "
            "'-' and '_', starting with a letter or digit (e.g. acme)"
        )
    _check_url("--servicedesk-url", servicedesk_url)
    _check_url("--jira-url", jira_url)
    _check_url("--llm-api-base", llm_api_base)
    _check_url("--monitoring-url", monitoring_url)
    if itsm is Itsm.jira:
        if servicedesk_url or servicedesk_key:
            fail("--servicedesk-url and --servicedesk-key are for --itsm servicedesk")
        base_url, flavor, username = jira_url, jira_flavor.value, None
        if jira_url and jira_flavor is JiraFlavor.cloud:
            if not jira_email:
                fail("Jira Cloud needs --jira-email: the agent account the API token belongs to")
            username = jira_email
        key = None
        if jira_url:
            prompt = (
                "Jira API token (id.atlassian.com > Security > API tokens)"
                if jira_flavor is JiraFlavor.cloud
                else "Jira personal access token (Profile > Personal Access Tokens)"
            )
            key = typer.prompt(prompt, hide_input=True)
    else:
        if jira_url or jira_email:
            fail("--jira-url and --jira-email need --itsm jira")
        if servicedesk_key and not servicedesk_url:
            fail("--servicedesk-key needs --servicedesk-url (the ServiceDesk Plus address)")
        if servicedesk_url and not servicedesk_key:
            servicedesk_key = typer.prompt("ServiceDesk Plus API key", hide_input=True)
        base_url, flavor, username = servicedesk_url, servicedesk_flavor.value, None
        key = servicedesk_key
    settings = load_settings()
    config = tenants.TenantConfig(
        tenant_id=tenant_id,
        display_name=name,
        itsm_source=itsm.value,
        itsm_base_url=base_url,
        itsm_flavor=flavor if base_url else None,
        itsm_api_key=key,
        itsm_username=username,
        llm_model=llm_model,
        llm_fallbacks=tuple(llm_fallback or ()),
        llm_api_base=llm_api_base,
        llm_api_key=llm_api_key,
        monitoring_url=monitoring_url,
        mask_personal_data=mask_personal_data,
    )
    with connect(settings) as rt:
        try:
            created = tenants.register_tenant(
                rt.db, rt.box, rt.redis, settings.stream_prefix, config
            )
        except tenants.TenantExistsError:
            fail(f"tenant {tenant_id!r} already exists; see `aiops tenants list`")
    running = running_system(settings.state_dir)
    if running is not None:
        # The ports `aiops up` was started with, not this terminal's defaults.
        settings = settings.model_copy(update={"public_base_url": running.ingest_base_url})
    urls = settings.webhook_urls(created.itsm_source, tenant_id)
    heading(f"Tenant {tenant_id!r} ({name}) is registered.")
    if itsm is Itsm.jira:
        _jira_instructions(created, urls)
    else:
        _servicedesk_instructions(created, urls)
    typer.echo(f"\nNext: aiops history import resolved-tickets.csv --tenant {tenant_id}")


def _servicedesk_instructions(created: tenants.TenantConfig, urls: dict[str, str]) -> None:
    if not created.writes_back:
        typer.echo("No ServiceDesk Plus credentials: notes are stored, not posted.")
    typer.echo("\nPoint ServiceDesk Plus custom triggers at these URLs (HTTP POST, JSON body):")
    typer.echo(f"  new requests:       {urls['tickets']}")
    typer.echo(f"  resolved requests:  {urls['resolved_tickets']}")
    typer.echo("\nSign every body: header X-ServiceDesk-Signature = hex HMAC-SHA256(secret, body).")
    typer.echo("Signing secret (shown only now; it is stored encrypted, keep a copy):")
    typer.echo(f"  {created.webhook_secrets[0]}")


def _jira_instructions(created: tenants.TenantConfig, urls: dict[str, str]) -> None:
    if not created.writes_back:
        typer.echo("No Jira credentials: notes are stored, not posted.")
    typer.echo("\nIn Jira: System > WebHooks > Create a WebHook, then")
    typer.echo(f"  URL:     {urls['tickets']}")
    typer.echo("  Secret:  the signing secret below (Jira signs with X-Hub-Signature)")
    typer.echo("  JQL:     project = <your service project key>")
    typer.echo("  Events:  Issue created, Issue updated (resolved issues go to history)")
    typer.echo("Signing secret (shown only now; it is stored encrypted, keep a copy):")
    typer.echo(f"  {created.webhook_secrets[0]}")
    typer.echo(
        "\nAutomation for Jira (Send web request) cannot sign: send the secret in the header "
        "X-AIOps-Webhook-Token instead; see the README, section Jira Service Management."
    )


@app.command("list")
def list_() -> None:
    """List the registered tenants (never their secrets)."""
    with connect(load_settings()) as rt:
        found = tenants.list_tenants(rt.db)
    if not found:
        typer.echo("No tenants yet. Register one with `aiops tenants create ID --name NAME`.")
        return
    shown = table("id", "name", "ITSM", "writes notes", "LLM", "created", whole=("id",))
    for t in found:
        shown.add_row(
            t.tenant_id,
            t.display_name,
            " ".join(filter(None, [t.itsm_source, t.itsm_flavor, t.itsm_base_url])),
            "yes" if t.has_itsm_credentials else "no (stored)",
            (t.llm_model or "default") + (" (own key)" if t.has_llm_api_key else ""),
            f"{t.created_at:%Y-%m-%d %H:%M}",
        )
    print_table(shown)


TenantArgument = Annotated[str, typer.Argument(metavar="TENANT", help="The tenant id.")]


@app.command("rotate-webhook-secret")
def rotate_webhook_secret(tenant_id: TenantArgument) -> None:
    """Start a signing-secret rotation: print a new secret once; old and new both verify."""
    settings = load_settings()
    secret = tenants.new_webhook_secret()
    with connect(settings) as rt:
        rt.redis.ping()  # before anything is written: ingest must hear of the new secret
        try:
            with rt.db.tenant(tenant_id) as conn:
                config = tenants.add_webhook_secret(conn, rt.box, secret)
        except tenants.RotationInProgressError:
            fail(
                f"tenant {tenant_id!r} is in the middle of a rotation already (two secrets "
                f"verify); finish it first: aiops tenants finish-webhook-rotation {tenant_id}"
            )
        if config is None:
            fail(f"no tenant {tenant_id!r}; see `aiops tenants list`")
        tenants.publish_tenant(rt.redis, settings.stream_prefix, rt.box, config)
    heading(f"New webhook signing secret for {tenant_id!r} (shown only now; keep a copy):")
    typer.echo(f"  {secret}")
    typer.echo(
        f"\nWithin {settings.tenant_cache_seconds:g} s ingest accepts webhooks signed with the "
        "old or the new secret. Configure the ITSM with the new one, then run:"
    )
    typer.echo(f"  aiops tenants finish-webhook-rotation {tenant_id}")


@app.command("finish-webhook-rotation")
def finish_webhook_rotation(tenant_id: TenantArgument) -> None:
    """Drop the previous signing secret: only the newest one verifies from now on."""
    settings = load_settings()
    with connect(settings) as rt:
        rt.redis.ping()
        try:
            with rt.db.tenant(tenant_id) as conn:
                config = tenants.drop_previous_webhook_secret(conn, rt.box)
        except tenants.NoRotationError:
            fail(
                f"tenant {tenant_id!r} has one signing secret only; start a rotation with "
                f"`aiops tenants rotate-webhook-secret {tenant_id}`"
            )
        if config is None:
            fail(f"no tenant {tenant_id!r}; see `aiops tenants list`")
        tenants.publish_tenant(rt.redis, settings.stream_prefix, rt.box, config)
    typer.echo(
        f"Rotation finished for {tenant_id!r}: within {settings.tenant_cache_seconds:g} s only "
        "the new secret verifies."
    )


@app.command("delete")
def delete(
    tenant_id: TenantArgument,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
    batch_size: Annotated[
        int, typer.Option(min=1, help="Rows deleted per table in each transaction.")
    ] = tenant_removal.DEFAULT_BATCH,
) -> None:
    """Remove a tenant and every row it owns, for good (operator only; audited).

    Ingest refuses its webhooks at once; rows go in batches, each its own transaction;
    the database records who removed it, when, and how many rows of each table.
    Interrupted, it can be run again to finish.
    """
    if not is_tenant_id(tenant_id):
        fail(f"{tenant_id!r} is not a tenant id; see `aiops tenants list`")
    if not yes:
        typer.confirm(
            f"Remove tenant {tenant_id!r} and all its tickets, notes and keys for good?",
            abort=True,
        )
    settings = load_settings()
    with connect(settings) as rt, tqdm(unit=" rows", desc=f"removing {tenant_id}") as bar:
        try:
            removal = tenant_removal.remove_tenant(
                rt.db,
                rt.redis,
                settings.stream_prefix,
                tenant_id,
                actor=f"cli:{getpass.getuser()}",
                batch_size=batch_size,
                progress=bar.update,
            )
        except tenant_removal.UnknownTenantError:
            fail(f"no tenant {tenant_id!r}; see `aiops tenants list`")
    heading(f"Tenant {tenant_id!r} is removed (audit record {removal.audit_id}).")
    shown = table("table", "rows removed", whole=("table",))
    for name, count in sorted(removal.removed.items()):
        shown.add_row(name, str(count))
    print_table(shown)


@app.command("budget")
def budget(
    tenant_id: TenantArgument,
    usd: Annotated[
        float | None,
        typer.Option("--usd", min=0, help="Monthly LLM cost limit in US dollars."),
    ] = None,
    default: Annotated[
        bool,
        typer.Option("--default", help="Drop the tenant's own limit: the platform's applies."),
    ] = False,
) -> None:
    """Show or set the tenant's monthly LLM budget.

    At 80 % of it the flow warns; at 100 % the tenant's notes are composed offline until
    the month (UTC) turns or the limit is raised.
    """
    if usd is not None and default:
        fail("give --usd or --default, not both")
    settings = load_settings()
    with connect(settings) as rt, rt.db.tenant(tenant_id) as conn:
        if usd is not None or default:
            if not budgets.set_tenant_limit_usd(conn, None if default else usd):
                fail(f"no tenant {tenant_id!r}; see `aiops tenants list`")
        elif tenants.read_summary(conn) is None:
            fail(f"no tenant {tenant_id!r}; see `aiops tenants list`")
        own = budgets.tenant_limit_usd(conn)
        spent = budgets.month_spend_usd(conn)
    limit = own if own is not None else settings.llm_monthly_budget_usd
    source = "its own" if own is not None else "the platform default"
    if limit is None:
        typer.echo(f"{tenant_id}: no monthly LLM budget; spent ${spent:.2f} this month")
        return
    typer.echo(
        f"{tenant_id}: ${spent:.2f} of ${limit:.2f} this month ({source}; "
        f"{100 * spent / limit if limit else 100:.0f} %)"
    )
