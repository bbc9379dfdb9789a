"""Which process is writing a run: a lock file per run, held for as long as the run is written.

A replay writes its rows by path (the ledger file opened per flush, or spooled), so the file says
nothing about whether a run marked ``running`` is still going or was killed. The writer holds an
exclusive ``flock`` on ``<ledger>.spool/.running/<run_id>.lock`` from start to finish; the kernel
drops it when the process dies (even by ``kill -9``). ``replay --resume`` takes the same lock
without waiting: while the first writer lives it is refused in one line that names its pid,
instead of both writing the same rows (a ``ConstraintException`` half-way).
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from assistant.core.errors import LedgerError
from assistant.ledger.lake import is_lake
from assistant.ledger.spool import spool_dir

RUNNING = ".running"  # inside the spool folder: the spool's ingest skips dot-names


def lock_path(ledger_path: str | os.PathLike[str], run_id: str) -> Path:
    return spool_dir(ledger_path) / RUNNING / f"{run_id}.lock"


class RunLock:
    """An exclusive claim on one run of one ledger file (``release`` or process exit frees it)."""

    def __init__(self, path: Path, fd: int) -> None:
        self.path = path
        self._fd: int | None = fd

    @classmethod
    def acquire(cls, ledger_path: str | os.PathLike[str], run_id: str) -> RunLock:
        """The lock, or LedgerError naming the process that holds it."""
        import fcntl

        path = lock_path(ledger_path, run_id)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise LedgerError(f"cannot claim run {run_id} ({path}: {exc.strerror})") from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_pid(fd)
            os.close(fd)
            who = f"process {holder}" if holder else "another process"
            raise LedgerError(
                f"run {run_id} is still being written by {who}: wait for it to end, or stop "
                "it, then resume"
            ) from None
        except OSError:
            os.close(fd)  # a file system without flock: no claim, as before
            raise
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        return cls(path, fd)

    def release(self) -> None:
        """Free the claim (the file stays: unlinking it would let two processes lock two files)."""
        fd, self._fd = self._fd, None
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)


def _read_pid(fd: int) -> int | None:
    try:
        return int(os.pread(fd, 32, 0).decode().strip() or 0) or None
    except (OSError, ValueError):
        return None


def ledger_file(sink: object) -> str | None:
    """The ledger file a sink writes (a ``PathSink``'s path, a ``DirectSink``'s ledger's)."""
    path = getattr(sink, "path", None)
    if path is None:
        path = getattr(getattr(sink, "ledger", None), "path", None)
    if not isinstance(path, str) or path.startswith(":memory:") or "://" in path or is_lake(path):
        # in memory, or another backend (a DuckLake: its writers are on other machines, and a
        # taken run id is refused by the lake itself): nothing on this disk to claim
        return None
    return path


def claim(sink: object, run_id: str) -> RunLock | None:
    """``RunLock.acquire`` for the sink's ledger file; None when it has none (or no flock)."""
    path = ledger_file(sink)
    if path is None:
        return None
    try:
        return RunLock.acquire(path, run_id)
    except LedgerError:
        raise
    except OSError:
        return None
