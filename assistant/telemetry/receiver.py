"""An OTLP/HTTP trace receiver that writes what it hears into the ledger.

``POST /v1/traces`` takes an ``ExportTraceServiceRequest`` as protobuf (``application/x-protobuf``,
what the OpenTelemetry exporters send, gzip or not) or OTLP/JSON (``application/json``);
``GET /status`` says what came in. It binds to loopback unless told otherwise; with a token, every
request needs ``Authorization: Bearer TOKEN`` (401 without or with a wrong one). A body over the
limit, or a batch of more spans than the queue holds, is 413; one that does not decode (not gzip
though labelled so, nested too deep, another encoding) is 400; all are counted and the receiver
carries on.

Decoded spans wait in one bounded queue for the writer thread, which maps them to records
(``mapping``) and writes them through a ``PathSink``: the ledger file is opened per flush only, and
rows are spooled when the workbench holds it. When the spans queued and buffered reach the bound, a
post gets 503 with ``Retry-After`` (the OTLP exporters retry it), so memory stays bounded and every
accepted span lands. ``stop`` drains the queue, writes the last rows and closes the runs.
"""

from __future__ import annotations

import asyncio
import hmac
import os
import queue
import threading
import time
import zlib
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from assistant.core.errors import ConfigError, WorkbenchError
from assistant.telemetry.mapping import SpanMapper
from assistant.telemetry.otlp import OtlpDecodeError, Span, decode_json, decode_protobuf, spans_of

if TYPE_CHECKING:
    from aiohttp import web

    from assistant.ledger.sink import RunSink
    from assistant.pricing.prices import Pricer

TOKEN_ENV = "WORKBENCH_OTEL_TOKEN"
DEFAULT_PORT = 4318  # OTLP/HTTP's registered port
MAX_BODY_BYTES = 8 * 1024 * 1024
MAX_PENDING_SPANS = 50_000
CHECKPOINT_EVERY_S = 5.0
STOP_RETRIES = 120  # at stop, a flush that fails is retried every 0.5 s for a minute


@dataclass(slots=True)
class Counts:
    posts: int = 0
    accepted_spans: int = 0
    written_spans: int = 0
    runs: int = 0
    requests: int = 0
    calls: int = 0
    structure_spans: int = 0
    unauthorized: int = 0
    too_large: int = 0
    malformed_bodies: int = 0
    busy: int = 0  # 503: queue full
    flush_errors: int = 0
    dropped_spans: int = 0  # accepted, then lost to a fault in the writer (a bug: see last_error)
    max_pending_spans: int = 0
    unknown_spans: Counter[str] = field(default_factory=Counter)
    malformed_spans: Counter[str] = field(default_factory=Counter)
    unpriced: Counter[str] = field(default_factory=Counter)
    run_ids: list[str] = field(default_factory=list)
    last_error: str | None = None


