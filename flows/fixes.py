"""The fix, not the status: a resolved ticket whose resolution only names a status
("Fixed", "Done", "Won't Fix") or is empty takes what fixed it from the ticket's last
technician note or comment, read through the ITSM plugin (itsm.base.FixReader).

The status word is kept among the ticket's extra fields as `resolution_name`. Looking the
fix up is best effort: a plugin without the capability, a tenant without write-back
credentials or an ITSM that fails leaves the ticket stored without a fix (never with the
status word as its fix), and the flow's metrics count each outcome.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from aiops.events import Ticket
from aiops.resolution_words import is_status_word
from itsm.base import FixReader, ItsmClient
from warehouse.tenants import TenantConfig

log = logging.getLogger(__name__)

FOUND, NONE, FAILED, UNSUPPORTED = "found", "none", "failed", "unsupported"


def without_status_word(ticket: Ticket, fix: str | None) -> Ticket:
    """The ticket with `fix` as its resolution, the status word moved to the extra fields."""
    extra = dict(ticket.extra)
    word = (ticket.resolution or "").strip()
    if word:
        extra.setdefault("resolution_name", word)
    return ticket.model_copy(update={"resolution": fix or None, "extra": extra})


class FixFinder:
    def __init__(
        self,
        tenant: Callable[[str], TenantConfig | None],
        itsm: Callable[[TenantConfig], ItsmClient],
        retry: Callable[[Callable[[], str | None]], str | None],
        observe: Callable[[str], None],
    ) -> None:
        self._tenant = tenant
        self._itsm = itsm
        self._retry = retry
        self._observe = observe

    def __call__(self, tenant_id: str, tickets: Sequence[Ticket]) -> list[Ticket]:
        wanted = [t for t in tickets if is_status_word(t.resolution)]
        if not wanted:
            return list(tickets)
        reader = self._reader(tenant_id)
        fixed: dict[str, Ticket] = {}
        for ticket in wanted:
            fix = self._look_up(tenant_id, reader, ticket) if reader else None
            if reader is None:
                self._observe(UNSUPPORTED)
            fixed[ticket.id] = without_status_word(ticket, fix)
        return [fixed.get(t.id, t) for t in tickets]

    def _reader(self, tenant_id: str) -> FixReader | None:
        try:
            tenant = self._tenant(tenant_id)
            if tenant is None or not tenant.writes_back:
                return None
            client = self._itsm(tenant)
        except Exception as exc:
            log.warning("tenant %s: no ITSM client to read fixes with: %s", tenant_id, exc)
            return None
        return client if isinstance(client, FixReader) else None

    def _look_up(self, tenant_id: str, reader: FixReader, ticket: Ticket) -> str | None:
        try:
            fix = self._retry(lambda: reader.last_fix(ticket.id))
        except Exception as exc:
            self._observe(FAILED)
            log.warning(
                "tenant %s ticket %s: the fix could not be read, stored without one: %s",
                tenant_id,
                ticket.id,
                f"{type(exc).__name__}: {exc}"[:300],
            )
            return None
        self._observe(FOUND if fix else NONE)
        return fix
