"""Where a run writes: straight into a ledger this process holds, or by path, spooling if need be.

A run (a replay, a live session, an agent job) talks to a ``RunSink``: ``start_run``, ``append``
records, ``flush`` at checkpoints, ``finish_run``. Two kinds:

- ``DirectSink`` writes through a ``Ledger`` this process already holds (tests, the workbench's
  own runs).
- ``PathSink`` holds nothing between flushes: each flush opens the ledger file, ingests what
  other writers spooled, writes its own rows and the checkpoint in one transaction, and closes it,
  so the file is free in between. When another process holds the file (the workbench open in a
  browser), the flush becomes a spooled segment instead (``assistant.ledger.spool``) that the holder
  ingests; nothing fails and nothing waits for long.
"""

from __future__ import annotations

import os
import sys
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable
from types import TracebackType
from typing import Self, TypeVar

from assistant.core.errors import LedgerError, LedgerLockedError
from assistant.ledger.lake import is_lake, lake_label, retrying
from assistant.ledger.records import TABLES, RunRecord, this_worker, utc_now
from assistant.ledger.spool import SegmentWriter, ingest, spool_dir
from assistant.ledger.store import (
    Checkpoint,
    Ledger,
    LedgerWriter,
    mark_running,
    write_transaction,
)

T = TypeVar("T")
_NO_AUTO_FLUSH = sys.maxsize  # runs flush at checkpoints only, never half-way through an event


