"""Replay a recorded session through the pipeline into the ledger, as one run."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import secrets
from collections.abc import Callable
from contextlib import closing
from datetime import UTC, datetime

from assistant.core.config import Config, config_from_dict
from assistant.core.errors import ConfigError
from assistant.core.events import Question
from assistant.ledger import Ledger
from assistant.ledger.queries.resume import ResumeState
from assistant.ledger.records import RunRecord
from assistant.ledger.sink import RunSink, open_sink
from assistant.pipeline.answers import AnswerCache
from assistant.pipeline.orchestrator import Pipeline
from assistant.pipeline.sampling import decode_period_s
from assistant.pipeline.stages import Stages
from assistant.sessions.datasets import Dataset
from assistant.sessions.driver import (
    FLUSH_ROWS,
    RunDriver,
    add_stored_knowledge,
    attach_call_cache,
    load_answer_cache,
    prepare_stages,
    read_resume_state,
)
from assistant.sessions.frame_index import FramePlan, plan_frames
from assistant.sessions.runlock import claim
from assistant.sessions.sources.paced import PacedSource
from assistant.sessions.sources.recorded import RecordedSource, available_at

RUN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")  # fullmatch only

__all__ = ["FLUSH_ROWS", "RUN_ID", "new_run_id", "replay", "resume", "warm_up"]


def new_run_id(dataset: Dataset, config: Config) -> str:
    """Dataset, time and threshold, plus 32 random bits: workers on many machines writing one
    lake start runs of one dataset in the same millisecond, and their ids must still differ."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")[:-3]
    return f"{dataset.name}-{stamp}-{secrets.token_hex(4)}-t{config.routing.threshold:.2f}"


def warm_up(stages: Stages) -> None:
    """Load every provider's model before the run, so no request is timed with a model load."""
    stages.warm_up()


def dataset_stages(
    config: Config, dataset: Dataset, sink: RunSink, notice: Callable[[str], None] | None,
    *, seen_before: bool = False,
) -> Stages:
    """The stages of a replay of ``dataset``: its knowledge folder and the tenant's stored one,
    the ledger's call cache; models loaded (those the cache may spare on their first miss;
    every cached one when the recording was ``seen_before``: ``Stages.warm_up``)."""
    stages = prepare_stages(
        config,
        tenant=dataset.tenant,
        documents=dataset.documents,
        transcript=dataset.transcript,
        notice=notice,
        warm_up=False,
    )
    add_stored_knowledge(stages, sink, dataset.tenant, notice)
    attach_call_cache(stages, sink, config.calls.cache, notice)
    stages.warm_up(seen_before=seen_before)
    return stages


