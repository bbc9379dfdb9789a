"""Views: everything the Streamlit pages call, one typed result shape (``View``) with a typed
error kind (``ErrorKind``); the pages import only this package.

May import: anything below it (core, ledger, analysis, livekit, jobs, sessions); never streamlit.
"""

from assistant.core.config import Config
from assistant.core.errors import WorkbenchError
from assistant.core.paths import default_ledger
from assistant.jobs.runner import job_status, list_jobs, replay_request, start_replays, stop_job
from assistant.views.grid import read_compare_pairs, read_grid
from assistant.views.lab import (
    AB_HINT,
    diff_sorts,
    ipw_sentence,
    read_ab_runs,
    read_benchmark,
    read_compare_runs,
    read_compare_thresholds,
    read_cross_suite,
    read_ipw_curve,
    read_run_diff,
    sort_run_diff,
)
from assistant.views.labels import (
    LABELS_HINT,
    Label,
    default_author,
    export_labels,
    parse_key_facts,
    read_label_run,
    save_labels,
    write_dataset,
)
from assistant.views.live import (
    SAMPLER_POLICIES,
    STT_CHOICES,
    STT_LABELS,
    WAITING,
    calm,
    frames_between,
    is_locked,
    list_datasets,
    read_live,
    read_run_detail,
    thumbnails,
    timeline,
    usd,
)
from assistant.views.live_traffic import (
    live_estimate_sentence,
    read_fleet_check,
    read_live_estimate,
)
from assistant.views.projection import (
    PROJECT_HINT,
    read_projected_costs,
    read_sweep_scenarios,
)
from assistant.views.result import ErrorKind, LedgerView, View, read_ledger, reading
from assistant.views.rooms import (
    TENANT_RULE,
    Outcome,
    agent_command,
    create_room,
    delete_room,
    list_participants,
    list_rooms,
    livekit_settings,
    mint,
    parse_metadata,
)
from assistant.views.telemetry import (
    read_participant_spend,
    receiver_status,
    start_receiver,
    stop_receiver,
)
from assistant.views.workbench import (
    ALL_TENANTS,
    COST_STAGES,
    EMPTY_HINT,
    SWEEP_HINT,
    export_calls,
    provider_keys,
    read_calls,
    read_costs,
    read_run,
    read_runs,
    read_sweep,
    read_sweep_runs,
    read_tenants,
)

__all__ = [
    "AB_HINT",
    "ALL_TENANTS",
    "COST_STAGES",
    "EMPTY_HINT",
    "LABELS_HINT",
    "PROJECT_HINT",
    "SAMPLER_POLICIES",
    "STT_CHOICES",
    "STT_LABELS",
    "SWEEP_HINT",
    "TENANT_RULE",
    "WAITING",
    "Config",
    "ErrorKind",
    "Label",
    "LedgerView",
    "Outcome",
    "View",
    "WorkbenchError",
    "agent_command",
    "calm",
    "create_room",
    "default_author",
    "default_ledger",
    "delete_room",
    "export_calls",
    "export_labels",
    "frames_between",
    "ipw_sentence",
    "is_locked",
    "job_status",
    "list_datasets",
    "list_jobs",
    "list_participants",
    "list_rooms",
    "livekit_settings",
    "mint",
    "parse_key_facts",
    "parse_metadata",
    "provider_keys",
    "read_ab_runs",
    "read_benchmark",
    "read_calls",
    "read_compare_pairs",
    "read_compare_runs",
    "read_compare_thresholds",
    "read_costs",
    "read_cross_suite",
    "read_grid",
    "read_ipw_curve",
    "read_label_run",
    "read_ledger",
    "read_live",
    "read_projected_costs",
    "read_run",
    "read_run_detail",
    "read_runs",
    "read_sweep",
    "read_sweep_runs",
    "read_sweep_scenarios",
    "read_tenants",
    "reading",
    "replay_request",
    "save_labels",
    "start_replays",
    "stop_job",
    "thumbnails",
    "timeline",
    "usd",
    "write_dataset",
]

__all__ += [
    "diff_sorts",
    "read_participant_spend",
    "read_run_diff",
    "receiver_status",
    "sort_run_diff",
    "start_receiver",
    "stop_receiver",
]

__all__ += ["live_estimate_sentence", "read_fleet_check", "read_live_estimate"]
