"""Garbage-collector settings for the long-running processes (flow, ingest).

A flow process holds a large, long-lived heap (imports, clients, each tenant's indexes)
and allocates briskly per event; ingest likewise per webhook (FastAPI, pydantic). With
CPython's default thresholds the collections that walked the older generations took
about a tenth of the flow's CPU under load (py-spy showed them as time in object
constructors). Freezing what exists at start-up takes it out of every
later collection; a larger first threshold makes the older generations' walks rarer.
Reference cycles are still collected.
"""

from __future__ import annotations

import gc

YOUNG_THRESHOLD = 50_000  # CPython's default is 700
OLDER_THRESHOLDS = (20, 20)  # CPython's default is (10, 10)


def quiet_collector() -> None:
    """Call once, at the process's entry point, after the imports."""
    gc.freeze()
    gc.set_threshold(YOUNG_THRESHOLD, *OLDER_THRESHOLDS)
