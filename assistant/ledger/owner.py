"""The workbench owns its ledger file: one writable connection per process, shared by every page.

DuckDB lets one process write a file, and no other process read it meanwhile. The workbench
therefore holds the file open for as long as it runs, answers every page's query through that
one connection (a cursor per thread), and ingests what other processes spooled (CLI replays,
agent workers: ``assistant.ledger.spool``) before it reads, so their rows show up as you browse.

When another process holds the file at that moment (a CLI replay in the middle of a flush, or an
older workbench), ``owned`` returns None and the caller falls back to a read-only open.

While it holds the file, the owner publishes its run ids to the spool folder, so that a writer
refuses a taken run id before it spools anything; segments it still has to reject are kept with
their reason (``spool.rejected_segments``, shown on the Runs page).
"""

from __future__ import annotations

import atexit
import os
import threading
import time
from pathlib import Path

import duckdb

from assistant.core.errors import LedgerError, LedgerLockedError
from assistant.ledger.schema import REPLAY_HINT
from assistant.ledger.spool import IngestReport, ingest, publish_taken_runs, withdraw_taken_runs
from assistant.ledger.store import Ledger

INGEST_EVERY_S = 0.5
_owned: dict[str, Ledger] = {}
_last_ingest: dict[str, float] = {}
_published: dict[str, frozenset[str]] = {}  # the run ids last written to each spool folder
_lock = threading.Lock()


def owned(path: str | os.PathLike[str], *, wait_s: float = 1.0) -> Ledger | None:
    """This process's writable ledger at ``path`` (opened on first use, spool ingested);
    None while another process holds the file."""
    key = os.path.abspath(os.fspath(path))
    with _lock:
        ledger = _owned.get(key)
        if ledger is None or ledger.closed:
            if not Path(key).exists():
                raise LedgerError(f"ledger {os.fspath(path)} does not exist; {REPLAY_HINT}")
            try:
                ledger = Ledger(key, wait_s=wait_s)
            except LedgerLockedError:
                return None
            except LedgerError as e:
                if "in another mode" in str(e):  # this process reads it read-only elsewhere
                    return None
                raise
            _owned[key] = ledger
            _last_ingest.pop(key, None)
    ingest_due(ledger)
    return ledger


def ingest_due(ledger: Ledger) -> IngestReport | None:
    """Ingest spooled segments unless that was done less than ``INGEST_EVERY_S`` ago."""
    key = os.path.abspath(ledger.path)
    now = time.monotonic()
    with _lock:
        if now - _last_ingest.get(key, -INGEST_EVERY_S) < INGEST_EVERY_S:
            return None
        _last_ingest[key] = now
    report = ingest(ledger)
    try:
        published = publish_taken_runs(ledger, known=_published.get(key))
    except (LedgerError, duckdb.Error):  # closed meanwhile: the next read publishes them
        published = _published.get(key, frozenset())
    with _lock:
        _published[key] = published
    return report


def release(path: str | os.PathLike[str] | None = None) -> None:
    """Close the owned ledger at ``path`` (every one when None), e.g. before a test deletes it."""
    with _lock:
        keys = list(_owned) if path is None else [os.path.abspath(os.fspath(path))]
        for key in keys:
            ledger = _owned.pop(key, None)
            _last_ingest.pop(key, None)
            if _published.pop(key, None) is not None:
                withdraw_taken_runs(key)  # no holder: writers go straight to the file again
            if ledger is not None:
                ledger.close()


atexit.register(release)  # the app's exit closes the file cleanly (its write-ahead log merged)