class RunSink(ABC):
    """What a run writes through. Subclasses decide where the rows go."""

    label: str
    spooled_segments: int = 0

    @abstractmethod
    def start_run(self, run: RunRecord) -> None:
        """Record a new run (refused when its id is taken)."""

    @abstractmethod
    def resume_run(self, run_id: str) -> None:
        """Mark a stopped run as running again (``replay --resume``)."""

    @abstractmethod
    def append(self, record: object) -> None:
        """Buffer one record of ``records.TABLES``."""

    @abstractmethod
    def pending_rows(self) -> int:
        """Rows buffered since the last flush."""

    @abstractmethod
    def flush(self, checkpoint: Checkpoint | None = None) -> None:
        """Write the buffered rows, and the checkpoint, all or nothing."""

    @abstractmethod
    def finish_run(
        self,
        run_id: str,
        *,
        status: str,
        error: str | None = None,
        media_processed_s: float | None = None,
    ) -> None:
        """Write what is buffered, then the run's end: time, status, error, media reached."""

    @abstractmethod
    def read(self, query: Callable[[Ledger], T]) -> T | None:
        """Run a read on the ledger; None when another process holds it."""

    @abstractmethod
    def close(self) -> None:
        """Write what is buffered."""

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class DirectSink(RunSink):
    """Writes through a ledger this process holds open."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        self.label = ledger.label
        self._writer: LedgerWriter = ledger.writer(batch_rows=_NO_AUTO_FLUSH)

    def start_run(self, run: RunRecord) -> None:
        ingest(self.ledger)
        self.ledger.start_run(run)

    def resume_run(self, run_id: str) -> None:
        mark_running(self.ledger.cursor(), run_id)

    def append(self, record: object) -> None:
        self._writer.append(record)

    def pending_rows(self) -> int:
        return sum(self._writer.pending().values())

    def flush(self, checkpoint: Checkpoint | None = None) -> None:
        self._writer.flush(checkpoint)

    def finish_run(
        self,
        run_id: str,
        *,
        status: str,
        error: str | None = None,
        media_processed_s: float | None = None,
    ) -> None:
        self._writer.flush()
        self.ledger.finish_run(
            run_id, status=status, error=error, media_processed_s=media_processed_s
        )

    def read(self, query: Callable[[Ledger], T]) -> T | None:
        return query(self.ledger)

    def close(self) -> None:
        self._writer.flush()


class BufferedSink(RunSink):
    """A sink that keeps appended records per table until a flush takes them (thread-safe)."""

    def __init__(self) -> None:
        self._buffers: dict[str, list[object]] = {name: [] for name in TABLES}
        self._lock = threading.Lock()

    def append(self, record: object) -> None:
        table = _table_of(record)
        with self._lock:
            self._buffers[table].append(record)

    def pending_rows(self) -> int:
        with self._lock:
            return sum(len(rows) for rows in self._buffers.values())

    def _take(self) -> dict[str, list[object]]:
        with self._lock:
            taken = {name: rows for name, rows in self._buffers.items() if rows}
            self._buffers = {name: [] for name in TABLES}
        return taken

    def _restore(self, taken: dict[str, list[object]]) -> None:
        with self._lock:
            for table, rows in taken.items():
                self._buffers[table] = rows + self._buffers[table]


class PathSink(BufferedSink):
    """Opens the ledger file for each flush only; spools when another process holds it.

    ``wait_s`` is how long a flush waits for the file before it spools (a reader's query lasts
    milliseconds); once a flush had to spool, later ones try without waiting.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        wait_s: float = 1.0,
        notice: Callable[[str], None] | None = None,
    ) -> None:
        self.path = os.fspath(path)
        self.label = self.path
        self.wait_s = wait_s
        self._notice = notice
        self._segments = SegmentWriter(self.path)
        super().__init__()
        self._held_by_other = False

    # -- the two ways a write lands -------------------------------------------------------------
    def _write(
        self,
        rows: dict[str, list[object]],
        checkpoint: Checkpoint | None = None,
        ops: tuple[dict[str, object], ...] = (),
        *,
        direct: Callable[[Ledger], None] | None = None,
    ) -> None:
        """Into the file when it is free (rows, checkpoint and ``direct`` in one transaction),
        else one segment holding the rows and ``ops`` (the same changes, for whoever ingests)."""
        try:
            with Ledger(self.path, wait_s=0.0 if self._held_by_other else self.wait_s) as ledger:
                ingest(ledger)  # earlier segments first: a run's rows land in order
                then = None if direct is None else (lambda: direct(ledger))
                write_transaction(ledger.cursor(), rows, checkpoint, then=then)
            self._held_by_other = False
            return
        except LedgerLockedError as locked:
            if not self._held_by_other and self._notice is not None:
                self._notice(
                    f"{locked}. Spooling rows to {spool_dir(self.path)}; the holder ingests "
                    "them (the workbench does so as you browse)"
                )
            self._held_by_other = True
        all_ops = [*ops] if checkpoint is None else [*ops, _checkpoint_op(checkpoint)]
        self._segments.write(rows, all_ops)
        self.spooled_segments += 1

    # -- RunSink ---------------------------------------------------------------------------------
    def start_run(self, run: RunRecord) -> None:
        try:
            with Ledger(self.path, wait_s=self.wait_s) as ledger:
                ingest(ledger)
                ledger.start_run(run)  # refuses a run id already taken
            return
        except LedgerLockedError as locked:
            if self._notice is not None:
                self._notice(
                    f"{locked}. Spooling rows to {spool_dir(self.path)}; the holder ingests "
                    "them (the workbench does so as you browse)"
                )
            self._held_by_other = True
        self._segments.write({"runs": [run]}, [])  # ingest rejects it if the id is taken
        self.spooled_segments += 1

    def resume_run(self, run_id: str) -> None:
        def resume(ledger: Ledger) -> None:
            mark_running(ledger.cursor(), run_id)

        self._write({}, None, ({"op": "resume_run", "run_id": run_id},), direct=resume)

    def flush(self, checkpoint: Checkpoint | None = None) -> None:
        taken = self._take()
        if not taken and checkpoint is None:
            return
        try:
            self._write(taken, checkpoint)
        except BaseException:
            self._restore(taken)
            raise

    def finish_run(
        self,
        run_id: str,
        *,
        status: str,
        error: str | None = None,
        media_processed_s: float | None = None,
    ) -> None:
        op: dict[str, object] = {
            "op": "finish_run",
            "run_id": run_id,
            "status": status,
            "error": error,
            "media_processed_s": media_processed_s,
            "ended_at": utc_now().isoformat(),
        }

        def finish(ledger: Ledger) -> None:
            ledger.finish_run(
                run_id, status=status, error=error, media_processed_s=media_processed_s
            )

        taken = self._take()
        try:
            self._write(taken, None, (op,), direct=finish)
        except BaseException:
            self._restore(taken)
            raise

    def read(self, query: Callable[[Ledger], T]) -> T | None:
        try:
            with Ledger(self.path, wait_s=0.0 if self._held_by_other else self.wait_s) as ledger:
                ingest(ledger)
                return query(ledger)
        except LedgerLockedError:
            self._held_by_other = True
            return None

    def close(self) -> None:
        self.flush()


