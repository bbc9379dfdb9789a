"""``export-otel --follow``: a live run's requests exported as they land in the ledger.

It reads the run every ``poll_s`` seconds (opening the file only for the read; while another
process holds it, it waits for the next poll), exports each request once its row is there (with
the calls stored beside it) and every call not tied to a question, and stops when the run is no
longer ``running``, after one last pass."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from assistant.telemetry.export import ExportReport, RunExporter, make_exporter


def follow_run(
    ledger_path: str | os.PathLike[str],
    run_id: str,
    *,
    endpoint: str | None = None,
    file: str | Path | None = None,
    token: str | None = None,
    headers: Mapping[str, str] | None = None,
    poll_s: float = 2.0,
    notice: Callable[[str], None] | None = None,
    max_polls: int | None = None,
) -> ExportReport:
    from assistant.ledger.queries.telemetry import run_rows
    from assistant.ledger.sink import PathSink

    exporter, target = make_exporter(endpoint=endpoint, file=file, token=token, headers=headers)
    sink = PathSink(ledger_path)
    out: RunExporter | None = None
    sent_requests: set[str] = set()
    sent_calls: set[str] = set()
    said_held = False
    polls = 0
    try:
        while True:
            polls += 1
            rows = sink.read(lambda ledger: run_rows(ledger, run_id))
            if rows is None:
                if not said_held and notice is not None:
                    notice(f"{ledger_path} is held by another process; reading it when it is free")
                said_held = True
            else:
                run, requests, calls = rows
                if out is None:
                    out = RunExporter(run, exporter)
                _export_new(out, requests, calls, sent_requests, sent_calls)
                out.flush()
                if run["status"] != "running":
                    break
            if max_polls is not None and polls >= max_polls:
                break
            time.sleep(poll_s)
    finally:
        if out is not None:
            out.close()
    return ExportReport(
        run_id=run_id,
        target=target,
        traces=0 if out is None else out.traces,
        spans=0 if out is None else out.spans,
        exported_spans=0 if out is None else out.counting.ok,
        failed_spans=0 if out is None else out.counting.failed,
    )


def _export_new(
    out: RunExporter,
    requests: list[dict[str, Any]],
    calls: list[dict[str, Any]],
    sent_requests: set[str],
    sent_calls: set[str],
) -> None:
    by_request: dict[str, list[dict[str, Any]]] = {}
    for call in calls:
        if call["call_id"] in sent_calls:
            continue
        by_request.setdefault(str(call.get("request_id") or ""), []).append(call)
    for request in requests:
        request_id = str(request["request_id"])
        if request_id in sent_requests:
            continue
        mine = by_request.pop(request_id, [])
        out.request(request, mine)
        sent_requests.add(request_id)
        sent_calls.update(str(c["call_id"]) for c in mine)
    for key, loose in by_request.items():
        if key and key not in sent_requests:
            continue  # its request row is not there yet: wait for it
        for call in loose:
            out.call(call)
            sent_calls.add(str(call["call_id"]))
