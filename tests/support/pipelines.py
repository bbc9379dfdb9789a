"""A pipeline over a dataset whose records are collected in a list (no ledger)."""

from __future__ import annotations

from typing import Any

from assistant.core.config import Config
from assistant.pipeline.orchestrator import Pipeline
from assistant.pipeline.stages import Stages, make_stages
from assistant.sessions.datasets import Dataset


def collecting_pipeline(
    dataset: Dataset, config: Config, *, stages: Stages | None = None, **options: Any
) -> tuple[Pipeline, list[Any]]:
    """A ``Pipeline`` for ``dataset`` (run id ``r``) with ``stages`` (default: the config's)
    and the records it emits, in order; ``options`` go to ``Pipeline`` as they are."""
    records: list[Any] = []
    pipeline = Pipeline(
        run_id="r",
        tenant=dataset.tenant,
        room=dataset.room,
        config=config,
        emit=records.append,
        stages=stages if stages is not None else make_stages(config, dataset),
        **options,
    )
    return pipeline, records
