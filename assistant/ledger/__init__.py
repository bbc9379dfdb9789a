"""The DuckDB ledger: schema and migrations, batched writer, read-side queries."""

from assistant.ledger.queries import (
    RunSummary,
    list_runs,
    run_calls,
    run_frames,
    run_requests,
    run_summary,
    run_utterances,
)
from assistant.ledger.schema import SCHEMA_VERSION, migrate
from assistant.ledger.store import Ledger, LedgerWriter

__all__ = [
    "SCHEMA_VERSION",
    "Ledger",
    "LedgerWriter",
    "RunSummary",
    "list_runs",
    "migrate",
    "run_calls",
    "run_frames",
    "run_requests",
    "run_summary",
    "run_utterances",
]
