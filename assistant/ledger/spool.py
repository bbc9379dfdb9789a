"""Spooled segments: how a process writes the ledger while another process holds the file.

DuckDB lets one process write a file. When the workbench (or another run) holds the ledger, a
writer does not wait or fail: each flush becomes one immutable *segment*, a folder next to the
ledger (``<ledger>.spool/<time>-<token>-<seq>/``) with one Parquet file per table and ``ops.json``
(run started, checkpoint, run finished). A segment is written under a temporary name and renamed
into place, so a reader never sees half of one.

Whoever holds the file ingests the segments (``ingest``), oldest first, each in one transaction
that also records the segment's name in ``spool_segments``; the folder is deleted after the
commit. A crash between the two leaves a folder whose name is already recorded: the next ingest
deletes it without inserting again. Ingestion is therefore idempotent.

A segment that cannot be ingested (a run id already taken, an unreadable file) is moved to
``rejected/`` with a ``.reason`` file beside it, together with every later segment of the same
writer (its *token*), so that one bad segment never blocks the queue nor half-applies a run;
``rejected_segments`` lists them with their reasons (the Runs page shows them).

A writer cannot read a file another process holds, so the holder publishes the run ids it has
(``publish_taken_runs``: ``taken-runs.txt`` in the spool folder) and a writer refuses to spool a
new run under one of them before it starts, instead of reporting success for rows that the
holder will reject.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb

from assistant.core.errors import LedgerError
from assistant.ledger.arrow import to_arrow
from assistant.ledger.records import TABLES, utc_now
from assistant.ledger.store import Checkpoint, Ledger, mark_running, record_checkpoint

OPS_FILE = "ops.json"
REJECTED = "rejected"
TAKEN_RUNS = "taken-runs.txt"  # the holder's run ids, one a line (publish_taken_runs)
_TMP_PREFIX = ".tmp-"
_STALE_TMP_S = 24 * 3600.0
_ingest_locks: dict[str, threading.Lock] = {}
_ingest_locks_guard = threading.Lock()


def spool_dir(ledger_path: str | os.PathLike[str]) -> Path:
    """Where segments for ``ledger_path`` are spooled: ``<ledger>.spool`` beside it."""
    return Path(f"{os.fspath(ledger_path)}.spool")


def pending_segments(ledger_path: str | os.PathLike[str]) -> list[Path]:
    """Complete segments waiting to be ingested, oldest first."""
    spool = spool_dir(ledger_path)
    try:
        names = sorted(
            entry.name
            for entry in os.scandir(spool)
            if entry.is_dir() and not entry.name.startswith((".", REJECTED))
        )
    except FileNotFoundError:
        return []
    return [spool / name for name in names]


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):  # not every file system lets a folder be fsynced
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


class SegmentWriter:
    """Writes one writer's segments, numbered in order under one random token."""

    def __init__(self, ledger_path: str | os.PathLike[str]) -> None:
        self.spool = spool_dir(ledger_path)
        self.token = uuid.uuid4().hex[:12]
        self._seq = 0
        self._lock = threading.Lock()

    def write(self, rows_by_table: dict[str, list[object]], ops: list[dict[str, Any]]) -> Path:
        """Write one segment and return its folder; nothing is visible until it is complete."""
        import pyarrow.parquet as pq

        for run in rows_by_table.get("runs", ()):
            run_id = str(getattr(run, "run_id", ""))
            if run_id in taken_runs(self.spool):
                raise LedgerError(
                    f"run {run_id} already exists in the ledger (the process holding the file "
                    "lists it); choose another --run-id, or --resume it once the file is free"
                )
        with self._lock:
            self._seq += 1
            name = f"{time.time_ns():020d}-{self.token}-{self._seq:06d}"
        try:
            self.spool.mkdir(parents=True, exist_ok=True)
            tmp = self.spool / f"{_TMP_PREFIX}{name}"
            tmp.mkdir()
            for table, rows in rows_by_table.items():
                if not rows:
                    continue
                file = tmp / f"{table}.parquet"
                pq.write_table(to_arrow(TABLES[table], rows), file)
                with file.open("rb+") as handle:
                    os.fsync(handle.fileno())
            ops_file = tmp / OPS_FILE
            ops_file.write_text(json.dumps(ops, default=_json_default), encoding="utf-8")
            with ops_file.open("rb+") as handle:
                os.fsync(handle.fileno())
            _fsync_dir(tmp)
            final = self.spool / name
            os.rename(tmp, final)
            _fsync_dir(self.spool)
        except OSError as e:
            raise LedgerError(
                f"cannot spool rows to {self.spool}: {e}; free disk space or pass another --ledger"
            ) from e
        return final


