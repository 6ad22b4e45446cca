"""The state folder is private: folders 0700, files 0600, whoever created them.

It holds the embedded PostgreSQL and Redis data (the stream's append-only file included),
generated keys, warehouse files and flow recovery snapshots; other users of the machine
may read none of it.
"""

from __future__ import annotations

import os
from pathlib import Path

PRIVATE_UMASK = 0o077


def restrict_umask() -> None:
    """Files and folders this process (and every child it starts) creates are its own."""
    os.umask(PRIVATE_UMASK)


def private_dir(path: Path) -> Path:
    """`path` made if missing, readable and writable by its owner only, new or not.

    A passage bit (execute without read) already granted is kept: pgserver, run as root,
    serves PostgreSQL as an operating-system user of its own and grants it passage
    through the folders above its data folder; passage lists nothing.
    """
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    path.chmod(0o700 | (path.stat().st_mode & 0o011))
    return path
