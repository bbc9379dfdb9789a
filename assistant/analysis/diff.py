"""Per-question diff of two runs: the same question's tier, models, cost, latency, answer and
quality side by side (B beside A), with the changes B − A to sort by.

Questions are matched by their id (a replay's question ids come from the dataset), else by their
text; requests asked in only one of the runs are listed apart. Quality is the effective one
(labels first, as everywhere); unknown stays unknown (NaN), never 0."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from assistant.core.errors import LedgerError

if TYPE_CHECKING:
    import pandas as pd

    from assistant.ledger.store import Ledger

SORTS: dict[str, tuple[str, bool]] = {
    "quality: largest drop first": ("quality_change", True),
    "quality: largest gain first": ("quality_change", False),
    "cost: largest increase first": ("cost_change_usd", False),
    "cost: largest saving first": ("cost_change_usd", True),
    "latency: largest increase first": ("latency_change_ms", False),
    "media time": ("media_t_s", True),
}
"""The page's sort choices: label -> (column, ascending)."""

_SIDE = ("tier", "models", "cost_usd", "latency_ms", "quality", "status", "answer")
COLUMNS: tuple[str, ...] = (
    "question_id", "asker", "question", "tier_a", "tier_b", "quality_a", "quality_b",
    "quality_change", "cost_usd_a", "cost_usd_b", "cost_change_usd", "latency_ms_a",
    "latency_ms_b", "latency_change_ms", "models_a", "models_b", "status_a", "status_b",
    "answer_a", "answer_b", "tier_changed", "media_t_s",
)  # fmt: skip
"""The diff table's columns, in the order the page shows them."""


@dataclass(frozen=True, slots=True)
class RunDiff:
    run_a: str
    run_b: str
    table: pd.DataFrame  # one row per question in both runs
    only_a: tuple[str, ...]  # questions asked only in A
    only_b: tuple[str, ...]
    tier_changes: int

    def summary(self) -> str:
        n = len(self.table)
        parts = [f"{n} questions in both runs, {self.tier_changes} routed to another tier"]
        if self.only_a or self.only_b:
            parts.append(
                f"{len(self.only_a)} only in {self.run_a}, {len(self.only_b)} only in {self.run_b}"
            )
        return "; ".join(parts) + "."


def _keyed(requests: pd.DataFrame) -> pd.DataFrame:
    import pandas as pd

    frame = requests.copy()
    ids = frame["question_id"].astype("string")
    frame["key"] = ids.where(ids.notna() & (ids != ""), frame["question"].astype("string"))
    frame = frame.drop_duplicates("key", keep="first")
    vision = frame["vision_model_resolved"].fillna(frame["vision_model_requested"])
    llm = frame["llm_model_resolved"].fillna(frame["llm_model_requested"])
    frame["models"] = [
        str(v_l) if pd.isna(v) else f"{v} + {v_l}" for v, v_l in zip(vision, llm, strict=True)
    ]
    frame["cost_usd"] = frame["total_cost_usd"].astype("float64")
    frame["latency_ms"] = frame["total_latency_ms"].astype("float64")
    frame["quality"] = pd.to_numeric(frame["quality"], errors="coerce").astype("float64")
    return frame


def diff_requests(run_a: str, a: pd.DataFrame, run_b: str, b: pd.DataFrame) -> RunDiff:
    """The diff of two runs' request frames (``ledger.queries.run_requests``' columns)."""
    left, right = _keyed(a), _keyed(b)
    keep = ["key", "question_id", "question", "asker", "media_t_s", *_SIDE]
    merged = left[keep].merge(
        right[["key", *_SIDE]], on="key", how="inner", suffixes=("_a", "_b"), sort=False
    )
    merged["cost_change_usd"] = merged["cost_usd_b"] - merged["cost_usd_a"]
    merged["latency_change_ms"] = merged["latency_ms_b"] - merged["latency_ms_a"]
    merged["quality_change"] = merged["quality_b"] - merged["quality_a"]
    merged["tier_changed"] = merged["tier_a"] != merged["tier_b"]
    merged = merged[list(COLUMNS)].sort_values("media_t_s", kind="stable", ignore_index=True)
    only_a = tuple(sorted(set(left["key"]) - set(right["key"])))
    only_b = tuple(sorted(set(right["key"]) - set(left["key"])))
    return RunDiff(
        run_a=run_a,
        run_b=run_b,
        table=merged,
        only_a=only_a,
        only_b=only_b,
        tier_changes=int(merged["tier_changed"].sum()),
    )


def sort_diff(table: pd.DataFrame, sort: str) -> pd.DataFrame:
    """``table`` in one of :data:`SORTS`' orders (unknown changes last, then media time)."""
    if sort not in SORTS:
        raise ValueError(f"unknown sort {sort!r}; one of: {', '.join(SORTS)}")
    column, ascending = SORTS[sort]
    return table.sort_values(
        [column, "media_t_s"], ascending=[ascending, True], na_position="last", kind="stable"
    ).reset_index(drop=True)


def diff_runs(ledger: Ledger, run_a: str, run_b: str) -> RunDiff:
    """Per-question diff of two runs of the ledger (B − A)."""
    from assistant.ledger.queries import run_requests

    if run_a == run_b:
        raise LedgerError("pick two different runs to compare")
    frames = []
    for run_id in (run_a, run_b):
        frame = run_requests(ledger, run_id)
        if frame.empty:
            raise LedgerError(f"run {run_id} has no requests to compare")
        frames.append(frame)
    return diff_requests(run_a, frames[0], run_b, frames[1])
