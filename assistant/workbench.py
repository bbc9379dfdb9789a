"""Read-side helpers for the Streamlit pages (no Streamlit import: testable on their own).

The pages open the ledger read-only for each query and close it straight away, so a replay in
another process can write between two refreshes.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from assistant.errors import LedgerError

KEY_VARIABLES = {
    "OpenAI": ("OPENAI_API_KEY",),
    "Anthropic": ("ANTHROPIC_API_KEY",),
    "Google GenAI": ("GOOGLE_API_KEY", "GEMINI_API_KEY"),
    "Deepgram": ("DEEPGRAM_API_KEY",),
    "LiveKit": ("LIVEKIT_URL", "LIVEKIT_API_KEY", "LIVEKIT_API_SECRET"),
}
ALL_TENANTS = "All tenants"
EMPTY_HINT = "No runs yet: replay the demo with `python -m assistant replay datasets/demo`."


def provider_keys(environ: dict[str, str] | None = None) -> dict[str, bool]:
    """Which providers have their keys set (names only; values are never read out)."""
    env = os.environ if environ is None else environ
    status = {}
    for name, variables in KEY_VARIABLES.items():
        if name == "LiveKit":
            status[name] = all(env.get(v) for v in variables)
        else:
            status[name] = any(env.get(v) for v in variables)
    return status


@dataclass(frozen=True, slots=True)
class LedgerView:
    """What a page shows: the data, or why there is none and what to do."""

    data: Any | None
    message: str | None = None


def read_tenants(ledger_path: str | Path) -> list[str]:
    """Tenants that have runs in the ledger (empty when there is no readable ledger)."""
    view = read_runs(ledger_path)
    return [] if view.data is None else sorted(set(view.data["tenant"]))


def read_runs(ledger_path: str | Path, tenant: str | None = None) -> LedgerView:
    from assistant.ledger import Ledger
    from assistant.ledger.queries import list_runs

    if not Path(ledger_path).exists():
        return LedgerView(None, f"Ledger {ledger_path} does not exist yet. {EMPTY_HINT}")
    try:
        with Ledger(ledger_path, read_only=True) as ledger:
            runs = list_runs(ledger)
    except LedgerError as exc:
        return LedgerView(None, str(exc))
    if runs.empty:
        return LedgerView(None, EMPTY_HINT)
    if tenant and tenant != ALL_TENANTS:
        runs = runs[runs["tenant"] == tenant]
        if runs.empty:
            return LedgerView(None, f"No runs for tenant {tenant!r} yet. {EMPTY_HINT}")
    return LedgerView(runs.reset_index(drop=True))


def read_run(ledger_path: str | Path, run_id: str) -> LedgerView:
    """A run's summary, requests, calls-by-stage and kept frames."""
    from assistant.ledger import Ledger
    from assistant.ledger.queries import run_calls, run_frames, run_requests, run_summary

    try:
        with Ledger(ledger_path, read_only=True) as ledger:
            summary = run_summary(ledger, run_id)
            requests = run_requests(ledger, run_id)
            calls = run_calls(ledger, run_id)
            frames = run_frames(ledger, run_id)
    except LedgerError as exc:
        return LedgerView(None, str(exc))
    by_stage = (
        calls.groupby("stage", as_index=False).agg(
            calls=("call_id", "count"),
            cost_usd=("cost_usd", "sum"),
            latency_ms=("latency_ms", "sum"),
        )
        if not calls.empty
        else calls
    )
    return LedgerView(
        {"summary": summary, "requests": requests, "by_stage": by_stage, "frames": frames}
    )
