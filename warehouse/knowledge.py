"""Knowledge-base articles and the inventory of hosts a tenant manages."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from psycopg.types.json import Jsonb

from warehouse.db import TenantConnection


@dataclass(frozen=True)
class Article:
    article_id: str
    title: str
    body: str = ""
    url: str | None = None
    tags: tuple[str, ...] = ()


@dataclass(frozen=True)
class Host:
    hostname: str
    ip_address: str | None = None
    kind: str | None = None
    os: str | None = None
    location: str | None = None
    owner: str | None = None
    attributes: dict[str, Any] = field(default_factory=dict)


def upsert_articles(conn: TenantConnection, articles: Sequence[Article]) -> int:
    with conn.cursor() as cur:
        cur.executemany(
            """
            INSERT INTO kb_articles (tenant_id, article_id, title, body, url, tags)
            VALUES (current_setting('app.current_tenant_id', true), %s, %s, %s, %s, %s)
            ON CONFLICT (tenant_id, article_id) DO UPDATE SET title = EXCLUDED.title,
                body = EXCLUDED.body, url = EXCLUDED.url, tags = EXCLUDED.tags, updated_at = now()
            """,
            [(a.article_id, a.title, a.body, a.url, list(a.tags)) for a in articles],
        )
    return len(articles)


def all_articles(conn: TenantConnection) -> list[Article]:
    rows = conn.execute("SELECT article_id, title, body, url, tags FROM kb_articles ORDER BY id")
    return [
        Article(r["article_id"], r["title"], r["body"], r["url"], tuple(r["tags"]))
        for r in rows.fetchall()
    ]


def articles_version(conn: TenantConnection) -> tuple[int, Any]:
    row = conn.execute("SELECT count(*) AS n, max(updated_at) AS last FROM kb_articles").fetchone()
    assert row is not None
    return row["n"], row["last"]


def upsert_hosts(conn: TenantConnection, hosts: Sequence[Host]) -> int:
    with conn.cursor() as cur:
        cur.executemany(
            """
            INSERT INTO system_inventory (
                tenant_id, hostname, ip_address, kind, os, location, owner, attributes)
            VALUES (current_setting('app.current_tenant_id', true), %s, %s, %s, %s, %s, %s, %s)
            ON CONFLICT (tenant_id, hostname) DO UPDATE SET ip_address = EXCLUDED.ip_address,
                kind = EXCLUDED.kind, os = EXCLUDED.os, location = EXCLUDED.location,
                owner = EXCLUDED.owner, attributes = EXCLUDED.attributes, updated_at = now()
            """,
            [
                (
                    h.hostname.lower(),
                    h.ip_address,
                    h.kind,
                    h.os,
                    h.location,
                    h.owner,
                    Jsonb(h.attributes),
                )
                for h in hosts
            ],
        )
    return len(hosts)


def find_hosts(conn: TenantConnection, hostnames: Sequence[str], ips: Sequence[str]) -> list[Host]:
    rows = conn.execute(
        """
        SELECT hostname, host(ip_address) AS ip, kind, os, location, owner, attributes
        FROM system_inventory
        WHERE hostname = ANY(%s) OR split_part(hostname, '.', 1) = ANY(%s)
           OR ip_address = ANY(%s::inet[])
        ORDER BY hostname
        """,
        ([h.lower() for h in hostnames], [h.lower() for h in hostnames], list(ips)),
    ).fetchall()
    return [
        Host(r["hostname"], r["ip"], r["kind"], r["os"], r["location"], r["owner"], r["attributes"])
        for r in rows
    ]
