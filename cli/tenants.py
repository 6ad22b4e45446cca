"""`aiops tenants`: register MSP tenants and list them."""

from __future__ import annotations

import getpass
from typing import TYPE_CHECKING, Annotated

import typer
from tqdm import tqdm

from aiops.running_system import running_system
from aiops.tenant_directory import is_tenant_id
from cli.console import fail, heading, print_table, table
from cli.itsm_check import check_itsm
from cli.itsm_options import ItsmValues, choices, given_flags, with_itsm_options
from cli.runtime import connect, load_settings
from itsm import registry
from itsm.connection_settings import SettingsError, cli_flag, resolve
from warehouse import budgets, tenant_removal, tenants

app = typer.Typer(
    help="Register MSP tenants, list them, remove them, and rotate their webhook signing secrets.",
    no_args_is_help=True,
)

if TYPE_CHECKING:
    Itsm = str
else:  # an Enum of the registered plugins, which typer offers as a choice
    Itsm = choices("Itsm", tuple(sorted(registry.PLUGINS)))
DEFAULT_ITSM = Itsm("servicedesk")


def _check_url(option: str, url: str | None) -> None:
    if url is not None and not url.startswith(("http://", "https://")):
        fail(f"{option} must be a full URL starting with https:// (got {url!r})")


@app.command("create")
@with_itsm_options
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
        Itsm,
        typer.Option(
            help="The tenant's ticketing system; its settings are the options of its own "
            "section below.",
        ),
    ] = DEFAULT_ITSM,
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
    skip_itsm_check: Annotated[
        bool,
        typer.Option(
            "--skip-itsm-check",
            help="Save the ITSM credentials without trying them first (when the ITSM cannot "
            "be reached from here yet).",
        ),
    ] = False,
    *,
    itsm_values: ItsmValues,
) -> None:
    """Register a tenant and print, once, the webhook URLs and signing secret for its ITSM.

    The ITSM credentials are tried first with one read; refused, nothing is saved.
    """
    if not is_tenant_id(tenant_id):
        fail(
            f"{tenant_id!r} is not a valid tenant id; use up to 63 lower-case letters, digits, "
            "'-' and '_', starting with a letter or digit (e.g. acme)"
        )
    _check_url("--llm-api-base", llm_api_base)
    _check_url("--monitoring-url", monitoring_url)
    source = str(itsm)
    for other, values in itsm_values.items():
        if other != source and (flags := given_flags(other, values)):
            fail(f"{', '.join(flags)} is for --itsm {other}, not --itsm {source}")
    plugin = registry.plugin(source)
    try:
        itsm_settings = resolve(
            plugin,
            itsm_values[source],
            name_of=lambda spec: cli_flag(source, spec),
            ask=lambda spec: typer.prompt(spec.label, hide_input=True),
        )
    except SettingsError as exc:
        fail(str(exc))
    settings = load_settings()
    if not skip_itsm_check:
        check_itsm(plugin, itsm_settings, settings.itsm_timeout_seconds)
    config = tenants.TenantConfig(
        tenant_id=tenant_id,
        display_name=name,
        itsm_source=source,
        itsm_base_url=itsm_settings.base_url,
        itsm_flavor=itsm_settings.flavor,
        itsm_api_key=itsm_settings.api_key,
        itsm_username=itsm_settings.username,
        itsm_options=itsm_settings.options,
        itsm_secrets=itsm_settings.secrets,
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
    if not created.writes_back:
        typer.echo(f"No {plugin.title} credentials: notes are stored, not posted.")
    typer.echo("")
    for line in plugin.setup_steps(urls):
        typer.echo(line)
    typer.echo("Signing secret (shown only now; it is stored encrypted, keep a copy):")
    typer.echo(f"  {created.webhook_secrets[0]}")
    typer.echo(f"\nNext: aiops history import resolved-tickets.csv --tenant {tenant_id}")


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
def rotate_webhook_secret(
    tenant_id: TenantArgument,
    secret_from_itsm: Annotated[
        bool,
        typer.Option(
            "--secret-from-itsm",
            help="Ask for a secret the ITSM made (Zendesk's Signing secret) instead of making one.",
        ),
    ] = False,
) -> None:
    """Start a signing-secret rotation: print a new secret once; old and new both verify."""
    settings = load_settings()
    secret = tenants.new_webhook_secret()
    if secret_from_itsm:
        secret = typer.prompt("The ITSM's signing secret", hide_input=True).strip()
        if len(secret) < 16:
            fail("that secret is too short to sign with; paste the ITSM's whole secret")
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
    if secret_from_itsm:
        heading(f"The ITSM's signing secret is stored for {tenant_id!r}.")
    else:
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
