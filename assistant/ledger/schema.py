"""Ledger schema: named, versioned migrations, applied once and in order.

Each migration runs in its own transaction and is recorded in ``schema_migrations``. The tables
mirror ``assistant/records.py`` (field names are column names); a test checks that they agree.
No foreign keys and no secondary indexes: both slow the batched appends the ledger lives on.
"""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass

import duckdb

from assistant.core.errors import LedgerError
from assistant.ledger.lake import LAKE_ALIAS, is_conflict, retrying

REPLAY_HINT = "run a replay first: python -m assistant replay datasets/demo"


@dataclass(frozen=True, slots=True)
class Migration:
    """One schema step: a version, a name, and the statements that make it."""

    version: int
    name: str
    statements: tuple[str, ...]


_RUNS = """
CREATE TABLE runs (
    run_id VARCHAR PRIMARY KEY,
    source_kind VARCHAR NOT NULL,
    source_ref VARCHAR NOT NULL,
    dataset_name VARCHAR,
    tenant VARCHAR NOT NULL,
    room VARCHAR NOT NULL,
    config_json VARCHAR NOT NULL,
    config_hash VARCHAR NOT NULL,
    media_duration_s DOUBLE,
    started_at TIMESTAMPTZ NOT NULL,
    ended_at TIMESTAMPTZ,
    status VARCHAR NOT NULL,
    error VARCHAR
)"""

_REQUESTS = """
CREATE TABLE requests (
    request_id VARCHAR PRIMARY KEY,
    run_id VARCHAR NOT NULL,
    tenant VARCHAR NOT NULL,
    room VARCHAR NOT NULL,
    question_id VARCHAR,
    media_t_s DOUBLE NOT NULL,
    asker VARCHAR,
    question VARCHAR NOT NULL,
    needs_screen BOOLEAN NOT NULL,
    scorer VARCHAR NOT NULL,
    score DOUBLE NOT NULL,
    score_features_json VARCHAR NOT NULL,
    router VARCHAR NOT NULL,
    threshold DOUBLE,
    tier VARCHAR NOT NULL,
    explored BOOLEAN NOT NULL,
    propensity DOUBLE NOT NULL,
    vision_model_requested VARCHAR,
    vision_model_resolved VARCHAR,
    llm_model_requested VARCHAR NOT NULL,
    llm_model_resolved VARCHAR,
    input_tokens BIGINT NOT NULL,
    output_tokens BIGINT NOT NULL,
    routing_latency_ms DOUBLE NOT NULL,
    vision_latency_ms DOUBLE NOT NULL,
    retrieval_latency_ms DOUBLE NOT NULL,
    llm_latency_ms DOUBLE NOT NULL,
    total_latency_ms DOUBLE NOT NULL,
    vision_cost_usd DOUBLE NOT NULL,
    retrieval_cost_usd DOUBLE NOT NULL,
    llm_cost_usd DOUBLE NOT NULL,
    total_cost_usd DOUBLE NOT NULL,
    status VARCHAR NOT NULL,
    error VARCHAR,
    fallback_model VARCHAR,
    answer VARCHAR,
    citations_json VARCHAR NOT NULL,
    retrieval_json VARCHAR NOT NULL,
    reference_answer VARCHAR,
    quality_f1 DOUBLE,
    quality_key_facts DOUBLE,
    quality DOUBLE,
    created_at TIMESTAMPTZ NOT NULL
)"""

_CALLS = """
CREATE TABLE calls (
    call_id VARCHAR PRIMARY KEY,
    run_id VARCHAR NOT NULL,
    request_id VARCHAR,
    tenant VARCHAR NOT NULL,
    stage VARCHAR NOT NULL,
    provider VARCHAR NOT NULL,
    model_requested VARCHAR NOT NULL,
    model_resolved VARCHAR,
    media_t_s DOUBLE NOT NULL,
    latency_ms DOUBLE NOT NULL,
    ttft_ms DOUBLE,
    input_tokens BIGINT NOT NULL,
    output_tokens BIGINT NOT NULL,
    image_count BIGINT NOT NULL,
    audio_s DOUBLE NOT NULL,
    compute_s DOUBLE NOT NULL,
    cost_usd DOUBLE NOT NULL,
    attempts BIGINT NOT NULL,
    status VARCHAR NOT NULL,
    error VARCHAR,
    created_at TIMESTAMPTZ NOT NULL
)"""

