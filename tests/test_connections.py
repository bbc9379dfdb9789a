"""Every DuckDB connection is closed: a process that used the ledger ends without DuckDB's
nanobind report ("nanobind: leaked N instances!", a ``DuckDBPyConnection`` among them).

The report is printed at interpreter exit for every DuckDB object still alive then. A closed
``Ledger`` that something still references at exit (a daemon thread's frame, a module global)
must hold no DuckDB object; test files that use the ledger must close what they open.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LEAK = "leaked"

# A Ledger used from a daemon thread that is still running at exit, closed by the main thread
# but still referenced (the thread's frame keeps the module's globals alive).
HELD_AT_EXIT = """
import sys, threading, time
from assistant.ledger.store import Ledger

ledger = Ledger(sys.argv[1])
ready = threading.Event()

def work():
    ledger.cursor().execute("SELECT 1").fetchall()
    ready.set()
    time.sleep(60)

threading.Thread(target=work, daemon=True).start()
ready.wait()
ledger.cursor().execute("SELECT count(*) FROM runs").fetchall()
ledger.close()
print("closed", ledger.closed)
"""


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}


def test_a_closed_ledger_still_referenced_at_exit_leaks_nothing(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", HELD_AT_EXIT, str(tmp_path / "l.duckdb")],
        capture_output=True,
        text=True,
        timeout=120,
        env=_env(),
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "closed True"
    assert LEAK not in done.stderr, done.stderr[:2000]


def test_ledger_tests_end_without_a_leak_report(tmp_path: Path) -> None:
    """Two test files that open, migrate, lock, spool and ingest ledgers, in a pytest of their own:
    its stderr at exit has no leak report."""
    files = ["tests/test_spool.py", "tests/test_ledger.py"]
    options = ["-q", "-x", "-p", "no:cacheprovider", "--basetemp", str(tmp_path / "pytest")]
    done = subprocess.run(
        [sys.executable, "-m", "pytest", *options, *files],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
        env=_env(),
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert LEAK not in done.stderr, done.stderr[-3000:]
    assert LEAK not in done.stdout, done.stdout[-3000:]
