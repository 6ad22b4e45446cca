from __future__ import annotations

from datetime import timedelta
from typing import Any

import redis
from dagster import DagsterInstance, ExecuteInProcessResult

from aiops.crypto import SecretBox
from aiops.events import EVENT_FIELD, Event, decode_event, shard_for
from aiops.settings import Settings
from assets.backfills.jobs import LLM_TAG, reenhance
from assets.partitions import TENANTS, tenant_day_key
from tests.analytics import seed
from warehouse.db import Database


def _run(
    instance: DagsterInstance,
    resources: dict[str, Any],
    tenant_id: str,
    day: Any,
    backfill_id: str,
    repost: bool,
) -> ExecuteInProcessResult:
    return reenhance.execute_in_process(
        run_config={"ops": {"reenhance_day": {"config": {"repost": repost}}}},
        partition_key=str(tenant_day_key(tenant_id, day)),
        tags={"dagster/backfill": backfill_id},
        instance=instance,
        resources=resources,
    )


def _backfill_stream(client: redis.Redis, tenant_id: str) -> list[Event]:
    settings = Settings()
    stream = settings.backfill_stream_name(shard_for(tenant_id, settings.stream_shards))
    entries = client.xrange(stream) or []
    return [decode_event(fields[EVENT_FIELD.encode()]) for _, fields in entries if fields]


def test_a_backfill_enqueues_exactly_the_chosen_tickets_once(
    db: Database,
    box: SecretBox,
    tenant_id: str,
    instance: DagsterInstance,
    resources: dict[str, Any],
    redis_client: redis.Redis,
) -> None:
    other = seed.tenant(db, box, tenant_id + "-o")
    seed.tenant(db, box, tenant_id)
    day = seed.today() - timedelta(days=3)
    with db.tenant(tenant_id) as conn:
        seed.enhancement(conn, "t1-created", seed.at(day, 9), ticket_id="T1", subject="disk full")
        seed.enhancement(conn, "t1-updated", seed.at(day, 15), ticket_id="T1", subject="disk 99%")
        seed.enhancement(conn, "t2-created", seed.at(day, 11), ticket_id="T2")
        seed.enhancement(conn, "t3-old-row", seed.at(day, 12), ticket_id="T3")
        conn.execute("UPDATE enhancement_history SET ticket = NULL WHERE ticket_id = 'T3'")
        seed.enhancement(conn, "t4-next-day", seed.at(day + timedelta(days=1)), ticket_id="T4")
    with db.tenant(other) as conn:
        seed.enhancement(conn, "o1", seed.at(day), ticket_id="O1")
    instance.add_dynamic_partitions(TENANTS, [tenant_id, other])
    assert reenhance.tags[LLM_TAG] == "true"

    first = _run(instance, resources, tenant_id, day, "bf-1", repost=True)
    assert first.success
    assert first.output_for_node("reenhance_day") == {
        "selected": 3,
        "enqueued": 2,
        "already_enqueued": 0,
        "without_ticket": 1,
    }
    events = _backfill_stream(redis_client, tenant_id)
    assert sorted((e.event_id, e.ticket.id, e.ticket.subject) for e in events) == [
        ("t1-updated", "T1", "disk 99%"),
        ("t2-created", "T2", "printer jam"),
    ]
    assert all(e.backfill and e.repost and e.tenant_id == tenant_id for e in events)

    # A retried run of the same backfill adds nothing; a new backfill does.
    again = _run(instance, resources, tenant_id, day, "bf-1", repost=True)
    assert again.output_for_node("reenhance_day")["already_enqueued"] == 2
    assert len(_backfill_stream(redis_client, tenant_id)) == 2
    fresh = _run(instance, resources, tenant_id, day, "bf-2", repost=False)
    assert fresh.output_for_node("reenhance_day")["enqueued"] == 2
    later = _backfill_stream(redis_client, tenant_id)[2:]
    assert [(e.event_id, e.repost) for e in later] == [("t1-updated", False), ("t2-created", False)]

    assert list(redis_client.scan_iter(match="aiops:events:*")) == []
    backfill_streams = list(redis_client.scan_iter(match="aiops:backfill:*", _type="STREAM"))
    assert sum(redis_client.xlen(s) for s in backfill_streams) == 4  # the other tenant: none
