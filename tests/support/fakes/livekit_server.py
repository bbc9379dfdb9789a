"""A local fake of LiveKit's RoomService (Twirp over HTTP): CreateRoom, ListRooms, DeleteRoom,
ListParticipants (``video.roomAdmin``; ``add_participant`` seats someone publishing tracks).

Wire format, as livekit-api 1.2.x speaks it: ``POST /twirp/livekit.RoomService/<Method>`` with
``Content-Type: application/protobuf`` (the SDK's) or ``application/json`` (protojson, what curl
users send); the answer uses the request's content type. ``Authorization: Bearer <JWT>`` is checked
like livekit-server does: HS256 signed with the secret of the key in ``iss``, ``exp`` required, and
the grant each method needs (``video.roomCreate`` for CreateRoom and DeleteRoom, ``video.roomList``
for ListRooms). Errors are Twirp JSON (``{"code": "not_found", "msg": "room not found"}``) with
Twirp's HTTP status; a token that does not verify gets livekit-server's plain-text 401.

Room semantics follow livekit-server's room allocator: CreateRoom on an existing name updates that
room (non-zero timeouts and limits, non-empty metadata) instead of failing; DeleteRoom of a missing
room is ``not_found``. ``add_room`` plants rooms directly (foreign metadata, auto-created rooms);
``failures`` scripts error answers; ``requests`` records everything received.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
from google.protobuf import json_format
from google.protobuf.message import DecodeError, Message
from livekit.protocol.models import ParticipantInfo, Room, TrackInfo, TrackSource, TrackType
from livekit.protocol.room import (
    CreateRoomRequest,
    DeleteRoomRequest,
    DeleteRoomResponse,
    ListParticipantsRequest,
    ListParticipantsResponse,
    ListRoomsRequest,
    ListRoomsResponse,
)

PREFIX = "/twirp/livekit.RoomService/"
PROTOBUF = "application/protobuf"
JSON = "application/json"
# Twirp's error codes and the HTTP status each one is sent with (twitchtv/twirp errors.go).
TWIRP_STATUS = {
    "canceled": 408,
    "invalid_argument": 400,
    "malformed": 400,
    "deadline_exceeded": 408,
    "not_found": 404,
    "bad_route": 404,
    "already_exists": 409,
    "permission_denied": 403,
    "unauthenticated": 401,
    "resource_exhausted": 429,
    "failed_precondition": 412,
    "aborted": 409,
    "out_of_range": 400,
    "unimplemented": 501,
    "internal": 500,
    "unavailable": 503,
    "dataloss": 500,
    "unknown": 500,
}
# method -> (request class, grant it needs)
METHODS: dict[str, tuple[type[Message], str]] = {
    "CreateRoom": (CreateRoomRequest, "roomCreate"),
    "ListRooms": (ListRoomsRequest, "roomList"),
    "DeleteRoom": (DeleteRoomRequest, "roomCreate"),
    "ListParticipants": (ListParticipantsRequest, "roomAdmin"),
}


class TwirpFailure(Exception):
    def __init__(self, code: str, msg: str) -> None:
        super().__init__(msg)
        self.code = code
        self.msg = msg
        self.status = TWIRP_STATUS[code]


@dataclass(slots=True)
class RecordedRequest:
    method: str  # Twirp method, e.g. "CreateRoom" ("" for a bad route)
    path: str
    content_type: str
    headers: dict[str, str]  # lower-case names
    claims: dict[str, Any] | None  # the verified JWT claims
    message: Message | None  # the decoded request
    status: int = 0  # the HTTP status answered


class FakeLiveKit:
    """``with FakeLiveKit() as lk:`` then ``LiveKitAPI(lk.url, lk.api_key, lk.api_secret)``."""

    def __init__(
        self, *, api_key: str = "devkey", api_secret: str = "fake-livekit-secret-at-least-32-bytes"
    ) -> None:
        self.keys = {api_key: api_secret}
        self.api_key = api_key
        self.api_secret = api_secret
        self.rooms: dict[str, Room] = {}
        self.participants: dict[str, list[ParticipantInfo]] = {}
        self.requests: list[RecordedRequest] = []
        self.failures: deque[TwirpFailure] = deque()  # answered, in order, before any real work
        self._lock = threading.Lock()
        self._http: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def __enter__(self) -> FakeLiveKit:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                fake._handle(self)

            def log_message(self, format: str, *args: Any) -> None:  # quiet
                pass

        self._http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._http.daemon_threads = True
        self._http.block_on_close = False
        self._thread = threading.Thread(
            target=self._http.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    @property
    def url(self) -> str:
        """``ws://`` like a LiveKit URL; the SDK turns it into ``http://`` for the API."""
        assert self._http is not None
        return f"ws://127.0.0.1:{self._http.server_address[1]}"

    def add_room(self, name: str, *, metadata: str = "", num_participants: int = 0) -> Room:
        """Plant a room as if another client (or a join with auto-create) had made it."""
        room = self._new_room(name)
        room.metadata = metadata
        room.num_participants = num_participants
        with self._lock:
            self.rooms[name] = room
        return room

    def add_participant(
        self, room: str, identity: str, *, name: str = "", tracks: tuple[str, ...] = ()
    ) -> ParticipantInfo:
        """Put a participant in ``room`` publishing ``tracks`` (TrackSource names, e.g.
        "SCREEN_SHARE", "MICROPHONE"), as a joined client would appear."""
        now_ms = int(time.time() * 1000)
        published = [
            TrackInfo(
                sid=f"TR_{uuid.uuid4().hex[:12]}",
                source=TrackSource.Value(source),
                type=TrackType.AUDIO
                if source in ("MICROPHONE", "SCREEN_SHARE_AUDIO")
                else TrackType.VIDEO,
                width=0 if source == "MICROPHONE" else 1280,
                height=0 if source == "MICROPHONE" else 720,
            )
            for source in tracks
        ]
        participant = ParticipantInfo(
            sid=f"PA_{uuid.uuid4().hex[:12]}",
            identity=identity,
            name=name,
            state=ParticipantInfo.State.ACTIVE,
            joined_at=now_ms // 1000,
            joined_at_ms=now_ms,
            is_publisher=bool(published),
            tracks=published,
        )
        with self._lock:
            self.participants.setdefault(room, []).append(participant)
        return participant

    def calls(self, method: str) -> list[RecordedRequest]:
        return [r for r in self.requests if r.method == method]

    # -- HTTP ----------------------------------------------------------------------------------
    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        body = handler.rfile.read(int(handler.headers.get("Content-Length", 0)))
        content_type = (handler.headers.get("Content-Type") or "").split(";")[0].strip()
        method = handler.path[len(PREFIX) :] if handler.path.startswith(PREFIX) else ""
        record = RecordedRequest(
            method=method if method in METHODS else "",
            path=handler.path,
            content_type=content_type,
            headers={k.lower(): v for k, v in handler.headers.items()},
            claims=None,
            message=None,
        )
        with self._lock:
            self.requests.append(record)
        try:
            if method not in METHODS:
                raise TwirpFailure("bad_route", f"no handler for path {handler.path}")
            if content_type not in (PROTOBUF, JSON):
                raise TwirpFailure("bad_route", f"unexpected Content-Type: {content_type!r}")
            request_class, grant = METHODS[method]
            claims = self._authenticate(handler.headers.get("Authorization"))
            if claims is None:
                record.status = 401
                return self._send(handler, 401, b"invalid authorization token", "text/plain")
            record.claims = claims
            if not (claims.get("video") or {}).get(grant):
                raise TwirpFailure("unauthenticated", "permissions denied")
            record.message = self._decode(request_class, body, content_type)
            with self._lock:
                if self.failures:
                    raise self.failures.popleft()
                reply = getattr(self, f"_{method}")(record.message)
        except TwirpFailure as failure:
            record.status = failure.status
            error = json.dumps({"code": failure.code, "msg": failure.msg}).encode()
            return self._send(handler, failure.status, error, JSON)
        record.status = 200
        if content_type == JSON:
            data = json_format.MessageToJson(reply).encode()
        else:
            data = reply.SerializeToString()
        self._send(handler, 200, data, content_type)

    def _authenticate(self, header: str | None) -> dict[str, Any] | None:
        if not header or not header.startswith("Bearer "):
            return {}  # no grants: every method then answers "permissions denied"
        token = header[len("Bearer ") :]
        try:
            issuer = jwt.decode(token, options={"verify_signature": False}).get("iss", "")
            secret = self.keys.get(issuer)
            if secret is None:
                return None
            claims: dict[str, Any] = jwt.decode(
                token,
                secret,
                algorithms=["HS256"],
                issuer=issuer,
                options={"require": ["exp", "iss"]},
            )
        except jwt.PyJWTError:
            return None
        return claims

    @staticmethod
    def _decode(request_class: type[Message], body: bytes, content_type: str) -> Message:
        message = request_class()
        try:
            if content_type == JSON:
                json_format.Parse(body or b"{}", message, ignore_unknown_fields=True)
            else:
                message.ParseFromString(body)
        except (DecodeError, json_format.ParseError) as e:
            raise TwirpFailure("malformed", f"the request body could not be decoded: {e}") from e
        return message

    @staticmethod
    def _send(handler: BaseHTTPRequestHandler, status: int, data: bytes, content_type: str) -> None:
        handler.send_response(status)
        handler.send_header("Content-Type", content_type)
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)

    # -- RoomService (called with the lock held) ------------------------------------------------
    @staticmethod
    def _new_room(name: str) -> Room:
        now_ms = int(time.time() * 1000)
        return Room(
            sid=f"RM_{uuid.uuid4().hex[:12]}",
            name=name,
            empty_timeout=300,  # livekit-server's defaults
            departure_timeout=20,
            creation_time=now_ms // 1000,
            creation_time_ms=now_ms,
        )

    def _CreateRoom(self, request: Message) -> Room:
        assert isinstance(request, CreateRoomRequest)
        if not request.name:
            raise TwirpFailure("invalid_argument", "room name is required")
        room = self.rooms.get(request.name) or self._new_room(request.name)
        if request.empty_timeout > 0:
            room.empty_timeout = request.empty_timeout
        if request.max_participants > 0:
            room.max_participants = request.max_participants
        if request.metadata:
            room.metadata = request.metadata
        self.rooms[request.name] = room
        return room

    def _ListRooms(self, request: Message) -> ListRoomsResponse:
        assert isinstance(request, ListRoomsRequest)
        names = list(request.names)
        rooms = [r for n, r in self.rooms.items() if not names or n in names]
        return ListRoomsResponse(rooms=rooms)

    def _ListParticipants(self, request: Message) -> ListParticipantsResponse:
        assert isinstance(request, ListParticipantsRequest)
        if request.room not in self.rooms:
            raise TwirpFailure("not_found", "room not found")
        return ListParticipantsResponse(participants=self.participants.get(request.room, []))

    def _DeleteRoom(self, request: Message) -> DeleteRoomResponse:
        assert isinstance(request, DeleteRoomRequest)
        if self.rooms.pop(request.room, None) is None:
            raise TwirpFailure("not_found", "room not found")
        return DeleteRoomResponse()
