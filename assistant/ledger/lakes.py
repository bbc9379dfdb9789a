"""Keeping a lake: this process's shared connection, copying a ledger between a file and a lake,
and DuckLake's maintenance (``ledger copy`` and ``ledger compact``)."""

from __future__ import annotations

import contextlib
import os
import re
import threading
from dataclasses import dataclass

import duckdb

from assistant.core.errors import LedgerError
from assistant.ledger.lake import LAKE_ALIAS, is_lake, retrying
from assistant.ledger.store import Ledger

_IDENTIFIER = re.compile(r"[a-z_][a-z0-9_]*")  # the ledger's own table names
_shared: dict[str, Ledger] = {}
_shared_lock = threading.Lock()


def shared_lake(spec: str | os.PathLike[str]) -> Ledger:
    """This process's connection to the lake ``spec`` (the workbench's pages share it)."""
    key = os.fspath(spec)
    with _shared_lock:
        ledger = _shared.get(key)
        if ledger is None or ledger.closed:
            ledger = Ledger(key)
            _shared[key] = ledger
        return ledger


def release_lakes() -> None:
    """Close every shared lake connection (tests, before a lake's catalog is dropped)."""
    with _shared_lock:
        ledgers = list(_shared.values())
        _shared.clear()
    for ledger in ledgers:
        ledger.close()


def calls_of_runs(target: str, run_prefix: str) -> int:
    """Calls of the runs whose id starts with ``run_prefix`` (the fleet benchmark's check)."""
    with Ledger(target, read_only=True) as ledger:
        rows = (
            ledger.cursor()
            .execute("SELECT count(*) FROM calls WHERE starts_with(run_id, ?)", [run_prefix])
            .fetchall()
        )
    return int(rows[0][0])


def ledger_tables(ledger: Ledger) -> list[str]:
    """The ledger's tables (every migration's), in name order; ``schema_migrations`` left out."""
    rows = (
        ledger.cursor()
        .execute(
            "SELECT table_name FROM information_schema.tables WHERE table_catalog = "
            "current_database() AND table_schema = 'main' AND table_type = 'BASE TABLE' "
            "ORDER BY table_name"
        )
        .fetchall()
    )
    names = [str(row[0]) for row in rows if row[0] != "schema_migrations"]
    odd = [n for n in names if not _IDENTIFIER.fullmatch(n)]
    if odd:  # only our migrations' names are ever quoted into SQL below
        raise LedgerError(f"{ledger.label} holds a table this workbench did not make: {odd[0]!r}")
    return names


@dataclass(frozen=True, slots=True)
class CopyReport:
    source: str
    target: str
    rows_by_table: dict[str, int]

    def lines(self) -> list[str]:
        total = sum(self.rows_by_table.values())
        head = f"copied {total} rows from {self.source} to {self.target}"
        return [head, *(f"  {t:16} {n:>10}" for t, n in self.rows_by_table.items())]


def copy_ledger(source: str, target: str, *, batch_rows: int = 100_000) -> CopyReport:
    """Copy every table of the ledger ``source`` into ``target`` (a file or a lake, either way),
    in one transaction; refused when the target already holds rows (nothing is merged)."""
    if os.fspath(source) == os.fspath(target):
        raise LedgerError(f"ledger copy needs two different ledgers, not {source} twice")
    with Ledger(source, read_only=True) as src, Ledger(target) as dst:
        tables = ledger_tables(src)
        missing = sorted(set(tables) - set(ledger_tables(dst)))
        if missing:
            raise LedgerError(f"{dst.label} lacks tables {missing}; upgrade the workbench")
        out = dst.cursor()
        held = [t for t in tables if out.execute(f'SELECT count(*) FROM "{t}"').fetchall()[0][0]]
        if held:
            raise LedgerError(
                f"{dst.label} already holds rows (in {', '.join(held)}); copy into a new ledger "
                "(another file, or a lake with a new catalog database)"
            )
        counts: dict[str, int] = {}

        def copy_all() -> None:
            counts.clear()
            out.begin()
            try:
                for table in tables:
                    reader = src.cursor().execute(f'SELECT * FROM "{table}"')
                    batches = reader.to_arrow_reader(batch_rows)
                    view = f"_ledger_copy_{table}"
                    out.register(view, batches)
                    try:
                        out.execute(f'INSERT INTO "{table}" BY NAME SELECT * FROM "{view}"')
                        counts[table] = int(
                            out.execute(f'SELECT count(*) FROM "{table}"').fetchall()[0][0]
                        )
                    finally:
                        out.unregister(view)
                out.commit()
            except BaseException:
                with contextlib.suppress(duckdb.Error):
                    out.rollback()
                raise

        retrying(copy_all, what=f"copy into {dst.label}")
        return CopyReport(src.label, dst.label, counts)


