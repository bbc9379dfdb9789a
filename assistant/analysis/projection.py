"""A run's projection summed into cost per meeting-hour by stage, per price scenario (the rows
come from the replay, or from ``sessions.projection.project_run`` afterwards). Measured costs are
read nowhere here."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from assistant.ledger.store import Ledger

STAGES = ("stt", "vision", "llm")


@dataclass(frozen=True, slots=True)
class ProjectedRun:
    """One run's projected cost under one scenario: per stage, and per media hour."""

    run_id: str
    scenario: str
    media_duration_s: float | None
    stage_cost_usd: dict[str, float]
    exact_share: float  # share of the projected input tokens counted by a vendor tokenizer

    @property
    def total_cost_usd(self) -> float:
        return sum(self.stage_cost_usd.values())

    def per_hour(self, stage: str | None = None) -> float | None:
        if not self.media_duration_s:
            return None
        cost = self.total_cost_usd if stage is None else self.stage_cost_usd.get(stage, 0.0)
        return cost / self.media_duration_s * 3600


def projected_run(ledger: Ledger, run_id: str, scenario: str) -> ProjectedRun:
    """The routed traffic of ``run_id`` (transcription and the tier each request was routed
    to) under ``scenario``; LedgerError when the run was not projected under it."""
    from assistant.ledger.queries import run_media_duration_s
    from assistant.ledger.queries.projection import run_projection

    rows = run_projection(ledger, run_id, scenario)
    routed = rows[rows["routed"]]
    by_stage = routed.groupby("stage")["cost_usd"].sum().to_dict()
    tokens = routed[routed["stage"] != "stt"]
    total = float(tokens["input_tokens"].sum())
    exact = float(tokens[tokens["token_method"].str.startswith("tiktoken")]["input_tokens"].sum())
    return ProjectedRun(
        run_id=run_id,
        scenario=scenario,
        media_duration_s=run_media_duration_s(ledger, run_id),
        stage_cost_usd={s: float(by_stage.get(s, 0.0)) for s in STAGES},
        exact_share=exact / total if total else 0.0,
    )
