"""The ledger file: one DuckDB connection per process, a cursor per thread, batched Arrow appends.

Share one ``Ledger`` per process (e.g. ``st.cache_resource``): DuckDB lets one process write a file,
and every thread reads and writes through its own ``cursor()``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import re
import threading
import time
import weakref
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Self

import duckdb

from assistant.core.errors import LedgerError, LedgerLockedError
from assistant.ledger.arrow import to_arrow
from assistant.ledger.lake import connect_lake, is_lake, lake_label, use_lake
from assistant.ledger.records import TABLES, RunRecord, utc_now
from assistant.ledger.schema import REPLAY_HINT, check_schema, migrate

DEFAULT_BATCH_ROWS = 5_000
"""Rows per table a writer buffers before it writes them (one transaction per batch). Each write
has a fixed cost of a few milliseconds (DuckDB's parallel insert and commit); at 5,000 rows it is
under 10% of the batch (benchmark: `python -m assistant bench --only ledger`)."""
RUN_END_STATUSES = frozenset({"finished", "failed", "interrupted"})
_TABLE_OF: dict[type, str] = {cls: name for name, cls in TABLES.items()}
_IDENTIFIER = re.compile(r"[a-z_][a-z0-9_]*")
# What a bad batch raises: DuckDB errors, pyarrow's conversion errors (ArrowInvalid is a
# ValueError, ArrowTypeError a TypeError), overflow, or a closed ledger.
_WRITE_ERRORS = (duckdb.Error, LedgerError, ArithmeticError, TypeError, ValueError)


def _utc(cur: duckdb.DuckDBPyConnection, *, lake: bool = False) -> duckdb.DuckDBPyConnection:
    """Read TIMESTAMPTZ values in UTC whatever the machine's zone (the setting is per cursor);
    on a lake, make the lake the cursor's default catalog too."""
    cur.execute("SET TimeZone = 'UTC'").fetchall()
    if lake:
        use_lake(cur)
    return cur


def _connect(path: str, *, read_only: bool) -> duckdb.DuckDBPyConnection:
    """Open the file (or attach the lake), turning DuckDB's refusals into errors that say
    what to do."""
    if is_lake(path):
        return connect_lake(path, read_only=read_only)
    in_memory = path.startswith(":memory:")
    if read_only and not in_memory and not Path(path).exists():
        raise LedgerError(f"ledger {path} does not exist; {REPLAY_HINT}")
    if not read_only and not in_memory:
        try:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise LedgerError(
                f"cannot create the folder of ledger {path}: {e}; pass another --ledger PATH"
            ) from e
    try:
        return duckdb.connect(path, read_only=read_only)
    except duckdb.IOException as e:
        message = str(e)
        if "Conflicting lock" in message or "Could not set lock" in message:
            pid = re.search(r"PID (\d+)", message)
            holder = f" (process {pid.group(1)})" if pid else ""
            raise LedgerLockedError(
                f"ledger {path} is locked by another process{holder}: the workbench or another "
                "replay holds it; stop that, or use another --ledger PATH"
            ) from e
        if "created with an newer version" in message or "created with a newer version" in message:
            raise LedgerError(
                f"ledger {path} was written by a newer DuckDB than this workbench's "
                f"{duckdb.__version__}; convert it once: python -m assistant ledger convert {path}"
            ) from e
        if "not a valid DuckDB database" in message:
            raise LedgerError(f"{path} is not a DuckDB database; pass another --ledger PATH") from e
        raise LedgerError(f"cannot open ledger {path}: {message}") from e
    except OSError as e:
        raise LedgerError(f"cannot open ledger {path}: {e}; pass another --ledger PATH") from e
    except duckdb.ConnectionException as e:
        if read_only:
            # this process holds the file writable (the workbench owns it): share that database;
            # the Ledger stays read-only at its own level (no migration, no writes)
            try:
                return duckdb.connect(path)
            except duckdb.Error:
                pass
        raise LedgerError(
            f"ledger {path} is already open in this process in another mode; "
            f"share one Ledger instead ({e})"
        ) from e
    except duckdb.Error as e:
        raise LedgerError(f"cannot open ledger {path}: {e}") from e


def _connect_waiting(path: str, *, read_only: bool, wait_s: float) -> duckdb.DuckDBPyConnection:
    """Connect, retrying for up to ``wait_s`` while another process holds the file briefly
    (the app's read-only queries last milliseconds)."""
    deadline = time.monotonic() + wait_s
    while True:
        try:
            return _connect(path, read_only=read_only)
        except LedgerLockedError:
            if time.monotonic() >= deadline:
                raise
            time.sleep(0.2)


class Ledger:
    """The ledger file, migrated on a writable open; thread-safe through per-thread cursors."""

    def __init__(
        self, path: str | os.PathLike[str], *, read_only: bool = False, wait_s: float = 0.0
    ) -> None:
        self.path = os.fspath(path)
        self.read_only = read_only
        self.label = "the in-memory ledger" if self.path.startswith(":memory:") else self.path
        self.lake = is_lake(self.path)
        """Whether this ledger is a DuckLake (many writers; no keys, guarantees by design)."""
        if self.lake:
            self.label = lake_label(self.path)
        self._lock = threading.Lock()
        # each thread's cursor, by thread id; kept here (not in a threading.local) so that close()
        # drops every reference: a cursor a daemon thread still held at exit would otherwise
        # outlive the interpreter's teardown, which DuckDB reports as leaked instances
        self._cursors: dict[int, tuple[weakref.ref[threading.Thread], duckdb.DuckDBPyConnection]] = {}
        self._closed = False
        self.applied_migrations: list[str] = []
        """Names of the migrations this open applied (none when the file was up to date)."""
        con = _connect_waiting(self.path, read_only=read_only, wait_s=wait_s)
        try:
            _utc(con)
            if read_only:
                check_schema(con, where=f"ledger {self.label}")
            else:
                self.applied_migrations = migrate(con, where=f"ledger {self.label}")
        except BaseException:
            con.close()
            raise
        self._con: duckdb.DuckDBPyConnection | None = con  # None once closed

    def __repr__(self) -> str:
        mode = "read-only" if self.read_only else "writable"
        return f"Ledger({self.path!r}, {mode}{', closed' if self._closed else ''})"

    @property
    def closed(self) -> bool:
        return self._closed

    def cursor(self) -> duckdb.DuckDBPyConnection:
        """This thread's cursor on the one connection (created on first use)."""
        thread = threading.current_thread()
        mine = self._cursors.get(threading.get_ident())
        if mine is not None and mine[0]() is thread and not self._closed:
            return mine[1]
        with self._lock:
            if self._closed or self._con is None:
                raise LedgerError(f"ledger {self.label} is closed")
            self._close_dead_threads_cursors()  # a dead thread's id may be this one's now
            cur = _utc(self._con.cursor(), lake=self.lake)
            self._cursors[threading.get_ident()] = (weakref.ref(thread), cur)
        return cur

    def _close_dead_threads_cursors(self) -> None:
        for ident, (thread_ref, cur) in list(self._cursors.items()):
            thread = thread_ref()
            if thread is None or not thread.is_alive():
                cur.close()
                del self._cursors[ident]

    def close(self) -> None:
        """Close every cursor and the connection; calling it again does nothing."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            cursors, self._cursors = list(self._cursors.values()), {}
            con, self._con = self._con, None  # no DuckDB object outlives close(), even if we do
        try:
            for _, cur in cursors:
                cur.close()
        finally:
            if con is not None:
                con.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _require_writable(self) -> None:
        if self.read_only:
            raise LedgerError(f"ledger {self.label} is open read-only; it cannot be written")

    def start_run(self, run: RunRecord) -> None:
        """Record a new run; LedgerError if its run_id is already taken."""
        self._require_writable()
        cur = self.cursor()
        taken = f"run {run.run_id} already exists in {self.label}; choose another --run-id"
        rows = cur.execute("SELECT count(*) FROM runs WHERE run_id = ?", [run.run_id]).fetchall()
        if rows[0][0]:
            raise LedgerError(taken)
        names = [f.name for f in dataclasses.fields(RunRecord)]
        sql = f"INSERT INTO runs ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})"
        try:
            cur.execute(sql, [getattr(run, name) for name in names]).fetchall()
        except duckdb.ConstraintException as e:
            raise LedgerError(taken if "Duplicate key" in str(e) else f"{taken}: {e}") from e
        except duckdb.Error as e:
            raise LedgerError(f"cannot record run {run.run_id} in {self.label}: {e}") from e

    def finish_run(
        self,
        run_id: str,
        *,
        status: str,
        error: str | None = None,
        media_processed_s: float | None = None,
    ) -> None:
        """Set a run's end time (now), final status, error text and how much media it covered."""
        self._require_writable()
        if status not in RUN_END_STATUSES:
            raise ValueError(f"status must be one of {sorted(RUN_END_STATUSES)}, not {status!r}")
        rows = (
            self.cursor()
            .execute(
                "UPDATE runs SET ended_at = ?, status = ?, error = ?, media_processed_s = ? "
                "WHERE run_id = ?",
                [utc_now(), status, error, media_processed_s, run_id],
            )
            .fetchall()
        )
        if not rows or not rows[0][0]:
            raise LedgerError(f"run {run_id} does not exist in {self.label}")

    def writer(self, *, batch_rows: int = DEFAULT_BATCH_ROWS) -> LedgerWriter:
        """A buffered writer for records; close it (or use ``with``) to write the last batch."""
        self._require_writable()
        return LedgerWriter(self, batch_rows=batch_rows)


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """How far a run has got: its first ``events_done`` source events have all their rows stored."""

    run_id: str
    events_done: int
    media_processed_s: float


def insert_rows(cur: duckdb.DuckDBPyConnection, table: str, rows: list[object]) -> None:
    """Append records of one table as one Arrow batch (inside the caller's transaction)."""
    if not _IDENTIFIER.fullmatch(table) or table not in TABLES:
        raise ValueError(f"invalid table name {table!r}")
    batch = to_arrow(TABLES[table], rows)
    view = f"_ledger_batch_{table}_{threading.get_ident()}"
    cur.register(view, batch)
    try:
        cur.execute(f'INSERT INTO "{table}" BY NAME SELECT * FROM "{view}"').fetchall()
    finally:
        cur.unregister(view)


def record_checkpoint(cur: duckdb.DuckDBPyConnection, checkpoint: Checkpoint) -> None:
    """How far the run got, and its heartbeat (the Fleet page's last sign of its worker)."""
    cur.execute(
        "UPDATE runs SET events_done = ?, media_processed_s = ?, heartbeat_at = now() "
        "WHERE run_id = ?",
        [checkpoint.events_done, checkpoint.media_processed_s, checkpoint.run_id],
    ).fetchall()


def mark_running(cur: duckdb.DuckDBPyConnection, run_id: str, *, worker: str | None = None) -> None:
    """A stopped run goes on (``replay --resume``): running again, no end, no error; with
    ``worker``, run by that worker now (a resume from another machine)."""
    cur.execute(
        "UPDATE runs SET ended_at = NULL, status = 'running', error = NULL, heartbeat_at = now(), "
        "worker = coalesce(?, worker) WHERE run_id = ?",
        [worker, run_id],
    ).fetchall()


def write_transaction(
    cur: duckdb.DuckDBPyConnection,
    rows_by_table: dict[str, list[object]],
    checkpoint: Checkpoint | None = None,
    *,
    then: Callable[[], object] | None = None,
) -> None:
    """Insert every table's rows, record the checkpoint and run ``then`` (more statements on
    this thread's cursor), all in one transaction."""
    cur.begin()
    try:
        for table, rows in rows_by_table.items():
            if rows:
                insert_rows(cur, table, rows)
        if checkpoint is not None:
            record_checkpoint(cur, checkpoint)
        if then is not None:
            then()
        cur.commit()
    except BaseException:
        with contextlib.suppress(duckdb.Error):
            cur.rollback()
        raise


class LedgerWriter:
    """Buffers records per table and appends each batch as one Arrow table. Thread-safe.

    A flush writes every table in one transaction. One that fails stays buffered (LedgerError is
    raised); ``flush()`` retries it and ``take_pending()`` hands the rows back to the caller.
    """

    def __init__(self, ledger: Ledger, *, batch_rows: int = DEFAULT_BATCH_ROWS) -> None:
        if batch_rows < 1:
            raise ValueError(f"batch_rows must be at least 1, not {batch_rows}")
        self.ledger = ledger
        self.batch_rows = batch_rows
        self._buffers: dict[str, list[object]] = {name: [] for name in TABLES}
        self._lock = threading.Lock()  # guards _buffers and _closed
        self._flush_lock = threading.Lock()  # one batch written at a time
        self._closed = False

    def append(self, record: object) -> None:
        """Buffer one record (any dataclass of records.TABLES); write its table's batch if full."""
        table = _TABLE_OF.get(type(record))
        if table is None:
            known = ", ".join(cls.__name__ for cls in TABLES.values())
            raise TypeError(f"cannot append {type(record).__name__}: not one of {known}")
        with self._lock:
            if self._closed:
                raise LedgerError(f"this writer of {self.ledger.label} is closed")
            buffer = self._buffers[table]
            buffer.append(record)
            full = len(buffer) >= self.batch_rows
        if full:
            self.flush()

    def extend(self, records: Iterable[object]) -> None:
        for record in records:
            self.append(record)

    def pending(self) -> dict[str, int]:
        """Rows buffered and not yet written, per table (tables with none are left out)."""
        with self._lock:
            return {name: len(rows) for name, rows in self._buffers.items() if rows}

    def take_pending(self) -> dict[str, list[object]]:
        """Remove and return the buffered rows (e.g. to keep them elsewhere after a failure)."""
        with self._flush_lock, self._lock:
            taken = {name: rows for name, rows in self._buffers.items() if rows}
            self._buffers = {name: [] for name in TABLES}
        return taken

    def flush(self, checkpoint: Checkpoint | None = None) -> None:
        """Write every buffered row now, in one transaction: all of it lands or none does.

        With a ``checkpoint`` the same transaction records how far its run has got, so a run
        resumed after a crash knows exactly which source events have all their rows stored.
        """
        with self._flush_lock:
            with self._lock:
                taken = {name: rows for name, rows in self._buffers.items() if rows}
                self._buffers = {name: [] for name in TABLES}
            if not taken and checkpoint is None:
                return
            try:
                write_transaction(self.ledger.cursor(), taken, checkpoint)
            except _WRITE_ERRORS as e:
                self._restore_all(taken)
                counts = ", ".join(f"{len(rows)} {table} rows" for table, rows in taken.items())
                raise LedgerError(
                    f"could not write {counts or 'the checkpoint'} to {self.ledger.label} ({e}); "
                    "the rows are kept in the writer for another flush()"
                ) from e
            except BaseException:
                self._restore_all(taken)
                raise

    def _restore_all(self, taken: dict[str, list[object]]) -> None:
        with self._lock:
            for table, rows in taken.items():
                self._buffers[table] = rows + self._buffers[table]

    def close(self) -> None:
        """Refuse further appends and write what is buffered (on failure the rows stay pending)."""
        with self._lock:
            self._closed = True
        self.flush()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