@dataclass(frozen=True, slots=True)
class CompactReport:
    lake: str
    snapshots_before: int
    snapshots_after: int
    files_before: int
    files_after: int
    inlined_tables_flushed: int
    files_merged: int
    snapshots_expired: int
    files_deleted: int

    def lines(self) -> list[str]:
        return [
            f"compacted {self.lake}:",
            f"  tables whose inlined rows went to data files: {self.inlined_tables_flushed}",
            f"  data files: {self.files_before} -> {self.files_after} "
            f"({self.files_merged} merges of small files)",
            f"  snapshots: {self.snapshots_before} -> {self.snapshots_after} "
            f"({self.snapshots_expired} expired)",
            f"  files deleted from the data path: {self.files_deleted}",
        ]


def _files(ledger: Ledger) -> int:
    cur = ledger.cursor()
    total = 0
    for table in ledger_tables(ledger):
        rows = cur.execute(
            f"SELECT count(*) FROM ducklake_list_files('{LAKE_ALIAS}', ?)", [table]
        ).fetchall()
        total += int(rows[0][0])
    return total


def _snapshots(ledger: Ledger) -> int:
    sql = f"SELECT count(*) FROM ducklake_snapshots('{LAKE_ALIAS}')"
    return int(ledger.cursor().execute(sql).fetchall()[0][0])


def compact_lake(spec: str, *, keep_days: float = 7.0) -> CompactReport:
    """DuckLake's maintenance: flush inlined rows to files, merge small files, expire snapshots
    older than ``keep_days`` and delete the files nothing refers to any more."""
    if not is_lake(spec):
        raise LedgerError(
            f"{spec} is a DuckDB file, not a lake: `ledger compact` takes ducklake:… (a file "
            "needs no compaction)"
        )
    if keep_days < 0:
        raise LedgerError(f"--keep-days must be 0 or more, not {keep_days}")
    with Ledger(spec) as ledger:
        cur = ledger.cursor()
        snapshots_before, files_before = _snapshots(ledger), _files(ledger)

        def count(function: str, *params: object) -> int:
            sql = f"SELECT count(*) FROM {function}"  # rows of the call's report (no times)
            rows = retrying(
                lambda: cur.execute(sql, list(params)).fetchall(), what=f"compact {ledger.label}"
            )
            return int(rows[0][0])

        flushed = count(f"ducklake_flush_inlined_data('{LAKE_ALIAS}')")
        merged = count(f"ducklake_merge_adjacent_files('{LAKE_ALIAS}')")
        expired = count(
            f"ducklake_expire_snapshots('{LAKE_ALIAS}', "
            "older_than => now() - to_microseconds(CAST(? * 86400e6 AS BIGINT)))",
            keep_days,
        )
        deleted = count(f"ducklake_cleanup_old_files('{LAKE_ALIAS}', cleanup_all => true)")
        return CompactReport(
            lake=ledger.label,
            snapshots_before=snapshots_before,
            snapshots_after=_snapshots(ledger),
            files_before=files_before,
            files_after=_files(ledger),
            inlined_tables_flushed=flushed,
            files_merged=merged,
            snapshots_expired=expired,
            files_deleted=deleted,
        )
