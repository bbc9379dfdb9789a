"""Judgements: the answers of a run that can be graded, and the grades the judge recorded."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

    from assistant.ledger.store import Ledger


def answers_with_reference(ledger: Ledger, run_id: str) -> list[tuple[Any, ...]]:
    """``(request_id, tier, question, reference_answer, answer, quality, question_id)`` of each
    request of ``run_id`` that has a reference answer, in media order."""
    rows: list[tuple[Any, ...]] = (
        ledger.cursor()
        .execute(
            "SELECT request_id, tier, question, reference_answer, answer, quality, question_id "
            "FROM requests WHERE run_id = ? AND reference_answer IS NOT NULL ORDER BY media_t_s",
            [run_id],
        )
        .fetchall()
    )
    return rows


def tier_answers(ledger: Ledger, run_id: str) -> list[tuple[Any, ...]]:
    """``(request_id, tier, answer, quality)`` of each tier outcome of a ``--both-tiers`` run."""
    rows: list[tuple[Any, ...]] = (
        ledger.cursor()
        .execute(
            "SELECT request_id, tier, answer, quality FROM tier_outcomes WHERE run_id = ?",
            [run_id],
        )
        .fetchall()
    )
    return rows


def judged_answers(ledger: Ledger, run_id: str, judge_model: str) -> set[tuple[str, str]]:
    """``(request_id, tier)`` that ``judge_model`` already graded (status ok) in ``run_id``."""
    rows = (
        ledger.cursor()
        .execute(
            "SELECT request_id, tier FROM judgements WHERE run_id = ? AND judge_model = ? "
            "AND status = 'ok'",
            [run_id, judge_model],
        )
        .fetchall()
    )
    return {(r[0], r[1]) for r in rows}


def run_judgements(ledger: Ledger, run_id: str) -> pd.DataFrame:
    """The latest ok grade per (request, tier) of ``run_id`` (``python -m assistant judge``)."""
    frame: pd.DataFrame = (
        ledger.cursor()
        .execute(
            "SELECT request_id, tier, judge_model, score AS judge_score, reason AS judge_reason, "
            "cost_usd FROM judgements WHERE run_id = ? AND status = 'ok' "
            "QUALIFY row_number() OVER (PARTITION BY request_id, tier ORDER BY created_at DESC) = 1",
            [run_id],
        )
        .df()
    )
    return frame
