"""What the Rooms and Live room pages show of LiveKit: no Streamlit import, testable on its own.

Every function returns a :class:`~assistant.views.result.View` instead of raising (``ok`` with a
``value`` and a report, or an error kind: INVALID input, an UNAVAILABLE server or settings), so a
page shows the message of a failed call and never a traceback.
Room operations go through :mod:`assistant.livekit.admin` (tenant-scoped names and metadata).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from importlib.util import find_spec
from typing import Any

from assistant.core.errors import RoomError, WorkbenchError
from assistant.core.tenancy import ID_RULE, TenantContext
from assistant.livekit.admin import LiveKitSettings, RoomAdmin, RoomInfo, run_sync
from assistant.livekit.tokens import mint_token, verify_token
from assistant.views.result import ErrorKind, View

SETUP_HINT = "Set them in the environment of `streamlit run app.py`, then reload the page."
AGENT_MODULE = "assistant.agent"
AGENT_COMMAND = "python -m assistant.agent dev"


Outcome = View[Any]
"""A room operation's result (the name it had before every page call returned a View)."""


def livekit_settings(environ: Mapping[str, str] | None = None) -> View[Any]:
    """The LiveKit settings from the environment, or which variables to set (names only)."""
    try:
        settings = LiveKitSettings.from_env(environ)
    except RoomError as exc:
        return View.fail(ErrorKind.UNAVAILABLE, f"{exc}. {SETUP_HINT}")
    return View(settings, f"LiveKit at {settings.url} (key {settings.api_key})")


def _tenant(tenant_id: str) -> TenantContext | View[Any]:
    """The tenant's context, or the failed View that says why the id is not valid."""
    ctx = tenant_context(tenant_id)
    return ctx.data if ctx.data is not None else ctx


def tenant_context(tenant_id: str) -> View[TenantContext]:
    try:
        return View(TenantContext(tenant_id.strip()), "")
    except RoomError as exc:
        return View.fail(ErrorKind.INVALID, str(exc))


def room_rows(rooms: list[RoomInfo]) -> list[dict[str, Any]]:
    """Rooms as table rows (full name, short name, participants, created, limits, metadata)."""
    return [
        {
            "room": r.room,
            "name": r.name,
            "participants": r.num_participants,
            "max_participants": r.max_participants,
            "created_at": r.created_at,
            "empty_timeout_s": r.empty_timeout_s,
            "metadata": json.dumps(dict(r.custom), ensure_ascii=False, sort_keys=True),
            "sid": r.sid,
        }
        for r in rooms
    ]


def list_rooms(settings: LiveKitSettings, tenant_id: str) -> View[Any]:
    """The tenant's rooms as table rows (``value``: a list of dicts, maybe empty)."""
    ctx = _tenant(tenant_id)
    if isinstance(ctx, View):
        return ctx
    try:
        rooms = run_sync(RoomAdmin(settings).list_rooms(ctx))
    except WorkbenchError as exc:
        return View.fail(ErrorKind.UNAVAILABLE, str(exc))
    if not rooms:
        return View(
            [],
            f"Tenant {ctx.tenant_id} has no rooms yet: create one below "
            f"(or `python -m assistant rooms create --tenant {ctx.tenant_id} --room standup`).",
        )
    return View(room_rows(rooms), f"{len(rooms)} room(s) of tenant {ctx.tenant_id}")


def list_participants(settings: LiveKitSettings, tenant_id: str, room: str) -> View[Any]:
    """Who is in one of the tenant's rooms and what each publishes, as table rows."""
    ctx = _tenant(tenant_id)
    if isinstance(ctx, View):
        return ctx
    try:
        people = run_sync(RoomAdmin(settings).list_participants(ctx, room))
    except WorkbenchError as exc:
        return View.fail(ErrorKind.UNAVAILABLE, str(exc))
    rows = [
        {
            "identity": p.identity,
            "name": p.name,
            "state": p.state,
            "joined_at": p.joined_at,
            "tracks": ", ".join(
                f"{t.source.lower().replace('_', ' ')}"
                + (f" {t.width}x{t.height}" if t.kind == "VIDEO" and t.width else "")
                + (" (muted)" if t.muted else "")
                for t in p.tracks
            )
            or "none",
        }
        for p in people
    ]
    if not rows:
        return View([], f"Nobody is in {room} right now.")
    return View(rows, f"{len(rows)} participant(s) in {room}")


