"""Replay a recorded session through the pipeline into the ledger, as one run."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from assistant.core.config import Config, config_from_dict
from assistant.core.errors import ConfigError, LedgerError, LedgerLockedError
from assistant.core.events import Question, Utterance
from assistant.ledger import Ledger
from assistant.ledger.records import RunRecord
from assistant.ledger.sink import RunSink, open_sink
from assistant.ledger.store import Checkpoint
from assistant.pipeline.orchestrator import AnswerCache, Pipeline
from assistant.pipeline.stages import make_stages, providers_of
from assistant.sessions.datasets import Dataset
from assistant.sessions.sources.paced import PacedSource
from assistant.sessions.sources.recorded import RecordedSource, available_at

RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


def new_run_id(dataset: Dataset, config: Config) -> str:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")[:-3]
    return f"{dataset.name}-{stamp}-t{config.routing.threshold:.2f}"


def warm_up(stages: dict[str, object]) -> None:
    """Load every provider's model before the run, so no request is timed with a model load."""
    for provider in providers_of(stages):
        provider.warm_up()
    stages["knowledge"].warm_up()  # type: ignore[attr-defined]


FLUSH_ROWS = 500
"""Rows a run buffers before it writes a checkpoint even without a question."""


@dataclass(frozen=True, slots=True)
class ResumeState:
    """What a stopped run left in the ledger: where to pick up and the state to restore."""

    run: dict[str, Any]
    events_done: int
    transcript: tuple[Utterance, ...]
    next_call_index: int
    both_tiers: bool


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

    ``paced_speed`` releases the events in real time divided by it (1.0: as a live room would,
    through ``PacedSource``); the run's ``source_kind`` is then ``paced``.
    """
    run_id = run_id or new_run_id(dataset, config)
    if not RUN_ID.match(run_id):
        raise ConfigError(f"run id {run_id!r} is not valid: use letters, digits, '.', '_' and '-'")
    sink = open_sink(ledger, notice=notice)
    stages = prepare_stages(config, dataset, notice)
    add_stored_knowledge(stages, sink, dataset.tenant, notice)
    source: RecordedSource | PacedSource = RecordedSource(dataset)
    if paced_speed is not None:
        source = PacedSource(source, speed=paced_speed)
    sink.start_run(
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
    answer_cache = _answer_cache(sink, notice) if both_tiers else None
    _run(
        dataset,
        sink=sink,
        config=config,
        run_id=run_id,
        stages=stages,
        source=source,
        progress=progress,
        both_tiers=both_tiers,
        answer_cache=answer_cache,
    )
    return run_id


def resume(
    dataset: Dataset,
    *,
    ledger: Ledger | RunSink | str | os.PathLike[str],
    run_id: str,
    progress: Callable[[float], None] | None = None,
    notice: Callable[[str], None] | None = None,
) -> str:
    """Finish a run that stopped (killed, failed, interrupted) from its last checkpoint.

    The run keeps its id and its recorded configuration; the source events before the
    checkpoint are read again only to rebuild the sampler's and voice gate's state (no model
    is called for them, the transcript so far comes from the ledger), so no row is written
    twice and no answer is paid for twice.
    """
    sink = open_sink(ledger, notice=notice)
    state = sink.read(lambda held: load_resume_state(held, run_id))
    if state is None:
        raise LedgerLockedError(
            f"resuming needs the ledger file {sink.label}, and another process holds it (the "
            "workbench?): stop that process, then run the same command again"
        )
    if state.run["dataset_name"] != dataset.name:
        raise ConfigError(
            f"run {run_id} replayed dataset {state.run['dataset_name']!r}, not {dataset.name!r}: "
            f"pass {state.run['source_ref']}"
        )
    config = config_from_dict(json.loads(str(state.run["config_json"])), where=f"run {run_id}")
    if notice is not None:
        notice(
            f"resuming run {run_id} after {state.events_done} source events "
            f"({float(state.run['media_processed_s'] or 0.0):.1f} s of media) with its recorded "
            "configuration; if that run is still going in another process, stop it first"
        )
    stages = prepare_stages(config, dataset, notice)
    add_stored_knowledge(stages, sink, dataset.tenant, notice)
    sink.resume_run(run_id)
    answer_cache = _answer_cache(sink, notice) if state.both_tiers else None
    _run(
        dataset,
        sink=sink,
        config=config,
        run_id=run_id,
        stages=stages,
        source=RecordedSource(dataset),
        progress=progress,
        both_tiers=state.both_tiers,
        answer_cache=answer_cache,
        resume_from=state,
    )
    return run_id


def prepare_stages(
    config: Config, dataset: Dataset, notice: Callable[[str], None] | None = None
) -> dict:
    """Every pipeline stage, its notices (e.g. a missing key) said, models loaded."""
    notices: list[str] = []
    stages = make_stages(config, dataset, notices=notices)
    for message in notices:
        if notice is not None:
            notice(message)
    warm_up(stages)
    return stages


def add_stored_knowledge(
    stages: dict, sink: RunSink, tenant: str, notice: Callable[[str], None] | None
) -> None:
    """Search the tenant's stored knowledge base too (``kb ingest``), beside the dataset's."""
    from assistant.rag.store import stored_chunks

    chunks = sink.read(lambda held: stored_chunks(held, tenant))
    if chunks is None:
        if notice is not None:
            notice(
                "the ledger is held by another process: this run searches only the dataset's "
                f"knowledge folder, not tenant {tenant}'s stored knowledge base"
            )
        return
    if chunks:
        stages["knowledge"].add_chunks(chunks)
        stages["knowledge"].warm_up()
        if notice is not None:
            documents = len({c.doc_id for c in chunks})
            notice(f"searching {documents} stored documents of tenant {tenant} too")


def _answer_cache(sink: RunSink, notice: Callable[[str], None] | None) -> AnswerCache:
    cache = sink.read(load_answer_cache)
    if cache is None:
        if notice is not None:
            notice("the ledger is held by another process: starting with an empty answer cache")
        return AnswerCache()
    return cache


def _run(
    dataset: Dataset,
    *,
    sink: RunSink,
    config: Config,
    run_id: str,
    stages: dict,
    source: RecordedSource | PacedSource,
    progress: Callable[[float], None] | None,
    both_tiers: bool,
    answer_cache: AnswerCache | None,
    resume_from: ResumeState | None = None,
) -> None:
    status, error = "failed", None
    reached_s = 0.0  # media time the run has got through
    done = 0  # source events whose rows are all in the sink
    skip = 0 if resume_from is None else resume_from.events_done
    committed = skip  # events_done of the last checkpoint written
    event_rows: list[object] = []  # the current event's rows: they reach the sink whole or not

    def checkpoint(events_done: int) -> Checkpoint:
        return Checkpoint(run_id, events_done, min(reached_s, dataset.duration_s))

    try:
        pipeline = Pipeline(
            run_id=run_id,
            tenant=dataset.tenant,
            room=dataset.room,
            config=config,
            emit=event_rows.append,
            names={p.identity: p.name for p in dataset.participants},
            both_tiers=both_tiers,
            answer_cache=answer_cache,
            **stages,
        )
        if resume_from is not None:
            pipeline.restore(resume_from.transcript, next_call_index=resume_from.next_call_index)
        with closing(source.events()) as events:  # closes the decoders on any exit
            for index, event in enumerate(events):
                reached_s = max(reached_s, available_at(event))
                if index < skip:
                    pipeline.catch_up(event)  # its rows are in the ledger already
                    done = index + 1
                else:
                    pipeline.handle(event)
                    done = index + 1
                    for row in event_rows:
                        sink.append(row)
                    event_rows.clear()
                    if isinstance(event, Question) or sink.pending_rows() >= FLUSH_ROWS:
                        sink.flush(checkpoint(done))  # a crash loses at most this stretch
                        committed = done
                if progress is not None:
                    progress(available_at(event))
        if done >= skip:  # the closing transcription, unless a resumed run did it already
            pipeline.finish()
            for row in event_rows:
                sink.append(row)
            event_rows.clear()
            sink.flush(checkpoint(done + 1))  # one past the last event: finish() is done too
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
            if done > committed:  # rows of whole events since the last checkpoint
                sink.flush(checkpoint(done))
        finally:
            sink.finish_run(
                run_id,
                status=status,
                error=error,
                media_processed_s=min(reached_s, dataset.duration_s),
            )
            for provider in providers_of(stages):
                provider.close()


def load_resume_state(ledger: Ledger, run_id: str) -> ResumeState:
    """Read what ``resume`` needs about ``run_id``; LedgerError when it cannot be resumed."""
    cur = ledger.cursor()
    found = cur.execute(
        "SELECT run_id, dataset_name, source_ref, config_json, status, events_done, "
        "media_processed_s FROM runs WHERE run_id = ?",
        [run_id],
    ).fetchall()
    if not found:
        raise LedgerError(f"run {run_id} does not exist in {ledger.label}; see `runs`")
    names = ("run_id", "dataset_name", "source_ref", "config_json", "status", "events_done",
             "media_processed_s")
    run = dict(zip(names, found[0], strict=True))
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
    return ResumeState(
        run=run,
        events_done=int(events_done),
        transcript=tuple(
            Utterance(participant=p, start_s=s, end_s=e, text=t, confidence=c)
            for p, s, e, t, c in utterances
        ),
        next_call_index=0 if last_call[0][0] is None else int(last_call[0][0]) + 1,
        both_tiers=bool(outcomes[0][0]),
    )


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
