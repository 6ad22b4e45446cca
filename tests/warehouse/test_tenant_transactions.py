"""Database.tenant on one session, tenant after tenant: each transaction is its own
tenant's, whatever the session ran before (the begin statements are kept per session and
tenant)."""

from __future__ import annotations

from aiops.crypto import SecretBox
from aiops.embedded import ServiceUrls
from tests.flows.conftest import add_tenant
from warehouse.db import Database, session_tenant
from warehouse.tenant_context import context_keys


def test_one_session_serves_tenant_after_tenant_each_as_itself(
    db: Database, service_urls: ServiceUrls, box: SecretBox, tenant_id: str
) -> None:
    other = f"{tenant_id}-b"
    add_tenant(db, box, tenant_id)
    add_tenant(db, box, other)
    one_session = Database(service_urls.database_url, context_keys(box).signing, max_size=1)
    with one_session:
        seen = []
        for name in (tenant_id, other, tenant_id, other):
            with one_session.tenant(name) as conn:
                seen.append((session_tenant(conn), conn.info.backend_pid))
        assert [t for t, _ in seen] == [tenant_id, other, tenant_id, other]
        assert len({pid for _, pid in seen}) == 1