def taken_runs(spool: Path) -> frozenset[str]:
    """The run ids the holder of the file published (empty when it published none)."""
    try:
        text = (spool / TAKEN_RUNS).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return frozenset()
    return frozenset(line for line in text.splitlines() if line)


def publish_taken_runs(ledger: Ledger, *, known: frozenset[str] | None = None) -> frozenset[str]:
    """Write the ledger's run ids to its spool folder for writers that cannot read the file;
    returns them (pass them back as ``known``: the file is rewritten only when they change)."""
    if ledger.read_only or not os.path.isfile(ledger.path):  # in memory, or not a file
        return frozenset()
    rows = ledger.cursor().execute("SELECT run_id FROM runs").fetchall()
    ids = frozenset(str(row[0]) for row in rows)
    if ids == known:
        return ids
    spool = spool_dir(ledger.path)
    tmp = spool / f".{TAKEN_RUNS}.{os.getpid()}.tmp"
    try:
        spool.mkdir(parents=True, exist_ok=True)
        tmp.write_text("".join(f"{run_id}\n" for run_id in sorted(ids)), encoding="utf-8")
        os.replace(tmp, spool / TAKEN_RUNS)
    except OSError:
        with contextlib.suppress(OSError):
            tmp.unlink()
        return known or frozenset()  # a read-only folder: writers find out at ingest, as before
    return ids


def withdraw_taken_runs(ledger_path: str | os.PathLike[str]) -> None:
    """Remove the published run ids (the holder let the file go)."""
    with contextlib.suppress(OSError):
        (spool_dir(ledger_path) / TAKEN_RUNS).unlink()


@dataclass(frozen=True, slots=True)
class RejectedSegment:
    segment: str
    reason: str
    rejected_at: datetime  # UTC, when the holder moved it aside


def rejected_segments(ledger_path: str | os.PathLike[str]) -> list[RejectedSegment]:
    """Every segment the holder could not ingest, newest first, with the reason it gave."""
    folder = spool_dir(ledger_path) / REJECTED
    out = []
    try:
        reasons = list(folder.glob("*.reason"))
    except OSError:
        return []
    for file in reasons:
        try:
            reason = file.read_text(encoding="utf-8").strip()
            at = datetime.fromtimestamp(file.stat().st_mtime, tz=UTC)
        except (OSError, UnicodeDecodeError):
            continue
        out.append(RejectedSegment(file.name.removesuffix(".reason"), reason, at))
    return sorted(out, key=lambda r: (r.rejected_at, r.segment), reverse=True)


def _json_default(value: object) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"cannot write {type(value).__name__} to a spool segment")


@dataclass
class IngestReport:
    segments: int = 0
    rows: int = 0
    rejected: list[str] = field(default_factory=list)  # "segment: reason"


def _ingest_lock(ledger: Ledger) -> threading.Lock:
    with _ingest_locks_guard:
        return _ingest_locks.setdefault(os.path.abspath(ledger.path), threading.Lock())


def ingest(ledger: Ledger) -> IngestReport:
    """Ingest every pending segment of ``ledger``'s spool, oldest first (idempotent)."""
    report = IngestReport()
    if ledger.read_only or ledger.path.startswith(":memory:"):
        return report
    segments = pending_segments(ledger.path)
    if not segments:
        _clean_stale_tmp(spool_dir(ledger.path))
        return report
    with _ingest_lock(ledger):
        cur = ledger.cursor()
        rejected_tokens = _rejected_tokens(spool_dir(ledger.path))
        for segment in pending_segments(ledger.path):  # again: another thread may have ingested
            token = _token(segment.name)
            if token in rejected_tokens:
                _reject(segment, "an earlier segment of the same writer was rejected")
                report.rejected.append(f"{segment.name}: follows a rejected segment")
                continue
            try:
                rows = _ingest_one(cur, segment)
            except _Rejected as e:
                rejected_tokens.add(token)
                _reject(segment, str(e), token=token)
                report.rejected.append(f"{segment.name}: {e}")
                continue
            if rows is not None:
                report.segments += 1
                report.rows += rows
            shutil.rmtree(segment, ignore_errors=True)
    return report


class _Rejected(Exception):
    pass


def _token(name: str) -> str:
    parts = name.split("-")
    return parts[1] if len(parts) == 3 else name


