"""Similar tickets from the persisted ticket-history index plus the rows changed since,
held against a full read of ticket_history (what the flow did before the artifact)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from aiops.crypto import SecretBox
from aiops.events import Ticket
from aiops.settings import Settings
from flows import embedding
from flows.indexes import (
    ARTIFACT,
    ARTIFACT_DELTA,
    DELTA,
    FULL_NO_ARTIFACT,
    FULL_UNREADABLE,
    FullBuild,
    IndexBuild,
    StoredTicketIndexes,
    TenantIndexes,
    _TicketIndex,
)
from flows.retrieval import tokenize
from tests.bench.corpus import load_issues
from tests.flows.conftest import Clock, add_tenant, recorded, run_flow, seed
from tests.flows.events import entry, event
from warehouse import tickets
from warehouse.analytics import ticket_index
from warehouse.analytics.layout import ticket_index_dir
from warehouse.db import Database

REMOTE_FIX = "Re-keyed the SAN switch zoning after the firmware upgrade (change QUOKKA-4411)"


def _hadoop(start: int, stop: int) -> list[Ticket]:
    issues = sorted(load_issues().values(), key=lambda i: i.issue_id)[start:stop]
    return [Ticket(id=i.issue_id, subject=i.summary, description=i.description) for i in issues]


def _age(db: Database, tenant_id: str) -> None:
    """As if the rows so far were written an hour apart, the newest a day ago: so only the
    newest is within ticket_index.LATE_COMMIT_MARGIN of the index's watermark, and a delta
    re-reads just that one besides the rows changed since."""
    with db.tenant(tenant_id) as conn:
        conn.execute(
            "UPDATE ticket_history t SET updated_at = now() - interval '1 day'"
            " - r.n * interval '1 hour'"
            " FROM (SELECT id, row_number() OVER (ORDER BY id) AS n FROM ticket_history) r"
            " WHERE t.id = r.id"
        )


def _build_artifact(db: Database, tenant_id: str, root: Path) -> ticket_index.Manifest:
    """What the ticket_history_index asset does for the tenant's partition."""
    with db.tenant(tenant_id) as conn:
        return ticket_index.refresh(conn, root, tenant_id, tokenize, embedding).manifest


def _stored(
    db: Database, root: Path, builds: list[IndexBuild], clock: Clock
) -> TenantIndexes[Ticket]:
    return TenantIndexes(
        db,
        version=tickets.index_version,
        source=StoredTicketIndexes(db, root, observe=builds.append),
        ttl_seconds=30,
        clock=clock,
    )


def _full(db: Database) -> TenantIndexes[Ticket]:
    """The flow's index before the artifact: every ticket read and tokenized."""
    return TenantIndexes(
        db,
        version=tickets.index_version,
        source=FullBuild(
            load=tickets.all_tickets, document=lambda t: (t.id, f"{t.text}\n{t.resolution or ''}")
        ),
        ttl_seconds=30,
    )


def _ids(hits: list[tuple[Ticket, float]]) -> list[str]:
    return [t.id for t, _ in hits]


