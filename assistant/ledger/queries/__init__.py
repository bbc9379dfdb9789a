"""Ledger queries: every SELECT, INSERT and DELETE outside the writer, one module per subject.

``runs`` (the run list, a run's summary and rows), ``costs`` (cost dashboard, calls export),
``sweep`` (tier outcomes of --both-tiers runs), ``judge`` (answers to grade, judgements), ``kb``
(each tenant's documents and chunks), ``live`` (a live run's latest rows and totals). Values are
always bound; the few identifiers formatted into SQL are literals of this package.

May import: assistant.core and assistant.ledger's records and store (types only); nothing above.
"""

from assistant.ledger.queries.costs import (
    COST_STAGES,
    UNTIED,
    CostDashboard,
    cost_by_participant,
    cost_dashboard,
    tenant_calls,
)
from assistant.ledger.queries.runs import (
    RUN_LIST_COLUMNS,
    RunSummary,
    explored_counts,
    list_runs,
    run_calls,
    run_exists,
    run_frames,
    run_media_processed_s,
    run_requests,
    run_shared_cost_usd,
    run_source,
    run_summary,
    run_utterances,
)
from assistant.ledger.queries.sweep import (
    run_media_duration_s,
    run_routing_split,
    run_tier_outcomes,
    runs_with_tier_outcomes,
    tier_outcomes_wide,
)

__all__ = [
    "COST_STAGES",
    "RUN_LIST_COLUMNS",
    "UNTIED",
    "CostDashboard",
    "RunSummary",
    "cost_by_participant",
    "cost_dashboard",
    "explored_counts",
    "list_runs",
    "run_calls",
    "run_exists",
    "run_frames",
    "run_media_duration_s",
    "run_media_processed_s",
    "run_requests",
    "run_routing_split",
    "run_shared_cost_usd",
    "run_source",
    "run_summary",
    "run_tier_outcomes",
    "run_utterances",
    "runs_with_tier_outcomes",
    "tenant_calls",
    "tier_outcomes_wide",
]
