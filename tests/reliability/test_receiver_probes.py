"""The OTLP receiver under the probes that once lost spans or crashed it (issue 20, items 1, 4, 5).

One table: a request (headers, body) → the status the receiver answers and the counter it moves;
the receiver goes on serving after each, and nothing but the good post reaches the ledger. The
next probe is one row. The gzip case also runs through the real OpenTelemetry OTLP/HTTP exporter
with ``compression=Gzip`` (what ``OTEL_EXPORTER_OTLP_COMPRESSION=gzip`` selects).
"""

from __future__ import annotations

import gzip
import http.client
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from assistant.ledger import Ledger
from assistant.telemetry import conventions as c
from assistant.telemetry.receiver import Receiver


def _spans(n: int) -> list[Any]:
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    provider = TracerProvider(resource=Resource.create({"service.name": "probe"}))
    memory = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("t")
    with tracer.start_as_current_span("agent_session"):
        for _ in range(n):
            with tracer.start_as_current_span("llm_request") as span:
                span.set_attributes(
                    {
                        c.GEN_AI_REQUEST_MODEL: "gpt-4o-mini",
                        c.GEN_AI_PROVIDER: "openai",
                        c.GEN_AI_INPUT_TOKENS: 10,
                        c.GEN_AI_OUTPUT_TOKENS: 5,
                    }
                )
    return [s for s in memory.get_finished_spans() if s.name == "llm_request"]


def _body(n: int = 1) -> bytes:
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans

    return bytes(encode_spans(_spans(n)).SerializeToString())


def _post(url: str, body: bytes, headers: dict[str, bytes | str]) -> tuple[int, str]:
    """Raw http.client, so a header can carry bytes that are not ASCII."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=30)
    try:
        conn.putrequest("POST", "/v1/traces")
        sent = {"Content-Type": "application/x-protobuf", **headers}
        for name, value in sent.items():
            conn.putheader(name, value)
        conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body)
        response = conn.getresponse()
        return response.status, response.read().decode("utf-8", "replace")
    finally:
        conn.close()


@dataclass(frozen=True)
class Probe:
    name: str
    body: Callable[[], bytes]
    status: int
    counter: str  # the Counts field the answer moves
    headers: dict[str, bytes | str] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)  # Receiver(...) options
    says: str = ""  # a phrase the answer's text holds


PROBES = [
    Probe("gzip protobuf", lambda: gzip.compress(_body()), 200, "accepted_spans",
          headers={"Content-Encoding": "gzip"}),
    Probe("gzip, upper-case label", lambda: gzip.compress(_body()), 200, "accepted_spans",
          headers={"Content-Encoding": "GZIP"}),
    Probe("labelled gzip, not gzip", _body, 400, "malformed_bodies",
          headers={"Content-Encoding": "gzip"}),
    Probe("an encoding we do not read", _body, 400, "malformed_bodies",
          headers={"Content-Encoding": "br"}, says="use gzip"),
    Probe("JSON nested 100,000 deep", lambda: b"[" * 100_000 + b"]" * 100_000, 400,
          "malformed_bodies", headers={"Content-Type": "application/json"}, says="too deep"),
    Probe("JSON object nested deep", lambda: b'{"a":' * 50_000 + b"1" + b"}" * 50_000, 400,
          "malformed_bodies", headers={"Content-Type": "application/json"}),
    Probe("non-ASCII bytes in Authorization", _body, 401, "unauthorized",
          headers={"Authorization": b"Bearer \xff\xfe\xc3("}, options={"token": "right-token"}),
    Probe("a batch larger than the queue", lambda: _body(30), 413, "too_large",
          options={"max_pending_spans": 20}, says="--queue-spans"),
    Probe("a gzip bomb over the body limit", lambda: gzip.compress(b"\x00" * 200_000), 413,
          "too_large", headers={"Content-Encoding": "gzip"}, options={"max_body_bytes": 50_000}),
]


@pytest.fixture
def start(tmp_path: Path) -> Iterator[Callable[..., tuple[Receiver, str, Path]]]:
    made: list[Receiver] = []

    def run(**options: Any) -> tuple[Receiver, str, Path]:
        path = tmp_path / f"r{len(made)}.duckdb"
        Ledger(path).close()
        rx = Receiver(path, port=0, flush_every_s=0.05, **options)
        host, port = rx.start()
        made.append(rx)
        return rx, f"http://{host}:{port}", path

    yield run
    for rx in made:
        rx.stop()


def _requests(path: Path) -> int:
    with Ledger(path, read_only=True) as ledger:
        return int(ledger.cursor().execute("SELECT count(*) FROM requests").fetchall()[0][0])


@pytest.mark.parametrize("probe", PROBES, ids=[p.name for p in PROBES])
def test_probe(probe: Probe, start: Callable[..., tuple[Receiver, str, Path]]) -> None:
    rx, url, path = start(**probe.options)
    status, text = _post(url, probe.body(), probe.headers)
    assert status == probe.status, text
    assert probe.says in text
    assert "\n" not in text.strip()
    assert getattr(rx.counts, probe.counter) >= 1
    # the receiver carries on: a good post after the probe lands
    good = {"Authorization": "Bearer right-token"} if "token" in probe.options else {}
    assert _post(url, _body(), good)[0] == 200
    counts = rx.stop()
    accepted = 2 if probe.status == 200 else 1
    assert counts.accepted_spans == counts.written_spans == counts.requests == accepted
    assert _requests(path) == accepted  # nothing from a refused probe reached the ledger


def test_the_real_exporter_with_gzip_lands_every_span(
    start: Callable[..., tuple[Receiver, str, Path]],
) -> None:
    from opentelemetry.exporter.otlp.proto.http import Compression
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.trace.export import SpanExportResult

    rx, url, path = start()
    exporter = OTLPSpanExporter(endpoint=url + "/v1/traces", compression=Compression.Gzip)
    try:
        assert exporter.export(_spans(7)) == SpanExportResult.SUCCESS
    finally:
        exporter.shutdown()
    counts = rx.stop()
    assert counts.malformed_bodies == 0
    assert counts.accepted_spans == counts.written_spans == 7
    assert _requests(path) == 7


def test_the_exporter_reads_gzip_from_the_environment(
    start: Callable[..., tuple[Receiver, str, Path]], monkeypatch: pytest.MonkeyPatch
) -> None:
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.trace.export import SpanExportResult

    rx, url, path = start()
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip")
    exporter = OTLPSpanExporter(endpoint=url + "/v1/traces")
    try:
        assert exporter.export(_spans(3)) == SpanExportResult.SUCCESS
    finally:
        exporter.shutdown()
    assert rx.stop().written_spans == 3 and _requests(path) == 3