def test_artifact_and_delta_find_what_a_full_read_finds(
    db: Database, box: SecretBox, tenant_id: str, tmp_path: Path
) -> None:
    add_tenant(db, box, tenant_id)
    seed(db, tenant_id, history=_hadoop(0, 1200))
    _age(db, tenant_id)
    manifest = _build_artifact(db, tenant_id, tmp_path)
    assert manifest.rows == 1200

    # After the artifact: new tickets, changed ones and deleted ones.
    seed(db, tenant_id, history=_hadoop(1200, 1500))
    old = _hadoop(0, 1200)
    changed = [t.model_copy(update={"resolution": REMOTE_FIX}) for t in old[5:300:10]]
    seed(db, tenant_id, history=changed)
    gone = old[7:300:10]
    deleted = [t.id for t in gone]
    with db.tenant(tenant_id) as conn:
        conn.execute("DELETE FROM ticket_history WHERE ticket_id = ANY(%s)", (deleted,))

    builds: list[IndexBuild] = []
    stored = _stored(db, tmp_path, builds, Clock()).get(tenant_id)
    [build] = builds
    assert build.origin == ARTIFACT_DELTA
    assert build.rows == 1500 - len(deleted)
    full = _full(db).get(tenant_id)
    assert isinstance(stored, _TicketIndex)
    hybrid = stored.index

    # Every fourth ticket, and every changed and deleted one: the rows the delta touched.
    # BM25 matches a full read exactly; embeddings are those of each ticket's current text
    # under the artifact's weights (kept until the history doubles), deleted ones gone.
    changed_ids = {t.id for t in changed}
    queries = [*_hadoop(0, 1500)[::4], *changed, *gone]
    with db.tenant(tenant_id) as conn:
        rows = conn.execute("SELECT * FROM ticket_history").fetchall()
    current = {
        r["ticket_id"]: (
            r["subject"],
            ticket_index.document_text(r["subject"], r["description"], r["resolution"]),
        )
        for r in rows
    }
    for ticket in queries:
        query = f"{ticket.text}\n{REMOTE_FIX if ticket.id in changed_ids else ''}"
        expected = full.search(query, 10, exclude=ticket.id)
        found = [(d, s) for d, s in hybrid.bm25.search(query, 11) if d != ticket.id][:10]
        assert [d for d, _ in found] == _ids(expected), ticket.id
        assert [s for _, s in found] == pytest.approx([s for _, s in expected], rel=1e-5)
        assert not {d for d, _ in found} & set(deleted)
        if ticket.id in deleted:
            assert hybrid.vector(ticket.id) is None
            continue
        [vector] = embedding.embed([current[ticket.id]], hybrid.weights)
        assert hybrid.vector(ticket.id) == pytest.approx(vector, abs=1e-5), ticket.id
    # The changed tickets are found by their new resolution, with it.
    hits = stored.search(REMOTE_FIX, 10)
    assert {t.id for t, _ in hits} <= {t.id for t in changed}
    assert len(hits) == 10 and all(t.resolution == REMOTE_FIX for t, _ in hits)


def test_a_current_artifact_is_used_as_is_and_later_only_changed_rows_are_read(
    db: Database, box: SecretBox, tenant_id: str, tmp_path: Path
) -> None:
    add_tenant(db, box, tenant_id)
    seed(db, tenant_id, history=_hadoop(0, 300))
    _age(db, tenant_id)
    _build_artifact(db, tenant_id, tmp_path)
    builds: list[IndexBuild] = []
    clock = Clock()
    indexes = _stored(db, tmp_path, builds, clock)

    first = indexes.get(tenant_id)
    assert (builds[-1].origin, builds[-1].rows_read, builds[-1].rows) == (ARTIFACT, 0, 300)
    full = _stored(db, tmp_path / "none", [], Clock()).get(tenant_id)  # a full read
    for ticket in _hadoop(0, 300)[::15]:
        expected = _ids(full.search(ticket.text, 10, exclude=ticket.id))
        assert _ids(first.search(ticket.text, 10, exclude=ticket.id)) == expected

    # A ticket resolved after the artifact was built.
    resolved = Ticket(
        id="R-1",
        subject="Storage array offline after firmware upgrade",
        description="All LUNs vanished from the SAN at 02:00.",
        resolution=REMOTE_FIX,
    )
    seed(db, tenant_id, history=[resolved])
    assert indexes.get(tenant_id) is first  # within the TTL
    clock.now = 31
    second = indexes.get(tenant_id)
    # R-1, and the newest indexed row re-read for late commits.
    assert (builds[-1].origin, builds[-1].rows_read, builds[-1].rows) == (DELTA, 2, 301)
    [(top, _), *_] = second.search("SAN LUNs gone after the firmware upgrade", 5)
    assert (top.id, top.resolution) == ("R-1", REMOTE_FIX)

    # A deleted ticket is left out at once (its row is gone), and from the index at the
    # next version check, when the count gives the deletion away.
    with db.tenant(tenant_id) as conn:
        conn.execute("DELETE FROM ticket_history WHERE ticket_id = 'R-1'")
    assert "R-1" not in _ids(second.search("SAN LUNs gone after the firmware upgrade", 5))
    clock.now = 62
    indexes.get(tenant_id)
    assert (builds[-1].origin, builds[-1].rows) == (DELTA, 300)
    assert builds[-1].rows_read == 300  # the ids, to find which one went


