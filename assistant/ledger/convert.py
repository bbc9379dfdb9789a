"""A ledger file written by a newer DuckDB, rewritten in the storage format of the pinned one.

DuckDB reads files of its own storage version and older ones. The pin moved from DuckDB 2.0.0
down to 1.5.5 (the newest version DuckLake's extensions are built for), so a ledger file written
by 2.0.0 is refused. ``ledger convert FILE`` installs DuckDB 2.0.0 with pip into a folder of its
own (never into this environment), lets it copy the file into the 1.5 storage format, keeps the
original beside it as ``FILE.duckdb-2.0.0`` and puts the converted file in its place.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import duckdb

from assistant.core.errors import LedgerError

NEWER_DUCKDB = "2.0.0"
_COPY = """
import sys, duckdb
con = duckdb.connect()
old, new, version = sys.argv[1:4]
q = lambda p: "'" + p.replace("'", "''") + "'"
con.execute(f"ATTACH {q(old)} AS old (READ_ONLY)")
con.execute(f"ATTACH {q(new)} AS new (STORAGE_VERSION {q(version)})")
con.execute("COPY FROM DATABASE old TO new")
con.close()
"""


def storage_version() -> str:
    """The storage format the pinned DuckDB writes, e.g. ``v1.5.0``."""
    major, minor = duckdb.__version__.split(".")[:2]
    return f"v{major}.{minor}.0"


def convert_file(path: str | os.PathLike[str], *, newer: str = NEWER_DUCKDB) -> Path:
    """Rewrite ``path`` for this DuckDB; return where the original was kept."""
    source = Path(path)
    if not source.is_file():
        raise LedgerError(f"ledger {source} does not exist; pass the ledger file to convert")
    kept = source.with_name(f"{source.name}.duckdb-{newer}")
    if kept.exists():
        raise LedgerError(f"{kept} already exists: move it away, then convert again")
    converted = source.with_name(f".{source.name}.converting")
    converted.unlink(missing_ok=True)
    with tempfile.TemporaryDirectory(prefix="workbench-duckdb-") as folder:
        install = [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--target",
            folder,
            f"duckdb=={newer}",
        ]
        done = subprocess.run(install, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise LedgerError(
                f"could not install DuckDB {newer} to convert {source} with: "
                f"{' '.join(install)} ({done.stderr.strip()[-300:]})"
            )
        env = {**os.environ, "PYTHONPATH": folder}
        args = [sys.executable, "-c", _COPY, str(source), str(converted), storage_version()]
        done = subprocess.run(args, capture_output=True, text=True, env=env, check=False)
        if done.returncode != 0:
            converted.unlink(missing_ok=True)
            raise LedgerError(
                f"DuckDB {newer} could not convert {source}: "
                f"{done.stderr.strip().splitlines()[-1:]}"
            )
    os.replace(source, kept)
    os.replace(converted, source)
    return kept
