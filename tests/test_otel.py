"""OpenTelemetry out and in: a run exported as OTLP GenAI traces, decoded field by field with
opentelemetry-proto; the OTLP/HTTP receiver on loopback (round trip, LiveKit Agents' spans, bad
bodies, unknown spans, tokens, size limit, a bounded flood)."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from support.configs import recorded_config
from support.otel import capture_server, encode, get, livekit_llm_spans, post

from assistant.ledger import Ledger
from assistant.ledger.queries.telemetry import run_rows, run_totals
from assistant.ledger.records import CallRecord, RequestRecord
from assistant.sessions.datasets import load_dataset
from assistant.sessions.replay import replay
from assistant.telemetry import conventions as c
from assistant.telemetry.codec import to_attribute
from assistant.telemetry.export import export_run
from assistant.telemetry.otlp import any_value
from assistant.telemetry.receiver import Receiver

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "datasets" / "demo"


@pytest.fixture(scope="module")
def replayed(tmp_path_factory: pytest.TempPathFactory, tiny_master: Path) -> Path:
    path = tmp_path_factory.mktemp("otel") / "a.duckdb"
    replay(load_dataset(tiny_master), ledger=path, config=recorded_config(), run_id="r1")
    return path


@pytest.fixture
def receiver(tmp_path: Path) -> Any:
    made: list[Receiver] = []

    def start(**options: Any) -> tuple[Receiver, str, Path]:
        path = tmp_path / f"b{len(made)}.duckdb"
        Ledger(path).close()
        rx = Receiver(path, port=0, **options)
        host, port = rx.start()
        made.append(rx)
        return rx, f"http://{host}:{port}", path

    yield start
    for rx in made:
        rx.stop()


def _decoded(bodies: list[tuple[str, dict[str, str], bytes]]) -> list[tuple[dict, Any]]:
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    out = []
    for path, _headers, body in bodies:
        assert path == "/v1/traces"
        message = ExportTraceServiceRequest.FromString(body)
        for rs in message.resource_spans:
            resource = {kv.key: any_value(kv.value) for kv in rs.resource.attributes}
            for ss in rs.scope_spans:
                out.extend((resource, span) for span in ss.spans)
    return out


def test_export_sends_every_field_through_the_otlp_exporter(replayed: Path) -> None:
    with Ledger(replayed, read_only=True) as ledger:
        run, requests, calls = run_rows(ledger, "r1")
        with capture_server() as (url, bodies):
            report = export_run(ledger, "r1", endpoint=url, token="t0k")
    assert report.failed_spans == 0 and report.exported_spans == len(requests) + len(calls)
    assert all(h.get("authorization") == "Bearer t0k" for _, h, _ in bodies)
    spans = _decoded(bodies)
    assert len(spans) == len(requests) + len(calls)
    for resource, _span in spans:
        assert resource["service.name"] == c.SERVICE_NAME
        for name, value in run.items():
            if to_attribute(value) is not None:
                assert resource[c.RUN_PREFIX + name] == to_attribute(value), name
    by_request = {}
    by_call = {}
    for _resource, span in spans:
        attrs = {kv.key: any_value(kv.value) for kv in span.attributes}
        if attrs[c.SPAN_KIND] == "request":
            by_request[attrs[c.REQUEST_PREFIX + "request_id"]] = (span, attrs)
        else:
            by_call[attrs[c.CALL_PREFIX + "call_id"]] = (span, attrs)
    assert len(by_request) == len(requests) and len(by_call) == len(calls)
    for row in requests:
        span, attrs = by_request[row["request_id"]]
        assert span.name == f"invoke_agent {c.AGENT_NAME}"
        assert not span.parent_span_id  # each request its own trace
        for field in RequestRecord.__dataclass_fields__:
            if to_attribute(row[field]) is not None:
                assert attrs[c.REQUEST_PREFIX + field] == to_attribute(row[field]), field
        assert attrs[c.GEN_AI_OPERATION] == "invoke_agent"
        assert attrs[c.GEN_AI_REQUEST_MODEL] == row["llm_model_requested"]
        assert attrs[c.GEN_AI_RESPONSE_MODEL] == row["llm_model_resolved"]
        assert attrs[c.GEN_AI_INPUT_TOKENS] == row["input_tokens"]
        assert attrs[c.GEN_AI_OUTPUT_TOKENS] == row["output_tokens"]
        assert attrs[c.GEN_AI_COST_USD] == row["total_cost_usd"]
        assert attrs[c.TIER] == row["tier"]
        assert attrs[c.REQUEST_PREFIX + "score"] == row["score"]
        assert attrs[c.REQUEST_PREFIX + "threshold"] == row["threshold"]
        assert attrs[c.REQUEST_PREFIX + "propensity"] == row["propensity"]
        assert attrs[c.USER_ID] == row["asker"]
        duration_ms = (span.end_time_unix_nano - span.start_time_unix_nano) / 1e6
        assert duration_ms == pytest.approx(row["total_latency_ms"], abs=0.01)
        assert span.status.code == (2 if row["status"] == "error" else 0)
    for row in calls:
        span, attrs = by_call[row["call_id"]]
        assert span.kind == 3  # SPAN_KIND_CLIENT
        assert (
            span.name
            == f"{c.OPERATION_OF_STAGE[row['stage']]} {row['model_resolved'] or row['model_requested']}"
        )
        for field in CallRecord.__dataclass_fields__:
            if to_attribute(row[field]) is not None:
                assert attrs[c.CALL_PREFIX + field] == to_attribute(row[field]), field
        assert attrs[c.GEN_AI_PROVIDER] == row["provider"]
        assert attrs[c.GEN_AI_REQUEST_MODEL] == row["model_requested"]
        assert attrs[c.GEN_AI_COST_USD] == row["cost_usd"]
        assert attrs[c.GEN_AI_INPUT_TOKENS] == row["input_tokens"]
        if row["ttft_ms"] is not None:
            assert attrs[c.GEN_AI_TTFT_S] == pytest.approx(row["ttft_ms"] / 1000)
        duration_ms = (span.end_time_unix_nano - span.start_time_unix_nano) / 1e6
        assert duration_ms == pytest.approx(row["latency_ms"], abs=0.01)
        if row["request_id"]:
            parent, _ = by_request[row["request_id"]]
            assert span.trace_id == parent.trace_id and span.parent_span_id == parent.span_id
        else:
            assert not span.parent_span_id


def test_file_export_is_otlp_json_the_receiver_reads(
    replayed: Path, tmp_path: Path, receiver: Any
) -> None:
    out = tmp_path / "run.jsonl"
    with Ledger(replayed, read_only=True) as ledger:
        export_run(ledger, "r1", file=out)
        want = run_totals(ledger, "r1")
    lines = out.read_text().splitlines()
    first = json.loads(lines[0])
    span = first["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
    assert len(span["traceId"]) == 32 and int(span["traceId"], 16)  # hex, as OTLP/JSON says
    rx, url, path = receiver()
    for line in lines:
        assert post(url + "/v1/traces", line.encode(), content_type="application/json")[0] == 200
    rx.stop()
    with Ledger(path, read_only=True) as ledger:
        assert run_totals(ledger, "otel-r1") == want


def test_demo_round_trip_lands_as_the_same_run(tmp_path: Path, receiver: Any) -> None:
    original = tmp_path / "demo.duckdb"
    replay(load_dataset(DEMO), ledger=original, config=recorded_config(0.3), run_id="demo")
    rx, url, path = receiver(token="s3cret")
    with Ledger(original, read_only=True) as ledger:
        want = run_totals(ledger, "demo")
        report = export_run(ledger, "demo", endpoint=url, token="s3cret")
    assert report.failed_spans == 0
    counts = rx.stop()
    assert counts.accepted_spans == counts.written_spans == report.spans
    with Ledger(path, read_only=True) as ledger:
        got = run_totals(ledger, "otel-demo")
        status = (
            ledger.cursor().execute("SELECT status FROM runs WHERE run_id = 'otel-demo'").fetchall()
        )
    assert got[0] == want[0] == 20 and got[1] == want[1]
    assert got[2] == pytest.approx(want[2], rel=1e-12)
    assert status == [("finished",)]


def test_livekit_agents_spans_become_a_priced_run(receiver: Any) -> None:
    from opentelemetry import trace

    spans, provider = livekit_llm_spans(["What is the launch date?", "Who owns pricing?"])
    session = next(s for s in spans if s.name == "agent_session")
    tracer = provider.get_tracer("test")
    ctx = trace.set_span_in_context(trace.NonRecordingSpan(session.get_span_context()))
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    memory = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    metrics = {"ttfb": 0.2, "audio_duration": 3.5, "characters_count": 40, "label": "tts"}
    with tracer.start_as_current_span("tts_request", context=ctx) as tts:
        tts.set_attribute(c.LK_TTS_METRICS, json.dumps(metrics))
    with tracer.start_as_current_span("user_turn", context=ctx) as turn:  # 1.8's attributes
        turn.set_attributes(
            {
                c.GEN_AI_REQUEST_MODEL: "nova-3",
                c.GEN_AI_PROVIDER: "deepgram",
                c.LK_USER_TRANSCRIPT: "what is the launch date",
                c.LK_PARTICIPANT: "alice",
            }
        )
    with tracer.start_as_current_span("something_new", context=ctx):
        pass
    spans += list(memory.get_finished_spans())
    rx, url, path = receiver()
    assert post(url + "/v1/traces", encode(spans))[0] == 200
    live = json.loads(get(url + "/status")[1])
    assert live["accepted_spans"] == len(spans)
    counts = rx.stop()
    status = rx.status()
    assert counts.requests == 2 and counts.calls == 4  # 2 llm, 1 tts, 1 stt
    assert status["unknown_spans"] == {"something_new": 1}
    assert status["structure_spans"] >= 3  # agent_session, llm_request_run x2
    assert status["unpriced_models"] == {"unknown:tts": 1}  # no TTS price known: counted
    with Ledger(path, read_only=True) as ledger:
        (run_id,) = [r[0] for r in ledger.cursor().execute("SELECT run_id FROM runs").fetchall()]
        assert run_id.startswith("otel-team-agent-")
        rows = (
            ledger.cursor()
            .execute(
                "SELECT question, answer, llm_model_requested, input_tokens, output_tokens, "
                "total_cost_usd FROM requests ORDER BY media_t_s"
            )
            .fetchall()
        )
        calls = dict(
            ledger.cursor()
            .execute("SELECT stage, sum(cost_usd) FROM calls GROUP BY stage")
            .fetchall()
        )
        stt = (
            ledger.cursor()
            .execute("SELECT provider, model_requested, audio_s FROM calls WHERE stage='stt'")
            .fetchall()
        )
    from genai_prices import Usage, calc_price

    first = rows[0]
    assert (
        first[0] == "What is the launch date?" and first[1] == "answer to What is the launch date?"
    )
    assert first[2] == "gpt-4o-mini" and first[3] == 40 + len(first[0]) and first[4] == 12
    price = float(
        calc_price(
            Usage(input_tokens=first[3], output_tokens=12),
            model_ref="gpt-4o-mini",
            provider_id="openai",
        ).total_price
    )
    assert first[5] == pytest.approx(price) and price > 0
    assert calls["stt"] > 0  # deepgram nova-3 per audio minute
    assert stt[0][:2] == ("deepgram", "nova-3")


def _one_span_body(name: str = "llm_request", **attrs: Any) -> bytes:
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    provider = TracerProvider(resource=Resource.create({"service.name": "flood"}))
    memory = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    with provider.get_tracer("t").start_as_current_span(name) as span:
        span.set_attributes(
            {
                c.GEN_AI_REQUEST_MODEL: "gpt-4o-mini",
                c.GEN_AI_PROVIDER: "openai",
                c.GEN_AI_INPUT_TOKENS: 10,
                c.GEN_AI_OUTPUT_TOKENS: 5,
                **attrs,
            }
        )
    return encode(memory.get_finished_spans())


def test_bad_bodies_are_400_counted_and_the_receiver_goes_on(receiver: Any) -> None:
    rx, url, _ = receiver()
    assert post(url + "/v1/traces", b"\xff\xff\xff not protobuf")[0] == 400
    assert post(url + "/v1/traces", b"{not json", content_type="application/json")[0] == 400
    assert (
        post(url + "/v1/traces", b'{"resourceSpans": 3}', content_type="application/json")[0] == 400
    )
    bad = _one_span_body(**{c.GEN_AI_INPUT_TOKENS: "many"})  # a span whose tokens are text
    assert post(url + "/v1/traces", bad)[0] == 200
    assert post(url + "/v1/traces", _one_span_body())[0] == 200
    counts = rx.stop()
    assert counts.malformed_bodies == 3
    assert sum(counts.malformed_spans.values()) == 1 and counts.requests == 1


def test_token_is_required_when_set(receiver: Any) -> None:
    rx, url, _ = receiver(token="right")
    body = _one_span_body()
    assert post(url + "/v1/traces", body)[0] == 401
    assert post(url + "/v1/traces", body, token="wrong")[0] == 401
    assert get(url + "/status")[0] == 401
    assert post(url + "/v1/traces", body, token="right")[0] == 200
    assert get(url + "/status", token="right")[0] == 200
    counts = rx.stop()
    assert counts.unauthorized == 3 and counts.requests == 1


def test_a_body_over_the_limit_is_413(receiver: Any) -> None:
    rx, url, _ = receiver(max_body_bytes=2000)
    assert post(url + "/v1/traces", b"\x00" * 5000)[0] == 413
    assert post(url + "/v1/traces", _one_span_body())[0] == 200
    assert rx.stop().too_large == 1


def test_a_flood_is_bounded_and_loses_no_accepted_span(receiver: Any) -> None:
    """6 threads (6 sessions) post 15 bodies of 20 llm spans each to a receiver that holds at most
    60 spans: posts over the bound get 503 and are retried (as the OTLP exporters do), every
    accepted span lands, the queue never holds more than 60. Bounded in count and in time."""
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    provider = TracerProvider(resource=Resource.create({"service.name": "flood"}))
    memory = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("t")
    per_thread: list[list[bytes]] = []
    for _ in range(6):
        mine = []
        with tracer.start_as_current_span("agent_session"):
            for _ in range(15):
                memory.clear()
                for _ in range(20):
                    with tracer.start_as_current_span("llm_request") as span:
                        span.set_attributes(
                            {
                                c.GEN_AI_REQUEST_MODEL: "gpt-4o-mini",
                                c.GEN_AI_PROVIDER: "openai",
                                c.GEN_AI_INPUT_TOKENS: 10,
                                c.GEN_AI_OUTPUT_TOKENS: 5,
                            }
                        )
                mine.append(encode(memory.get_finished_spans()))
        per_thread.append(mine)
    rx, url, path = receiver(max_pending_spans=60, flush_every_s=0.05)
    deadline = time.monotonic() + 120
    statuses: list[int] = []

    def worker(mine: list[bytes]) -> None:
        for body in mine:
            while time.monotonic() < deadline:
                status = post(url + "/v1/traces", body)[0]
                statuses.append(status)
                if status == 200:
                    break
                time.sleep(0.02)

    threads = [threading.Thread(target=worker, args=(mine,)) for mine in per_thread]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    counts = rx.stop()
    bodies = sum(len(m) for m in per_thread)
    assert statuses.count(200) == bodies and set(statuses) <= {200, 503}, rx.status()
    assert counts.busy == statuses.count(503)
    assert counts.max_pending_spans <= 60
    assert counts.accepted_spans == counts.written_spans == bodies * 20
    with Ledger(path, read_only=True) as ledger:
        n = ledger.cursor().execute("SELECT count(*) FROM requests").fetchall()[0][0]
        runs = (
            ledger.cursor()
            .execute("SELECT count(*) FROM runs WHERE status = 'finished'")
            .fetchall()[0][0]
        )
    assert n == counts.requests == bodies * 20 and runs == 6


def test_a_receiver_spools_while_another_process_holds_the_ledger(tmp_path: Path) -> None:
    from support.ledger import held_by_another_process

    from assistant.ledger.spool import ingest, pending_segments

    path = tmp_path / "held.duckdb"
    Ledger(path).close()
    spans, _ = livekit_llm_spans(["Is the ledger held?"])
    with held_by_another_process(path):
        rx = Receiver(path, port=0)
        host, port = rx.start()
        assert post(f"http://{host}:{port}/v1/traces", encode(spans))[0] == 200
        counts = rx.stop()
        assert counts.written_spans == len(spans) and rx.sink.spooled_segments >= 2
        assert pending_segments(path)
    with Ledger(path) as ledger:
        ingest(ledger)
        rows = ledger.cursor().execute("SELECT run_id, status FROM runs").fetchall()
        assert len(rows) == 1 and rows[0][1] == "finished"
        assert run_totals(ledger, rows[0][0])[0] == 1


def test_follow_exports_each_row_once_and_stops_when_the_run_ends(
    replayed: Path, tmp_path: Path
) -> None:
    from assistant.telemetry.follow import follow_run

    path = tmp_path / "live.duckdb"
    with Ledger(replayed, read_only=True) as ledger:
        requests, calls, _ = run_totals(ledger, "r1")
    import shutil

    shutil.copy(replayed, path)
    with Ledger(path) as ledger:
        ledger.cursor().execute("UPDATE runs SET status = 'running' WHERE run_id = 'r1'")
    out = tmp_path / "live.jsonl"
    report = follow_run(path, "r1", file=out, poll_s=0.01, max_polls=3)  # still running: 3 polls
    assert report.spans == requests + calls  # each once, however many polls
    assert report.traces == requests + calls - _tied_calls(path)
    with Ledger(path) as ledger:
        ledger.finish_run("r1", status="finished")
    again = follow_run(path, "r1", file=tmp_path / "again.jsonl", poll_s=0.01)  # ends at once
    assert again.spans == requests + calls


def _tied_calls(path: Path) -> int:
    with Ledger(path, read_only=True) as ledger:
        return int(
            ledger.cursor()
            .execute("SELECT count(*) FROM calls WHERE run_id = 'r1' AND request_id IS NOT NULL")
            .fetchall()[0][0]
        )


def test_the_commands(replayed: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from assistant.cli.registry import main

    out = tmp_path / "cli.jsonl"
    assert main(["export-otel", "--run", "r1", "--ledger", str(replayed), "--file", str(out)]) == 0
    assert "run r1:" in capsys.readouterr().out and out.read_text().count("\n") >= 1
    assert (
        main(["export-otel", "--run", "nope", "--ledger", str(replayed), "--file", str(out)]) == 2
    )
    assert "no run 'nope'" in capsys.readouterr().err
    assert (
        main(["export-otel", "--run", "r1", "--ledger", str(replayed), "--endpoint", "ftp://x"])
        == 2
    )
    rx_ledger = tmp_path / "new.duckdb"
    status = tmp_path / "status.json"
    code = main(
        ["otel-receive", "--ledger", str(rx_ledger), "--port", "0", "--duration", "0.5",
         "--status-file", str(status)]
    )  # fmt: skip
    assert code == 0 and rx_ledger.exists()
    printed = capsys.readouterr().out
    assert "receiving OTLP/HTTP traces on http://127.0.0.1:" in printed and "no token" in printed
    assert json.loads(status.read_text())["stopped"] is True


def test_a_fault_in_the_writer_is_counted_and_the_receiver_goes_on(receiver: Any) -> None:
    rx, url, _ = receiver()
    real = rx.mapper.map
    calls = {"n": 0}

    def flaky(spans: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("boom")
        return real(spans)

    rx.mapper.map = flaky
    assert post(url + "/v1/traces", _one_span_body())[0] == 200
    assert post(url + "/v1/traces", _one_span_body())[0] == 200
    counts = rx.stop()
    assert counts.dropped_spans == 1 and counts.requests == 1 and counts.written_spans == 1
    assert "boom" in (counts.last_error or "")


def test_a_large_run_exports_every_span(replayed: Path) -> None:
    """More spans than one flush window (``FLUSH_SPANS``): none is dropped by the SDK's queue."""
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from assistant.telemetry.export import FLUSH_SPANS, export_rows

    with Ledger(replayed, read_only=True) as ledger:
        run, requests, calls = run_rows(ledger, "r1")
    first = requests[0]
    mine = [c for c in calls if c["request_id"] == first["request_id"]]
    many = [
        {**first, "request_id": f"r1:q{i}"} for i in range(FLUSH_SPANS // max(1, len(mine)) + 500)
    ]
    many_calls = [
        {**c, "call_id": f"{c['call_id']}-{i}", "request_id": f"r1:q{i}"}
        for i in range(len(many))
        for c in mine
    ]
    memory = InMemorySpanExporter()
    report = export_rows(run, many, many_calls, memory, target="memory")
    assert report.spans == len(many) + len(many_calls) > FLUSH_SPANS
    assert len(memory.get_finished_spans()) == report.spans == report.exported_spans