def parse_metadata(text: str) -> View[Any]:
    """Room or token metadata typed in a text box: empty, or a JSON object."""
    if not text.strip():
        return View(None, "")
    try:
        value = json.loads(text)
    except ValueError as exc:
        return View.fail(
            ErrorKind.INVALID,
            f'metadata is not JSON ({exc}): give an object, e.g. {{"topic": "standup"}}',
        )
    if not isinstance(value, dict):
        return View.fail(ErrorKind.INVALID, 'metadata must be a JSON object, e.g. {"topic": "standup"}')
    return View(value, "")


def create_room(
    settings: LiveKitSettings,
    tenant_id: str,
    room: str,
    *,
    metadata_text: str = "",
    empty_timeout_s: int = 300,
    max_participants: int = 10,
) -> View[Any]:
    ctx = _tenant(tenant_id)
    metadata = parse_metadata(metadata_text)
    if isinstance(ctx, View):
        return ctx
    if not metadata.ok:
        return metadata
    try:
        info = run_sync(
            RoomAdmin(settings).create_room(
                ctx,
                room.strip(),
                metadata=metadata.value,
                empty_timeout_s=empty_timeout_s,
                max_participants=max_participants,
            )
        )
    except WorkbenchError as exc:
        return View.fail(ErrorKind.UNAVAILABLE, str(exc))
    return View(info, f"Room {info.name} is ready (max {info.max_participants} participants).")


def delete_room(settings: LiveKitSettings, tenant_id: str, room: str) -> View[Any]:
    ctx = _tenant(tenant_id)
    if isinstance(ctx, View):
        return ctx
    try:
        run_sync(RoomAdmin(settings).delete_room(ctx, room))
    except WorkbenchError as exc:
        return View.fail(ErrorKind.UNAVAILABLE, str(exc))
    return View(None, f"Deleted room {room} of tenant {ctx.tenant_id}.")


def mint(
    settings: LiveKitSettings,
    tenant_id: str,
    room: str,
    *,
    identity: str,
    name: str = "",
    ttl_s: int = 600,
    can_publish: bool = True,
    can_subscribe: bool = True,
    can_publish_data: bool = True,
) -> View[Any]:
    """A join token (``value``: ``(jwt, TokenClaims)``), verified before it is shown."""
    ctx = _tenant(tenant_id)
    if isinstance(ctx, View):
        return ctx
    try:
        token = mint_token(
            settings,
            ctx,
            room,
            identity=identity.strip(),
            name=name.strip() or None,
            ttl_s=ttl_s,
            can_publish=can_publish,
            can_subscribe=can_subscribe,
            can_publish_data=can_publish_data,
        )
        claims = verify_token(settings, token, ctx=ctx)
    except WorkbenchError as exc:
        return View.fail(ErrorKind.UNAVAILABLE, str(exc))
    grants = [
        g
        for g, on in (
            ("publish", claims.can_publish),
            ("subscribe", claims.can_subscribe),
            ("data", claims.can_publish_data),
        )
        if on
    ]
    return View(
        (token, claims),
        f"Token for {claims.identity} in {claims.room}, grants: {', '.join(grants) or 'join only'}, "
        f"expires {claims.expires_at:%Y-%m-%d %H:%M:%S} UTC.",
    )


def agent_command() -> str | None:
    """The command that starts the live agent, when this checkout has one."""
    try:
        return AGENT_COMMAND if find_spec(AGENT_MODULE) is not None else None
    except (ImportError, ValueError):
        return None


TENANT_RULE = ID_RULE