_FRAMES = """
CREATE TABLE frames (
    run_id VARCHAR NOT NULL,
    track VARCHAR NOT NULL,
    media_t_s DOUBLE NOT NULL,
    reason VARCHAR NOT NULL,
    change_score DOUBLE NOT NULL,
    width BIGINT NOT NULL,
    height BIGINT NOT NULL,
    frame_hash VARCHAR NOT NULL
)"""

_UTTERANCES = """
CREATE TABLE utterances (
    run_id VARCHAR NOT NULL,
    participant VARCHAR NOT NULL,
    start_s DOUBLE NOT NULL,
    end_s DOUBLE NOT NULL,
    text VARCHAR NOT NULL,
    provider VARCHAR NOT NULL,
    model VARCHAR NOT NULL,
    confidence DOUBLE
)"""

_TIER_OUTCOMES = """
CREATE TABLE tier_outcomes (
    run_id VARCHAR NOT NULL,
    request_id VARCHAR NOT NULL,
    tier VARCHAR NOT NULL,
    vision_model VARCHAR,
    llm_model VARCHAR NOT NULL,
    latency_ms DOUBLE NOT NULL,
    cost_usd DOUBLE NOT NULL,
    answer VARCHAR,
    quality DOUBLE,
    quality_f1 DOUBLE,
    quality_key_facts DOUBLE,
    status VARCHAR NOT NULL,
    cached BOOLEAN NOT NULL
)"""

_ANSWER_CACHE = """
CREATE TABLE answer_cache (
    key VARCHAR PRIMARY KEY,
    spec VARCHAR NOT NULL,
    answer_json VARCHAR NOT NULL,
    input_tokens BIGINT NOT NULL,
    output_tokens BIGINT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL
)"""

_SPOOL_SEGMENTS = """
CREATE TABLE spool_segments (
    segment VARCHAR PRIMARY KEY,
    run_id VARCHAR,
    rows BIGINT NOT NULL,
    ingested_at TIMESTAMPTZ NOT NULL
)"""

_KB_DOCUMENTS = """
CREATE TABLE kb_documents (
    tenant VARCHAR NOT NULL,
    doc_id VARCHAR NOT NULL,
    source VARCHAR NOT NULL,
    kind VARCHAR NOT NULL,
    sha256 VARCHAR NOT NULL,
    chars BIGINT NOT NULL,
    chunks BIGINT NOT NULL,
    ingested_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (tenant, doc_id)
)"""

_KB_CHUNKS = """
CREATE TABLE kb_chunks (
    tenant VARCHAR NOT NULL,
    chunk_id VARCHAR NOT NULL,
    doc_id VARCHAR NOT NULL,
    heading VARCHAR NOT NULL,
    text VARCHAR NOT NULL,
    PRIMARY KEY (tenant, chunk_id)
)"""

_JUDGEMENTS = """
CREATE TABLE judgements (
    run_id VARCHAR NOT NULL,
    request_id VARCHAR NOT NULL,
    tier VARCHAR NOT NULL,
    judge_model VARCHAR NOT NULL,
    judge_model_resolved VARCHAR,
    score DOUBLE,
    reason VARCHAR,
    input_tokens BIGINT NOT NULL,
    output_tokens BIGINT NOT NULL,
    latency_ms DOUBLE NOT NULL,
    cost_usd DOUBLE NOT NULL,
    attempts BIGINT NOT NULL,
    status VARCHAR NOT NULL,
    error VARCHAR,
    created_at TIMESTAMPTZ NOT NULL
)"""