class Receiver:
    """The server (its own thread and event loop) and the writer (another thread)."""

    def __init__(
        self,
        ledger: str | os.PathLike[str] | RunSink,
        *,
        host: str = "127.0.0.1",
        port: int = DEFAULT_PORT,
        token: str | None = None,
        tenant: str = "otel",
        pricer: Pricer | None = None,
        max_body_bytes: int = MAX_BODY_BYTES,
        max_pending_spans: int = MAX_PENDING_SPANS,
        flush_every_s: float = 1.0,
        flush_rows: int = 5000,
        notice: Any = None,
    ) -> None:
        from assistant.core.tenancy import validate_tenant_id
        from assistant.ledger.sink import open_sink

        if max_pending_spans < 1 or max_body_bytes < 1:
            raise ConfigError("the receiver's queue and body limits must be at least 1")
        self.sink = open_sink(ledger, notice=notice)
        self.host, self.port = host, port
        self.token = token or None
        self.max_body_bytes = max_body_bytes
        self.max_pending = max_pending_spans
        self.flush_every_s = flush_every_s
        self.flush_rows = flush_rows
        self.counts = Counts()
        self.mapper = SpanMapper(
            pricer=pricer,
            tenant=validate_tenant_id(tenant),
            run_taken=self._run_taken,
            suffix="" if self._can_read() else time.strftime("-%H%M%S"),
        )
        self._queue: queue.Queue[list[Span] | None] = queue.Queue()
        self._pending = 0  # spans accepted and not yet written
        self._lock = threading.Lock()
        self._started: list[str] = []
        self._failed_runs: set[str] = set()
        self._checkpointed: dict[str, float] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._server_thread: threading.Thread | None = None
        self._writer_thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._startup_error: BaseException | None = None

    # -- ledger reads ---------------------------------------------------------------------------
    def _can_read(self) -> bool:
        return self.sink.read(lambda _ledger: True) is not None

    def _run_taken(self, run_id: str) -> bool | None:
        from assistant.ledger.queries.runs import run_exists

        return self.sink.read(lambda ledger: run_exists(ledger, run_id))

    # -- lifecycle ------------------------------------------------------------------------------
    def start(self) -> tuple[str, int]:
        """Listen (in a thread); returns the address actually bound (``port=0``: any free one)."""
        self._writer_thread = threading.Thread(
            target=self._write_loop, name="otel-writer", daemon=True
        )
        self._writer_thread.start()
        self._server_thread = threading.Thread(target=self._serve, name="otel-http", daemon=True)
        self._server_thread.start()
        self._ready.wait(30)
        if self._startup_error is not None:
            self._queue.put(None)
            raise WorkbenchError(
                f"cannot listen on {self.host}:{self.port}: {self._startup_error}; "
                "pick another --port (or stop what holds it)"
            ) from self._startup_error
        return self.host, self.port

    def _serve(self) -> None:
        from aiohttp import web

        loop = asyncio.new_event_loop()
        self._loop = loop
        app = web.Application(client_max_size=self.max_body_bytes)
        app.router.add_post("/v1/traces", self._traces)
        app.router.add_get("/status", self._status)
        # aiohttp would inflate a gzip body itself (then ours failed on it: every gzip post was a
        # 400 and its spans were lost); ``_gunzip`` does it once, bounded by the body limit
        runner = web.AppRunner(app, access_log=None, auto_decompress=False)
        self._runner = runner
        try:
            loop.run_until_complete(runner.setup())
            site = web.TCPSite(runner, self.host, self.port)
            loop.run_until_complete(site.start())
            server = site._server
            sockets = getattr(server, "sockets", None) or []
            if sockets:
                self.port = int(sockets[0].getsockname()[1])
        except BaseException as exc:
            self._startup_error = exc
            self._ready.set()
            loop.close()
            return
        self._ready.set()
        loop.run_forever()
        loop.run_until_complete(runner.cleanup())
        loop.close()

    def stop(self) -> Counts:
        """Stop listening, write every accepted span, close the runs (finished)."""
        loop = self._loop
        if loop is not None and self._server_thread is not None and self._server_thread.is_alive():
            loop.call_soon_threadsafe(loop.stop)
            self._server_thread.join(30)
        if self._writer_thread is not None and self._writer_thread.is_alive():
            self._queue.put(None)
            self._writer_thread.join()
        for run_id in self._started:
            try:
                self.sink.finish_run(
                    run_id,
                    status="finished",
                    media_processed_s=self.mapper.media_processed_s(run_id),
                )
            except WorkbenchError as exc:
                self.counts.last_error = str(exc)
        return self.counts

    # -- HTTP -----------------------------------------------------------------------------------
    def _authorized(self, request: web.Request) -> bool:
        if self.token is None:
            return True
        given = request.headers.get("Authorization", "")
        try:
            given_bytes = given.encode()
        except UnicodeEncodeError:  # non-ASCII bytes in the header: wrong, not a crash
            return False
        return hmac.compare_digest(given_bytes, f"Bearer {self.token}".encode())

    async def _traces(self, request: web.Request) -> web.Response:
        from aiohttp import web

        with self._lock:
            self.counts.posts += 1
        if not self._authorized(request):
            with self._lock:
                self.counts.unauthorized += 1
            return web.Response(
                status=401,
                text="missing or wrong bearer token",
                headers={"WWW-Authenticate": "Bearer"},
            )
        if (request.content_length or 0) > self.max_body_bytes:
            return self._too_large()
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            return self._too_large()
        try:
            encoding = request.headers.get("Content-Encoding", "").strip().lower()
            if encoding == "gzip":
                body = self._gunzip(body)
            elif encoding not in ("", "identity"):
                raise OtlpDecodeError(f"Content-Encoding {encoding!r} is not supported: use gzip")
            if request.content_type == "application/json":
                spans = spans_of(decode_json(body))
                is_json = True
            else:
                spans = spans_of(decode_protobuf(body))
                is_json = False
        except _TooLarge:
            return self._too_large()
        except (OtlpDecodeError, zlib.error, OSError) as exc:
            with self._lock:
                self.counts.malformed_bodies += 1
                self.counts.last_error = str(exc)[:300]
            return web.Response(status=400, text=str(exc)[:300])
        if len(spans) > self.max_pending:  # 503 would be retried forever: it can never fit
            with self._lock:
                self.counts.too_large += 1
            return web.Response(
                status=413,
                text=(
                    f"{len(spans)} spans in one request, over the receiver's queue of "
                    f"{self.max_pending} (--queue-spans): raise it, or send smaller batches "
                    "(the exporter's max_export_batch_size)"
                ),
            )
        with self._lock:
            if spans and self._pending + len(spans) > self.max_pending:
                self.counts.busy += 1
                return web.Response(
                    status=503, text="receiver busy: retry", headers={"Retry-After": "1"}
                )
            self._pending += len(spans)
            self.counts.max_pending_spans = max(self.counts.max_pending_spans, self._pending)
            self.counts.accepted_spans += len(spans)
        if spans:
            self._queue.put(spans)
        if is_json:
            return web.Response(status=200, text="{}", content_type="application/json")
        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
            ExportTraceServiceResponse,
        )

        return web.Response(
            status=200,
            body=ExportTraceServiceResponse().SerializeToString(),
            content_type="application/x-protobuf",
        )

    def _gunzip(self, body: bytes) -> bytes:
        inflate = zlib.decompressobj(16 + zlib.MAX_WBITS)
        out = inflate.decompress(body, self.max_body_bytes + 1)
        if len(out) > self.max_body_bytes or inflate.unconsumed_tail:
            raise _TooLarge
        return out

    def _too_large(self) -> web.Response:
        from aiohttp import web

        with self._lock:
            self.counts.too_large += 1
        return web.Response(status=413, text=f"body over {self.max_body_bytes} bytes")

    async def _status(self, request: web.Request) -> web.Response:
        from aiohttp import web

        if not self._authorized(request):
            with self._lock:
                self.counts.unauthorized += 1
            return web.Response(status=401, text="missing or wrong bearer token")
        return web.json_response(self.status())

    def status(self) -> dict[str, Any]:
        with self._lock:
            counts = self.counts
            return {
                "address": f"http://{self.host}:{self.port}/v1/traces",
                "posts": counts.posts,
                "accepted_spans": counts.accepted_spans,
                "written_spans": counts.written_spans,
                "pending_spans": self._pending,
                "max_pending_spans": counts.max_pending_spans,
                "queue_bound": self.max_pending,
                "runs": list(counts.run_ids),
                "requests": counts.requests,
                "calls": counts.calls,
                "structure_spans": counts.structure_spans,
                "unknown_spans": dict(counts.unknown_spans),
                "malformed_spans": dict(counts.malformed_spans),
                "unpriced_models": dict(counts.unpriced),
                "unauthorized": counts.unauthorized,
                "too_large": counts.too_large,
                "malformed_bodies": counts.malformed_bodies,
                "busy": counts.busy,
                "flush_errors": counts.flush_errors,
                "dropped_spans": counts.dropped_spans,
                "spooled_segments": self.sink.spooled_segments,
                "last_error": counts.last_error,
            }

    def status_line(self) -> str:
        s = self.status()
        unknown = sum(s["unknown_spans"].values())
        malformed = sum(s["malformed_spans"].values())
        return (
            f"{s['accepted_spans']} spans accepted, {s['written_spans']} written "
            f"({len(s['runs'])} runs, {s['requests']} requests, {s['calls']} calls); "
            f"unknown {unknown}, malformed spans {malformed}, bad bodies {s['malformed_bodies']}, "
            f"401 {s['unauthorized']}, 413 {s['too_large']}, 503 {s['busy']}"
        )

    # -- the writer -----------------------------------------------------------------------------
    def _write_loop(self) -> None:
        waiting = 0  # spans mapped, rows buffered, not yet flushed
        touched: set[str] = set()
        last_flush = time.monotonic()
        done = False
        retries = 0
        while not done:
            try:
                batch = self._queue.get(timeout=max(0.05, self.flush_every_s / 4))
            except queue.Empty:
                batch = []
            if batch is None:
                done = True
                batch = []
            if batch:
                try:
                    self._take(batch, touched)
                except Exception as exc:  # a bug must not stop the writer: count and go on
                    with self._lock:
                        self.counts.dropped_spans += len(batch)
                        self.counts.last_error = f"writer: {type(exc).__name__}: {exc}"[:300]
                        self._pending -= len(batch)
                else:
                    waiting += len(batch)
            due = time.monotonic() - last_flush >= self.flush_every_s
            full = self.sink.pending_rows() >= self.flush_rows
            if waiting and (done or due or full):
                if self._flush(touched):
                    with self._lock:
                        self._pending -= waiting
                        self.counts.written_spans += waiting
                    waiting, touched = 0, set()
                elif done and retries < STOP_RETRIES:
                    retries += 1  # keep trying (the file may be busy): accepted spans stay
                    time.sleep(0.5)
                    done = False
                    self._queue.put(None)
                elif done:
                    with self._lock:
                        self.counts.dropped_spans += waiting
                        self._pending -= waiting
                last_flush = time.monotonic()

    def _take(self, batch: list[Span], touched: set[str]) -> None:
        """Map one batch, start its new runs, buffer its rows (flushed by the loop)."""
        from assistant.ledger.records import CallRecord, RequestRecord

        mapped = self.mapper.map(batch)
        for run in mapped.new_runs:
            try:
                self.sink.start_run(run)
                self._started.append(run.run_id)
                with self._lock:
                    self.counts.runs += 1
                    self.counts.run_ids.append(run.run_id)
            except WorkbenchError as exc:
                self._failed_runs.add(run.run_id)
                with self._lock:
                    self.counts.last_error = str(exc)[:300]
        requests = calls = 0
        for row in mapped.rows:
            if getattr(row, "run_id", None) in self._failed_runs:
                continue
            self.sink.append(row)
            requests += isinstance(row, RequestRecord)
            calls += isinstance(row, CallRecord)
        touched |= mapped.touched - self._failed_runs
        with self._lock:
            self.counts.requests += requests
            self.counts.calls += calls
            self.counts.structure_spans += mapped.structure
            self.counts.unknown_spans.update(mapped.unknown)
            self.counts.malformed_spans.update(mapped.malformed)
            self.counts.unpriced.update(mapped.unpriced)

    def _flush(self, touched: set[str]) -> bool:
        """The rows, in one transaction with the checkpoint of one run whose media reached is due
        (each run's at most every ``CHECKPOINT_EVERY_S``; ``stop`` closes every run with its own)."""
        from assistant.ledger.store import Checkpoint

        now = time.monotonic()
        due = sorted(
            r for r in touched if now - self._checkpointed.get(r, -1e9) >= CHECKPOINT_EVERY_S
        )
        checkpoint = None
        if due:
            run_id = due[0]
            state = next((s for s in self.mapper.runs.values() if s.run_id == run_id), None)
            media_s = self.mapper.media_processed_s(run_id) or 0.0
            checkpoint = Checkpoint(run_id, state.spans if state is not None else 0, media_s)
        try:
            self.sink.flush(checkpoint)
        except WorkbenchError as exc:
            with self._lock:
                self.counts.flush_errors += 1
                self.counts.last_error = str(exc)[:300]
            return False
        if checkpoint is not None:
            self._checkpointed[checkpoint.run_id] = now
        return True


class _TooLarge(Exception):
    pass


def token_from_env(token: str | None) -> str | None:
    """``--token``, else ``$WORKBENCH_OTEL_TOKEN``, else None (no token needed)."""
    return token or os.environ.get(TOKEN_ENV) or None
