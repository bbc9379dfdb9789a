"""Spans to ledger records: the workbench's own spans back into the rows they came from, and a
LiveKit Agents app's spans into runs, requests and calls, priced by the ``Pricer``.

LiveKit Agents (``livekit/agents/telemetry``) puts one session in one trace: ``llm_request`` spans
carry ``gen_ai.request.model``, ``gen_ai.usage.*`` tokens and ``lk.llm_metrics`` (JSON: tokens,
``ttft``, ``duration``, model name and provider); ``tts_request`` spans carry ``lk.tts_metrics``
(``ttfb``, ``audio_duration``, characters); ``user_turn`` spans carry the transcript, the speaking
participant and, from 1.8, the STT model and provider. Here a trace is a run, each ``llm_request``
a request with its LLM call, each ``tts_request`` and each ``user_turn`` a call (TTS, STT). Spans
LiveKit emits without usage (``agent_turn``, ``llm_node``, ...) are counted as structure; any
other span is counted as unknown, by name; a span whose attributes are wrong is counted as
malformed. None of them stops the receiver.
"""

from __future__ import annotations

import json
import re
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from assistant.core.errors import ConfigError
from assistant.core.events import Usage
from assistant.ledger.records import CallRecord, RequestRecord, RunRecord
from assistant.pricing.prices import Pricer
from assistant.telemetry import conventions as c
from assistant.telemetry.codec import DecodeError, record_from_attributes
from assistant.telemetry.otlp import Span

MAX_RUNS_TRACKED = 10_000
MAX_NAMES = 200  # distinct unknown span names (and unpriced models) kept in the counters


@dataclass(slots=True)
class RunState:
    run_id: str
    first_ns: int
    last_ns: int
    media_processed_s: float | None = None  # the workbench's own runs carry theirs
    last_participant: str | None = None
    spans: int = 0


@dataclass(slots=True)
class Mapped:
    """What one batch of spans became."""

    new_runs: list[RunRecord] = field(default_factory=list)
    rows: list[object] = field(default_factory=list)
    touched: set[str] = field(default_factory=set)
    structure: int = 0
    unknown: Counter[str] = field(default_factory=Counter)
    malformed: Counter[str] = field(default_factory=Counter)
    unpriced: Counter[str] = field(default_factory=Counter)


def _slug(text: str, limit: int = 30) -> str:
    slug = re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-")
    return slug[:limit].strip("-") or "agent"


def _count(counter: Counter[str], key: str, n: int = 1) -> None:
    if key in counter or len(counter) < MAX_NAMES:
        counter[key] += n
    else:
        counter["(other)"] += n