# A person's labels on a run's questions and answers; append-only (an edit is a new row), the
# latest row per (request, kind, tier) wins when read (assistant/ledger/queries/labels.py)
_LABELS = """
CREATE TABLE labels (
    label_id VARCHAR PRIMARY KEY,
    run_id VARCHAR NOT NULL,
    request_id VARCHAR NOT NULL,
    question_id VARCHAR,
    tier VARCHAR,
    kind VARCHAR NOT NULL,
    question VARCHAR,
    reference VARCHAR,
    key_facts_json VARCHAR,
    score DOUBLE,
    preferred_tier VARCHAR,
    author VARCHAR NOT NULL,
    created_at TIMESTAMPTZ NOT NULL
)"""

# What each tier's cloud adapters would have been sent, and the cost that traffic projects to
# under named price scenarios; apart from every measured cost (calls, requests, tier_outcomes)
_REQUEST_INPUTS = """
CREATE TABLE request_inputs (
    run_id VARCHAR NOT NULL,
    request_id VARCHAR NOT NULL,
    tier VARCHAR NOT NULL,
    routed BOOLEAN NOT NULL,
    system_prompt VARCHAR,
    user_message VARCHAR,
    answer VARCHAR,
    vision_prompt VARCHAR,
    frame_width BIGINT,
    frame_height BIGINT,
    screen_text VARCHAR,
    vision_tier VARCHAR
)"""

_PROJECTIONS = """
CREATE TABLE projections (
    run_id VARCHAR NOT NULL,
    request_id VARCHAR,
    scenario VARCHAR NOT NULL,
    stage VARCHAR NOT NULL,
    tier VARCHAR,
    routed BOOLEAN NOT NULL,
    media_t_s DOUBLE NOT NULL,
    model VARCHAR NOT NULL,
    token_method VARCHAR NOT NULL,
    output_method VARCHAR NOT NULL,
    input_tokens BIGINT NOT NULL,
    image_tokens BIGINT NOT NULL,
    output_tokens BIGINT NOT NULL,
    audio_s DOUBLE NOT NULL,
    cost_usd DOUBLE NOT NULL,
    created_at TIMESTAMPTZ NOT NULL
)"""

# Provider results by content key (assistant/providers/cache.py): no key constraint, as two runs
# that miss together both store the key; readers take the oldest row of a key
_CALL_CACHE = """
CREATE TABLE call_cache (
    key VARCHAR NOT NULL,
    spec VARCHAR NOT NULL,
    stage VARCHAR NOT NULL,
    model_resolved VARCHAR NOT NULL,
    value_json VARCHAR NOT NULL,
    input_tokens BIGINT NOT NULL,
    output_tokens BIGINT NOT NULL,
    image_count BIGINT NOT NULL,
    audio_s DOUBLE NOT NULL,
    compute_s DOUBLE NOT NULL,
    latency_ms DOUBLE NOT NULL,
    cost_usd DOUBLE NOT NULL,
    run_id VARCHAR,
    call_id VARCHAR,
    created_at TIMESTAMPTZ NOT NULL
)"""

MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "create_ledger_tables", (_RUNS, _REQUESTS, _CALLS, _FRAMES, _UTTERANCES)),
    # word timings from providers that give them: [{"w": "hello", "s": 1.2, "e": 1.5, "c": 0.98}]
    Migration(2, "utterance_words", ("ALTER TABLE utterances ADD COLUMN words_json VARCHAR",)),
    # --both-tiers replays: each tier's outcome per request, and the answers cached by content hash
    Migration(3, "tier_outcomes", (_TIER_OUTCOMES, _ANSWER_CACHE)),
    # media seconds a run actually got through: cost per media hour of an interrupted run
    Migration(4, "run_media_processed", ("ALTER TABLE runs ADD COLUMN media_processed_s DOUBLE",)),
    # crash safety and many writers: a run's checkpoint (source events whose rows are all
    # committed, for `replay --resume`) and the spooled segments already ingested (idempotence)
    Migration(
        5,
        "checkpoints_and_spool",
        ("ALTER TABLE runs ADD COLUMN events_done BIGINT", _SPOOL_SEGMENTS),
    ),
    # each tenant's knowledge base, ingested once and searched by every later run of the tenant
    Migration(6, "knowledge_base", (_KB_DOCUMENTS, _KB_CHUNKS)),
    # an LLM judge's grades, with the judge's own cost (never part of a run's cost)
    Migration(7, "judgements", (_JUDGEMENTS,)),
    # people's labels: references, key facts, grades, preferences, edits of proposed questions
    Migration(8, "labels", (_LABELS,)),
    # two routing decisions per request (vision and answer, each with its score, threshold,
    # tier, propensity and reason, "budget" among them), and which combination of tiers each
    # --both-tiers outcome is (four per request that needs the screen)
    Migration(
        9,
        "vision_decision",
        (
            "ALTER TABLE requests ADD COLUMN vision_scorer VARCHAR",
            "ALTER TABLE requests ADD COLUMN vision_score DOUBLE",
            "ALTER TABLE requests ADD COLUMN vision_threshold DOUBLE",
            "ALTER TABLE requests ADD COLUMN vision_tier VARCHAR",
            "ALTER TABLE requests ADD COLUMN vision_explored BOOLEAN",
            "ALTER TABLE requests ADD COLUMN vision_propensity DOUBLE",
            "ALTER TABLE requests ADD COLUMN route_reason VARCHAR",
            "ALTER TABLE requests ADD COLUMN vision_route_reason VARCHAR",
            "ALTER TABLE tier_outcomes ADD COLUMN vision_tier VARCHAR",
            "ALTER TABLE tier_outcomes ADD COLUMN llm_tier VARCHAR",
        ),
    ),
    # the inputs each cloud adapter would have been sent, and their projected cost per scenario
    Migration(10, "projections", (_REQUEST_INPUTS, _PROJECTIONS)),
    # a fleet writing one lake: which worker (host:pid) runs each run, and when it last
    # checkpointed (the Fleet page shows a running run whose worker went quiet as lost)
    Migration(
        11,
        "fleet_heartbeat",
        (
            "ALTER TABLE runs ADD COLUMN worker VARCHAR",
            "ALTER TABLE runs ADD COLUMN heartbeat_at TIMESTAMPTZ",
        ),
    ),
    # no call made twice: provider results by content key, and which calls of a run were
    # answered from it (paying nothing), with the original's latency and cost kept apart
    Migration(
        12,
        "call_cache",
        (
            _CALL_CACHE,
            "ALTER TABLE calls ADD COLUMN cached BOOLEAN",
            "ALTER TABLE calls ADD COLUMN original_latency_ms DOUBLE",
            "ALTER TABLE calls ADD COLUMN original_cost_usd DOUBLE",
        ),
    ),
    # the frame reading's structure with its positions (title, blocks, tables, each with a box
    # as fractions of the frame), beside its text: OCR's readings; NULL for a cloud model's.
    # 14, not 13: versions need not be consecutive (``migrate`` applies every one it has not
    # recorded, in list order; ``check_schema`` compares the highest), and 13 is left to a
    # migration made in parallel.
    Migration(
        14,
        "screen_layout",
        ("ALTER TABLE request_inputs ADD COLUMN screen_layout_json VARCHAR",),
    ),
)
"""Every migration, oldest first. Append only: never edit one that has shipped."""

SCHEMA_VERSION: int = MIGRATIONS[-1].version
"""The schema version this code writes and reads."""

