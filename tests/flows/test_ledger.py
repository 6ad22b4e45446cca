"""Low-water mark and finished ids: what a resumed shard partition reads again."""

from __future__ import annotations

from flows.ledger import START, Ledger, Mark


def test_the_mark_stays_below_the_oldest_unfinished_entry() -> None:
    ledger = Ledger()
    for entry_id in ("1-0", "2-0", "3-0", "4-0"):
        assert ledger.read(entry_id)
    ledger.finish("2-0")
    ledger.finish("4-0")
    assert ledger.mark() == Mark(START, ("2-0", "4-0"))
    ledger.finish("1-0")
    assert ledger.mark() == Mark("2-0", ("4-0",))
    assert (len(ledger), ledger.open) == (2, 1)
    ledger.finish("3-0")
    assert ledger.mark() == Mark("4-0", ())
    assert (len(ledger), ledger.open) == (0, 0)


def test_a_resume_reads_unfinished_entries_again_and_skips_finished_ones() -> None:
    first = Ledger()
    for entry_id in ("1-0", "2-0", "3-0", "4-0"):
        first.read(entry_id)
    first.finish("1-0")
    first.finish("3-0")  # 2-0 in flight and 4-0 waiting at the snapshot
    resumed = Ledger(first.mark())
    assert resumed.cursor == "1-0"
    assert [resumed.read(i) for i in ("2-0", "3-0", "4-0")] == [True, False, True]
    resumed.finish("2-0")
    resumed.finish("4-0")
    assert resumed.mark() == Mark("4-0", ())


def test_finished_ids_not_read_again_yet_survive_another_snapshot() -> None:
    first = Ledger()
    for entry_id in ("1-0", "2-0", "3-0"):
        first.read(entry_id)
    first.finish("3-0")
    resumed = Ledger(first.mark())
    resumed.read("1-0")
    resumed.finish("1-0")
    assert resumed.mark() == Mark("1-0", ("3-0",))  # 3-0 must not be run a second time


def test_ids_it_never_read_are_ignored() -> None:
    ledger = Ledger()
    ledger.read("5-0")
    ledger.finish("9-9")
    assert ledger.mark() == Mark(START, ())
