"""OpenTelemetry helpers for tests: a loopback OTLP/HTTP sink that keeps every body, spans made by
the real livekit-agents LLM telemetry, and posting to a receiver."""

from __future__ import annotations

import asyncio
import http.server
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any


class _Capture(http.server.BaseHTTPRequestHandler):
    bodies: list[tuple[str, dict[str, str], bytes]]

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length)
        self.server.bodies.append((self.path, dict(self.headers), body))  # type: ignore[attr-defined]
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@contextmanager
def capture_server() -> Iterator[tuple[str, list[tuple[str, dict[str, str], bytes]]]]:
    """A loopback HTTP server that answers 200 to every POST and keeps (path, headers, body)."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Capture)
    server.bodies = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", server.bodies  # type: ignore[attr-defined]
    finally:
        server.shutdown()
        server.server_close()


def post(
    url: str, body: bytes, *, content_type: str = "application/x-protobuf", token: str | None = None
) -> tuple[int, bytes]:
    headers = {"Content-Type": content_type}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def get(url: str, *, token: str | None = None) -> tuple[int, bytes]:
    headers = {} if token is None else {"Authorization": f"Bearer {token}"}
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=30) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def encode(spans: Sequence[Any]) -> bytes:
    """SDK spans as the OTLP/HTTP exporter's protobuf body."""
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans

    return bytes(encode_spans(spans).SerializeToString())


def livekit_llm_spans(
    questions: Sequence[str], *, model: str = "gpt-4o-mini", provider: str = "openai"
) -> tuple[list[Any], Any]:
    """``llm_request`` spans from livekit-agents' own LLM telemetry (an LLM whose stream answers
    from a script, with token usage), inside an ``agent_session`` span; returns (spans, provider)
    so a test can add spans of its own to the same trace with the provider's tracer."""
    from livekit.agents import llm as lk
    from livekit.agents import telemetry
    from livekit.agents.types import DEFAULT_API_CONNECT_OPTIONS
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    class ScriptedStream(lk.LLMStream):
        async def _run(self) -> None:
            question = self._chat_ctx.items[-1].text_content or ""
            self._event_ch.send_nowait(
                lk.ChatChunk(
                    id="c", delta=lk.ChoiceDelta(role="assistant", content=f"answer to {question}")
                )
            )
            self._event_ch.send_nowait(
                lk.ChatChunk(
                    id="c",
                    usage=lk.CompletionUsage(
                        completion_tokens=12, prompt_tokens=40 + len(question), total_tokens=0
                    ),
                )
            )

    class ScriptedLLM(lk.LLM):
        @property
        def model(self) -> str:
            return model

        @property
        def provider(self) -> str:
            return provider

        def chat(
            self,
            *,
            chat_ctx: Any,
            tools: Any = None,
            conn_options: Any = DEFAULT_API_CONNECT_OPTIONS,
            **_: Any,
        ) -> Any:
            return ScriptedStream(
                self, chat_ctx=chat_ctx, tools=tools or [], conn_options=conn_options
            )

    tracer_provider = TracerProvider(resource=Resource.create({"service.name": "team-agent"}))
    memory = InMemorySpanExporter()
    tracer_provider.add_span_processor(SimpleSpanProcessor(memory))
    telemetry.set_tracer_provider(tracer_provider)
    tracer = tracer_provider.get_tracer("test")

    async def run() -> None:
        agent = ScriptedLLM()
        with tracer.start_as_current_span("agent_session"):
            for question in questions:
                ctx = lk.ChatContext.empty()
                ctx.add_message(role="user", content=question)
                async with agent.chat(chat_ctx=ctx) as stream:
                    async for _ in stream:
                        pass

    asyncio.run(run())
    return list(memory.get_finished_spans()), tracer_provider