_MIGRATIONS_TABLE = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version INTEGER PRIMARY KEY,
    name VARCHAR NOT NULL,
    applied_at TIMESTAMPTZ NOT NULL
)"""


def _has_migrations_table(con: duckdb.DuckDBPyConnection) -> bool:
    rows = con.execute(
        "SELECT count(*) FROM information_schema.tables "
        "WHERE table_catalog = current_database() AND table_schema = 'main' "
        "AND table_name = 'schema_migrations'"
    ).fetchall()
    return bool(rows[0][0])


def applied_versions(con: duckdb.DuckDBPyConnection) -> list[int]:
    """Versions recorded in ``schema_migrations``, ascending; [] for a blank database."""
    if not _has_migrations_table(con):
        return []
    rows = con.execute("SELECT version FROM schema_migrations ORDER BY version").fetchall()
    return [int(row[0]) for row in rows]


def _newer_error(where: str, version: int, latest: int) -> LedgerError:
    return LedgerError(
        f"{where} has schema version {version}, newer than this workbench knows ({latest}); "
        "upgrade the workbench to open it"
    )


def check_schema(con: duckdb.DuckDBPyConnection, *, where: str = "the ledger") -> None:
    """Raise LedgerError unless the database is migrated exactly to this code's version."""
    versions = applied_versions(con)
    latest = MIGRATIONS[-1].version
    if not versions:
        raise LedgerError(f"{where} holds no workbench ledger yet; {REPLAY_HINT}")
    if versions[-1] > latest:
        raise _newer_error(where, versions[-1], latest)
    if versions[-1] < latest:
        raise LedgerError(
            f"{where} has schema version {versions[-1]}, older than this workbench's ({latest}); "
            f"open it writable once to migrate it ({REPLAY_HINT})"
        )


_TABLE_KEY = re.compile(r",\s*PRIMARY KEY \([^)]*\)")
_COLUMN_KEY = re.compile(r" PRIMARY KEY\b")


def lake_statement(statement: str) -> str:
    """A migration statement as DuckLake takes it: no primary keys (a lake has no constraints
    but NOT NULL; the ledger's rows are unique by design, see ``assistant.ledger.lake``)."""
    return _COLUMN_KEY.sub("", _TABLE_KEY.sub("", statement))


def on_lake(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether ``con`` works in the ledger's lake (attached by ``assistant.ledger.lake``)."""
    return bool(con.execute("SELECT current_database()").fetchall()[0][0] == LAKE_ALIAS)


def migrate(
    con: duckdb.DuckDBPyConnection,
    *,
    where: str = "the ledger",
    migrations: tuple[Migration, ...] | None = None,
) -> list[str]:
    """Apply pending migrations, each in its own transaction; return the names applied.

    On a lake, processes starting together race: a migration whose commit conflicts with
    another's is rolled back, the applied versions are read again, and it is skipped if the
    other process applied it, so each migration is applied once.
    """
    migrations = MIGRATIONS if migrations is None else migrations
    lake = on_lake(con)
    latest = migrations[-1].version
    if lake:
        retrying(
            lambda: con.execute(lake_statement(_MIGRATIONS_TABLE)).fetchall(),
            what=f"create the migrations table of {where}",
        )
    else:
        con.execute(_MIGRATIONS_TABLE).fetchall()
    done = set(applied_versions(con))
    if done and max(done) > latest:
        raise _newer_error(where, max(done), latest)
    applied: list[str] = []
    for migration in migrations:
        for attempt in range(100):
            if migration.version in done:
                break
            try:
                _apply(con, migration, lake=lake)
            except duckdb.Error as e:
                raced = is_conflict(e) or "already exists" in str(e)
                if lake and raced and attempt < 99:
                    done = set(applied_versions(con))  # another process may have applied it
                    continue
                raise LedgerError(
                    f"migration {migration.version} ({migration.name}) failed on {where}: {e}"
                ) from e
            applied.append(migration.name)
            done.add(migration.version)
    return applied


def _apply(con: duckdb.DuckDBPyConnection, migration: Migration, *, lake: bool) -> None:
    con.begin()
    try:
        for statement in migration.statements:
            con.execute(lake_statement(statement) if lake else statement).fetchall()
        con.execute(
            "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, now())",
            [migration.version, migration.name],
        ).fetchall()
        con.commit()
    except BaseException:
        with contextlib.suppress(duckdb.Error):  # a failed commit has ended it already
            con.rollback()
        raise
