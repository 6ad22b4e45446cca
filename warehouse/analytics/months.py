"""A tenant's month of an exported table: a folder of part files, changed atomically.

    <table>/month=2025-06                -> .month=2025-06.3f9c0a1b   (a symlink)
    <table>/.month=2025-06.3f9c0a1b/2025-06-01.3f9c0a1b.parquet   days 1-8, say
                                   /2025-06-10.77d2e410.parquet   day 10
    <table>/.month=2025-06.lock

Each part holds the rows of a set of days, listed in its key-value metadata
(`aiops_days`), so a day exported with no rows is told apart from a day never exported.
Exporting days adds one part for them, and a part that held any of those days is
replaced, so a day's run writes that day's rows only, however many the month holds.
The run that covers the month's last day folds the month into one part: DuckDB pays a
fixed cost per file it opens, and a past month is then one file.

A change builds a new generation folder (parts that stay are hard links, not copies)
and swaps the `month=` symlink to it in one rename, so a reader listing the month sees
the old set of parts or the new one, never both. A part's name carries the generation
that wrote it and is never reused, so a reader that listed the old generation just
before a swap opens the very same files or fails to find one; it never counts a day
twice. A month folder from before (a plain directory) is taken over on its first change.
"""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from warehouse.analytics.layout import PART_SUFFIX, Part, locked, month_dir, parts


@dataclass
class Draft:
    """The next generation of a month, being built: `keep` the parts that stay, write
    new ones at `new_part`."""

    folder: Path
    current: list[Part]
    token: str = field(default_factory=lambda: secrets.token_hex(4))
    kept: list[Part] = field(default_factory=list)
    written: list[Path] = field(default_factory=list)

    @property
    def generation(self) -> Path:
        return self.folder.with_name(f".{self.folder.name}.{self.token}")

    def keep(self, part: Part) -> None:
        self.kept.append(part)

    def new_part(self, first_day: date) -> Path:
        path = self.generation / f"{first_day.isoformat()}.{self.token}{PART_SUFFIX}"
        self.written.append(path)
        return path

    @property
    def empty(self) -> bool:
        return not self.kept and not self.written


@contextmanager
def rewriting(root: Path, table: str, tenant_id: str, month: date) -> Iterator[Draft]:
    """One writer at a time per month: the draft becomes the month when the block ends
    without an error (an empty draft removes the month); otherwise it is thrown away."""
    folder = month_dir(root, table, tenant_id, month)
    with locked(folder.with_name(f".{folder.name}.lock")):
        _remove_leftovers(folder)
        draft = Draft(folder, parts(folder))
        draft.generation.mkdir(parents=True)
        try:
            yield draft
            for part in draft.kept:
                os.link(part.path, draft.generation / part.path.name)
            _publish(draft)
        except BaseException:
            shutil.rmtree(draft.generation, ignore_errors=True)
            raise


def _remove_leftovers(folder: Path) -> None:
    """Generations and links a killed writer left behind: under the month's lock, every
    one but the generation the month links to is garbage."""
    current = os.readlink(folder) if folder.is_symlink() else None
    prefix = f".{folder.name}."
    for name in os.listdir(folder.parent):
        if name.startswith(prefix) and name != current and not name.endswith(".lock"):
            leftover = folder.parent / name
            if leftover.is_symlink():
                leftover.unlink()
            else:
                shutil.rmtree(leftover, ignore_errors=True)


def _publish(draft: Draft) -> None:
    folder = draft.folder
    previous = folder.parent / os.readlink(folder) if folder.is_symlink() else None
    if folder.is_dir() and not folder.is_symlink():
        # A month from before generations: moved aside, then linked like any other.
        previous = folder.with_name(f".{folder.name}.old-{draft.token}")
        os.rename(folder, previous)
    if draft.empty:
        folder.unlink(missing_ok=True)
        shutil.rmtree(draft.generation, ignore_errors=True)
    else:
        link = folder.with_name(f".{folder.name}.link-{draft.token}")
        os.symlink(draft.generation.name, link)
        os.replace(link, folder)
    if previous is not None:
        shutil.rmtree(previous, ignore_errors=True)
