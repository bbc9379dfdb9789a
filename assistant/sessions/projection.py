"""Project a recorded run under price scenarios afterwards, from its stored inputs.

A replay projects the default scenarios as it records (``pipeline.projecting``); ``project_run``
does the same for any scenario later, from ``request_inputs`` and the transcription calls' billed
audio, with the run's own pricing overrides. It replaces the run's rows under each scenario, so
running it twice gives the same rows. Measured costs are neither read nor written here.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING

from assistant.core.config import config_from_dict
from assistant.core.errors import LedgerError
from assistant.pricing.prices import Pricer
from assistant.pricing.projection import Scenario

if TYPE_CHECKING:
    from assistant.ledger.store import Ledger


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
