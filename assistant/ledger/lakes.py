"""Keeping a lake: this process's shared connection, copying a ledger between a file and a lake,
and DuckLake's maintenance (``ledger copy`` and ``ledger compact``)."""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass

from assistant.core.errors import LedgerError
from assistant.ledger.lake import is_lake, retrying
from assistant.ledger.records import TABLES
from assistant.ledger.schema import SCHEMA_VERSION
from assistant.ledger.store import Ledger

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
