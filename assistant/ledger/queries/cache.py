"""The call cache's rows (migration 12): loading a run's entries, the stats, clearing it.

A key may be stored twice (two runs that missed together); the oldest row of a key is the one
read. ``calls.cached`` says which calls of a run were answered from the cache, with the original
call's latency and its cost at that run's prices (``original_cost_usd``) kept apart.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from assistant.ledger.store import Ledger

CacheRow = tuple[str, str, str, int, int, int, float, float, float, str]


def call_cache_rows(ledger: Ledger, specs: list[str]) -> list[CacheRow]:
    """The stored results of the providers ``specs`` (``provider:model``), oldest first:
    ``(spec, key, value_json, input_tokens, output_tokens, image_count, audio_s, compute_s,
    latency_ms, model_resolved)``."""
    if not specs:
        return []
    rows = (
        ledger.cursor()
        .execute(
            "SELECT spec, key, value_json, input_tokens, output_tokens, image_count, audio_s, "
            "compute_s, latency_ms, model_resolved FROM call_cache "
            "WHERE list_contains($specs, spec) ORDER BY created_at, key",
            {"specs": specs},
        )
        .fetchall()
    )
    return [tuple(row) for row in rows]


@dataclass(frozen=True, slots=True)
class CacheStageStats:
    """The cache's entries of one stage and provider, and what the calls they answered saved."""

    stage: str
    spec: str
    entries: int  # distinct keys
    value_bytes: int  # their values' JSON, in bytes
    original_cost_usd: float  # what making them cost
    original_latency_ms: float  # ... and took
    hits: int  # calls answered from them (calls.cached)
    saved_usd: float  # those calls' cost at their run's prices: paid by nobody


@dataclass(frozen=True, slots=True)
class CacheStats:
    stages: tuple[CacheStageStats, ...]

    @property
    def entries(self) -> int:
        return sum(s.entries for s in self.stages)

    @property
    def hits(self) -> int:
        return sum(s.hits for s in self.stages)

    @property
    def saved_usd(self) -> float:
        return sum(s.saved_usd for s in self.stages)


_STATS_SQL = """
WITH entries AS (
    SELECT stage, spec, count(*) AS entries, sum(strlen(value_json)) AS value_bytes,
        sum(cost_usd) AS cost_usd, sum(latency_ms) AS latency_ms
    FROM (SELECT * FROM call_cache QUALIFY row_number() OVER (PARTITION BY key
        ORDER BY created_at) = 1)
    GROUP BY stage, spec
), hits AS (
    SELECT stage, provider || ':' || model_requested AS spec, count(*) AS hits,
        sum(coalesce(original_cost_usd, 0.0)) AS saved_usd
    FROM calls WHERE cached GROUP BY ALL
)
SELECT coalesce(e.stage, h.stage), coalesce(e.spec, h.spec), coalesce(e.entries, 0),
    coalesce(e.value_bytes, 0), coalesce(e.cost_usd, 0.0), coalesce(e.latency_ms, 0.0),
    coalesce(h.hits, 0), coalesce(h.saved_usd, 0.0)
FROM entries AS e FULL OUTER JOIN hits AS h ON h.stage = e.stage AND h.spec = e.spec
ORDER BY 1, 2
"""


def cache_stats(ledger: Ledger) -> CacheStats:
    """Entries per stage and provider, and the calls they answered (every run's)."""
    rows = ledger.cursor().execute(_STATS_SQL).fetchall()
    return CacheStats(
        tuple(
            CacheStageStats(
                stage=str(stage),
                spec=str(spec),
                entries=int(entries),
                value_bytes=int(value_bytes),
                original_cost_usd=float(cost),
                original_latency_ms=float(latency),
                hits=int(hits),
                saved_usd=float(saved),
            )
            for stage, spec, entries, value_bytes, cost, latency, hits, saved in rows
        )
    )


def clear_call_cache(ledger: Ledger) -> int:
    """Delete every stored result; how many rows went. Calls already recorded keep their
    ``cached`` flag and original figures: a run's history is not rewritten."""
    cur = ledger.cursor()
    cur.begin()
    try:
        count = int(cur.execute("SELECT count(*) FROM call_cache").fetchall()[0][0])
        cur.execute("DELETE FROM call_cache").fetchall()
        cur.commit()
    except BaseException:
        cur.rollback()
        raise
    return count
