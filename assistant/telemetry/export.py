"""A run of the ledger as OpenTelemetry traces: each request a trace, each provider call a span.

Spans follow the GenAI semantic conventions (``invoke_agent`` for a request, ``chat MODEL`` and
``transcribe MODEL`` for calls: operation, provider, model requested and resolved, tokens, time to
first chunk, status, ``error.type``), with the cost as ``gen_ai.usage.cost`` and the routing figures
(tier, score, threshold, propensity) beside them; ``workbench.*`` attributes carry every ledger
column, so ``otel-receive`` rebuilds the same run. Calls not tied to a question (transcription)
are traces of their own. Sent through the official ``opentelemetry-sdk`` and its OTLP/HTTP
exporter, or written as OTLP/JSON lines (one ``ExportTraceServiceRequest`` a line) to a file.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from assistant.core.errors import ConfigError
from assistant.ledger.records import CallRecord, RequestRecord, RunRecord
from assistant.telemetry import conventions as c
from assistant.telemetry.codec import AttributeValue, record_attributes

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
    from opentelemetry.sdk.trace.export import SpanExporter

    from assistant.ledger.store import Ledger

TRACES_PATH = "/v1/traces"
FLUSH_SPANS = 8192  # well under the batch processor's queue (65,536 spans)


@dataclass(frozen=True, slots=True)
class ExportReport:
    run_id: str
    target: str
    traces: int
    spans: int
    exported_spans: int  # spans the exporter reported sent
    failed_spans: int

    def line(self) -> str:
        state = "ok" if self.failed_spans == 0 else f"{self.failed_spans} spans FAILED"
        return (
            f"run {self.run_id}: {self.traces} traces, {self.spans} spans -> {self.target} "
            f"({self.exported_spans} sent, {state})"
        )


def traces_url(endpoint: str) -> str:
    """``endpoint`` as the OTLP/HTTP traces URL: a bare ``http://host:port`` gets ``/v1/traces``."""
    parts = urlsplit(endpoint)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(
            f"--endpoint {endpoint!r} is not an http(s) URL; e.g. http://127.0.0.1:4318/v1/traces"
        )
    return endpoint if parts.path not in ("", "/") else endpoint.rstrip("/") + TRACES_PATH


def run_resource_attributes(run: Mapping[str, Any] | RunRecord) -> dict[str, AttributeValue]:
    """The resource every span of the run carries: service, tenant, room, every run column."""
    get = run.get if isinstance(run, Mapping) else (lambda n: getattr(run, n))
    attrs: dict[str, AttributeValue] = {
        "service.name": c.SERVICE_NAME,
        c.GEN_AI_AGENT_NAME: c.AGENT_NAME,
        c.SESSION_ID: str(get("run_id")),
    }
    attrs.update(record_attributes(run, RunRecord, c.RUN_PREFIX))
    return attrs


def _ns(at: datetime) -> int:
    at = at if at.tzinfo else at.replace(tzinfo=UTC)
    return int(at.timestamp() * 1e9)


def _window(end: datetime | None, latency_ms: float | None) -> tuple[int, int]:
    end = end or datetime.now(UTC)
    start = end - timedelta(milliseconds=max(0.0, float(latency_ms or 0.0)))
    return _ns(start), _ns(end)


def request_span_attributes(request: Mapping[str, Any]) -> dict[str, AttributeValue]:
    attrs: dict[str, AttributeValue] = {
        c.SPAN_KIND: "request",
        c.GEN_AI_OPERATION: "invoke_agent",
        c.GEN_AI_AGENT_NAME: c.AGENT_NAME,
        c.GEN_AI_CONVERSATION: str(request["run_id"]),
        c.SESSION_ID: str(request["run_id"]),
        c.GEN_AI_REQUEST_MODEL: str(request["llm_model_requested"]),
        c.GEN_AI_INPUT_TOKENS: int(request["input_tokens"]),
        c.GEN_AI_OUTPUT_TOKENS: int(request["output_tokens"]),
        c.GEN_AI_COST_USD: float(request["total_cost_usd"]),
        c.TIER: str(request["tier"]),
    }
    if request.get("llm_model_resolved"):
        attrs[c.GEN_AI_RESPONSE_MODEL] = str(request["llm_model_resolved"])
    if request.get("asker"):
        attrs[c.USER_ID] = str(request["asker"])
    if request.get("status") == "error":
        attrs[c.ERROR_TYPE] = "request_failed"
    attrs.update(record_attributes(request, RequestRecord, c.REQUEST_PREFIX))
    return attrs