def _json_attr(span: Span, key: str) -> dict[str, Any]:
    raw = span.attributes.get(key)
    if raw is None:
        return {}
    try:
        value = json.loads(raw) if isinstance(raw, str) else raw
    except json.JSONDecodeError as exc:
        raise DecodeError(f"{key} is not JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise DecodeError(f"{key} is not a JSON object")
    return value


def _int(value: Any, what: str) -> int:
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise DecodeError(f"{what} = {value!r} is not a number")
    return int(value)


def _float(value: Any, what: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise DecodeError(f"{what} = {value!r} is not a number")
    return float(value)


def _at(ns: int) -> datetime:
    return datetime.fromtimestamp(ns / 1e9, UTC)


class SpanMapper:
    """Turns spans into records, remembering which run each trace (or exported run) became.

    ``run_taken`` says whether a run id is already in the ledger (None: cannot tell now)."""

    def __init__(
        self,
        *,
        pricer: Pricer | None = None,
        tenant: str = "otel",
        run_taken: Callable[[str], bool | None] = lambda _: False,
        suffix: str = "",
    ) -> None:
        self.pricer = pricer or Pricer()
        self.tenant = tenant
        self.run_taken = run_taken
        self.suffix = suffix
        self.runs: OrderedDict[str, RunState] = OrderedDict()
        self._used_ids: set[str] = set()

    # -- runs -------------------------------------------------------------------------------
    def _new_run_id(self, base: str) -> str:
        candidate = base + self.suffix
        n = 1
        while candidate in self._used_ids or self.run_taken(candidate):
            n += 1
            candidate = f"{base}{self.suffix}-{n}"
        self._used_ids.add(candidate)
        return candidate

    def _run(self, key: str, span: Span, out: Mapped, make: Callable[[str], RunRecord]) -> RunState:
        state = self.runs.get(key)
        if state is None:
            record = make("")
            run_id = self._new_run_id(record.run_id)
            record = make(run_id)
            state = RunState(run_id, span.start_ns, span.end_ns, record.media_processed_s)
            self.runs[key] = state
            out.new_runs.append(record)
            while len(self.runs) > MAX_RUNS_TRACKED:
                self.runs.popitem(last=False)
        else:
            self.runs.move_to_end(key)
        state.first_ns = min(state.first_ns, span.start_ns)
        state.last_ns = max(state.last_ns, span.end_ns)
        state.spans += 1
        out.touched.add(state.run_id)
        return state

    def media_processed_s(self, run_id: str) -> float | None:
        for state in self.runs.values():
            if state.run_id == run_id:
                if state.media_processed_s is not None:
                    return state.media_processed_s
                return max(0.0, (state.last_ns - state.first_ns) / 1e9)
        return None

    # -- batches ----------------------------------------------------------------------------
    def map(self, spans: Iterable[Span]) -> Mapped:
        out = Mapped()
        for span in spans:
            try:
                self._one(span, out)
            except (DecodeError, ConfigError, KeyError, TypeError, ValueError) as exc:
                _count(out.malformed, f"{span.name}: {str(exc)[:120]}")
        return out

    def _one(self, span: Span, out: Mapped) -> None:
        if c.RUN_PREFIX + "run_id" in span.resource and span.attributes.get(c.SPAN_KIND):
            self._workbench(span, out)
        elif span.name in c.LK_LLM_SPANS or span.name in c.LK_REALTIME_SPANS:
            self._lk_llm(span, out)
        elif span.name in c.LK_TTS_SPANS:
            self._lk_tts(span, out)
        elif span.name in c.LK_STT_SPANS:
            self._lk_stt(span, out)
        elif span.name in c.LK_KNOWN_SPANS:
            out.structure += 1
        else:
            _count(out.unknown, span.name or "(no name)")

    # -- the workbench's own spans ------------------------------------------------------------
    def _workbench(self, span: Span, out: Mapped) -> None:
        original = str(span.resource[c.RUN_PREFIX + "run_id"])

        def make(run_id: str) -> RunRecord:
            return record_from_attributes(
                RunRecord,
                span.resource,
                c.RUN_PREFIX,
                run_id=run_id or f"otel-{original}",
                status="running",
                ended_at=None,
                error=None,
                events_done=None,
            )

        kind = span.attributes[c.SPAN_KIND]
        if kind not in ("request", "call"):
            raise DecodeError(f"{c.SPAN_KIND} = {kind!r}: expected request or call")
        prefix = c.REQUEST_PREFIX if kind == "request" else c.CALL_PREFIX
        if prefix + "run_id" not in span.attributes:  # checked before a run is made for it
            raise DecodeError(f"attribute {prefix}run_id is missing")
        state = self._run("wb:" + original, span, out, make)

        def renamed(value: Any) -> str | None:
            if value is None:
                return None
            text = str(value)
            if text.startswith(original + ":"):
                return state.run_id + text[len(original) :]
            return f"{state.run_id}:{text}"

        if kind == "request":
            out.rows.append(
                record_from_attributes(
                    RequestRecord,
                    span.attributes,
                    c.REQUEST_PREFIX,
                    run_id=state.run_id,
                    request_id=renamed(span.attributes.get(c.REQUEST_PREFIX + "request_id")),
                )
            )
        else:
            out.rows.append(
                record_from_attributes(
                    CallRecord,
                    span.attributes,
                    c.CALL_PREFIX,
                    run_id=state.run_id,
                    call_id=renamed(span.attributes.get(c.CALL_PREFIX + "call_id")),
                    request_id=renamed(span.attributes.get(c.CALL_PREFIX + "request_id")),
                )
            )

    # -- LiveKit Agents' spans ---------------------------------------------------------------
    def _lk_run(self, span: Span, out: Mapped) -> RunState:
        service = str(span.resource.get("service.name") or "agent")
        room = str(span.get(c.LK_ROOM) or _slug(service))
        tenant = str(span.get("workbench.tenant") or self.tenant)

        def make(run_id: str) -> RunRecord:
            return RunRecord(
                run_id=run_id or f"otel-{_slug(service)}-{span.trace_id[:12]}",
                source_kind="otel",
                source_ref=service,
                dataset_name=None,
                tenant=tenant,
                room=room,
                config_json=json.dumps({"source": "otlp", "service.name": service}),
                config_hash="",
                media_duration_s=None,
                started_at=_at(span.start_ns),
            )

        return self._run("lk:" + span.trace_id, span, out, make)

    def _price(self, out: Mapped, provider: str, model: str, usage: Usage) -> float:
        try:
            return self.pricer.cost_usd(provider=provider, model=model, usage=usage)
        except ConfigError:
            _count(out.unpriced, f"{provider}:{model}")
            return 0.0

    @staticmethod
    def _provider(span: Span, metadata: dict[str, Any]) -> str:
        raw = (
            span.get(c.GEN_AI_PROVIDER)
            or span.get(c.GEN_AI_SYSTEM)
            or metadata.get("model_provider")
        )
        name = str(raw or "unknown").lower()
        return c.PROVIDER_ALIASES.get(name, name)

    def _lk_llm(self, span: Span, out: Mapped) -> None:
        metrics = _json_attr(span, c.LK_LLM_METRICS) or _json_attr(span, c.LK_REALTIME_METRICS)
        metadata = metrics.get("metadata") or {}
        model = str(span.get(c.GEN_AI_REQUEST_MODEL) or metadata.get("model_name") or "unknown")
        resolved = str(span.get(c.GEN_AI_RESPONSE_MODEL) or model)
        provider = str(span.get(c.ROUTE_PRICING_PROVIDER) or self._provider(span, metadata))
        tokens_in = _int(
            span.get(
                c.GEN_AI_INPUT_TOKENS, metrics.get("prompt_tokens", metrics.get("input_tokens"))
            ),
            "input tokens",
        )
        tokens_out = _int(
            span.get(
                c.GEN_AI_OUTPUT_TOKENS,
                metrics.get("completion_tokens", metrics.get("output_tokens")),
            ),
            "output tokens",
        )
        ttft_s = _float(span.get(c.GEN_AI_TTFT_S, metrics.get("ttft")), "ttft")
        ttft_ms = ttft_s * 1000.0 if ttft_s is not None and ttft_s >= 0 else None
        state = self._lk_run(span, out)
        cost = self._price(
            out, provider, resolved, Usage(input_tokens=tokens_in, output_tokens=tokens_out)
        )
        routed = c.ROUTE_REQUEST_ID in span.attributes  # a RoutedLLM tier's span
        turn = str(span.get(c.ROUTE_REQUEST_ID) or span.span_id)
        request_id = f"{state.run_id}:{turn}"
        media_t_s = max(0.0, (span.start_ns - state.first_ns) / 1e9)
        question, answer = _messages(span)
        status = "error" if span.error else "ok"
        error = span.status_message or None if span.error else None
        out.rows.append(
            CallRecord(
                call_id=f"{request_id}:llm" + (f":{span.span_id}" if routed else ""),
                run_id=state.run_id,
                request_id=request_id,
                tenant=self.tenant,
                stage="llm",
                provider=provider,
                model_requested=model,
                model_resolved=resolved,
                media_t_s=media_t_s,
                latency_ms=span.duration_ms,
                ttft_ms=ttft_ms,
                input_tokens=tokens_in,
                output_tokens=tokens_out,
                image_count=0,
                audio_s=0.0,
                compute_s=0.0,
                cost_usd=cost,
                attempts=1 + _int(span.get(c.LK_RETRY_COUNT), "retry count"),
                status=status,
                error=error,
                created_at=_at(span.end_ns),
            )
        )
        if routed and span.get(c.ROUTE_ROLE) != "answer":
            return  # a tier that failed before the other answered: its call only
        decision: dict[str, Any] = (
            _route_fields(span, resolved, status)
            if routed
            else {
                "needs_screen": False,
                "scorer": "external",
                "score": 0.0,
                "router": "external",
                "threshold": None,
                "tier": str(span.get(c.TIER) or "cheap"),
                "explored": False,
                "propensity": 1.0,
                "llm_model_requested": model,
                "routing_latency_ms": 0.0,
                "status": status,
                "fallback_model": None,
            }
        )
        out.rows.append(
            RequestRecord(
                request_id=request_id,
                run_id=state.run_id,
                tenant=self.tenant,
                room=str(
                    span.get(c.LK_ROOM) or _slug(str(span.resource.get("service.name") or "agent"))
                ),
                question_id=span.span_id,
                media_t_s=media_t_s,
                asker=str(span.get(c.LK_PARTICIPANT) or state.last_participant or "") or None,
                question=question or "",
                score_features_json="{}",
                vision_model_requested=None,
                vision_model_resolved=None,
                llm_model_resolved=resolved,
                input_tokens=tokens_in,
                output_tokens=tokens_out,
                vision_latency_ms=0.0,
                retrieval_latency_ms=0.0,
                llm_latency_ms=span.duration_ms,
                total_latency_ms=span.duration_ms,
                vision_cost_usd=0.0,
                retrieval_cost_usd=0.0,
                llm_cost_usd=cost,
                total_cost_usd=cost,
                error=error,
                answer=answer,
                citations_json="[]",
                retrieval_json="[]",
                reference_answer=None,
                quality_f1=None,
                quality_key_facts=None,
                quality=None,
                created_at=_at(span.end_ns),
                **decision,  # the routing decision: RoutedLLM's, or none ("external")
            )
        )

    def _audio_call(
        self,
        span: Span,
        out: Mapped,
        *,
        stage: str,
        model: str,
        audio_s: float,
        ttft_ms: float | None,
    ) -> None:
        state = self._lk_run(span, out)
        provider = self._provider(span, {})
        cost = self._price(out, provider, model, Usage(audio_s=audio_s))
        out.rows.append(
            CallRecord(
                call_id=f"{state.run_id}:{span.span_id}:{stage}",
                run_id=state.run_id,
                request_id=None,
                tenant=self.tenant,
                stage=stage,
                provider=provider,
                model_requested=model,
                model_resolved=model,
                media_t_s=max(0.0, (span.start_ns - state.first_ns) / 1e9),
                latency_ms=span.duration_ms,
                ttft_ms=ttft_ms,
                input_tokens=0,
                output_tokens=0,
                image_count=0,
                audio_s=audio_s,
                compute_s=0.0,
                cost_usd=cost,
                attempts=1,
                status="error" if span.error else "ok",
                error=(span.status_message or None) if span.error else None,
                created_at=_at(span.end_ns),
            )
        )

    def _lk_tts(self, span: Span, out: Mapped) -> None:
        metrics = _json_attr(span, c.LK_TTS_METRICS)
        metadata = metrics.get("metadata") or {}
        model = str(
            span.get(c.GEN_AI_REQUEST_MODEL)
            or metadata.get("model_name")
            or span.get(c.LK_TTS_LABEL)
            or metrics.get("label")
            or "unknown"
        )
        audio_s = _float(metrics.get("audio_duration"), "audio_duration") or 0.0
        ttfb = _float(metrics.get("ttfb"), "ttfb")
        self._audio_call(
            span,
            out,
            stage="tts",
            model=model,
            audio_s=audio_s,
            ttft_ms=ttfb * 1000.0 if ttfb is not None and ttfb >= 0 else None,
        )

    def _lk_stt(self, span: Span, out: Mapped) -> None:
        participant = span.get(c.LK_PARTICIPANT)
        if participant:
            self._lk_run(span, out).last_participant = str(participant)
        model = span.get(c.GEN_AI_REQUEST_MODEL)
        if model is None and span.get(c.LK_USER_TRANSCRIPT) is None:
            out.structure += 1  # a turn with nothing heard: no call
            return
        # The span covers the user's turn: the audio the STT heard for it (an estimate).
        self._audio_call(
            span,
            out,
            stage="stt",
            model=str(model or "unknown"),
            audio_s=span.duration_ms / 1000.0,
            ttft_ms=None,
        )


def _route_fields(span: Span, resolved: str, status: str) -> dict[str, Any]:
    """A RoutedLLM turn's decision, from its answering span's ``workbench.route.*``."""
    tier = str(span.get(c.ROUTE_TIER) or "cheap")
    vision = bool(span.get(c.ROUTE_VISION))
    threshold = _float(span.get(c.ROUTE_THRESHOLD), "threshold")
    threshold = None if threshold is None or threshold < 0 else threshold
    failed_over = span.get(c.ROUTE_ATTEMPT_TIER, tier) != tier
    reason = str(span.get(c.ROUTE_REASON) or "threshold")
    explored = bool(span.get(c.ROUTE_EXPLORED))
    propensity = _float(span.get(c.ROUTE_PROPENSITY), "propensity")
    if propensity is None or not 0.0 < propensity <= 1.0:
        raise DecodeError(f"{c.ROUTE_PROPENSITY} = {propensity!r} is not in (0, 1]")
    score = _float(span.get(c.ROUTE_SCORE), "score") or 0.0
    fields: dict[str, Any] = {
        "needs_screen": vision,
        "scorer": str(span.get(c.ROUTE_SCORER) or "unknown"),
        "score": score,
        "router": str(span.get(c.ROUTE_ROUTER) or "unknown"),
        "threshold": threshold,
        "tier": tier,
        "explored": explored,
        "propensity": propensity,
        "llm_model_requested": str(span.get(c.ROUTE_MODEL_REQUESTED) or resolved),
        "route_reason": reason,
        "routing_latency_ms": _float(span.get(c.ROUTE_ROUTING_LATENCY_MS), "routing") or 0.0,
        "status": "error" if status == "error" else "fallback" if failed_over else "ok",
        "fallback_model": resolved if failed_over and status != "error" else None,
    }
    if vision:
        fields.update(
            vision_scorer=fields["scorer"], vision_score=score, vision_threshold=threshold,
            vision_tier=tier, vision_explored=explored, vision_propensity=propensity,
            vision_route_reason=reason,
        )  # fmt: skip
    return fields


def _text_of(raw: Any, role: str) -> str | None:
    """The last ``role`` message's text from GenAI ``gen_ai.{input,output}.messages`` JSON
    (``[{"role": ..., "parts": [{"type": "text", "content": ...}]}]``)."""
    try:
        messages = json.loads(raw) if isinstance(raw, str) else raw
    except json.JSONDecodeError:
        return None
    found = None
    for message in messages if isinstance(messages, list) else []:
        if isinstance(message, dict) and message.get("role") == role:
            texts = [
                str(part.get("content"))
                for part in message.get("parts") or []
                if isinstance(part, dict) and part.get("type") == "text" and part.get("content")
            ]
            if texts:
                found = " ".join(texts)
    return found


def _messages(span: Span) -> tuple[str | None, str | None]:
    """The last user message and the answer: from the GenAI messages attributes (LiveKit Agents
    1.8), the span's GenAI events (1.3), or ``lk.user_input`` / ``lk.response.text``."""
    question = span.attributes.get(c.LK_USER_INPUT)
    answer = span.attributes.get(c.LK_RESPONSE_TEXT)
    for name, attrs in span.events:
        if name == "gen_ai.user.message" and attrs.get("content"):
            question = attrs["content"]
        elif name == "gen_ai.choice" and attrs.get("content"):
            answer = attrs["content"]
    if c.GEN_AI_INPUT_MESSAGES in span.attributes:
        question = _text_of(span.attributes[c.GEN_AI_INPUT_MESSAGES], "user") or question
    if c.GEN_AI_OUTPUT_MESSAGES in span.attributes:
        answer = _text_of(span.attributes[c.GEN_AI_OUTPUT_MESSAGES], "assistant") or answer
    return (None if question is None else str(question)), (None if answer is None else str(answer))
