"""Local fakes of the OpenAI, Anthropic and Gemini HTTP APIs, on one loopback server.

The real SDKs talk to it (they send through httpx2, which respx does not intercept). Routes:
``POST /v1/chat/completions`` (OpenAI; base URL ``openai_url``), ``POST /v1/messages`` (Anthropic;
``url``), ``POST /v1/models/{model}:generateContent`` and ``:streamGenerateContent?alt=sse``
(Gemini, ``url``; google-genai 3.x defaults to ``v1``, older SDKs to ``v1beta``, both served). Each vendor answers from its own script of ``Reply`` values, rendered in that
vendor's documented format, or a default answer when the script is empty:

- OpenAI: a ``chat.completion`` object, or ``chat.completion.chunk`` SSE events (role, content,
  finish_reason, then the ``include_usage`` chunk with empty ``choices``) and ``data: [DONE]``;
  errors as ``{"error": {"message", "type", "param", "code"}}``.
- Anthropic: a ``message`` object, or ``message_start`` (input usage), ``content_block_start``,
  ``ping``, ``content_block_delta`` (``text_delta``), ``content_block_stop``, ``message_delta``
  (stop reason, output usage), ``message_stop``; errors as ``{"type": "error", "error": {"type",
  "message"}, "request_id"}`` with a ``request-id`` header.
- Gemini: a ``GenerateContentResponse`` (``candidates``, ``usageMetadata``, ``modelVersion``,
  ``responseId``), or one per SSE ``data:`` line, the last with ``finishReason`` and full usage;
  errors as ``{"error": {"code", "message", "status", "details"}}`` (a rate limit carries
  ``google.rpc.RetryInfo``, a bad key 400 with ``ErrorInfo`` reason ``API_KEY_INVALID``).

A ``Reply`` may also stall (longer than the client's timeout), send a body that is not JSON, or
cut a stream after ``n`` events: ``cut="reset"`` drops the connection mid-body (a chunked body
without its last chunk), ``cut="clean"`` ends the body early but properly, ``cut="error"`` sends
the vendor's in-stream error event (OpenAI ``server_error``, Anthropic ``overloaded_error``,
Gemini 503 ``UNAVAILABLE``). The bad-key error
echoes the key it was sent, verbatim (real vendors mask most of it: this is the worst case).
Every request is recorded (``requests``) with its JSON body, when it arrived and when its reply
was sent (``time.monotonic()``), and its attempt number (1 + the earlier requests to the same vendor
with the same body: a retry sends the same body).

``script(fn)`` answers per request instead of from the queue: ``fn(request, attempt)`` returns the
``Reply`` (or None for the queue / default answer), so a test can fault one question's requests by
their text and attempt. ``Reply.stall_mid_stream(after, seconds)`` sends ``after`` events and then
goes quiet for ``seconds`` (longer than the client's read timeout) before dropping the connection.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal
from urllib.parse import parse_qsl, urlsplit

Vendor = Literal["openai", "anthropic", "google"]
DEFAULT_PARTS = ("The launch moved to ", "14 March [1]", "; the budget is $40k [3][2].")
MODELS = {
    "openai": "gpt-4o-mini-2024-07-18",
    "anthropic": "claude-sonnet-4-6",
    "google": "gemini-2.5-flash",
}


@dataclass(frozen=True, slots=True)
class Reply:
    """One scripted answer; ``kind`` picks what is rendered in the vendor's format."""

    kind: Literal["answer", "error", "raw"] = "answer"
    parts: tuple[str, ...] = DEFAULT_PARTS
    input_tokens: int = 123
    output_tokens: int = 17
    status: int = 200
    error: str = ""  # rate_limit | bad_key | not_found | server | overloaded
    retry_after_s: int | None = None
    raw: bytes = b""
    content_type: str = "application/json"
    stall_s: float = 0.0
    cut_after: int | None = None  # events sent before the stream is cut
    cut: Literal["reset", "clean", "error", "stall"] = "reset"  # error: in-stream error event
    tool_call: tuple[str, str] | None = None  # (function name, JSON arguments): OpenAI streams only

    @staticmethod
    def answer(*parts: str, input_tokens: int = 123, output_tokens: int = 17) -> Reply:
        return Reply(
            parts=parts or DEFAULT_PARTS, input_tokens=input_tokens, output_tokens=output_tokens
        )

    @staticmethod
    def tool(name: str, arguments: str, *, input_tokens: int = 123) -> Reply:
        """An OpenAI stream that calls the function ``name`` with ``arguments`` (JSON text)."""
        return Reply(parts=(), tool_call=(name, arguments), input_tokens=input_tokens)

    @staticmethod
    def rate_limited(retry_after_s: int = 2) -> Reply:
        return Reply(kind="error", status=429, error="rate_limit", retry_after_s=retry_after_s)

    @staticmethod
    def server_error(status: int = 500) -> Reply:
        return Reply(kind="error", status=status, error="overloaded" if status == 529 else "server")

    @staticmethod
    def bad_key() -> Reply:
        return Reply(kind="error", status=401, error="bad_key")

    @staticmethod
    def not_found() -> Reply:
        return Reply(kind="error", status=404, error="not_found")

    @staticmethod
    def stall(seconds: float) -> Reply:
        return Reply(stall_s=seconds)

    @staticmethod
    def malformed(body: bytes = b'{"id": "x", "choices": [', *, stream: bool = False) -> Reply:
        if stream:
            return Reply(
                kind="raw", raw=b"data: " + body + b"\n\n", content_type="text/event-stream"
            )
        return Reply(kind="raw", raw=body)

    @staticmethod
    def cut_stream(after: int, how: Literal["reset", "clean"] = "reset") -> Reply:
        return Reply(cut_after=after, cut=how)

    @staticmethod
    def stall_mid_stream(after: int, seconds: float) -> Reply:
        """``after`` events, then silence for ``seconds``, then the connection is dropped."""
        return Reply(cut_after=after, cut="stall", stall_s=seconds)

    @staticmethod
    def stream_error(after: int = 2) -> Reply:
        """``after`` events, then the vendor's in-stream error (server error / overloaded)."""
        return Reply(cut_after=after, cut="error")


