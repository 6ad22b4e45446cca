"""The process-wide in-flight window: fair between tenants, never idle while work waits."""

from __future__ import annotations

import pytest

from flows.window import FairWindow


def _fill(window: FairWindow, waiting: dict[str, int]) -> list[str]:
    """Grants slots the way partitions ask: every waiting tenant in turn, until none may."""
    for tenant, count in waiting.items():
        window.wait(tenant, count)
    granted: list[str] = []
    progress = True
    while progress:
        progress = False
        for tenant in waiting:
            if waiting[tenant] and window.try_start(tenant):
                waiting[tenant] -= 1
                granted.append(tenant)
                progress = True
    return granted


def test_a_tenant_alone_gets_the_whole_window() -> None:
    window = FairWindow(8)
    assert _fill(window, {"alone": 20}) == ["alone"] * 8
    assert window.in_flight == 8
    assert not window.try_start("alone")


def test_competing_tenants_share_the_window_evenly() -> None:
    window = FairWindow(9)
    granted = _fill(window, {"a": 100, "b": 100, "c": 100})
    assert sorted(granted) == ["a"] * 3 + ["b"] * 3 + ["c"] * 3


def test_a_quiet_tenant_gets_the_next_free_slot_during_a_flood() -> None:
    window = FairWindow(4)
    assert _fill(window, {"flood": 1000}) == ["flood"] * 4
    window.wait("flood", 996)
    window.wait("quiet", 1)
    window.finish("flood")
    assert not window.try_start("flood")  # quiet has fewer in flight and waits
    assert window.try_start("quiet")
    window.finish("flood")
    assert window.try_start("flood")  # quiet waits no more: the slot is not left idle


def test_a_slot_is_taken_only_while_one_is_free_and_finish_frees_it() -> None:
    window = FairWindow(1)
    window.wait("t", 2)
    assert window.try_start("t")
    assert not window.try_start("t")
    window.finish("t")
    assert window.try_start("t")
    window.finish("t")
    with pytest.raises(ValueError, match="nothing of 't' is in flight"):
        window.finish("t")


def test_withdrawn_waiters_no_longer_hold_others_back() -> None:
    window = FairWindow(4)
    window.wait("a", 3)
    window.wait("b", 1)
    assert window.try_start("a")
    assert not window.try_start("a")  # b waits with none in flight
    window.withdraw("b")
    assert window.try_start("a")
    assert window.running("a") == 2


def test_the_window_shrinks_while_events_queue_for_the_cpu_and_grows_when_none_do() -> None:
    window = FairWindow(6, floor=3)
    assert _fill(window, {"t": 100}) == ["t"] * 3  # it starts at the floor
    for size in (4, 5, 6):  # full, work waiting, nobody queued for the CPU: one more
        assert window.adapt(queued=0, slots=2) == size
        assert window.try_start("t")
    assert window.adapt(queued=0, slots=2) == 6  # never above the capacity
    # A long queue at the gate shrinks the window only once it has stood for a round
    # (the floor's number of finishes), then by one per finish.
    sizes = [window.adapt(queued=9, slots=2) for _ in range(6)]
    assert sizes == [6, 6, 5, 4, 3, 3]  # never below the floor
    for _ in range(3):
        window.finish("t")
    assert not window.try_start("t")  # 3 in flight fill a window of 3
    window.finish("t")
    # A slot free this instant, events waiting for one: the partitions have not handed the
    # next event on yet, and the window still grows.
    assert window.adapt(queued=0, slots=2) == 4
    window.withdraw("t", 100)
    assert window.adapt(queued=0, slots=2) == 4  # nothing waits for a slot: no reason to grow


def test_a_burst_at_the_gate_neither_shrinks_the_window_nor_stops_its_growth() -> None:
    window = FairWindow(64, floor=4)
    window.wait("t", 1000)
    while window.try_start("t"):
        pass
    sizes = []
    # Answers come back in bursts: a long queue at one finish, none at the next ones.
    for queued in [9, 9, 9, 0, 9, 9, 9, 0] * 4:
        sizes.append(window.adapt(queued=queued, slots=2))
        while window.try_start("t"):
            pass
    assert sizes == list(range(5, 37))  # one more at every finish, never less


def test_a_queue_that_never_drains_stops_the_growth_before_it_shrinks() -> None:
    window = FairWindow(64, floor=4)
    window.wait("t", 1000)
    while window.try_start("t"):
        pass
    sizes = []
    # Always some queue, never a long one: once the gate has not drained for a round, the
    # CPU is kept busy and the size holds.
    for _ in range(12):
        sizes.append(window.adapt(queued=1, slots=2))
        while window.try_start("t"):
            pass
    assert sizes == [5, 6, 7] + [7] * 9
