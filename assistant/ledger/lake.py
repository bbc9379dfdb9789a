"""The ledger on DuckLake: many processes on many machines write one ledger at once.

A ledger target is either a DuckDB file (the default: embedded, one writing process) or DuckLake's
own connection string: ``ducklake:postgres:dbname=… host=… user=…`` (a PostgreSQL catalog: many
writers on many machines), ``ducklake:sqlite:FILE`` or ``ducklake:FILE`` (a DuckDB catalog file:
one process at a time). The lake's data files go under ``$WORKBENCH_LAKE_DATA`` when a lake is
created (a folder, a shared file system); DuckLake remembers the path afterwards.

The tables, migrations and queries are the file's. What a lake lacks is primary keys and unique
constraints; the ledger's guarantees hold by design instead: every row id derives from its run id
(``{run_id}:{question}``), a run's rows land only with the checkpoint that covers them (one
transaction), and a resumed run starts after that checkpoint, so no row is written twice.

The extensions come from PyPI (``duckdb-extension-ducklake`` and friends: DuckDB's own signed
binaries) and are loaded from those packages' files with signature checks on; nothing is
downloaded at run time and unsigned extensions are never allowed.
"""

from __future__ import annotations

import importlib.util
import os
import random
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import duckdb

from assistant.core.errors import LedgerError

LAKE_PREFIX = "ducklake:"
LAKE_DATA_ENV = "WORKBENCH_LAKE_DATA"
LAKE_ALIAS = "ledger_lake"
INLINE_ENV = "WORKBENCH_LAKE_INLINE_ROWS"
COMMIT_RETRY_S = 300.0
"""How long one transaction is tried again while its commits lose to other writers' commits.
Every checkpoint updates its run's row in ``runs``, and DuckLake takes an insert into a table
that another transaction deleted from as a conflict: concurrent checkpoints of different runs
conflict, and are retried (docs/scale-out.md has the measured cost)."""
_EXTENSIONS = {
    "ducklake": "duckdb_extension_ducklake",
    "postgres_scanner": "duckdb_extension_postgres_scanner",
    "sqlite_scanner": "duckdb_extension_sqlite_scanner",
}
_SECRET = re.compile(r"(password\s*=\s*)(\S+)", re.IGNORECASE)
T = TypeVar("T")


def is_lake(target: object) -> bool:
    """Whether a ledger target is a DuckLake connection string (not a DuckDB file)."""
    if isinstance(target, str | os.PathLike):
        path = os.fspath(target)
        return isinstance(path, str) and path.startswith(LAKE_PREFIX)
    return False


def ledger_exists(target: str | os.PathLike[str]) -> bool:
    """A file ledger exists when its file does; a lake is always there to be asked."""
    return is_lake(target) or Path(target).exists()


def lake_label(spec: str) -> str:
    """The connection string with any password hidden (for messages and page titles)."""
    return _SECRET.sub(r"\1***", spec)


def catalog_kind(spec: str) -> str:
    """``postgres``, ``sqlite`` or ``duckdb``: where the lake keeps its catalog."""
    rest = spec[len(LAKE_PREFIX) :]
    for kind in ("postgres", "sqlite"):
        if rest.startswith(f"{kind}:"):
            return kind
    return "duckdb"


def extension_file(name: str) -> Path:
    """The signed extension binary that the PyPI package for ``name`` ships for this DuckDB."""
    package = _EXTENSIONS[name]
    wanted = f"{package.replace('_', '-')}=={duckdb.__version__}"
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise LedgerError(
            f"a DuckLake ledger needs the {name} extension: pip install {wanted} "
            "(requirements.txt pins it)"
        )
    base = Path(next(iter(spec.submodule_search_locations)))
    path = base / "extensions" / f"v{duckdb.__version__}" / f"{name}.duckdb_extension"
    if not path.exists():
        raise LedgerError(
            f"the installed {package} has no build for DuckDB {duckdb.__version__}: "
            f"pip install {wanted}"
        )
    return path


def load_extensions(con: duckdb.DuckDBPyConnection, kind: str) -> None:
    """LOAD DuckLake (and the catalog's scanner) from their packages, signatures checked."""
    scanner = {"postgres": ["postgres_scanner"], "sqlite": ["sqlite_scanner"]}.get(kind, [])
    names = ["ducklake", *scanner]
    for name in names:
        path = str(extension_file(name)).replace("'", "''")
        try:
            con.execute(f"LOAD '{path}'").fetchall()
        except duckdb.Error as e:
            raise LedgerError(f"cannot load the {name} extension from {path}: {e}") from e