@dataclass(slots=True)
class RecordedRequest:
    vendor: Vendor
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # lower-case names
    body: dict[str, Any]
    at: float = 0.0  # time.monotonic() when it arrived
    replied_at: float | None = None  # when its reply (or a stream's last byte) was sent
    attempt: int = 1  # 1 + earlier requests to this vendor with the same body

    @property
    def text(self) -> str:
        """The body as one string (to match a question in whatever field the vendor puts it)."""
        return json.dumps(self.body, ensure_ascii=False)


def _sse(data: Any, event: str | None = None) -> bytes:
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {json.dumps(data)}\n\n".encode()


# -- OpenAI ------------------------------------------------------------------------------------
def openai_events(reply: Reply, model: str) -> list[bytes]:
    base = {"id": "chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT", "object": "chat.completion.chunk",
            "created": 1741569952, "model": model, "service_tier": "default",
            "system_fingerprint": "fp_06737a9306", "usage": None}  # fmt: skip

    def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
        return _sse({**base, "choices": [choice]})

    usage = {"prompt_tokens": reply.input_tokens, "completion_tokens": reply.output_tokens,
             "total_tokens": reply.input_tokens + reply.output_tokens,
             "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
             "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0}}  # fmt: skip
    calls: list[bytes] = []
    if reply.tool_call is not None:  # the documented shape: name first, arguments in pieces
        name, arguments = reply.tool_call
        call = {"index": 0, "id": "call_Fl9aXcQ3wz7bN2", "type": "function"}
        half = len(arguments) // 2
        calls = [
            chunk({"tool_calls": [{**call, "function": {"name": name, "arguments": ""}}]}),
            chunk({"tool_calls": [{"index": 0, "function": {"arguments": arguments[:half]}}]}),
            chunk({"tool_calls": [{"index": 0, "function": {"arguments": arguments[half:]}}]}),
        ]
    return [
        chunk({"role": "assistant", "content": None if calls else "", "refusal": None}),
        *(chunk({"content": part}) for part in reply.parts),
        *calls,
        chunk({}, "tool_calls" if calls else "stop"),
        _sse({**base, "choices": [], "usage": usage}),
        b"data: [DONE]\n\n",
    ]


def openai_completion(reply: Reply, model: str) -> dict[str, Any]:
    text = "".join(reply.parts)
    message: dict[str, Any] = {
        "role": "assistant",
        "content": text,
        "refusal": None,
        "annotations": [],
    }
    return {
        "id": "chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG", "object": "chat.completion",
        "created": 1741570283, "model": model,
        "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": reply.input_tokens, "completion_tokens": reply.output_tokens,
                  "total_tokens": reply.input_tokens + reply.output_tokens},
        "service_tier": "default", "system_fingerprint": "fp_fc9f1d7035",
    }  # fmt: skip


