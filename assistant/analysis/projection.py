"""Project a recorded run under price scenarios, afterwards, from its stored inputs; and sum a
run's projection into cost per meeting-hour by stage.

A replay projects the default scenarios as it records (``pipeline.projecting``); ``project_run``
does the same for any scenario later, from ``request_inputs`` and the transcription calls' billed
audio, with the run's own pricing overrides. It replaces the run's rows under each scenario, so
running it twice gives the same rows. Measured costs are read nowhere and written nowhere here.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from assistant.core.config import config_from_dict
from assistant.core.errors import LedgerError
from assistant.pricing.prices import Pricer
from assistant.pricing.projection import Scenario

if TYPE_CHECKING:
    from assistant.ledger.store import Ledger

STAGES = ("stt", "vision", "llm")


def run_pricer(ledger: Ledger, run_id: str) -> Pricer:
    """The pricing a run was recorded with (its overrides apply to projections too)."""
    from assistant.ledger.queries import run_source

    source = run_source(ledger, run_id)
    if source is None:
        raise LedgerError(f"run {run_id} does not exist in {ledger.label}")
    config = config_from_dict(json.loads(source[2] or "{}"), where=f"run {run_id}")
    return Pricer(config.pricing)


def project_run(ledger: Ledger, run_id: str, scenarios: Sequence[Scenario]) -> dict[str, int]:
    """Replace ``run_id``'s projection under each scenario; rows written per scenario."""
    from assistant.ledger.queries.projection import (
        replace_projection,
        run_request_inputs,
        run_request_times,
        run_transcription_audio,
    )
    from assistant.pipeline.projecting import Projector

    pricer = run_pricer(ledger, run_id)
    inputs = run_request_inputs(ledger, run_id)
    if not inputs:
        raise LedgerError(
            f"run {run_id} recorded no request inputs (replayed before projections existed, or "
            "no questions); replay it again to project its costs"
        )
    times = run_request_times(ledger, run_id)
    audio = run_transcription_audio(ledger, run_id)
    written: dict[str, int] = {}
    for scenario in scenarios:
        projector = Projector([scenario], pricer)
        rows = [r for t, a in audio for r in projector.transcription(run_id, a, media_t_s=t)]
        for record in inputs:
            rows += projector.request(record, media_t_s=times.get(record.request_id, 0.0))
        replace_projection(ledger, run_id, scenario.name, rows)
        written[scenario.name] = len(rows)
    return written


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
