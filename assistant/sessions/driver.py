"""One run's lifecycle in the ledger, for replays and live rooms alike: its stages prepared, the
run row started (or resumed), checkpoints, and the run closed with its status."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from assistant.core.config import Config
from assistant.core.errors import LedgerLockedError
from assistant.core.events import Utterance
from assistant.ledger.queries.cache import call_cache_rows
from assistant.ledger.queries.resume import ResumeState, answer_cache_rows, load_resume_state
from assistant.ledger.records import RunRecord
from assistant.ledger.sink import RunSink
from assistant.ledger.store import Checkpoint
from assistant.pipeline.answers import AnswerCache
from assistant.pipeline.stages import Document, Stages, build_stages
from assistant.providers.cache import CallCache
from assistant.sessions.runlock import RunLock, claim

FLUSH_ROWS = 500
"""Rows a run buffers before it writes a checkpoint even without a question."""

Notice = Callable[[str], None] | None


def prepare_stages(
    config: Config,
    *,
    tenant: str,
    documents: Iterable[Document] = (),
    transcript: tuple[Utterance, ...] | None = None,
    notice: Notice = None,
    warm_up: bool = True,
) -> Stages:
    """Every pipeline stage, its notices (e.g. a missing key) said, models loaded (unless
    ``warm_up`` is False: the caller calls ``stages.warm_up()`` once the stages are complete)."""
    notices: list[str] = []
    stages = build_stages(
        config, tenant=tenant, documents=documents, transcript=transcript, notices=notices
    )
    for message in notices:
        if notice is not None:
            notice(message)
    if warm_up:
        stages.warm_up()
    return stages


def add_stored_knowledge(stages: Stages, sink: RunSink, tenant: str, notice: Notice) -> None:
    """Search the tenant's stored knowledge base too (``kb ingest``), beside the given documents."""
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
        stages.knowledge.add_chunks(chunks)
        stages.knowledge.warm_up()
        if notice is not None:
            documents = len({c.doc_id for c in chunks})
            notice(f"searching {documents} stored documents of tenant {tenant} too")


def load_answer_cache(
    sink: RunSink, notice: Notice, *, stored_lookups: bool = True
) -> AnswerCache:
    """Every answer the ledger has cached (``--both-tiers`` replays write them); with
    ``stored_lookups=False`` only their keys count (see ``AnswerCache``)."""
    rows = sink.read(answer_cache_rows)
    cache = AnswerCache(stored_lookups=stored_lookups)
    if rows is None:
        if notice is not None:
            notice("the ledger is held by another process: starting with an empty answer cache")
        return cache
    cache.load(rows)
    return cache


def attach_call_cache(
    stages: Stages, sink: RunSink, setting: bool | None, notice: Notice
) -> CallCache | None:
    """Look the stages' calls up in the ledger's call cache before making them, as ``[calls]
    cache`` (``setting``) says: local providers unless it is false, cloud ones only when it is
    true. The cache holds the stored results of those providers; a result made by this run is
    added to it at once and stored with the run's rows. None when no provider is cached."""
    say = notice if notice is not None else (lambda message: None)
    chosen = stages.cached_providers(setting)
    uncached_cloud = sorted({p.spec for p in stages.providers if not p.local and p.cacheable})
    if setting is None and uncached_cloud:
        say(
            f"cloud calls ({', '.join(uncached_cloud)}) are made every time: set [calls] "
            "cache = true to keep their results"
        )
    if not chosen:
        if setting is False:
            say("call cache off: every call is made")
        stages.use_cache(None, setting)
        return None
    specs = sorted({p.spec for p in chosen})
    rows = sink.read(lambda held: call_cache_rows(held, specs))
    cache = CallCache()
    if rows is None:
        say("the ledger is held by another process: starting with an empty call cache")
    else:
        cache.load(rows)
    stages.use_cache(cache, setting)
    cloud = sorted({p.spec for p in chosen if not p.local})
    if cloud:
        say(f"cloud calls of {', '.join(cloud)} are cached ([calls] cache = true)")
    if len(cache):
        say(f"call cache: {len(cache)} stored results for {', '.join(specs)}")
    return cache


def read_resume_state(sink: RunSink, run_id: str) -> ResumeState:
    """What ``run_id`` left in the ledger (``LedgerError`` when it cannot be resumed)."""
    state = sink.read(lambda held: load_resume_state(held, run_id))
    if state is None:
        raise LedgerLockedError(
            f"resuming needs the ledger file {sink.label}, and another process holds it (the "
            "workbench?): stop that process, then run the same command again"
        )
    return state


@dataclass(slots=True)
class RunDriver:
    """One run: ``start`` (or ``resume``), rows through ``append``, ``checkpoint``s, ``finish``.

    The pipeline's stages are the run's: ``finish`` closes their providers, whatever happens."""

    sink: RunSink
    run_id: str
    stages: Stages
    lock: RunLock | None = None  # this process writes the run (sessions.runlock)

    def claim(self) -> None:
        """Hold the run's lock (LedgerError while another live process writes it)."""
        if self.lock is None:
            self.lock = claim(self.sink, self.run_id)

    def start(self, run: RunRecord) -> None:
        """Write the run row (status running)."""
        self.claim()
        try:
            self.sink.start_run(run)
        except BaseException:
            self._release()
            raise

    def resume(self) -> None:
        """Mark the stopped run running again."""
        self.claim()
        self.sink.resume_run(self.run_id)

    def _release(self) -> None:
        if self.lock is not None:
            self.lock.release()
            self.lock = None

    def append(self, row: object) -> None:
        self.sink.append(row)

    def pending_rows(self) -> int:
        return self.sink.pending_rows()

    def checkpoint(self, events_done: int, media_s: float) -> None:
        """Write the rows so far with how many source events are complete (one transaction)."""
        self.sink.flush(Checkpoint(self.run_id, events_done, media_s))

    def finish(self, *, status: str, error: str | None, media_processed_s: float) -> None:
        """Close the run with ``status`` (finished, failed, interrupted); providers closed."""
        try:
            self.sink.finish_run(
                self.run_id, status=status, error=error, media_processed_s=media_processed_s
            )
        finally:
            self._release()
            self.stages.close()
