"""Tenancy rules: tenant ids, room names that carry their tenant, and who may reach which room.

Room names carry the tenant: ``tenant_{tenant_id}_{room}``. Tenant ids and room names are
``[a-z0-9][a-z0-9-]{0,62}`` (no ``_``), so the two underscores split a name one way only: no name can
be read as another tenant's (``tenant_acme_corp-x`` is tenant ``acme``, ``tenant_acme-corp_x`` is
``acme-corp``).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from assistant.core.errors import RoomError, TenancyError

ID_RULE = "1-63 characters from a-z, 0-9 and '-', starting with a letter or digit (no '_')"
_ID = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")
_FULL_NAME = re.compile(r"tenant_([a-z0-9][a-z0-9-]{0,62})_([a-z0-9][a-z0-9-]{0,62})")


def show_value(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def validate_tenant_id(value: object) -> str:
    if not isinstance(value, str) or not _ID.fullmatch(value):
        raise RoomError(f"invalid tenant id {show_value(value)}: use {ID_RULE}")
    return value


def validate_room(value: object) -> str:
    if not isinstance(value, str) or not _ID.fullmatch(value):
        raise RoomError(f"invalid room name {show_value(value)}: use {ID_RULE}")
    return value


@dataclass(frozen=True, slots=True)
class TenantContext:
    """The tenant every room operation acts for; the id is validated on construction."""

    tenant_id: str

    def __post_init__(self) -> None:
        validate_tenant_id(self.tenant_id)


def room_name(ctx: TenantContext, room: str) -> str:
    """The LiveKit room name of ``room`` for ``ctx``'s tenant: ``tenant_{tenant}_{room}``."""
    return f"tenant_{ctx.tenant_id}_{validate_room(room)}"


def parse_room_name(name: str) -> tuple[str, str] | None:
    """``(tenant_id, room)`` of a name built by :func:`room_name`; None for any other name."""
    match = _FULL_NAME.fullmatch(name) if isinstance(name, str) else None
    return (match.group(1), match.group(2)) if match else None


def resolve_room(ctx: TenantContext, room: str) -> str:
    """A bare room name, or a full ``tenant_…`` name of this tenant, as the full name.

    A full name of another tenant raises TenancyError; anything else invalid raises RoomError.
    """
    parsed = parse_room_name(room)
    if parsed is None:
        return room_name(ctx, room)
    if parsed[0] != ctx.tenant_id:
        raise TenancyError(
            f"room {room!r} belongs to tenant {parsed[0]!r}, not {ctx.tenant_id!r}: "
            "a tenant can only reach its own rooms"
        )
    return room


def tenant_from_room(
    name: str, metadata: str | None, *, expected: str | None = None
) -> tuple[str, str | None]:
    """The tenant of room ``name`` from its metadata (``{"tenant_id": ...}``, as ``rooms create``
    writes it), checked against the name (``tenant_{tenant}_{room}``) and ``expected``.

    Returns ``(tenant, warning)``. A room without tenant metadata (auto-created by a join) falls
    back to the tenant in its name, with a warning; a room whose metadata and name disagree, or
    that belongs to another tenant than ``expected``, raises ``TenancyError``.
    """
    parsed = parse_room_name(name)
    owner: object = None
    if metadata:
        try:
            meta = json.loads(metadata)
        except ValueError:
            meta = None
        owner = meta.get("tenant_id") if isinstance(meta, dict) else None
    warning = None
    if owner is None:
        if parsed is None:
            raise RoomError(
                f"cannot tell the tenant of room {name!r}: its metadata has no tenant_id and its "
                "name is not tenant_{tenant}_{room}; create it with `python -m assistant rooms "
                "create --tenant T --room R`"
            )
        tenant = parsed[0]
        warning = (
            f"room {name!r} has no tenant metadata (created by a join, not `rooms create`?): "
            f"using tenant {tenant!r} from its name"
        )
    else:
        tenant = validate_tenant_id(owner)
        if parsed is not None and parsed[0] != tenant:
            raise TenancyError(
                f"room {name!r} is named for tenant {parsed[0]!r} but its metadata names "
                f"{tenant!r}: refusing to serve it"
            )
    if expected is not None and tenant != expected:
        raise TenancyError(f"room {name!r} belongs to tenant {tenant!r}, not {expected!r}")
    return tenant, warning
