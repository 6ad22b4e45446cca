"""The embedded PostgreSQL authenticates every role: peer, mapped to this OS user only."""

from __future__ import annotations

import getpass
import uuid

import psycopg
import pytest
from psycopg import sql

from aiops.embedded import ServiceUrls


def test_every_rule_is_peer_and_maps_only_this_user(service_urls: ServiceUrls) -> None:
    with psycopg.connect(service_urls.migration_database_url) as conn:
        rules = conn.execute("SELECT type, auth_method, error FROM pg_hba_file_rules").fetchall()
        maps = conn.execute(
            "SELECT sys_name, pg_username, error FROM pg_ident_file_mappings"
        ).fetchall()
    assert rules == [("local", "peer", None)]
    assert {m[0] for m in maps} == {getpass.getuser()}
    assert {m[1] for m in maps} >= {"aiops_app", "aiops_operator"}
    assert all(m[2] is None for m in maps)


def test_a_role_outside_the_map_cannot_log_in_even_without_a_password(
    service_urls: ServiceUrls,
) -> None:
    """Under pgserver's trust rules this login would succeed: any local process could."""
    intruder = f"intruder_{uuid.uuid4().hex[:8]}"
    owner = service_urls.migration_database_url
    with psycopg.connect(owner, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(intruder)))
    try:
        url = service_urls.database_url.replace("aiops_app@", f"{intruder}@")
        with pytest.raises(psycopg.OperationalError, match=r"[Pp]eer authentication failed"):
            psycopg.connect(url).close()
    finally:
        with psycopg.connect(owner, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(intruder)))