def call_span_name(call: Mapping[str, Any]) -> str:
    operation = c.OPERATION_OF_STAGE.get(str(call["stage"]), str(call["stage"]))
    return f"{operation} {call['model_resolved'] or call['model_requested']}"


def call_span_attributes(call: Mapping[str, Any]) -> dict[str, AttributeValue]:
    attrs: dict[str, AttributeValue] = {
        c.SPAN_KIND: "call",
        c.GEN_AI_OPERATION: c.OPERATION_OF_STAGE.get(str(call["stage"]), str(call["stage"])),
        c.GEN_AI_PROVIDER: str(call["provider"]),
        c.GEN_AI_SYSTEM: str(call["provider"]),
        c.GEN_AI_REQUEST_MODEL: str(call["model_requested"]),
        c.GEN_AI_INPUT_TOKENS: int(call["input_tokens"]),
        c.GEN_AI_OUTPUT_TOKENS: int(call["output_tokens"]),
        c.GEN_AI_COST_USD: float(call["cost_usd"]),
        c.GEN_AI_CONVERSATION: str(call["run_id"]),
        c.SESSION_ID: str(call["run_id"]),
    }
    if call.get("model_resolved"):
        attrs[c.GEN_AI_RESPONSE_MODEL] = str(call["model_resolved"])
    if call.get("ttft_ms") is not None:
        attrs[c.GEN_AI_TTFT_S] = float(call["ttft_ms"]) / 1000.0
    if call.get("status") == "error":
        attrs[c.ERROR_TYPE] = str(call.get("error") or "error")[:200]
    attrs.update(record_attributes(call, CallRecord, c.CALL_PREFIX))
    return attrs


class _Counting:
    """Wraps an exporter, counting the spans it reports sent and failed."""

    def __init__(self, inner: SpanExporter) -> None:
        self.inner = inner
        self.ok = 0
        self.failed = 0
        self._lock = threading.Lock()

    def export(self, spans: Sequence[ReadableSpan]) -> Any:
        from opentelemetry.sdk.trace.export import SpanExportResult

        result = self.inner.export(spans)
        with self._lock:
            if result is SpanExportResult.SUCCESS:
                self.ok += len(spans)
            else:
                self.failed += len(spans)
        return result

    def shutdown(self) -> None:
        self.inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return bool(self.inner.force_flush(timeout_millis))


def file_exporter(path: str | Path) -> SpanExporter:
    """An exporter that appends OTLP/JSON lines (``ExportTraceServiceRequest``) to ``path``."""
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
    from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

    from assistant.telemetry.otlp import to_json_line

    target = Path(path)

    class OtlpJsonFileExporter(SpanExporter):
        def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
            line = to_json_line(encode_spans(spans))
            with target.open("a", encoding="utf-8") as out:
                out.write(line + "\n")
            return SpanExportResult.SUCCESS

    return OtlpJsonFileExporter()


def http_exporter(
    endpoint: str,
    *,
    token: str | None = None,
    headers: Mapping[str, str] | None = None,
    timeout_s: float = 10.0,
) -> SpanExporter:
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    sent = dict(headers or {})
    if token:
        sent["authorization"] = f"Bearer {token}"
    return OTLPSpanExporter(endpoint=traces_url(endpoint), headers=sent or None, timeout=timeout_s)


def make_exporter(
    *,
    endpoint: str | None,
    file: str | Path | None,
    token: str | None = None,
    headers: Mapping[str, str] | None = None,
    timeout_s: float = 10.0,
) -> tuple[SpanExporter, str]:
    """The exporter for ``--endpoint`` or ``--file`` (exactly one), and where it sends."""
    if (endpoint is None) == (file is None):
        raise ConfigError("export-otel needs exactly one of --endpoint URL or --file F")
    if endpoint is not None:
        exporter = http_exporter(endpoint, token=token, headers=headers, timeout_s=timeout_s)
        return exporter, traces_url(endpoint)
    return file_exporter(str(file)), str(file)


