"""Tenancy under adversarial names: no tenant reaches another's rooms, tokens or knowledge chunks.

tests/test_rooms.py covers the naming rule and the RoomService calls with ordinary tenants; here the
tenants are chosen to collide: ids that are prefixes of each other ("a", "ab", "a-b", "a-b-c"), ids
that would contain the separator ("a_b"), rooms planted on the server under names that parse to
another tenant, and tokens decoded to check which room their grant names. The knowledge base is
searched by tenants whose ids differ by a prefix, an underscore, case or a look-alike character.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import Coroutine, Iterator
from typing import Any, TypeVar

import jwt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from support.fakes.livekit_server import FakeLiveKit

from assistant.core.errors import RoomError, TenancyError, WorkbenchError
from assistant.core.tenancy import TenantContext, parse_room_name, room_name
from assistant.livekit.admin import LiveKitSettings, RoomAdmin
from assistant.livekit.tokens import mint_token, verify_token
from assistant.rag.bm25 import KnowledgeBase

T = TypeVar("T")
PROPERTY = settings(max_examples=50, deadline=None, derandomize=True, database=None)
# Tenants whose ids are prefixes / extensions of each other, as the '-'-joined rule allows
TENANTS = ["a", "ab", "a-b", "a-b-c", "b", "b-a", "a0", "a-0"]
ROOMS = ["x", "b", "b-x", "c", "x-b"]


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


@pytest.fixture
def fake() -> Iterator[FakeLiveKit]:
    with FakeLiveKit() as server:
        yield server


@pytest.fixture
def settings_(fake: FakeLiveKit) -> LiveKitSettings:
    return LiveKitSettings(fake.url, fake.api_key, fake.api_secret)


# -- names: the split is unique, so no tenant's room name can be read as another's --------------
ids = st.from_regex(r"[a-z0-9][a-z0-9-]{0,62}", fullmatch=True)


@PROPERTY
@given(t1=ids, r1=ids, t2=ids, r2=ids)
def test_two_different_tenant_room_pairs_never_share_a_name(
    t1: str, r1: str, t2: str, r2: str
) -> None:
    n1, n2 = room_name(TenantContext(t1), r1), room_name(TenantContext(t2), r2)
    assert parse_room_name(n1) == (t1, r1) and parse_room_name(n2) == (t2, r2)
    assert (n1 == n2) == ((t1, r1) == (t2, r2))


@PROPERTY
@given(value=st.text(max_size=70))
def test_any_text_is_either_a_valid_id_or_refused_never_mangled(value: str) -> None:
    try:
        ctx = TenantContext(value)
    except RoomError as exc:
        assert "invalid tenant id" in str(exc)
        return
    assert ctx.tenant_id == value and "_" not in value and value == value.strip()
    assert parse_room_name(room_name(ctx, "x")) == (value, "x")


@pytest.mark.parametrize("tenant", ["a_b", "a_", "_a", "a__b", "tenant_a", "a\n", "A", "ａ", "a b"])
def test_tenant_ids_that_could_alias_a_name_are_refused(tenant: str) -> None:
    with pytest.raises(RoomError, match="invalid tenant id"):
        TenantContext(tenant)


# -- RoomService: list and delete with colliding tenants ----------------------------------------
def test_colliding_tenants_list_exactly_their_own_rooms(
    fake: FakeLiveKit, settings_: LiveKitSettings
) -> None:
    admin = RoomAdmin(settings_, timeout_s=5.0)
    for tenant, room in itertools.product(TENANTS, ROOMS):
        run(admin.create_room(TenantContext(tenant), room))
    # planted by someone else: names that look close to "a"'s rooms
    for name, meta in [
        ("tenant_a_b_x", {"tenant_id": "a"}),  # three underscores: not a valid name at all
        ("tenant_a__x", {"tenant_id": "a"}),
        ("tenant_a", {"tenant_id": "a"}),
        ("tenant_A_x", {"tenant_id": "a"}),
        ("Tenant_a_y", {"tenant_id": "a"}),
        ("tenant_a_y ", {"tenant_id": "a"}),
        ("tenant_ab_y", {"tenant_id": "a"}),  # "ab"'s name, metadata claiming "a"
        ("tenant_a_z", {"tenant_id": "ab"}),  # "a"'s name, metadata claiming "ab"
        ("tenant_a_w", {"tenant_id": "a "}),
    ]:
        fake.add_room(name, metadata=json.dumps({**meta, "custom": {}}))
    for tenant in TENANTS:
        listed = run(admin.list_rooms(TenantContext(tenant)))
        assert [r.name for r in listed] == sorted(f"tenant_{tenant}_{room}" for room in ROOMS)
        assert {r.tenant_id for r in listed} == {tenant}


def test_no_tenant_can_delete_a_colliding_tenants_room(
    fake: FakeLiveKit, settings_: LiveKitSettings
) -> None:
    admin = RoomAdmin(settings_, timeout_s=5.0)
    for tenant in TENANTS:
        run(admin.create_room(TenantContext(tenant), "x"))
    fake.add_room("tenant_a_planted", metadata='{"tenant_id": "ab", "custom": {}}')
    for mine, theirs in itertools.permutations(TENANTS, 2):
        ctx = TenantContext(mine)
        with pytest.raises(TenancyError):
            run(admin.delete_room(ctx, f"tenant_{theirs}_x"))
        with pytest.raises(TenancyError):  # nor overwrite its metadata by "creating" it
            run(admin.create_room(ctx, f"tenant_{theirs}_x", metadata={"takeover": True}))
    with pytest.raises(TenancyError, match="metadata names tenant 'ab'"):
        run(admin.delete_room(TenantContext("a"), "planted"))
    for bad in ["x_y", "../x", "x'; --", "X", "tenant_a_b_x"]:
        with pytest.raises(RoomError):
            run(admin.delete_room(TenantContext("a"), bad))
    assert fake.calls("DeleteRoom") == []
    assert sorted(fake.rooms) == sorted([*(f"tenant_{t}_x" for t in TENANTS), "tenant_a_planted"])
    for tenant in TENANTS:
        assert json.loads(fake.rooms[f"tenant_{tenant}_x"].metadata)["tenant_id"] == tenant


# -- tokens: the grant names the tenant's room and nothing else -----------------------------------
def test_tokens_grant_exactly_the_tenants_room_and_no_admin_rights() -> None:
    settings = LiveKitSettings("ws://localhost:7880", "devkey", "secret" * 6)
    for tenant, room in itertools.product(TENANTS, ROOMS):
        ctx = TenantContext(tenant)
        token = mint_token(settings, ctx, room, identity="u1")
        video = jwt.decode(token, options={"verify_signature": False})["video"]
        assert video["room"] == f"tenant_{tenant}_{room}" and video["roomJoin"] is True
        assert not any(video.get(k) for k in ("roomAdmin", "roomCreate", "roomList", "roomRecord"))
        assert verify_token(settings, token, ctx=ctx).tenant_id == tenant
        for other in TENANTS:
            if other != tenant:
                with pytest.raises(TenancyError):
                    verify_token(settings, token, ctx=TenantContext(other))


def test_a_token_for_a_colliding_tenants_room_cannot_be_minted() -> None:
    settings = LiveKitSettings("ws://localhost:7880", "devkey", "secret" * 6)
    for mine, theirs in itertools.permutations(TENANTS, 2):
        with pytest.raises(TenancyError):
            mint_token(settings, TenantContext(mine), f"tenant_{theirs}_x", identity="u1")
    for room in ["x_y", "b_x", "tenant_a_b_x", "x\n", "x'; DROP TABLE rooms; --", "🚀"]:
        with pytest.raises(RoomError):
            mint_token(settings, TenantContext("a"), room, identity="u1")


def test_a_token_whose_room_was_edited_fails_its_signature() -> None:
    settings = LiveKitSettings("ws://localhost:7880", "devkey", "secret" * 6)
    token = mint_token(settings, TenantContext("a"), "x", identity="u1")
    claims = jwt.decode(token, options={"verify_signature": False})
    claims["video"]["room"] = "tenant_ab_x"
    forged = jwt.encode(claims, "not-the-secret" * 3, algorithm="HS256")
    with pytest.raises(RoomError, match="signature"):
        verify_token(settings, forged, ctx=TenantContext("ab"))


# -- knowledge base: a tenant's question never retrieves another tenant's chunks ------------------
KB_TENANTS = ["a", "ab", "a-b", "a_b", "A", "ａ", "a ", "a\x00", "'; DROP TABLE chunks; --", "🚀"]


def _kbs() -> dict[str, KnowledgeBase]:
    """One knowledge base per tenant, each holding a secret only that tenant may read, on the
    same topic, so a search that crossed tenants would find it."""
    return {
        tenant: KnowledgeBase(
            tenant,
            [
                (
                    f"secret-{i}.md",
                    f"# Launch codes\n\nThe launch code of team {i} is zebra{i}quartz.\n",
                )
            ],
        )
        for i, tenant in enumerate(KB_TENANTS)
    }


def test_each_knowledge_base_answers_only_its_own_tenant() -> None:
    kbs = _kbs()
    for i, tenant in enumerate(KB_TENANTS):
        hits = kbs[tenant].search("What is the launch code?", tenant=tenant, k=10)
        assert [p.source for p in hits] == [f"kb:secret-{i}.md#1"]
        assert f"zebra{i}quartz" in hits[0].text
        for other in KB_TENANTS:
            if other != tenant:
                with pytest.raises(WorkbenchError, match="refused"):
                    kbs[tenant].search("What is the launch code?", tenant=other)


@PROPERTY
@given(owner=st.text(max_size=12), asker=st.text(max_size=12))
def test_a_knowledge_base_refuses_every_other_tenant_id(owner: str, asker: str) -> None:
    kb = KnowledgeBase(owner, [("d.md", "The launch code is zebra quartz.")])
    if asker == owner:
        assert kb.search("launch code", tenant=asker)
    else:
        with pytest.raises(WorkbenchError, match="refused"):
            kb.search("launch code", tenant=asker)