def _ingest_one(cur: duckdb.DuckDBPyConnection, segment: Path) -> int | None:
    """Apply one segment in one transaction; None when it was ingested before."""
    done = cur.execute(
        "SELECT count(*) FROM spool_segments WHERE segment = ?", [segment.name]
    ).fetchall()
    if done[0][0]:
        return None
    try:
        ops = json.loads((segment / OPS_FILE).read_text(encoding="utf-8"))
        if not isinstance(ops, list):
            raise ValueError("ops.json is not a list")
    except (OSError, ValueError) as e:
        raise _Rejected(f"unreadable {OPS_FILE}: {e}") from e
    tables = {path.stem: path for path in segment.glob("*.parquet")}
    unknown = set(tables) - set(TABLES)
    if unknown:
        raise _Rejected(f"unknown tables {sorted(unknown)}")
    run_id: str | None = None
    rows = 0
    cur.begin()
    try:
        if "runs" in tables:
            new = cur.execute(
                "SELECT run_id FROM read_parquet(?)", [str(tables["runs"])]
            ).fetchall()
            run_id = str(new[0][0]) if new else None
            taken = cur.execute(
                "SELECT count(*) FROM runs WHERE run_id IN (SELECT run_id FROM read_parquet(?))",
                [str(tables["runs"])],
            ).fetchall()
            if taken[0][0]:
                raise _Rejected(f"run {run_id} already exists in the ledger")
        for table in TABLES:  # runs first, as TABLES lists it
            if table in tables:
                count = cur.execute(
                    f'INSERT INTO "{table}" BY NAME SELECT * FROM read_parquet(?)',
                    [str(tables[table])],
                ).fetchall()
                rows += int(count[0][0]) if count else 0
        for op in ops:
            run_id = _apply(cur, op) or run_id
        cur.execute(
            "INSERT INTO spool_segments (segment, run_id, rows, ingested_at) VALUES (?, ?, ?, ?)",
            [segment.name, run_id, rows, utc_now()],
        ).fetchall()
        cur.commit()
    except _Rejected:
        _rollback(cur)
        raise
    except (duckdb.Error, KeyError, TypeError, ValueError) as e:
        _rollback(cur)
        raise _Rejected(f"cannot ingest: {e}") from e
    except BaseException:
        _rollback(cur)
        raise
    return rows


def _rollback(cur: duckdb.DuckDBPyConnection) -> None:
    with contextlib.suppress(duckdb.Error):
        cur.rollback()


def _apply(cur: duckdb.DuckDBPyConnection, op: dict[str, Any]) -> str:
    kind = op["op"]
    run_id = str(op["run_id"])
    if kind == "checkpoint":
        record_checkpoint(
            cur,
            Checkpoint(run_id, int(op["events_done"]), float(op["media_processed_s"])),
        )
    elif kind == "finish_run":
        cur.execute(
            "UPDATE runs SET ended_at = ?, status = ?, error = ?, media_processed_s = ? "
            "WHERE run_id = ?",
            [
                datetime.fromisoformat(op["ended_at"]),
                op["status"],
                op.get("error"),
                op.get("media_processed_s"),
                run_id,
            ],
        ).fetchall()
    elif kind == "resume_run":
        mark_running(cur, run_id)
    else:
        raise ValueError(f"unknown op {kind!r}")
    return run_id


def _rejected_tokens(spool: Path) -> set[str]:
    folder = spool / REJECTED
    try:
        return {p.stem for p in folder.glob("*.token")}
    except OSError:
        return set()


def _reject(segment: Path, reason: str, *, token: str | None = None) -> None:
    folder = segment.parent / REJECTED
    folder.mkdir(exist_ok=True)
    if token is not None:
        (folder / f"{token}.token").write_text(reason + "\n", encoding="utf-8")
    (folder / f"{segment.name}.reason").write_text(reason + "\n", encoding="utf-8")
    with contextlib.suppress(OSError):
        os.rename(segment, folder / segment.name)


def _clean_stale_tmp(spool: Path) -> None:
    """Remove half-written segments left by writers that died long ago."""
    try:
        entries = list(os.scandir(spool))
    except FileNotFoundError:
        return
    now = time.time()
    for entry in entries:
        if entry.name.startswith(_TMP_PREFIX):
            with contextlib.suppress(OSError):
                if now - entry.stat().st_mtime > _STALE_TMP_S:
                    shutil.rmtree(entry.path, ignore_errors=True)