def openai_error(reply: Reply, key: str, model: str) -> tuple[dict[str, Any], dict[str, str]]:
    message, kind, code = {
        "rate_limit": (f"Rate limit reached for {model} on requests per min (RPM): Limit 3, Used 3, "
                       "Requested 1. Please try again in 2s.", "requests", "rate_limit_exceeded"),
        "bad_key": (f"Incorrect API key provided: {key}. You can find your API key at "
                    "https://platform.openai.com/account/api-keys.", "invalid_request_error", "invalid_api_key"),
        "not_found": (f"The model `{model}` does not exist or you do not have access to it.",
                      "invalid_request_error", "model_not_found"),
    }.get(reply.error, ("The server had an error while processing your request. Sorry about that!",
                        "server_error", None))  # fmt: skip
    return {"error": {"message": message, "type": kind, "param": None, "code": code}}, {}


# -- Anthropic ---------------------------------------------------------------------------------
def anthropic_events(reply: Reply, model: str) -> list[bytes]:
    message: dict[str, Any] = {"id": "msg_01XFDUDYJgAACzvnptvVoYEL", "type": "message", "role": "assistant",
               "content": [], "model": model, "stop_reason": None, "stop_sequence": None,
               "usage": {"input_tokens": reply.input_tokens, "cache_creation_input_tokens": 0,
                         "cache_read_input_tokens": 0, "output_tokens": 1}}  # fmt: skip
    return [
        _sse({"type": "message_start", "message": message}, "message_start"),
        _sse({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
             "content_block_start"),
        _sse({"type": "ping"}, "ping"),
        *(_sse({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": p}},
               "content_block_delta") for p in reply.parts),
        _sse({"type": "content_block_stop", "index": 0}, "content_block_stop"),
        _sse({"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": None},
              "usage": {"output_tokens": reply.output_tokens}}, "message_delta"),
        _sse({"type": "message_stop"}, "message_stop"),
    ]  # fmt: skip


def anthropic_message(reply: Reply, model: str) -> dict[str, Any]:
    return {
        "id": "msg_013Zva2CMHLNnXjNJJKqJ2EF", "type": "message", "role": "assistant", "model": model,
        "content": [{"type": "text", "text": "".join(reply.parts)}],
        "stop_reason": "end_turn", "stop_sequence": None,
        "usage": {"input_tokens": reply.input_tokens, "output_tokens": reply.output_tokens},
    }  # fmt: skip


def anthropic_error(reply: Reply, key: str, model: str) -> tuple[dict[str, Any], dict[str, str]]:
    kind, message = {
        "rate_limit": (
            "rate_limit_error",
            "Number of request tokens has exceeded your per-minute rate limit",
        ),
        "bad_key": ("authentication_error", f"invalid x-api-key: {key}"),
        "not_found": ("not_found_error", f"model: {model}"),
        "overloaded": ("overloaded_error", "Overloaded"),
    }.get(reply.error, ("api_error", "Internal server error"))
    body = {"type": "error", "error": {"type": kind, "message": message},
            "request_id": "req_011CSHoEeqs5C35K2UUqR7Fy"}  # fmt: skip
    return body, {"request-id": "req_011CSHoEeqs5C35K2UUqR7Fy"}


# -- Gemini ------------------------------------------------------------------------------------
def google_response(
    reply: Reply, model: str, parts: tuple[str, ...], *, last: bool
) -> dict[str, Any]:
    candidate: dict[str, Any] = {"content": {"parts": [{"text": p} for p in parts], "role": "model"},
                                 "index": 0}  # fmt: skip
    usage: dict[str, Any] = {"promptTokenCount": reply.input_tokens,
                             "totalTokenCount": reply.input_tokens,
                             "promptTokensDetails": [{"modality": "TEXT", "tokenCount": reply.input_tokens}]}  # fmt: skip
    if last:  # the last chunk: the finish reason and the full usage (2 thinking tokens)
        candidate["finishReason"] = "STOP"
        usage.update(candidatesTokenCount=reply.output_tokens - 2, thoughtsTokenCount=2,
                     totalTokenCount=reply.input_tokens + reply.output_tokens)  # fmt: skip
    return {"candidates": [candidate], "usageMetadata": usage, "modelVersion": model,
            "responseId": "mK3pZ8ygOoWZ1dkPq4zK4Qw"}  # fmt: skip


def google_events(reply: Reply, model: str) -> list[bytes]:
    n = len(reply.parts)
    return [
        f"data: {json.dumps(google_response(reply, model, (p,), last=i == n - 1))}\r\n\r\n".encode()
        for i, p in enumerate(reply.parts)
    ]


def google_error(reply: Reply, key: str, model: str) -> tuple[dict[str, Any], dict[str, str]]:
    status, code, message, details = {
        "rate_limit": (429, "RESOURCE_EXHAUSTED", "You exceeded your current quota, please check your "
                       "plan and billing details.",
                       [{"@type": "type.googleapis.com/google.rpc.RetryInfo",
                         "retryDelay": f"{reply.retry_after_s}s"}]),
        "bad_key": (400, "INVALID_ARGUMENT", f"API key not valid. Please pass a valid API key. ({key})",
                    [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID",
                      "domain": "googleapis.com",
                      "metadata": {"service": "generativelanguage.googleapis.com"}}]),
        "not_found": (404, "NOT_FOUND", f"models/{model} is not found for API version v1, or is not "
                      "supported for generateContent.", []),
    }.get(reply.error, (reply.status, "UNAVAILABLE" if reply.status == 503 else "INTERNAL",
                        "An internal error has occurred.", []))  # fmt: skip
    return {"error": {"code": status, "message": message, "status": code, "details": details}}, {}


