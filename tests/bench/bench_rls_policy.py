"""What the signed tenant context costs: the same queries under the verifying policy and,
as the baseline beside it, under the former policy that trusted a plain setting.

Two tenants of ROWS tickets each in an embedded PostgreSQL. Server time is PostgreSQL's
own `Execution Time` (EXPLAIN ANALYZE); the client's cost is the CPU time to sign one
context. The machine is shared:
read the two columns against each other, not as absolutes.

    python -m tests.bench.bench_rls_policy
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

import psycopg

from aiops.crypto import SecretBox, generate_key, parse_key
from aiops.embedded import embedded_postgres
from warehouse import migrate, tenant_context
from warehouse.db import Database
from warehouse.tenant_context import context_keys
from warehouse.tenants import TenantConfig, create_tenant

ROWS = 200_000
REPEATS = 15
SIGNINGS = 20_000
QUERIES = {
    "count(*) (index-only on tenant)": "SELECT count(*) FROM ticket_history",
    "filter on text (seq scan)": "SELECT count(*) FROM ticket_history WHERE subject LIKE '%7%'",
    "one ticket by id": "SELECT * FROM ticket_history WHERE ticket_id = '12345'",
}
SIGNED = "(SELECT tenancy.current_tenant())"
PLAIN = "current_setting('app.current_tenant_id', true)"


def _policy(owner_url: str, expression: str) -> None:
    with psycopg.connect(owner_url, autocommit=True) as conn:
        conn.execute(
            f"ALTER POLICY tenant_isolation ON ticket_history USING (tenant_id = {expression}) "
            f"WITH CHECK (tenant_id = {expression})"
        )


def _server_ms(db: Database, tenant: str, query: str) -> float:
    times = []
    for _ in range(REPEATS):
        with db.tenant(tenant) as conn:
            plan = conn.execute(f"EXPLAIN (ANALYZE, FORMAT JSON) {query}").fetchone()
        assert plan is not None
        times.append(float(plan["QUERY PLAN"][0]["Execution Time"]))
    return statistics.median(times)


def _signing_us(key: bytes) -> float:
    started = time.process_time()
    for _ in range(SIGNINGS):
        tenant_context.sign(key, "alpha", "12345.1733000000000000")
    return (time.process_time() - started) / SIGNINGS * 1e6


def main() -> None:
    box = SecretBox(parse_key(generate_key()))
    with (
        tempfile.TemporaryDirectory(prefix="aiops-bench-", dir="/tmp") as state,
        embedded_postgres(Path(state)) as (app_url, owner_url, operator_url, _server),
    ):
        migrate.upgrade(owner_url)
        migrate.allow_app_login(owner_url)
        tenant_context.install(owner_url, context_keys(box))
        key = context_keys(box).signing
        with Database(app_url, key, operator_url=operator_url, max_size=1) as db:
            for tenant in ("alpha", "beta"):
                create_tenant(db, box, TenantConfig(tenant_id=tenant, display_name=tenant))
            with psycopg.connect(owner_url, autocommit=True) as conn:
                conn.execute(
                    "INSERT INTO ticket_history (tenant_id, ticket_id, subject, description) "
                    "SELECT t, n::text, 'printer ' || n, 'paper jam on floor ' || (n %% 9) "
                    "FROM unnest(ARRAY['alpha', 'beta']) t, generate_series(1, %s) n",
                    (ROWS,),
                )
                conn.execute("VACUUM ANALYZE ticket_history")
            print(f"\n{ROWS} tickets per tenant, two tenants; median of {REPEATS} runs")
            print(f"{'query':<34} {'signed ms':>10} {'plain ms':>10}")
            for name, query in QUERIES.items():
                signed = _server_ms(db, "alpha", query)
                _policy(owner_url, PLAIN)
                plain = _server_ms(db, "alpha", query)
                _policy(owner_url, SIGNED)
                print(f"{name:<34} {signed:10.2f} {plain:10.2f}")
            print(f"signing a context in the client: {_signing_us(key):.1f} µs CPU")


if __name__ == "__main__":
    main()
