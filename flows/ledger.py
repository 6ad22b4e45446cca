"""Which entries of one stream are finished: the resume state of a shard partition.

Pure and I/O-free. Entries are read in stream order but finish in any order, since each
event runs on its own. The ledger keeps the low-water mark (every entry up to it is
finished) and the finished entries above it; a resumed partition reads again from the
mark and skips those. So an entry in flight, or still waiting, at a snapshot is read and
run again after a crash, and one that had finished is not. Memory: one id per entry read
and not yet below the mark, which the partition bounds by how far it reads ahead.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass

START = "0-0"


@dataclass(frozen=True)
class Mark:
    """Snapshot of one stream: resume after `low`, skipping the `done` entries above it."""

    low: str = START
    done: tuple[str, ...] = ()


class Ledger:
    def __init__(self, mark: Mark | None = None) -> None:
        mark = mark or Mark()
        self.low = mark.low
        self.cursor = mark.low  # the last entry id read
        self._skip = set(mark.done)  # finished before the resume, not read again yet
        self._ahead: deque[str] = deque()  # read, above the mark, in stream order
        self._open: set[str] = set()  # read and not finished

    def __len__(self) -> int:
        """Entries read and not yet below the mark (open, or finished out of order)."""
        return len(self._ahead)

    @property
    def open(self) -> int:
        return len(self._open)

    def read(self, entry_id: str) -> bool:
        """Notes `entry_id` as read; False when it had finished before a resume."""
        self.cursor = entry_id
        self._ahead.append(entry_id)
        if entry_id in self._skip:
            self._skip.discard(entry_id)
            self._advance()
            return False
        self._open.add(entry_id)
        return True

    def finish(self, entry_id: str) -> None:
        """`entry_id` is done for good; ids not open (a test source's) are ignored."""
        if entry_id in self._open:
            self._open.discard(entry_id)
            self._advance()

    def finish_all(self, entry_ids: Iterable[str]) -> None:
        for entry_id in entry_ids:
            self.finish(entry_id)

    def mark(self) -> Mark:
        done = tuple(i for i in self._ahead if i not in self._open)
        # Finished before a resume and not read again yet: still finished.
        return Mark(self.low, done + tuple(sorted(self._skip, key=_order)))

    def _advance(self) -> None:
        ahead = self._ahead
        while ahead and ahead[0] not in self._open:
            self.low = ahead.popleft()


def _order(entry_id: str) -> tuple[int, int]:
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)