#: What each vendor sends when a stream fails after it began (documented in-stream errors).
STREAM_ERRORS: dict[str, bytes] = {
    "openai": _sse({"error": {"message": "The server had an error while processing your request.",
                              "type": "server_error", "param": None, "code": None}}),
    "anthropic": _sse({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}},
                      "error"),
    "google": _sse({"error": {"code": 503, "message": "The model is overloaded. Please try again later.",
                              "status": "UNAVAILABLE"}}),
}  # fmt: skip


ERRORS = {"openai": openai_error, "anthropic": anthropic_error, "google": google_error}
EVENTS = {"openai": openai_events, "anthropic": anthropic_events, "google": google_events}
WHOLE = {
    "openai": openai_completion,
    "anthropic": anthropic_message,
    "google": lambda reply, model: google_response(reply, model, reply.parts, last=True),
}


# -- the server --------------------------------------------------------------------------------
class FakeVendors:
    """Start with ``with FakeVendors() as fake:``; script with ``fake.push("openai", Reply...)``."""

    def __init__(self) -> None:
        self.scripts: dict[str, deque[Reply]] = {v: deque() for v in MODELS}
        self.requests: list[RecordedRequest] = []
        self._script_fn: Callable[[RecordedRequest, int], Reply | None] | None = None
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._http: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def __enter__(self) -> FakeVendors:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                try:
                    fake._handle(self)
                except OSError:  # the client gave up (a timeout test): nothing to answer
                    self.close_connection = True

            def log_message(self, format: str, *args: Any) -> None:  # quiet
                pass

        self._http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._http.daemon_threads = True
        self._http.block_on_close = False
        self._thread = threading.Thread(
            target=lambda: self._http.serve_forever(poll_interval=0.02),  # type: ignore[union-attr]
            daemon=True,
        )
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    @property
    def url(self) -> str:
        assert self._http is not None
        return f"http://127.0.0.1:{self._http.server_address[1]}"

    @property
    def openai_url(self) -> str:
        return f"{self.url}/v1"

    def push(self, vendor: Vendor, *replies: Reply) -> None:
        with self._lock:
            self.scripts[vendor].extend(replies)

    def script(self, fn: Callable[[RecordedRequest, int], Reply | None] | None) -> None:
        """Answer each request with ``fn(request, attempt)``; None falls back to ``push``'s queue."""
        with self._lock:
            self._script_fn = fn

    def of(self, vendor: Vendor) -> list[RecordedRequest]:
        return [r for r in self.requests if r.vendor == vendor]

    # -- handling ------------------------------------------------------------------------------
    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        url = urlsplit(h.path)
        raw = h.rfile.read(int(h.headers.get("Content-Length", 0)))
        headers = {k.lower(): v for k, v in h.headers.items()}
        vendor: Vendor | None = None
        if url.path == "/v1/chat/completions":
            vendor, key = "openai", headers.get("authorization", "").removeprefix("Bearer ")
        elif url.path == "/v1/messages":
            # anthropic 2.x sends the key as a bearer token; older SDKs sent x-api-key
            bearer = headers.get("authorization", "").removeprefix("Bearer ")
            vendor, key = "anthropic", headers.get("x-api-key", bearer)
        elif url.path.startswith(("/v1/models/", "/v1beta/models/")):  # google-genai 3.x: v1
            vendor, key = "google", headers.get("x-goog-api-key", "")
        if vendor is None:
            self._send(h, 404, json.dumps({"error": f"no route {url.path}"}).encode(), {})
            return
        body = json.loads(raw or b"{}")
        with self._lock:
            attempt = 1 + sum(1 for r in self.requests if r.vendor == vendor and r.body == body)
            request = RecordedRequest(
                vendor,
                url.path,
                dict(parse_qsl(url.query)),
                headers,
                body,
                at=time.monotonic(),
                attempt=attempt,
            )
            self.requests.append(request)
            reply = self._script_fn(request, attempt) if self._script_fn else None
            if reply is None:
                script = self.scripts[vendor]
                reply = script.popleft() if script else Reply()
        try:
            self._reply(h, vendor, key, url.path, body, reply)
        finally:
            request.replied_at = time.monotonic()

    def _reply(
        self,
        h: BaseHTTPRequestHandler,
        vendor: Vendor,
        key: str,
        path: str,
        body: dict[str, Any],
        reply: Reply,
    ) -> None:
        if reply.stall_s and reply.cut != "stall" and self._stop.wait(reply.stall_s):
            return
        model = MODELS[vendor]
        stream = path.endswith(":streamGenerateContent") or body.get("stream") is True
        if reply.kind == "raw":
            raw = reply.raw
            if vendor == "anthropic" and reply.content_type == "text/event-stream":
                raw = b"event: content_block_delta\n" + raw  # the SDK skips unnamed events
            self._send(h, reply.status, raw, {"Content-Type": reply.content_type})
        elif reply.kind == "error":
            payload, extra = ERRORS[vendor](reply, key, model)
            status = payload["error"]["code"] if vendor == "google" else reply.status
            if reply.retry_after_s is not None and vendor != "google":  # Gemini: RetryInfo only
                extra["Retry-After"] = str(reply.retry_after_s)
            self._send(h, status, json.dumps(payload).encode(), extra)
        elif stream:
            sent = EVENTS[vendor](reply, model)
            if reply.cut_after is not None:
                sent = sent[: reply.cut_after]
                if reply.cut == "error":
                    sent.append(STREAM_ERRORS[vendor])
            if reply.cut_after is not None and reply.cut == "stall":
                self._stream(h, sent, cut=False, stall=lambda: self._stop.wait(reply.stall_s))
            else:
                self._stream(h, sent, cut=reply.cut_after is not None and reply.cut == "reset")
        else:
            whole = WHOLE[vendor](reply, model)
            self._send(h, 200, json.dumps(whole).encode(), {})

    @staticmethod
    def _send(h: BaseHTTPRequestHandler, status: int, data: bytes, headers: dict[str, str]) -> None:
        h.send_response(status)
        for name, value in {"Content-Type": "application/json", **headers}.items():
            h.send_header(name, value)
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        h.wfile.write(data)

    @staticmethod
    def _stream(
        h: BaseHTTPRequestHandler,
        events: list[bytes],
        *,
        cut: bool,
        stall: Callable[[], object] | None = None,
    ) -> None:
        h.send_response(200)
        h.send_header("Content-Type", "text/event-stream; charset=utf-8")
        h.send_header("Transfer-Encoding", "chunked")
        h.end_headers()
        for event in events:
            h.wfile.write(f"{len(event):x}\r\n".encode() + event + b"\r\n")
            h.wfile.flush()
            time.sleep(0.001)  # separate chunks, as a real stream arrives
        if stall is not None:  # silence, then the connection is dropped without its last chunk
            stall()
            h.close_connection = True
            return
        if cut:
            h.close_connection = True  # no terminating chunk: the body is cut mid-way
            return
        h.wfile.write(b"0\r\n\r\n")
