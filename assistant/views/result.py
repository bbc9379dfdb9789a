"""The one result shape every page call returns: a :class:`View` holds the data, or an
:class:`ErrorKind` and the message that says what went wrong and what to do.

Ledger reads open the file through :func:`reading`; :func:`read_ledger` turns the ledger's own
errors into a View: ``LedgerLockedError`` (another process holds the file) is ``LOCKED``, any
other ``LedgerError`` (no such run, a run of the wrong kind) is ``INVALID``.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Generic, TypeVar

from assistant.core.errors import LedgerError, LedgerLockedError

if TYPE_CHECKING:
    from assistant.ledger import Ledger

T = TypeVar("T")
U = TypeVar("U")


class ErrorKind(enum.Enum):
    """Why a View has no data."""

    EMPTY = "empty"  # nothing recorded yet (no runs, no requests, no CSV)
    LOCKED = "locked"  # another process holds the ledger file; try again shortly
    MISSING = "missing"  # the ledger file does not exist
    INVALID = "invalid"  # the request cannot be answered (no such run, wrong kind of run, bad input)
    UNAVAILABLE = "unavailable"  # a service or file that cannot be reached or read


@dataclass(frozen=True, slots=True)
class View(Generic[T]):
    """What a page shows: ``data``, or ``error`` with the ``message`` saying why there is none
    and what to do. A successful View may carry a ``message`` too (a room operation's report)."""

    data: T | None
    message: str | None = None
    error: ErrorKind | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def value(self) -> T | None:
        return self.data

    @property
    def locked(self) -> bool:
        return self.error is ErrorKind.LOCKED

    @classmethod
    def of(cls, data: T, message: str | None = None) -> View[T]:
        return cls(data, message)

    @classmethod
    def fail(cls, kind: ErrorKind, message: str) -> View[T]:
        return cls(None, message, kind)


LedgerView = View
"""The name the read side had before every page call returned a :class:`View`."""


def ledger_error(exc: LedgerError) -> View[T]:
    """A ledger error as a View: LOCKED when another process holds the file, else INVALID."""
    kind = ErrorKind.LOCKED if isinstance(exc, LedgerLockedError) else ErrorKind.INVALID
    return View.fail(kind, str(exc))


def is_lake_target(ledger_path: str | Path) -> bool:
    """Whether the ledger is a DuckLake (``ducklake:…``) rather than a DuckDB file."""
    return str(ledger_path).startswith("ducklake:")


def ledger_exists(ledger_path: str | Path) -> bool:
    """A file ledger exists when its file does; a lake is always there to be asked."""
    return is_lake_target(ledger_path) or Path(ledger_path).exists()


@contextmanager
def reading(ledger_path: str | Path) -> Iterator[Ledger]:
    """The ledger for one page query: every read-side helper opens it through here.

    The workbench owns the file (``assistant.ledger.owner``): one writable connection for the
    whole app, which ingests the rows other processes spooled before each read. While another
    process holds the file, the query waits briefly for a read-only open instead.
    """
    from assistant.ledger import Ledger
    from assistant.ledger.owner import owned

    if is_lake_target(ledger_path):  # many writers, no spool: this process's own connection
        from assistant.ledger.lakes import shared_lake

        yield shared_lake(str(ledger_path))
        return
    ledger = owned(ledger_path)
    if ledger is not None:
        yield ledger
        return
    with Ledger(ledger_path, read_only=True, wait_s=2.0) as reader:
        yield reader


def read_ledger(
    ledger_path: str | Path,
    read: Callable[[Ledger], U],
    *,
    catch: tuple[type[Exception], ...] = (),
) -> View[U]:
    """``read(ledger)`` as a View; ledger errors (and ``catch``, as INVALID) become its error."""
    try:
        with reading(ledger_path) as ledger:
            return View(read(ledger))
    except LedgerError as exc:
        return ledger_error(exc)
    except catch as exc:
        return View.fail(ErrorKind.INVALID, str(exc))
