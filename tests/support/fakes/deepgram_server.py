"""A local fake of Deepgram's listen v1 API: pre-recorded HTTP and live WebSocket.

``POST /v1/listen`` answers from a per-test script of ``Reply`` values (a transcript, a documented
error body with its status, a stall longer than the client's timeout, a malformed body); with the
script empty it answers the default transcript. The WebSocket ``/v1/listen`` plays ``live_script``
(one list of words per final result) as the audio it covers arrives, flushes the rest on
``CloseStream``, then sends ``Metadata`` and closes. Payload shapes follow Deepgram's documented
responses. Everything received is recorded (``requests``, ``sessions``) for assertions.

HTTP and WebSocket listen on two OS-assigned ports on 127.0.0.1 (``http_url`` and ``ws_url``): the
``websockets`` server only speaks GET, and the SDK takes one URL per protocol anyway.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import uuid
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from websockets.datastructures import Headers
from websockets.http11 import Request, Response
from websockets.sync.server import Server, ServerConnection, serve

MODEL_UUID = "3b3aabe4-608a-46ac-9585-7960a25daf1a"
MODEL_INFO = {"name": "general-nova-3", "version": "2024-12-20.0", "arch": "nova-3"}
CREATED = "2025-04-08T16:15:45.798Z"

#: (punctuated word, start seconds, end seconds, confidence), times relative to the audio sent.
FakeWord = tuple[str, float, float, float]

DEFAULT_WORDS: list[FakeWord] = [
    ("Hello,", 0.12, 0.4, 0.99),
    ("world.", 0.48, 0.9, 0.97),
    ("Next", 2.0, 2.3, 0.95),
    ("slide", 2.34, 2.6, 0.93),
    ("please.", 2.64, 3.0, 0.91),
]


@dataclass(frozen=True, slots=True)
class Reply:
    """One scripted HTTP answer."""

    status: int = 200
    body: dict[str, Any] | bytes | None = None  # None: a transcript of ``words``
    headers: dict[str, str] = field(default_factory=dict)
    stall_s: float = 0.0  # wait this long before answering (longer than the client's timeout)
    words: list[FakeWord] | None = None

    @staticmethod
    def transcript(words: list[FakeWord] | None = None) -> Reply:
        return Reply(words=words)

    @staticmethod
    def error(status: int, err_code: str, err_msg: str, *, retry_after: str | None = None) -> Reply:
        body = {"err_code": err_code, "err_msg": err_msg, "request_id": str(uuid.uuid4())}
        headers = {"Retry-After": retry_after} if retry_after is not None else {}
        return Reply(status=status, body=body, headers=headers)

    @staticmethod
    def stall(seconds: float) -> Reply:
        return Reply(stall_s=seconds)


@dataclass(slots=True)
class RecordedRequest:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # lower-case names
    body: bytes


@dataclass(slots=True)
class LiveSession:
    query: dict[str, str]
    headers: dict[str, str]  # lower-case names
    audio_bytes: int = 0
    frames: int = 0
    controls: list[dict[str, Any]] = field(default_factory=list)  # JSON text messages received
    sent: list[dict[str, Any]] = field(default_factory=list)  # JSON messages sent

    @property
    def close_stream_received(self) -> bool:
        return any(c.get("type") == "CloseStream" for c in self.controls)


def _word(w: FakeWord) -> dict[str, Any]:
    text, start, end, confidence = w
    bare = re.sub(r"[^\w']", "", text).lower()
    return {
        "word": bare,
        "start": start,
        "end": end,
        "confidence": confidence,
        "punctuated_word": text,
    }


def _transcript(words: list[FakeWord]) -> str:
    return " ".join(w[0] for w in words)


def _split(words: list[FakeWord], gap_s: float) -> list[list[FakeWord]]:
    groups: list[list[FakeWord]] = []
    for w in words:
        if groups and w[1] - groups[-1][-1][2] < gap_s:
            groups[-1].append(w)
        else:
            groups.append([w])
    return groups


def _confidence(words: list[FakeWord]) -> float:
    return round(sum(w[3] for w in words) / len(words), 4) if words else 0.0


def prerecorded_body(
    words: list[FakeWord], *, duration_s: float, utterances: bool, utt_split_s: float = 0.8
) -> dict[str, Any]:
    """A documented ``ListenV1Response`` body (metadata + results)."""
    alternative = {
        "transcript": _transcript(words),
        "confidence": _confidence(words),
        "words": [_word(w) for w in words],
    }
    results: dict[str, Any] = {"channels": [{"alternatives": [alternative]}]}
    if utterances:
        results["utterances"] = [
            {
                "start": group[0][1],
                "end": group[-1][2],
                "confidence": _confidence(group),
                "channel": 0,
                "transcript": _transcript(group),
                "words": [_word(w) for w in group],
                "id": str(uuid.uuid4()),
            }
            for group in _split(words, utt_split_s)
        ]
    metadata = {
        "transaction_key": "deprecated",
        "request_id": str(uuid.uuid4()),
        "sha256": hashlib.sha256(json.dumps(words).encode()).hexdigest(),
        "created": CREATED,
        "duration": duration_s,
        "channels": 1,
        "models": [MODEL_UUID],
        "model_info": {MODEL_UUID: MODEL_INFO},
    }
    return {"metadata": metadata, "results": results}


def _wav_duration_s(body: bytes) -> float:
    """Duration of a 16-bit PCM WAV body (the fake only needs what the adapter sends)."""
    if body[:4] != b"RIFF" or len(body) < 44:
        return 0.0
    rate = int.from_bytes(body[24:28], "little")
    channels = int.from_bytes(body[22:24], "little")
    return (len(body) - 44) / (2 * channels * rate) if rate and channels else 0.0


class FakeDeepgram:
    """Start with ``with FakeDeepgram() as fake:``; script ``fake.replies`` / ``fake.live_script``."""

    def __init__(self, *, words: list[FakeWord] | None = None) -> None:
        self.replies: deque[Reply] = deque()
        self.default_words = words if words is not None else list(DEFAULT_WORDS)
        self.requests: list[RecordedRequest] = []
        self.sessions: list[LiveSession] = []
        self.live_script: list[list[FakeWord]] = []  # each list: one final result
        self.live_interim = True  # send an interim (is_final false) before each final
        self.live_reject: Reply | None = None  # refuse the WebSocket handshake with this status
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._http: ThreadingHTTPServer | None = None
        self._ws: Server | None = None
        self._threads: list[threading.Thread] = []

    # -- lifecycle ---------------------------------------------------------------------------
    def __enter__(self) -> FakeDeepgram:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                fake._handle_post(self)

            def log_message(self, format: str, *args: Any) -> None:  # quiet
                pass

        self._http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._http.daemon_threads = True
        self._http.block_on_close = False
        self._ws = serve(self._handle_live, "127.0.0.1", 0, process_request=self._handshake)
        for target in (lambda: self._serve_http(), self._ws.serve_forever):
            thread = threading.Thread(target=target, daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def _serve_http(self) -> None:
        assert self._http is not None
        self._http.serve_forever(poll_interval=0.02)

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
        if self._ws is not None:
            self._ws.shutdown()
        for thread in self._threads:
            thread.join(timeout=5)

    @property
    def http_url(self) -> str:
        assert self._http is not None
        return f"http://127.0.0.1:{self._http.server_address[1]}"

    @property
    def ws_url(self) -> str:
        assert self._ws is not None
        return f"ws://127.0.0.1:{self._ws.socket.getsockname()[1]}"

    # -- pre-recorded ------------------------------------------------------------------------
    def _handle_post(self, handler: BaseHTTPRequestHandler) -> None:
        url = urlsplit(handler.path)
        body = handler.rfile.read(int(handler.headers.get("Content-Length", 0)))
        request = RecordedRequest(
            method="POST",
            path=url.path,
            query=dict(parse_qsl(url.query)),
            headers={k.lower(): v for k, v in handler.headers.items()},
            body=body,
        )
        with self._lock:
            self.requests.append(request)
            reply = self.replies.popleft() if self.replies else Reply()
        if url.path != "/v1/listen":
            reply = Reply.error(404, "NOT_FOUND", f"no route {url.path}")
        if reply.stall_s and self._stop.wait(reply.stall_s):
            return
        payload = reply.body
        if payload is None:
            payload = prerecorded_body(
                reply.words if reply.words is not None else self.default_words,
                duration_s=_wav_duration_s(body),
                utterances=request.query.get("utterances") == "true",
                utt_split_s=float(request.query.get("utt_split", 0.8)),
            )
        data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        try:
            handler.send_response(reply.status)
            content_type = "text/plain" if isinstance(payload, bytes) else "application/json"
            handler.send_header("Content-Type", content_type)
            handler.send_header("Content-Length", str(len(data)))
            handler.send_header("dg-request-id", str(uuid.uuid4()))
            for name, value in reply.headers.items():
                handler.send_header(name, value)
            handler.end_headers()
            handler.wfile.write(data)
        except OSError:  # the client gave up (a stall past its timeout)
            pass

    # -- live --------------------------------------------------------------------------------
    def _handshake(self, connection: ServerConnection, request: Request) -> Response | None:
        reject = self.live_reject
        if reject is None:
            return None
        body = json.dumps(reject.body or {}).encode()
        headers = Headers({"Content-Type": "application/json", **reject.headers})
        return Response(reject.status, "Rejected", headers, body)

    def _handle_live(self, connection: ServerConnection) -> None:
        request = connection.request
        assert request is not None
        url = urlsplit(request.path)
        session = LiveSession(
            query=dict(parse_qsl(url.query)),
            headers={k.lower(): v for k, v in request.headers.raw_items()},
        )
        with self._lock:
            self.sessions.append(session)
            script = deque(self.live_script)
        rate = int(session.query.get("sample_rate", 16000))
        window_start_s = 0.0

        def send(message: dict[str, Any]) -> None:
            session.sent.append(message)
            connection.send(json.dumps(message))

        def emit(words: list[FakeWord], until_s: float) -> None:
            nonlocal window_start_s
            for is_final in (False, True) if self.live_interim else (True,):
                send(_live_result(words, window_start_s, until_s, is_final=is_final))
            window_start_s = until_s

        for message in connection:
            if isinstance(message, bytes):
                session.frames += 1
                session.audio_bytes += len(message)
                received_s = session.audio_bytes / (2 * rate)
                while script and script[0][-1][2] <= received_s:
                    emit(script.popleft(), received_s)
                continue
            control = json.loads(message)
            session.controls.append(control)
            if control.get("type") == "CloseStream":
                received_s = session.audio_bytes / (2 * rate)
                while script:
                    words = script.popleft()
                    emit(words, max(received_s, words[-1][2]))
                send(_live_metadata(received_s))
                connection.close()
                return


def _live_result(
    words: list[FakeWord], start_s: float, end_s: float, *, is_final: bool
) -> dict[str, Any]:
    return {
        "type": "Results",
        "channel_index": [0, 1],
        "duration": round(end_s - start_s, 3),
        "start": round(start_s, 3),
        "is_final": is_final,
        "speech_final": is_final,
        "channel": {
            "alternatives": [
                {
                    "transcript": _transcript(words),
                    "confidence": _confidence(words),
                    "words": [_word(w) for w in words],
                }
            ]
        },
        "metadata": {
            "request_id": str(uuid.uuid4()),
            "model_info": MODEL_INFO,
            "model_uuid": MODEL_UUID,
        },
        "from_finalize": False,
    }


def _live_metadata(duration_s: float) -> dict[str, Any]:
    return {
        "type": "Metadata",
        "transaction_key": "deprecated",
        "request_id": str(uuid.uuid4()),
        "sha256": hashlib.sha256(str(duration_s).encode()).hexdigest(),
        "created": CREATED,
        "duration": duration_s,
        "channels": 1,
        "models": [MODEL_UUID],
        "model_info": {MODEL_UUID: MODEL_INFO},
    }
