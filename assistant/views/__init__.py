"""Views: everything the Streamlit pages call, one typed result shape (``View``) with a typed
error kind (``ErrorKind``); the pages import only this package.

A page imports what it shows from the views module it belongs to (``assistant.views.lab``,
``assistant.views.live``, ...). This file re-exports only the result shape and the few names
pages need from the layers below (configuration, errors, the default ledger, background jobs),
so that no page imports below the views.

May import: anything below it (core, ledger, analysis, livekit, jobs, sessions); never streamlit.
"""

from assistant.core.config import Config
from assistant.core.errors import WorkbenchError
from assistant.core.money import format_usd
from assistant.core.paths import default_ledger
from assistant.jobs.runner import job_status, list_jobs, replay_request, start_replays, stop_job
from assistant.views.result import ErrorKind, LedgerView, View, read_ledger, reading

__all__ = [
    "Config",
    "ErrorKind",
    "LedgerView",
    "View",
    "WorkbenchError",
    "default_ledger",
    "format_usd",
    "job_status",
    "list_jobs",
    "read_ledger",
    "reading",
    "replay_request",
    "start_replays",
    "stop_job",
]
