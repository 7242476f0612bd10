"""Data files and folders only their owner can read: ``.var``, the SQLite stores, the handsets, demo tokens.

The stores hold personal data and the tokens' hashes, the handsets the parties' link secrets, the demo
tokens file bearer tokens: folders are created 0700 and files 0600, and ``accidentlink`` runs with umask
077 so that whatever else it (or SQLite, Kafka) creates under ``.var`` is owner-only too. Existing ones
are tightened; a symlink is never followed (a worktree's ``.var`` may link a shared Kafka install).
"""
from __future__ import annotations

import os
from pathlib import Path

DIR_MODE = 0o700
FILE_MODE = 0o600


def owner_only_process() -> None:
    """Files this process and its children create are readable by their owner alone."""
    os.umask(0o077)


def owner_only_dir(path: Path | str) -> Path:
    """The folder (and missing parents, themselves owner-only), mode 0700; tightened if it exists."""
    path = Path(path)
    path.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    if not path.is_symlink():
        os.chmod(path, DIR_MODE)
    return path


def owner_only_file(path: Path | str) -> Path:
    """The file, created empty if missing (mode 0600, never briefly wider), or tightened to 0600."""
    path = Path(path)
    if path.is_symlink():
        return path
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, FILE_MODE)
    os.close(fd)
    os.chmod(path, FILE_MODE)
    return path


def write_private(path: Path | str, text: str) -> Path:
    """Replace the file's content; it is 0600 from its first byte (written beside, then renamed)."""
    path = Path(path)
    owner_only_dir(path.parent)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    os.chmod(tmp, FILE_MODE)
    os.replace(tmp, path)
    return path