class RunExporter:
    """Spans for one run's rows through one ``TracerProvider`` (its resource: the run)."""

    def __init__(self, run: Mapping[str, Any] | RunRecord, exporter: SpanExporter) -> None:
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        self.counting = _Counting(exporter)
        self.provider: TracerProvider = TracerProvider(
            resource=Resource.create(run_resource_attributes(run))
        )
        self.provider.add_span_processor(
            BatchSpanProcessor(
                self.counting,  # type: ignore[arg-type]
                max_queue_size=65536,
                max_export_batch_size=512,
                schedule_delay_millis=200,
            )
        )
        self.tracer = self.provider.get_tracer("assistant.telemetry")
        self.traces = 0
        self.spans = 0
        self._flushed_at = 0

    def request(self, request: Mapping[str, Any], calls: Sequence[Mapping[str, Any]]) -> None:
        """One request's trace: its span, and a child span per call."""
        from opentelemetry import trace

        start, end = _window(request.get("created_at"), request.get("total_latency_ms"))
        root = self.tracer.start_span(
            f"invoke_agent {c.AGENT_NAME}",
            start_time=start,
            attributes=request_span_attributes(request),
        )
        if request.get("status") == "error":
            root.set_status(trace.Status(trace.StatusCode.ERROR, str(request.get("error") or "")))
        context = trace.set_span_in_context(root)
        for call in calls:
            self._call(call, context)
        root.end(end_time=max(end, start))
        self.traces += 1
        self.spans += 1
        self._drain()

    def _drain(self) -> None:
        """Flush every ``FLUSH_SPANS`` spans, so the processor's bounded queue never drops one."""
        if self.spans - self._flushed_at >= FLUSH_SPANS:
            self.provider.force_flush()
            self._flushed_at = self.spans

    def call(self, call: Mapping[str, Any]) -> None:
        """A call not tied to a question (transcription): a trace of its own."""
        self._call(call, None)
        self.traces += 1
        self._drain()

    def _call(self, call: Mapping[str, Any], context: Any) -> None:
        from opentelemetry import trace

        start, end = _window(call.get("created_at"), call.get("latency_ms"))
        span = self.tracer.start_span(
            call_span_name(call),
            context=context,
            kind=trace.SpanKind.CLIENT,
            start_time=start,
            attributes=call_span_attributes(call),
        )
        if call.get("status") == "error":
            span.set_status(trace.Status(trace.StatusCode.ERROR, str(call.get("error") or "")))
        span.end(end_time=max(end, start))
        self.spans += 1

    def flush(self) -> None:
        self.provider.force_flush()

    def close(self) -> None:
        self.provider.shutdown()


def export_rows(
    run: Mapping[str, Any],
    requests: Sequence[Mapping[str, Any]],
    calls: Sequence[Mapping[str, Any]],
    exporter: SpanExporter,
    *,
    target: str,
) -> ExportReport:
    """Every request (with its calls) and every call without a request, then flushed."""
    by_request: dict[str, list[Mapping[str, Any]]] = {}
    loose: list[Mapping[str, Any]] = []
    for call in calls:
        if call.get("request_id"):
            by_request.setdefault(str(call["request_id"]), []).append(call)
        else:
            loose.append(call)
    known = {str(r["request_id"]) for r in requests}
    for request_id, orphans in by_request.items():  # a call whose request row is missing
        if request_id not in known:
            loose.extend(orphans)
    out = RunExporter(run, exporter)
    try:
        for request in requests:
            out.request(request, by_request.get(str(request["request_id"]), []))
        for call in loose:
            out.call(call)
    finally:
        out.close()
    return ExportReport(
        run_id=str(run["run_id"]),
        target=target,
        traces=out.traces,
        spans=out.spans,
        exported_spans=out.counting.ok,
        failed_spans=out.counting.failed,
    )


def export_run(
    ledger: Ledger,
    run_id: str,
    *,
    endpoint: str | None = None,
    file: str | Path | None = None,
    token: str | None = None,
    headers: Mapping[str, str] | None = None,
    timeout_s: float = 10.0,
) -> ExportReport:
    """Export one run of ``ledger`` to an OTLP/HTTP ``endpoint`` or an OTLP/JSON-lines ``file``."""
    from assistant.ledger.queries.telemetry import run_rows

    exporter, target = make_exporter(
        endpoint=endpoint, file=file, token=token, headers=headers, timeout_s=timeout_s
    )
    run, requests, calls = run_rows(ledger, run_id)
    return export_rows(run, requests, calls, exporter, target=target)
