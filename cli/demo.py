"""`aiops demo`: a demo tenant, signed ServiceDesk Plus webhooks, and the notes they produce."""

from __future__ import annotations

import json
import time
import uuid
from typing import Annotated, Any

import httpx
import typer
from tqdm import tqdm

from aiops.events import utcnow
from aiops.running_system import running_system
from cli import demo_data, system
from cli.console import fail, heading
from cli.runtime import Runtime, connect, load_settings
from itsm.signing import hex_hmac_sha256
from warehouse import enhancements, knowledge, tenants, tickets

DONE = ("succeeded", "stored", "failed")


def _ensure_tenant(rt: Runtime) -> tenants.TenantConfig:
    config = tenants.get_tenant(rt.db, rt.box, demo_data.TENANT_ID)
    if config is None:
        config = tenants.register_tenant(
            rt.db,
            rt.box,
            rt.redis,
            rt.settings.stream_prefix,
            tenants.TenantConfig(demo_data.TENANT_ID, demo_data.DISPLAY_NAME),
        )
    else:
        # The running ingest may have started before this tenant existed.
        tenants.publish_tenant(rt.redis, rt.settings.stream_prefix, rt.box, config)
    with rt.db.tenant(demo_data.TENANT_ID) as conn:
        tickets.upsert_tickets(conn, demo_data.HISTORY, source="demo")
        knowledge.upsert_articles(conn, demo_data.KB)
        knowledge.upsert_hosts(conn, demo_data.HOSTS)
    return config


def _send(http: httpx.Client, url: str, secret: str, request: dict[str, Any]) -> str:
    body = json.dumps({"request": request, "event": "created"}).encode()
    response = http.post(
        url,
        content=body,
        headers={
            "Content-Type": "application/json",
            "X-ServiceDesk-Signature": hex_hmac_sha256(secret, body),
            "X-ServiceDesk-Delivery-Id": str(uuid.uuid4()),
        },
    )
    if response.status_code != 202:
        fail(f"ingest answered {response.status_code} to a demo webhook: {response.text[:300]}")
    return str(response.json()["event_id"])


def _wait(rt: Runtime, event_ids: list[str], timeout: float) -> dict[str, dict[str, Any]]:
    done: dict[str, dict[str, Any]] = {}
    deadline = time.monotonic() + timeout
    with tqdm(total=len(event_ids), desc="enhancing", unit=" tickets") as bar:
        while len(done) < len(event_ids):
            with rt.db.tenant(demo_data.TENANT_ID) as conn:
                for event_id in event_ids:
                    row = None if event_id in done else enhancements.get(conn, event_id)
                    if row is not None and row["status"] in DONE:
                        done[event_id] = row
                        bar.update(1)
            if len(done) < len(event_ids):
                if time.monotonic() > deadline:
                    break
                time.sleep(0.5)
    return done


def demo(
    ingest_url: Annotated[
        str | None,
        typer.Option(
            help="Where ingest listens. Default: the `aiops up` running on this state "
            "folder, else this machine at AI_AGENTS_INGEST_PORT."
        ),
    ] = None,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for the notes.")] = 120.0,
) -> None:
    """Show AI Ops at work against the running system (start it first with `aiops up`).

    Creates a 'demo' tenant without ITSM credentials (so notes are stored, not posted),
    gives it resolved tickets, KB articles and hosts, sends five signed ServiceDesk Plus
    webhooks and prints the notes written for them.
    """
    settings = load_settings()
    running = running_system(settings.state_dir)
    found = running.ingest_url if running is not None else None
    base = (ingest_url or found or system.local_url(settings, settings.ingest_port)).rstrip("/")
    with httpx.Client(timeout=10) as http:
        try:
            http.get(f"{base}/health/ready").raise_for_status()
        except httpx.HTTPError:
            fail(
                f"AI Ops is not answering at {base}; start it with `deploy/dev.sh up` (or "
                "`aiops up`) in another terminal, then run `aiops demo` again. If ingest "
                "listens elsewhere (say `aiops up --ingest-port 9100`, or another machine), "
                "point the demo at it: `aiops demo --ingest-url http://127.0.0.1:9100`"
            )
        with connect(settings) as rt:
            config = _ensure_tenant(rt)
            typer.echo(
                f"Tenant {config.tenant_id!r}: {len(demo_data.HISTORY)} resolved tickets, "
                f"{len(demo_data.KB)} KB articles, {len(demo_data.HOSTS)} hosts."
            )
            url = f"{base}/webhook/{config.itsm_source}?tenant={config.tenant_id}"
            requests = demo_data.new_requests(utcnow())
            sent = {
                _send(http, url, config.webhook_secrets[0], request): request
                for request in requests
            }
            typer.echo(f"Sent {len(sent)} signed webhooks to {base}.")
            done = _wait(rt, list(sent), timeout)
    for event_id, request in sent.items():
        row = done.get(event_id)
        heading(f"\n#{request['id']}  {request['subject']}")
        if row is None:
            typer.echo("  (still waiting)")
            continue
        how = ", ".join(filter(None, [row["status"], row["synthesizer"], row["model"]]))
        typer.echo(f"  {how}; event {event_id}")
        if row["error"]:
            typer.echo(f"  error: {row['error_kind'] or ''} {row['error']}")
        typer.echo(row["output"] or "(no note)")
    if len(done) < len(sent):
        fail(
            f"{len(sent) - len(done)} of {len(sent)} webhooks have no result after "
            f"{timeout:.0f} s; check the `aiops up` terminal for flow errors and "
            "`aiops dlq list` for dead letters"
        )
    typer.echo(f"\nMore: aiops history show --tenant {demo_data.TENANT_ID}")
