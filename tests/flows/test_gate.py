"""The busy gate: few events in their CPU-bound stages at once, the quietest tenant first."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from functools import partial

import pytest

from flows.gate import FairGate


def _until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.005)


def _queued(gate: FairGate, count: int) -> bool:
    return gate.waiting == count


def test_waiters_go_in_by_their_tenants_load_then_first_come() -> None:
    in_flight = {"flood": 200, "quiet": 1, "middle": 20}
    gate = FairGate(1, in_flight.__getitem__)
    order: list[str] = []
    held, release = threading.Event(), threading.Event()

    def holder() -> None:
        with gate.hold("flood"):
            held.set()
            release.wait(5)

    def waiter(tenant: str, name: str) -> None:
        with gate.hold(tenant):
            order.append(name)

    first = threading.Thread(target=holder)
    first.start()
    held.wait(5)
    threads = []
    for tenant, name in [("flood", "flood-1"), ("flood", "flood-2"), ("middle", "middle"),
                         ("quiet", "quiet")]:  # fmt: skip
        thread = threading.Thread(target=waiter, args=(tenant, name))
        thread.start()
        threads.append(thread)
        _until(partial(_queued, gate, len(threads)))
    release.set()
    for thread in [first, *threads]:
        thread.join(5)
    assert order == ["quiet", "middle", "flood-1", "flood-2"]


def test_no_more_than_the_slots_hold_at_once_and_none_is_left_idle() -> None:
    gate = FairGate(3, lambda _: 0)
    lock = threading.Lock()
    now = peak = done = 0

    def work() -> None:
        nonlocal now, peak, done
        with gate.hold("t"):
            with lock:
                now += 1
                peak = max(peak, now)
            time.sleep(0.01)
            with lock:
                now -= 1
                done += 1

    threads = [threading.Thread(target=work) for _ in range(30)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert done == 30 and peak == 3 and gate.waiting == 0


def test_a_holder_waiting_on_io_lends_its_slot_and_takes_it_back() -> None:
    gate = FairGate(1, lambda _: 0)
    lent = threading.Event()
    other_ran = threading.Event()
    back = threading.Event()

    def holder() -> None:
        with gate.hold("a"):
            with gate.lent():
                lent.set()
                other_ran.wait(5)
            back.set()

    def other() -> None:
        lent.wait(5)
        with gate.hold("b"):
            other_ran.set()

    threads = [threading.Thread(target=holder), threading.Thread(target=other)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(5)
    assert other_ran.is_set() and back.is_set()


def test_holding_again_in_the_same_thread_takes_no_second_slot() -> None:
    gate = FairGate(1, lambda _: 0)
    with gate.hold("a"), gate.hold("a"), gate.lent(), gate.hold("a"):
        pass
    with gate.lent():  # holding nothing: nothing to lend
        pass
    with gate.hold("b"):
        assert gate.waiting == 0


def test_a_gate_needs_a_slot() -> None:
    with pytest.raises(ValueError):
        FairGate(0, lambda _: 0)
