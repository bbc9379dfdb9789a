"""Replay a recorded session through the pipeline into the ledger, as one run."""

from __future__ import annotations

import re
from collections.abc import Callable
from contextlib import closing
from datetime import UTC, datetime

from assistant.config import Config
from assistant.datasets import Dataset
from assistant.errors import ConfigError
from assistant.factory import make_stages, providers_of
from assistant.ledger import Ledger
from assistant.pipeline import AnswerCache, Pipeline
from assistant.records import RunRecord
from assistant.sources.paced import PacedSource
from assistant.sources.recorded import RecordedSource, available_at
from assistant.types import Question

RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


def new_run_id(dataset: Dataset, config: Config) -> str:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")[:-3]
    return f"{dataset.name}-{stamp}-t{config.routing.threshold:.2f}"


def warm_up(stages: dict[str, object]) -> None:
    """Load every provider's model before the run, so no request is timed with a model load."""
    for provider in providers_of(stages):
        provider.warm_up()
    stages["knowledge"].warm_up()  # type: ignore[attr-defined]


def replay(
    dataset: Dataset,
    *,
    ledger: Ledger,
    config: Config,
    run_id: str | None = None,
    progress: Callable[[float], None] | None = None,
    notice: Callable[[str], None] | None = None,
    both_tiers: bool = False,
    paced_speed: float | None = None,
    on_start: Callable[[str], None] | None = None,
) -> str:
    """Run ``dataset`` through the pipeline; returns the run id. ``progress`` gets media seconds.

    The run row is written first and closed last with its status (finished, failed or
    interrupted); rows are flushed in batches, and whatever was flushed stays if the replay dies.

    ``both_tiers`` also answers every question with the tier it was not routed to and records
    both tiers' outcomes in ``tier_outcomes`` (see ``assistant.routing.sweep``); answers are
    cached by content hash in the ledger's ``answer_cache``, so a rerun makes no answer calls.

    ``paced_speed`` releases the events in real time divided by it (1.0: as a live room would,
    through ``PacedSource``); the run's ``source_kind`` is then ``paced``.
    """
    run_id = run_id or new_run_id(dataset, config)
    if not RUN_ID.match(run_id):
        raise ConfigError(f"run id {run_id!r} is not valid: use letters, digits, '.', '_' and '-'")
    notices: list[str] = []
    stages = make_stages(config, dataset, notices=notices)
    for message in notices:
        if notice is not None:
            notice(message)
    warm_up(stages)
    source: RecordedSource | PacedSource = RecordedSource(dataset)
    if paced_speed is not None:
        source = PacedSource(source, speed=paced_speed)
    ledger.start_run(
        RunRecord(
            run_id=run_id,
            source_kind=source.kind,
            source_ref=str(dataset.root),
            dataset_name=dataset.name,
            tenant=dataset.tenant,
            room=dataset.room,
            config_json=config.to_json(),
            config_hash=config.digest(),
            media_duration_s=dataset.duration_s,
        )
    )
    if on_start is not None:
        on_start(run_id)
    answer_cache = load_answer_cache(ledger) if both_tiers else None
    status, error = "failed", None
    reached_s = 0.0  # media time the run has got through
    try:
        with ledger.writer() as writer:
            pipeline = Pipeline(
                run_id=run_id,
                tenant=dataset.tenant,
                room=dataset.room,
                config=config,
                emit=writer.append,
                names={p.identity: p.name for p in dataset.participants},
                both_tiers=both_tiers,
                answer_cache=answer_cache,
                **stages,  # type: ignore[arg-type]
            )
            with closing(source.events()) as events:  # closes the decoders on any exit
                for event in events:
                    pipeline.handle(event)
                    reached_s = max(reached_s, available_at(event))
                    if isinstance(event, Question):
                        writer.flush()  # a crash loses at most the rows since the last question
                    if progress is not None:
                        progress(available_at(event))
            pipeline.finish()
        status = "finished"
    except KeyboardInterrupt:
        status, error = "interrupted", "stopped by the user"
        raise
    except Exception as exc:
        error = str(exc)
        raise
    finally:
        ledger.finish_run(
            run_id,
            status=status,
            error=error,
            media_processed_s=min(reached_s, dataset.duration_s),
        )
        for provider in providers_of(stages):
            provider.close()
    return run_id


def load_answer_cache(ledger: Ledger) -> AnswerCache:
    """Every answer the ledger has cached (``--both-tiers`` replays write them)."""
    cache = AnswerCache()
    rows = (
        ledger.cursor()
        .execute("SELECT key, spec, answer_json, input_tokens, output_tokens FROM answer_cache")
        .fetchall()
    )
    cache.load(rows)
    return cache
