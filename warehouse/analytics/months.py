"""A tenant's month of an exported table: a folder of part files, changed atomically.

    <table>/month=2025-06                -> .month=2025-06.3f9c0a1b   (a symlink)
    <table>/.month=2025-06.3f9c0a1b/2025-06-01.3f9c0a1b.000000ff.parquet   days 1-8
                                   /2025-06-10.77d2e410.00000200.parquet   day 10
    <table>/.month=2025-06.lock

Each part holds the rows of a set of days, listed in its key-value metadata
(`aiops_days`) and, as a bitmask of the month's days, in its name (layout.part_name), so
a day exported with no rows is told apart from a day never exported.
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

A change that only adds parts for days no part holds (the daily run's case), or
rewrites a part with the same days (its re-run), renames them into the month's
generation instead: a reader sees each part before or after, and the handful of file
system calls a new generation costs is not paid per tenant every day.
"""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from warehouse.analytics.layout import Part, locked, month_dir, part_name, parts


@dataclass
class Draft:
    """The next state of a month, being built: `keep` the parts that stay, write new ones
    at `new_part`."""

    folder: Path
    current: list[Part]
    token: str = field(default_factory=lambda: secrets.token_hex(4))
    kept: list[Part] = field(default_factory=list)
    # New parts, written beside the month: each one's days, and the current part holding
    # exactly those days that it may take the place of.
    written: dict[Path, tuple[frozenset[date], Part | None]] = field(default_factory=dict)
    # Once published: each new part's name in the month.
    names: dict[Path, str] = field(default_factory=dict)

    @property
    def generation(self) -> Path:
        return self.folder.with_name(f".{self.folder.name}.{self.token}")

    def keep(self, part: Part) -> None:
        self.kept.append(part)

    def new_part(self, days: Iterable[date], instead_of: Part | None = None) -> Path:
        """A file to write the new part holding `days` to; it joins the month when the
        change ends. `instead_of` is a current part that holds exactly those days."""
        held = frozenset(days)
        path = self.generation.with_name(f"{self.generation.name}.{min(held).isoformat()}.tmp")
        self.written[path] = (held, instead_of)
        return path

    def published(self, written: Path) -> Path:
        """Where the part written at `written` is read, through the month's link."""
        return self.folder / self.names[written]

    @property
    def empty(self) -> bool:
        return not self.kept and not self.written

    @property
    def in_place(self) -> bool:
        """The change can be made inside the month's generation: every current part stays
        or is taken the place of by a new part holding the same days. A reader then sees
        each part before or after, and no day twice or not at all."""
        replaced = {part.path for _, part in self.written.values() if part is not None}
        return self.folder.is_symlink() and {p.path for p in self.kept} | replaced == {
            p.path for p in self.current
        }


@contextmanager
def rewriting(root: Path, table: str, tenant_id: str, month: date) -> Iterator[Draft]:
    """One writer at a time per month: the draft becomes the month when the block ends
    without an error (an empty draft removes the month); otherwise it is thrown away."""
    folder = month_dir(root, table, tenant_id, month)
    with locked(folder.with_name(f".{folder.name}.lock")):
        _remove_leftovers(folder)
        draft = Draft(folder, parts(folder))
        try:
            yield draft
            if draft.in_place:
                current = folder.parent / os.readlink(folder)
                for path, (days, instead_of) in draft.written.items():
                    name = instead_of.path.name if instead_of else part_name(days, draft.token)
                    os.rename(path, current / name)
                    draft.names[path] = name
            else:
                _publish(draft)
        except BaseException:
            for path in draft.written:
                path.unlink(missing_ok=True)
            shutil.rmtree(draft.generation, ignore_errors=True)
            raise


def _remove_leftovers(folder: Path) -> None:
    """Generations, links and parts a killed writer left behind: under the month's lock,
    everything of the month but the generation it links to is garbage."""
    current = os.readlink(folder) if folder.is_symlink() else None
    prefix = f".{folder.name}."
    for name in os.listdir(folder.parent):
        if name.startswith(prefix) and name != current and not name.endswith(".lock"):
            leftover = folder.parent / name
            if leftover.is_symlink() or not leftover.is_dir():
                leftover.unlink()
            else:
                shutil.rmtree(leftover, ignore_errors=True)


def _publish(draft: Draft) -> None:
    """The draft as a new generation, swapped in for the month."""
    folder = draft.folder
    if not draft.empty:
        draft.generation.mkdir(parents=True)
        for part in draft.kept:
            os.link(part.path, draft.generation / part.path.name)
        for path, (days, _) in draft.written.items():
            draft.names[path] = part_name(days, draft.token)
            os.rename(path, draft.generation / draft.names[path])
    previous = folder.parent / os.readlink(folder) if folder.is_symlink() else None
    if folder.is_dir() and not folder.is_symlink():
        # A month from before generations: moved aside, then linked like any other.
        previous = folder.with_name(f".{folder.name}.old-{draft.token}")
        os.rename(folder, previous)
    if draft.empty:
        folder.unlink(missing_ok=True)
    else:
        link = folder.with_name(f".{folder.name}.link-{draft.token}")
        os.symlink(draft.generation.name, link)
        os.replace(link, folder)
    if previous is not None:
        shutil.rmtree(previous, ignore_errors=True)
