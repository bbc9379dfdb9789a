"""What a stopped run left in the ledger, for resuming it; and the cached answers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from assistant.core.errors import LedgerError
from assistant.core.events import Utterance

if TYPE_CHECKING:
    from assistant.ledger.store import Ledger


@dataclass(frozen=True, slots=True)
class ResumeState:
    """What a stopped run left in the ledger: where to pick up and the state to restore."""

    run: dict[str, Any]
    events_done: int
    transcript: tuple[Utterance, ...]
    next_call_index: int
    both_tiers: bool
    spent_usd: float = 0.0  # routed requests and transcription so far (what a budget limits)


_RUN_COLUMNS = (
    "run_id",
    "dataset_name",
    "source_ref",
    "config_json",
    "status",
    "events_done",
    "media_processed_s",
)


# What a budget counts (as the recorder does): routed requests (their costs as if paid) and
# transcription, a call answered from the call cache at its cost if paid, so that the routing of a
# resumed run does not depend on what the cache held
_SPENT_SQL = """
SELECT (SELECT coalesce(sum(total_cost_usd), 0) FROM requests WHERE run_id = $r)
    + (SELECT coalesce(sum(cost_usd + coalesce(original_cost_usd, 0)), 0) FROM calls
        WHERE run_id = $r AND stage = 'stt')
"""


def load_resume_state(ledger: Ledger, run_id: str) -> ResumeState:
    """Read what resuming needs about ``run_id``; LedgerError when it cannot be resumed."""
    cur = ledger.cursor()
    found = cur.execute(
        "SELECT run_id, dataset_name, source_ref, config_json, status, events_done, "
        "media_processed_s FROM runs WHERE run_id = ?",
        [run_id],
    ).fetchall()
    if not found:
        raise LedgerError(f"run {run_id} does not exist in {ledger.label}; see `runs`")
    run = dict(zip(_RUN_COLUMNS, found[0], strict=True))
    if run["status"] == "finished":
        raise LedgerError(f"run {run_id} has finished: there is nothing to resume")
    requests = cur.execute("SELECT count(*) FROM requests WHERE run_id = ?", [run_id]).fetchall()
    events_done = run["events_done"]
    if events_done is None:
        if requests[0][0]:
            raise LedgerError(
                f"run {run_id} has no checkpoint (an older workbench recorded it): "
                "replay the dataset anew"
            )
        events_done = 0
    utterances = cur.execute(
        "SELECT participant, start_s, end_s, text, confidence FROM utterances "
        "WHERE run_id = ? ORDER BY start_s, end_s",
        [run_id],
    ).fetchall()
    last_call = cur.execute(
        "SELECT max(CAST(split_part(call_id, ':', -1) AS BIGINT)) FROM calls WHERE run_id = ? "
        "AND regexp_full_match(split_part(call_id, ':', -1), '[0-9]+')",
        [run_id],
    ).fetchall()
    outcomes = cur.execute(
        "SELECT count(*) FROM tier_outcomes WHERE run_id = ?", [run_id]
    ).fetchall()
    spent = cur.execute(_SPENT_SQL, {"r": run_id}).fetchall()
    return ResumeState(
        run=run,
        events_done=int(events_done),
        transcript=tuple(
            Utterance(participant=p, start_s=s, end_s=e, text=t, confidence=c)
            for p, s, e, t, c in utterances
        ),
        next_call_index=0 if last_call[0][0] is None else int(last_call[0][0]) + 1,
        both_tiers=bool(outcomes[0][0]),
        spent_usd=float(spent[0][0]),
    )


def answer_cache_rows(ledger: Ledger) -> list[tuple[str, str, str, int, int]]:
    """Every cached answer: ``(key, spec, answer_json, input_tokens, output_tokens)``."""
    return (
        ledger.cursor()
        .execute("SELECT key, spec, answer_json, input_tokens, output_tokens FROM answer_cache")
        .fetchall()
    )
