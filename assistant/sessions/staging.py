"""The folder an import writes before it becomes the dataset, and the ones killed imports left.

``import`` writes ``.NAME.importing-XXXX/`` beside ``--out`` and renames it into place at the end,
so a dataset folder is never half written. A process killed with ``-9`` cannot remove its folder
(megabytes of media). Each import therefore holds an exclusive ``flock`` on a lock file inside
its folder while it writes; the kernel drops the lock when the process dies. The next import in
the same parent folder removes every such folder whose lock it can take (its writer is provably
dead) and says so; a folder without a lock file (or on a file system without ``flock``) is
reported and left alone.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

LOCK_FILE = ".import.lock"
MARK = ".importing-"


@dataclass(slots=True)
class Staging:
    """One import's folder and the lock that says its writer lives."""

    path: Path
    _fd: int | None

    def unlock(self) -> None:
        """Drop the lock file and the lock (before the folder is renamed into the dataset)."""
        with contextlib.suppress(OSError):
            (self.path / LOCK_FILE).unlink()
        fd, self._fd = self._fd, None
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)

    def discard(self) -> None:
        self.unlock()
        shutil.rmtree(self.path, ignore_errors=True)


def stage_beside(out: Path) -> Staging:
    """A new private folder ``.{out.name}.importing-XXXX`` beside ``out``, locked."""
    import fcntl

    out.parent.mkdir(parents=True, exist_ok=True)
    temp = Path(tempfile.mkdtemp(prefix=f".{out.name}{MARK}", dir=out.parent))
    temp.chmod(0o755)  # mkdtemp makes it private; the dataset is an ordinary folder
    fd = os.open(temp / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        os.write(fd, f"{os.getpid()}\n".encode())
    except OSError:  # no flock here: the folder works, it just cannot be proven dead later
        pass
    return Staging(temp, fd)


def _size_mb(folder: Path) -> float:
    total = 0
    for root, _dirs, files in os.walk(folder):
        for name in files:
            with contextlib.suppress(OSError):
                total += (Path(root) / name).stat().st_size
    return total / 1e6


def sweep_stale(parent: Path) -> list[str]:
    """Remove the folders of killed imports in ``parent``; one note per folder found."""
    import fcntl

    notes: list[str] = []
    try:
        entries = [e for e in os.scandir(parent) if e.name.startswith(".") and MARK in e.name]
    except OSError:
        return notes
    for entry in sorted(entries, key=lambda e: e.name):
        folder = Path(entry.path)
        if not entry.is_dir(follow_symlinks=False):
            continue
        try:
            fd = os.open(folder / LOCK_FILE, os.O_RDWR)
        except FileNotFoundError:
            notes.append(
                f"{folder} is a folder left by an import (no lock file: cannot tell whether it "
                "is still running); delete it if no import is running"
            )
            continue
        except OSError:
            continue
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                continue  # an import is writing it right now
            size = _size_mb(folder)
            shutil.rmtree(folder, ignore_errors=True)
            notes.append(
                f"removed {folder.name} ({size:.1f} MB), left by an import that was killed"
            )
        finally:
            os.close(fd)
    return notes