def test_without_a_readable_artifact_every_row_is_read_once_and_that_is_logged_once(
    db: Database,
    box: SecretBox,
    tenant_id: str,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    unreadable = f"{tenant_id}-u"
    for tid in (tenant_id, unreadable):
        add_tenant(db, box, tid)
        seed(db, tid, history=_hadoop(0, 200))
        _age(db, tid)
    manifest = _build_artifact(db, unreadable, tmp_path)
    (ticket_index_dir(tmp_path, unreadable) / manifest.version / "tokens.parquet").write_bytes(
        b"not parquet"
    )
    builds: list[IndexBuild] = []
    clock = Clock()
    indexes = _stored(db, tmp_path, builds, clock)

    with caplog.at_level(logging.INFO, logger="flows.indexes"):
        indexes.get(tenant_id)
        indexes.get(unreadable)
        assert [(b.origin, b.rows_read, b.rows) for b in builds] == [
            (FULL_NO_ARTIFACT, 200, 200),
            (FULL_UNREADABLE, 200, 200),
        ]
        for tid in (tenant_id, unreadable):
            seed(db, tid, history=_hadoop(200, 201))
        clock.now = 31
        missing = indexes.get(tenant_id)
        broken = indexes.get(unreadable)
    # From then on the flow's own copy takes changes: no second full read, no second warning.
    assert [(b.origin, b.rows_read, b.rows) for b in builds[2:]] == [(DELTA, 2, 201)] * 2
    warnings = [r for r in caplog.records if "unreadable" in r.getMessage()]
    assert len(warnings) == 1 and unreadable in warnings[0].getMessage()
    assert len([r for r in caplog.records if "no ticket-history index" in r.getMessage()]) == 1

    full = _full(db).get(tenant_id)
    assert isinstance(missing, _TicketIndex) and isinstance(broken, _TicketIndex)
    for ticket in _hadoop(0, 201)[::10]:
        expected = _ids(full.search(ticket.text, 10, exclude=ticket.id))
        for index in (missing, broken):
            lexical = index.index.bm25.search(ticket.text, 11)
            assert [d for d, _ in lexical if d != ticket.id][:10] == expected
        fused = _ids(missing.search(ticket.text, 10, exclude=ticket.id))
        assert _ids(broken.search(ticket.text, 10, exclude=ticket.id)) == fused


def test_the_flow_finds_a_ticket_resolved_after_the_artifact_and_not_a_deleted_one(
    flow_settings: Settings, db: Database, box: SecretBox, tenant_id: str, tmp_path: Path
) -> None:
    settings = flow_settings.model_copy(update={"warehouse_dir": tmp_path / "warehouse"})
    add_tenant(db, box, tenant_id)
    gone = Ticket(
        id="G-1",
        subject="SAN offline after firmware upgrade",
        description="Storage array LUNs missing after the upgrade.",
        resolution="Rolled the firmware back",
    )
    seed(db, tenant_id, history=[*_hadoop(0, 300), gone])
    _age(db, tenant_id)
    _build_artifact(db, tenant_id, settings.warehouse_path)
    with db.tenant(tenant_id) as conn:
        conn.execute("DELETE FROM ticket_history WHERE ticket_id = 'G-1'")

    # Through the flow's own path for resolved tickets, then a new ticket in another run.
    resolved = event(
        tenant_id,
        "R-7",
        "Storage array offline after firmware upgrade",
        "All LUNs vanished from the SAN at 02:00.",
        kind="resolved",
        resolution=REMOTE_FIX,
    )
    run_flow(settings, [entry(resolved)])
    created = event(tenant_id, "501", "SAN LUNs gone after a firmware upgrade", "since 02:00")
    runtime = run_flow(settings, [entry(created)])

    context = recorded(db, tenant_id, created.event_id)["context"]
    similar = [s["ticket_id"] for s in context["similar_tickets"]]
    assert similar[0] == "R-7"
    assert context["similar_tickets"][0]["resolution"] == REMOTE_FIX
    assert "G-1" not in similar
    sample = runtime.metrics.registry.get_sample_value
    assert sample("aiops_flow_ticket_index_builds_total", {"origin": ARTIFACT_DELTA}) == 1
    assert not sample("aiops_flow_ticket_index_builds_total", {"origin": FULL_NO_ARTIFACT})
    # R-7 and the newest indexed row, then every id once the count showed one had gone.
    assert sample("aiops_flow_ticket_index_rows_read_total") == 2 + 301