def replay(
    dataset: Dataset,
    *,
    ledger: Ledger | RunSink | str | os.PathLike[str],
    config: Config,
    run_id: str | None = None,
    progress: Callable[[float], None] | None = None,
    notice: Callable[[str], None] | None = None,
    both_tiers: bool = False,
    paced_speed: float | None = None,
    on_start: Callable[[str], None] | None = None,
) -> str:
    """Run ``dataset`` through the pipeline; returns the run id. ``progress`` gets media seconds.

    ``ledger`` is a ``Ledger`` this process holds, or a path: then each flush opens the file
    briefly, and spools a segment when another process (the workbench) holds it.

    The run row is written first and closed last with its status (finished, failed or
    interrupted). Rows are written at checkpoints (every question, and every ``FLUSH_ROWS``
    rows), each in one transaction that also records how many source events are complete, so
    a replay killed at any point can be finished with ``resume``.

    ``both_tiers`` also answers every question with the tier it was not routed to and records
    both tiers' outcomes in ``tier_outcomes`` (see ``assistant.analysis.sweep``); answers are
    cached by content hash in the ledger's ``answer_cache``, so a rerun makes no answer calls.

    Calls are looked up in the ledger's call cache first as ``config.calls.cache`` says (local
    providers by default, cloud ones with ``true``, none with ``false``: ``--no-cache``).

    ``paced_speed`` releases the events in real time divided by it (1.0: as a live room would,
    through ``PacedSource``); the run's ``source_kind`` is then ``paced``.
    """
    run_id = run_id or new_run_id(dataset, config)
    if not isinstance(run_id, str) or not RUN_ID.fullmatch(run_id):
        raise ConfigError(f"run id {run_id!r} is not valid: use letters, digits, '.', '_' and '-'")
    sink = open_sink(ledger, notice=notice)
    frames = plan_frames(dataset, config, sink, notice)
    stages = dataset_stages(config, dataset, sink, notice, seen_before=frames.index is not None)
    driver = RunDriver(sink, run_id, frames.stages(stages))
    # decode only the frames the sampler can keep (paced too: ``resume`` counts the same events);
    # none when the call cache holds this recording's sampler pass
    source: RecordedSource | PacedSource = RecordedSource(
        dataset, frame_every_s=decode_period_s(config.sampling), frame_index=frames.index
    )
    if paced_speed is not None:
        source = PacedSource(source, speed=paced_speed)
    driver.start(
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
    answer_cache = _stored_answers(sink, driver.stages, config, notice) if both_tiers else None
    _run(
        dataset,
        driver=driver,
        config=config,
        source=source,
        progress=progress,
        both_tiers=both_tiers,
        answer_cache=answer_cache,
        frames=frames,
    )
    return run_id


def resume(
    dataset: Dataset,
    *,
    ledger: Ledger | RunSink | str | os.PathLike[str],
    run_id: str,
    progress: Callable[[float], None] | None = None,
    notice: Callable[[str], None] | None = None,
    no_cache: bool = False,
) -> str:
    """Finish a run that stopped (killed, failed, interrupted) from its last checkpoint.

    The run keeps its id and its recorded configuration; the source events before the
    checkpoint are read again only to rebuild the sampler's and voice gate's state (no model
    is called for them, the transcript so far comes from the ledger), so no row is written
    twice and no answer is paid for twice. ``no_cache`` makes every call of the rest (as
    ``--no-cache``), whatever the recorded configuration says of the call cache.
    """
    sink = open_sink(ledger, notice=notice)
    lock = claim(sink, run_id)  # refused while the run's writer lives (before any model loads)
    try:
        state = read_resume_state(sink, run_id)
        if state.run["dataset_name"] != dataset.name:
            raise ConfigError(
                f"run {run_id} replayed dataset {state.run['dataset_name']!r}, not "
                f"{dataset.name!r}: pass {state.run['source_ref']}"
            )
        config = config_from_dict(
            json.loads(str(state.run["config_json"])), where=f"run {run_id}"
        )
        if no_cache:
            config = dataclasses.replace(
                config, calls=dataclasses.replace(config.calls, cache=False)
            )
        if notice is not None:
            notice(
                f"resuming run {run_id} after {state.events_done} source events "
                f"({float(state.run['media_processed_s'] or 0.0):.1f} s of media) with its "
                "recorded configuration"
            )
        frames = plan_frames(dataset, config, sink, notice)
        stages = frames.stages(
            dataset_stages(config, dataset, sink, notice, seen_before=frames.index is not None)
        )
        driver = RunDriver(sink, run_id, stages, lock)
    except BaseException:
        if lock is not None:
            lock.release()
        raise
    driver.resume()
    answer_cache = (
        _stored_answers(sink, driver.stages, config, notice) if state.both_tiers else None
    )
    _run(
        dataset,
        driver=driver,
        config=config,
        source=RecordedSource(
            dataset, frame_every_s=decode_period_s(config.sampling), frame_index=frames.index
        ),
        progress=progress,
        both_tiers=state.both_tiers,
        answer_cache=answer_cache,
        resume_from=state,
        frames=frames,
    )
    return run_id


def _stored_answers(
    sink: RunSink, stages: Stages, config: Config, notice: Callable[[str], None] | None
) -> AnswerCache:
    """The answers earlier ``--both-tiers`` runs stored, for a ``--both-tiers`` run. They are
    not looked up (only kept from being stored twice) with ``--no-cache``, nor when the call
    cache answers for both answer tiers: its hits are recorded as calls, priced as if paid, so
    that the tier outcomes cost what they would."""
    lookups = config.calls.cache is not False and any(p.call_cache is None for p in stages.llm)
    return load_answer_cache(sink, notice, stored_lookups=lookups)


def _run(
    dataset: Dataset,
    *,
    driver: RunDriver,
    config: Config,
    source: RecordedSource | PacedSource,
    progress: Callable[[float], None] | None,
    both_tiers: bool,
    answer_cache: AnswerCache | None,
    resume_from: ResumeState | None = None,
    frames: FramePlan | None = None,
) -> None:
    status, error = "failed", None
    reached_s = 0.0  # media time the run has got through
    done = 0  # source events whose rows are all in the sink
    skip = 0 if resume_from is None else resume_from.events_done
    committed = skip  # events_done of the last checkpoint written
    event_rows: list[object] = []  # the current event's rows: they reach the sink whole or not
    pipeline: Pipeline | None = None

    def checkpoint(events_done: int) -> None:
        driver.checkpoint(events_done, min(reached_s, dataset.duration_s))

    def append_rows() -> None:
        for row in event_rows:
            driver.append(row)
        event_rows.clear()

    try:
        pipeline = Pipeline(
            run_id=driver.run_id,
            tenant=dataset.tenant,
            room=dataset.room,
            config=config,
            stages=driver.stages,
            emit=event_rows.append,
            names={p.identity: p.name for p in dataset.participants},
            both_tiers=both_tiers,
            answer_cache=answer_cache,
            background_stt=config.stt.background,
        )
        if resume_from is not None:
            pipeline.restore(
                resume_from.transcript,
                next_call_index=resume_from.next_call_index,
                spent_usd=resume_from.spent_usd,
            )
        with closing(source.events()) as events:  # closes the decoders on any exit
            for index, event in enumerate(events):
                reached_s = max(reached_s, available_at(event))
                if index < skip:
                    pipeline.catch_up(event)  # its rows are in the ledger already
                    done = index + 1
                else:
                    if isinstance(event, Question):  # what was transcribed before it, stored
                        pipeline.collect(wait=True, readings=False)  # first: earlier events' rows
                        append_rows()
                    pipeline.handle(event)
                    pipeline.settle()  # a question's projected cost, off its answer's clock
                    done = index + 1
                    append_rows()
                    if isinstance(event, Question) or driver.pending_rows() >= FLUSH_ROWS:
                        pipeline.collect(wait=True)  # background work of the events done
                        append_rows()
                        checkpoint(done)  # a crash loses at most this stretch
                        committed = done
                if progress is not None:
                    progress(available_at(event))
        if done >= skip:  # the closing transcription, unless a resumed run did it already
            pipeline.finish()
            # every frame was offered to the sampler (a resumed run's too, in catch_up): the
            # pass is complete and its index is stored with the last checkpoint
            stored = frames.record(driver.run_id) if frames is not None else None
            if stored is not None:
                event_rows.append(stored)
            append_rows()
            checkpoint(done + 1)  # one past the last event: finish() is done too
            committed = done + 1
        status = "finished"
    except KeyboardInterrupt:
        status, error = "interrupted", "stopped by the user"
        raise
    except Exception as exc:
        error = str(exc)
        raise
    finally:
        event_rows.clear()  # a half-handled event is redone by --resume
        try:
            if done > committed and _collected(pipeline):  # whole events since the checkpoint
                append_rows()
                checkpoint(done)
        finally:
            if pipeline is not None:
                pipeline.close()
            driver.finish(
                status=status, error=error, media_processed_s=min(reached_s, dataset.duration_s)
            )


def _collected(pipeline: Pipeline | None) -> bool:
    """The background work of the events handled so far, recorded (into the rows to append);
    False when it cannot be (the events then count as not done: ``--resume`` redoes them)."""
    if pipeline is None:
        return True
    try:
        pipeline.collect(wait=True)
    except Exception:
        return False
    return True
