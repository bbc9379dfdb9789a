"""A room's tenant, read from its metadata and checked against its name."""

from __future__ import annotations

import json

from assistant.livekit.rooms import RoomError, TenancyError, parse_room_name, validate_tenant_id


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
