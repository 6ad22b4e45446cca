"""The Redis side of sandbox jobs, shared by the management API and the sandbox worker.

A job itself lives in PostgreSQL (warehouse.sandbox_jobs, under RLS); Redis only wakes
the worker and tells a waiting API request that the job is finished:

- `{prefix}:sandbox:jobs`: a stream of (tenant_id, job_id), read by the worker group;
  an entry not acknowledged (the worker stopped midway) is claimed again later;
- `{prefix}:sandbox:alive`: set by every live worker with a short expiry, so the API can
  say at once that no worker is running instead of leaving a job waiting;
- `{prefix}:sandbox:done:{job_id}`: a list the worker pushes to when the job ends, which
  the API blocks on (the job's outcome is read from PostgreSQL).
"""

from __future__ import annotations

import time

import redis

GROUP = "sandbox-workers"
BEAT_SECONDS = 2.0
ALIVE_SECONDS = 10  # a worker missing five beats counts as gone
_DONE_SECONDS = 300
_STREAM_MAXLEN = 100_000


def stream(prefix: str) -> str:
    return f"{prefix}:sandbox:jobs"


def alive_key(prefix: str) -> str:
    return f"{prefix}:sandbox:alive"


def done_key(prefix: str, job_id: str) -> str:
    return f"{prefix}:sandbox:done:{job_id}"


def request(client: redis.Redis, prefix: str, tenant_id: str, job_id: str) -> None:
    client.xadd(
        stream(prefix),
        {"tenant_id": tenant_id, "job_id": job_id},
        maxlen=_STREAM_MAXLEN,
        approximate=True,
    )


def worker_alive(client: redis.Redis, prefix: str) -> bool:
    return bool(client.exists(alive_key(prefix)))


def beat(client: redis.Redis, prefix: str, worker: str) -> None:
    client.set(alive_key(prefix), worker, ex=ALIVE_SECONDS)


def announce_done(client: redis.Redis, prefix: str, job_id: str) -> None:
    key = done_key(prefix, job_id)
    with client.pipeline() as pipe:
        pipe.rpush(key, "1")
        pipe.expire(key, _DONE_SECONDS)
        pipe.execute()


def wait_done(client: redis.Redis, prefix: str, job_id: str, seconds: float, step: float) -> bool:
    """Blocks until the worker announces the job's end or `seconds` pass; each wait is at
    most `step` seconds, below the client's socket timeout."""
    deadline = time.monotonic() + seconds
    key = done_key(prefix, job_id)
    while (left := deadline - time.monotonic()) > 0:
        if client.blpop([key], timeout=max(0.01, min(left, step))) is not None:
            return True
    return False