def _checkpoint_op(checkpoint: Checkpoint) -> dict[str, object]:
    return {
        "op": "checkpoint",
        "run_id": checkpoint.run_id,
        "events_done": checkpoint.events_done,
        "media_processed_s": checkpoint.media_processed_s,
    }


_TABLE_OF: dict[type, str] = {cls: name for name, cls in TABLES.items()}


def _table_of(record: object) -> str:
    table = _TABLE_OF.get(type(record))
    if table is None:
        known = ", ".join(cls.__name__ for cls in TABLES.values())
        raise TypeError(f"cannot append {type(record).__name__}: not one of {known}")
    return table


def open_sink(
    target: Ledger | RunSink | str | os.PathLike[str],
    *,
    notice: Callable[[str], None] | None = None,
) -> RunSink:
    """The sink for ``target``: a sink as is, a held ``Ledger`` directly (a lake's through
    ``LakeSink``), a lake's connection string by ``LakeSink``, a path by ``PathSink``."""
    if isinstance(target, RunSink):
        return target
    if isinstance(target, Ledger):
        if target.read_only:
            raise LedgerError(f"ledger {target.label} is open read-only; it cannot be written")
        return LakeSink(target.path, ledger=target) if target.lake else DirectSink(target)
    if is_lake(target):
        return LakeSink(os.fspath(target))
    return PathSink(target, notice=notice)


# -- many writers: a DuckLake ledger ---------------------------------------------------------------


class LakeSink(BufferedSink):
    """Writes one process's runs into a lake (``ducklake:…``); see ``RunSink`` for the calls."""

    spooled_segments = 0

    def __init__(self, spec: str, *, ledger: Ledger | None = None) -> None:
        if not is_lake(spec):
            raise LedgerError(f"{spec} is not a DuckLake connection string (ducklake:…)")
        self.spec = spec
        self.label = lake_label(spec)
        self.ledger = ledger if ledger is not None else Ledger(spec)
        self._owns = ledger is None
        super().__init__()
        self.commits = 0
        """Transactions committed by this sink (each flush with rows or a checkpoint is one)."""
        self.conflicts = 0
        """Commits that lost to another writer's and were tried again."""

    def _retry(self, action: Callable[[], T], what: str) -> T:
        tries = 0

        def attempt() -> T:
            nonlocal tries
            tries += 1
            return action()

        try:
            return retrying(attempt, what=f"{what} in {self.label}")
        finally:
            self.conflicts += max(0, tries - 1)

    def start_run(self, run: RunRecord) -> None:
        self._retry(lambda: self.ledger.start_run(run), f"record run {run.run_id}")

    def resume_run(self, run_id: str) -> None:
        def resume() -> None:
            mark_running(self.ledger.cursor(), run_id, worker=this_worker())

        self._retry(resume, f"resume run {run_id}")

    def _commit(
        self,
        taken: dict[str, list[object]],
        checkpoint: Checkpoint | None,
        then: Callable[[], object] | None = None,
    ) -> None:
        try:
            self._retry(
                lambda: write_transaction(self.ledger.cursor(), taken, checkpoint, then=then),
                "write a checkpoint",
            )
        except BaseException:
            self._restore(taken)
            raise
        self.commits += 1

    def flush(self, checkpoint: Checkpoint | None = None) -> None:
        taken = self._take()
        if taken or checkpoint is not None:
            self._commit(taken, checkpoint)

    def finish_run(
        self,
        run_id: str,
        *,
        status: str,
        error: str | None = None,
        media_processed_s: float | None = None,
    ) -> None:
        def finish() -> None:
            self.ledger.finish_run(
                run_id, status=status, error=error, media_processed_s=media_processed_s
            )

        self._commit(self._take(), None, finish)

    def read(self, query: Callable[[Ledger], T]) -> T | None:
        return query(self.ledger)

    def close(self) -> None:
        try:
            self.flush()
        finally:
            if self._owns:
                self.ledger.close()