def connect_lake(spec: str, *, read_only: bool) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB with the lake attached as ``ledger_lake`` and made the default."""
    kind = catalog_kind(spec)
    con = duckdb.connect(
        ":memory:",
        config={
            "autoinstall_known_extensions": False,
            "autoload_known_extensions": False,
        },
    )
    try:
        con.execute("SET enable_progress_bar = false").fetchall()  # no bar on a worker's stdout
        load_extensions(con, kind)
        options = []
        data = os.environ.get(LAKE_DATA_ENV)
        if data:
            if "://" not in data:
                Path(data).mkdir(parents=True, exist_ok=True)
            options.append("DATA_PATH '{}'".format(data.replace("'", "''")))
        if read_only:
            options.append("READ_ONLY")
        options.append(f"DATA_INLINING_ROW_LIMIT {inline_rows()}")
        try:
            _attach(con, spec, options)
        except duckdb.Error as e:
            if "does not match existing data path" not in str(e):
                raise
            # a lake keeps the data path it was made with ($WORKBENCH_LAKE_DATA is for new ones)
            _attach(con, spec, [o for o in options if not o.startswith("DATA_PATH")])
        use_lake(con)
        return con
    except duckdb.Error as e:
        con.close()
        message = str(e)
        hint = ""
        if "DATA_PATH" in message or "data path" in message.lower():
            hint = f"; set {LAKE_DATA_ENV} to the folder (or s3:// path) for the lake's data files"
        raise LedgerError(f"cannot open the lake {lake_label(spec)}: {message}{hint}") from e
    except BaseException:
        con.close()
        raise


def inline_rows() -> int:
    """Rows a commit may keep in the catalog instead of a data file: 0 unless
    ``$WORKBENCH_LAKE_INLINE_ROWS`` says otherwise. DuckLake's inlining (its default) keeps a
    DOUBLE to 16 significant digits only (0.37737400020887435 comes back 0.3773740002088743),
    so a ledger of costs writes files and ``ledger compact`` merges the small ones."""
    raw = os.environ.get(INLINE_ENV, "0")
    try:
        value = int(raw)
    except ValueError:
        value = -1
    if value < 0:
        raise LedgerError(f"{INLINE_ENV} must be a whole number of rows, 0 or more, not {raw!r}")
    return value


def _attach(con: duckdb.DuckDBPyConnection, spec: str, options: list[str]) -> None:
    quoted = spec.replace("'", "''")
    with_options = f" ({', '.join(options)})" if options else ""
    # writers starting together race to create DuckLake's own catalog tables: the loser sees a
    # unique key violated or (PostgreSQL's CREATE TABLE) "already exists"; its next try finds the
    # catalog made
    retrying(
        lambda: con.execute(f"ATTACH '{quoted}' AS {LAKE_ALIAS}{with_options}").fetchall(),
        what=f"attach {lake_label(spec)}",
        also=_lost_catalog_race,
    )


def _lost_catalog_race(exc: BaseException) -> bool:
    text = str(exc).lower()
    return isinstance(exc, duckdb.Error) and "initialize ducklake" in text and "already exists" in text


def use_lake(cur: duckdb.DuckDBPyConnection) -> None:
    """Make the lake this cursor's default catalog (each cursor starts on ``memory``)."""
    cur.execute(f"USE {LAKE_ALIAS}").fetchall()


def is_conflict(exc: BaseException) -> bool:
    """A commit that lost to another writer's (DuckLake's optimistic concurrency): try again.
    A ``LedgerError`` raised from such a failure (the store names the run it could not record)
    counts too."""
    if isinstance(exc, LedgerError) and exc.__cause__ is not None:
        return is_conflict(exc.__cause__)
    text = str(exc).lower()
    return isinstance(exc, duckdb.Error) and (
        "conflict" in text
        or "could not serialize" in text
        or "duplicate key value violates unique constraint" in text  # the catalog's own keys
        or "concurrent" in text
    )


def retrying(
    action: Callable[[], T],
    *,
    what: str,
    give_up_s: float = COMMIT_RETRY_S,
    also: Callable[[BaseException], bool] = lambda exc: False,
) -> T:
    """``action()``, again after a growing random pause while it fails on a commit conflict (or
    an error ``also`` accepts), for up to ``give_up_s`` seconds."""
    deadline = time.monotonic() + give_up_s
    attempt = 0
    while True:
        attempt += 1
        try:
            return action()
        except (duckdb.Error, LedgerError) as e:
            if not (is_conflict(e) or also(e)):
                raise
            if time.monotonic() >= deadline:
                raise LedgerError(
                    f"could not {what}: {attempt} commits in a row over {give_up_s:.0f} s lost "
                    f"to other writers ({e}); try again, or run fewer writers at once"
                ) from e
            time.sleep(min(1.0, 0.005 * 2 ** min(attempt, 8)) * random.uniform(0.5, 1.5))
