"""LiveKit rooms and tokens: naming, tenancy, the RoomService through livekit-api against a local fake
of LiveKit's Twirp API, tokens decoded and verified, and the ``token`` / ``rooms`` commands."""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import logging
import os
import time
import uuid
from collections.abc import Coroutine, Iterator
from datetime import timedelta
from typing import Any, TypeVar

import jwt
import pytest
from livekit import api
from support.fakes.livekit_server import PROTOBUF, FakeLiveKit, TwirpFailure

from assistant.cli import rooms as rooms_cli
from assistant.core.errors import RoomError, TenancyError, WorkbenchError
from assistant.core.tenancy import TenantContext, parse_room_name, resolve_room, room_name
from assistant.livekit.admin import LiveKitSettings, RoomAdmin
from assistant.livekit.tokens import mint_token, verify_token

ACME, ACME_CORP = TenantContext("acme"), TenantContext("acme-corp")

CRAFTED = [
    "",
    "acme_corp",  # the separator itself
    "_acme",
    "acme_",
    "tenant_acme",
    "Acme",
    "ACME",
    "acme corp",
    " acme",
    "acme\n",  # `$` would match before a trailing newline: the rule uses fullmatch
    "acme\x00",
    "-acme",
    "acme.corp",
    "acme/corp",
    "../acme",
    "acme%5fcorp",
    "ácme",
    "ａcme",  # full-width a
    "acme\u200b",  # zero-width space
    "аcme",  # Cyrillic а
    "'acme'",
    '"acme"',
    "acme'; DROP TABLE rooms; --",
    "acme OR 1=1",
    "acme*",
    "a" * 64,
]


T = TypeVar("T")


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


# -- names ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("tenant", CRAFTED)
def test_crafted_tenant_ids_are_refused_with_the_value_and_the_rule(tenant: str) -> None:
    with pytest.raises(RoomError) as caught:
        TenantContext(tenant)
    message = str(caught.value)
    assert "invalid tenant id" in message and repr(tenant)[:40] in message
    assert "a-z, 0-9 and '-'" in message and "no '_'" in message


@pytest.mark.parametrize("room", CRAFTED)
def test_crafted_room_names_are_refused(room: str) -> None:
    with pytest.raises(RoomError, match="invalid room name"):
        room_name(ACME, room)


@pytest.mark.parametrize("tenant", [None, 42, b"acme"])
def test_non_string_tenant_ids_are_refused(tenant: object) -> None:
    with pytest.raises(RoomError, match="invalid tenant id"):
        TenantContext(tenant)  # type: ignore[arg-type]


def test_valid_names_round_trip_and_prefix_tenants_do_not_collide() -> None:
    assert room_name(ACME, "corp-standup") == "tenant_acme_corp-standup"
    assert room_name(ACME_CORP, "standup") == "tenant_acme-corp_standup"
    assert parse_room_name("tenant_acme_corp-standup") == ("acme", "corp-standup")
    assert parse_room_name("tenant_acme-corp_standup") == ("acme-corp", "standup")
    assert room_name(TenantContext("a" * 63), "0" * 63).count("_") == 2


def test_naming_is_injective_over_every_short_id() -> None:
    """Every tenant/room pair over a small alphabet with '-' gives a distinct, parseable name."""
    ids = ["".join(p) for n in (1, 2, 3) for p in itertools.product("a1-", repeat=n)]
    ids = [i for i in ids if not i.startswith("-")]
    seen: dict[str, tuple[str, str]] = {}
    for tenant, room in itertools.product(ids, ids):
        name = room_name(TenantContext(tenant), room)
        assert parse_room_name(name) == (tenant, room)
        assert seen.setdefault(name, (tenant, room)) == (tenant, room)
    assert len(seen) == len(ids) ** 2


@pytest.mark.parametrize(
    "name",
    [
        "tenant_acme_corp_x",  # three underscores: the old `tenant_{acme_corp}_x` ambiguity
        "tenant__x",
        "tenant_acme_",
        "tenant_acme",
        "TENANT_acme_x",
        "xtenant_acme_x",
        "tenant_acme_x\n",
        "tenant_acme_x ",
        "tenant_ácme_x",
        "standup",
        "",
    ],
)
def test_foreign_shaped_names_do_not_parse(name: str) -> None:
    assert parse_room_name(name) is None


def test_full_names_resolve_only_for_their_own_tenant() -> None:
    assert resolve_room(ACME, "standup") == "tenant_acme_standup"
    assert resolve_room(ACME, "tenant_acme_standup") == "tenant_acme_standup"
    with pytest.raises(TenancyError, match="belongs to tenant 'acme-corp', not 'acme'"):
        resolve_room(ACME, "tenant_acme-corp_standup")
    with pytest.raises(RoomError, match="invalid room name"):
        resolve_room(ACME, "tenant_acme_corp_standup")


# -- settings -------------------------------------------------------------------------------------
def test_settings_name_every_missing_variable_and_the_dev_defaults() -> None:
    with pytest.raises(RoomError) as caught:
        LiveKitSettings.from_env({})
    message = str(caught.value)
    assert "LIVEKIT_URL, LIVEKIT_API_KEY, LIVEKIT_API_SECRET" in message
    assert "livekit-server --dev" in message and "devkey" in message and "7880" in message
    with pytest.raises(RoomError, match="set LIVEKIT_API_SECRET "):
        LiveKitSettings.from_env({"LIVEKIT_URL": "ws://x:7880", "LIVEKIT_API_KEY": "k"})


def test_settings_refuse_a_non_livekit_url_and_hide_the_secret() -> None:
    with pytest.raises(RoomError, match="not a ws://"):
        LiveKitSettings("localhost:7880", "k", "s3cret")
    settings = LiveKitSettings("wss://x.livekit.cloud", "k", "s3cret")
    assert "s3cret" not in repr(settings)


# -- RoomService through the SDK against the fake -------------------------------------------------
@pytest.fixture
def fake() -> Iterator[FakeLiveKit]:
    with FakeLiveKit() as server:
        yield server


@pytest.fixture
def settings(fake: FakeLiveKit) -> LiveKitSettings:
    return LiveKitSettings(fake.url, fake.api_key, fake.api_secret)


@pytest.fixture
def admin(settings: LiveKitSettings) -> RoomAdmin:
    return RoomAdmin(settings, timeout_s=5.0)


def test_create_sends_the_tenant_room_over_protobuf_with_a_room_create_token(
    fake: FakeLiveKit, admin: RoomAdmin
) -> None:
    info = run(admin.create_room(ACME, "standup", metadata={"topic": "sprint 12", "n": 3}))
    assert (info.name, info.tenant_id, info.room) == ("tenant_acme_standup", "acme", "standup")
    assert (info.empty_timeout_s, info.max_participants) == (300, 10)
    assert info.custom == {"topic": "sprint 12", "n": 3} and info.sid.startswith("RM_")
    stored = fake.rooms["tenant_acme_standup"]
    assert json.loads(stored.metadata) == {
        "tenant_id": "acme",
        "custom": {"topic": "sprint 12", "n": 3},
    }
    (create,) = fake.calls("CreateRoom")
    assert create.content_type == PROTOBUF and create.headers["authorization"].startswith("Bearer ")
    assert create.claims is not None and create.claims["video"]["roomCreate"] is True
    assert create.claims["iss"] == fake.api_key
    (lookup,) = fake.calls("ListRooms")  # the ownership check before CreateRoom
    assert list(lookup.message.names) == ["tenant_acme_standup"]  # type: ignore[union-attr]
    assert lookup.claims is not None and lookup.claims["video"]["roomList"] is True
    assert "roomCreate" not in lookup.claims["video"]


def test_tenants_whose_ids_are_prefixes_of_each_other_see_only_their_rooms(
    fake: FakeLiveKit, admin: RoomAdmin
) -> None:
    run(admin.create_room(ACME, "corp-standup"))
    run(admin.create_room(ACME, "retro"))
    run(admin.create_room(ACME_CORP, "standup"))
    run(admin.create_room(TenantContext("acme-corp-eu"), "standup"))
    fake.add_room("unrelated-room", metadata='{"tenant_id": "acme"}')
    assert [r.room for r in run(admin.list_rooms(ACME))] == ["corp-standup", "retro"]
    assert [r.name for r in run(admin.list_rooms(ACME_CORP))] == ["tenant_acme-corp_standup"]
    assert run(admin.list_rooms(TenantContext("acm"))) == []


def test_a_room_with_the_right_prefix_but_foreign_or_missing_metadata_is_not_the_tenants(
    fake: FakeLiveKit, admin: RoomAdmin, caplog: pytest.LogCaptureFixture
) -> None:
    planted = '{"tenant_id": "acme-corp", "custom": {}}'
    fake.add_room("tenant_acme_board", metadata=planted)
    fake.add_room("tenant_acme_auto")  # e.g. auto-created by a join: no metadata
    fake.add_room("tenant_acme_junk", metadata="not json")
    run(admin.create_room(ACME, "standup"))
    with caplog.at_level(logging.WARNING, logger="assistant.livekit.admin"):
        assert [r.room for r in run(admin.list_rooms(ACME))] == ["standup"]
    assert "tenant_acme_board" in caplog.text and "'acme-corp'" in caplog.text
    assert "tenant_acme_auto" in caplog.text and "no tenant id" in caplog.text
    for room in ("board", "auto", "junk"):
        with pytest.raises(TenancyError, match=f"refusing to delete room 'tenant_acme_{room}'"):
            run(admin.delete_room(ACME, room))
        with pytest.raises(TenancyError, match="refusing to create"):
            run(admin.create_room(ACME, room, metadata={"takeover": True}))
    assert fake.rooms["tenant_acme_board"].metadata == planted  # not overwritten
    assert fake.calls("DeleteRoom") == [] and len(fake.calls("CreateRoom")) == 1


def test_delete_removes_only_the_tenants_own_room(fake: FakeLiveKit, admin: RoomAdmin) -> None:
    run(admin.create_room(ACME, "standup"))
    run(admin.create_room(ACME_CORP, "standup"))
    with pytest.raises(TenancyError, match="belongs to tenant 'acme-corp'"):
        run(admin.delete_room(ACME, "tenant_acme-corp_standup"))
    with pytest.raises(RoomError, match="invalid room name"):
        run(admin.delete_room(ACME, "corp_standup"))
    run(admin.delete_room(ACME, "standup"))
    assert sorted(fake.rooms) == ["tenant_acme-corp_standup"]
    (delete,) = fake.calls("DeleteRoom")
    assert delete.message == api.DeleteRoomRequest(room="tenant_acme_standup")
    assert delete.claims is not None and delete.claims["video"]["roomCreate"] is True


def test_deleting_a_missing_room_is_a_clear_room_error(admin: RoomAdmin) -> None:
    with pytest.raises(RoomError, match="'tenant_acme_nope' does not exist") as caught:
        run(admin.delete_room(ACME, "nope"))
    assert not isinstance(caught.value, TenancyError) and caught.value.status == 404


def test_create_again_updates_the_room_like_livekit(fake: FakeLiveKit, admin: RoomAdmin) -> None:
    first = run(admin.create_room(ACME, "standup", metadata={"v": 1}))
    again = run(admin.create_room(ACME, "standup", metadata={"v": 2}, max_participants=4))
    assert again.sid == first.sid and again.custom == {"v": 2} and again.max_participants == 4


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"metadata": {"x": object()}}, "not JSON-serialisable"),
        ({"metadata": {"x": float("nan")}}, "not JSON-serialisable"),
        ({"metadata": ["a"]}, "must be a JSON object"),
        ({"metadata": {"x": "y" * 70_000}}, "64000-byte limit"),
        ({"max_participants": 0}, "max_participants must be"),
        ({"empty_timeout_s": True}, "empty_timeout_s must be"),
    ],
)
def test_bad_create_options_fail_before_any_request(
    fake: FakeLiveKit, admin: RoomAdmin, options: dict[str, object], match: str
) -> None:
    with pytest.raises(RoomError, match=match):
        run(admin.create_room(ACME, "standup", **options))  # type: ignore[arg-type]
    assert fake.requests == []


def test_a_wrong_secret_is_a_401_with_a_hint_and_no_secret(fake: FakeLiveKit) -> None:
    wrong = RoomAdmin(
        LiveKitSettings(fake.url, fake.api_key, "not-the-secret-but-long-enough-1234")
    )
    with pytest.raises(RoomError) as caught:
        run(wrong.list_rooms(ACME))
    message = str(caught.value)
    assert caught.value.status == 401 and "LIVEKIT_API_SECRET" in message
    assert "not-the-secret-but-long-enough-1234" not in message


def test_server_errors_map_to_room_errors_with_status_and_hint(
    fake: FakeLiveKit, admin: RoomAdmin
) -> None:
    fake.failures.append(TwirpFailure("unavailable", "node draining"))
    with pytest.raises(RoomError, match="HTTP 503 unavailable: node draining") as caught:
        run(admin.list_rooms(ACME))
    assert caught.value.status == 503 and "retry" in str(caught.value)
    fake.failures.append(TwirpFailure("resource_exhausted", "slow down"))
    with pytest.raises(RoomError, match=r"HTTP 429 .*rate limited"):
        run(admin.create_room(ACME, "standup"))
    assert len(fake.requests) == 2  # no retries against a self-hosted URL


def test_an_unreachable_server_is_a_clear_error() -> None:
    with FakeLiveKit() as gone:
        url = gone.url
    admin = RoomAdmin(
        LiveKitSettings(url, "devkey", "secret-xyz-long-enough-for-hs256-keys"), timeout_s=2.0
    )
    with pytest.raises(RoomError, match=r"cannot reach LiveKit at ws://127\.0\.0\.1") as caught:
        run(admin.list_rooms(ACME))
    assert "livekit-server --dev" in str(caught.value)
    assert "secret-xyz-long-enough-for-hs256-keys" not in str(caught.value)


def test_the_fake_also_speaks_twirp_json_and_refuses_missing_grants(fake: FakeLiveKit) -> None:
    import urllib.error
    import urllib.request

    fake.add_room("tenant_acme_standup", metadata='{"tenant_id": "acme"}')
    base = fake.url.replace("ws://", "http://") + "/twirp/livekit.RoomService/ListRooms"

    def post(grants: api.VideoGrants) -> tuple[int, dict[str, object]]:
        token = api.AccessToken(fake.api_key, fake.api_secret).with_grants(grants).to_jwt()
        request = urllib.request.Request(
            base,
            data=b'{"names": ["tenant_acme_standup"]}',
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
        )
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read())

    status, body = post(api.VideoGrants(room_list=True))
    assert status == 200 and body["rooms"][0]["name"] == "tenant_acme_standup"  # type: ignore[index]
    assert post(api.VideoGrants(room_create=True)) == (
        401,
        {"code": "unauthenticated", "msg": "permissions denied"},
    )


def test_sync_wrapper_refuses_to_nest_in_a_running_loop(admin: RoomAdmin) -> None:
    from assistant.livekit.admin import run_sync

    async def inside() -> None:
        with pytest.raises(RoomError, match="await the async ones"):
            run_sync(admin.list_rooms(ACME))

    run(inside())


# -- tokens ---------------------------------------------------------------------------------------
SETTINGS = LiveKitSettings("ws://localhost:7880", "devkey", "a-test-secret-long-enough-for-hs256")


def test_token_claims_carry_identity_name_room_grants_ttl_and_metadata() -> None:
    token = mint_token(
        SETTINGS,
        ACME,
        "standup",
        identity="alice",
        name="Alice Ä.",
        ttl_s=900,
        metadata={"role": "host"},
    )
    claims = jwt.decode(token, SETTINGS.api_secret, algorithms=["HS256"], issuer="devkey")
    assert claims["sub"] == "alice" and claims["name"] == "Alice Ä."
    assert json.loads(claims["metadata"]) == {"role": "host"}
    assert claims["exp"] - claims["nbf"] == 900 and abs(claims["nbf"] - time.time()) < 5
    assert claims["video"] == {
        "roomJoin": True,
        "room": "tenant_acme_standup",
        "canPublish": True,
        "canSubscribe": True,
        "canPublishData": True,
        "canUpdateOwnMetadata": False,
        "roomCreate": False,
        "roomList": False,
        "roomAdmin": False,
        "roomRecord": False,
    }
    verified = verify_token(SETTINGS, token, ctx=ACME)
    assert (verified.identity, verified.name, verified.room) == (
        "alice",
        "Alice Ä.",
        "tenant_acme_standup",
    )
    assert verified.tenant_id == "acme" and verified.room_join and verified.ttl_s == 900


def test_a_listen_only_token_grants_no_publishing() -> None:
    token = mint_token(
        SETTINGS, ACME, "standup", identity="bot", can_publish=False, can_publish_data=False
    )
    verified = verify_token(SETTINGS, token)
    assert not verified.can_publish and not verified.can_publish_data and verified.can_subscribe
    assert verified.name == "" and verified.ttl_s == 600


def test_a_token_for_another_tenants_room_is_refused() -> None:
    with pytest.raises(TenancyError):
        mint_token(SETTINGS, ACME, "tenant_acme-corp_standup", identity="alice")
    token = mint_token(SETTINGS, ACME_CORP, "standup", identity="alice")
    with pytest.raises(TenancyError, match="not a room of tenant 'acme'"):
        verify_token(SETTINGS, token, ctx=ACME)


@pytest.mark.parametrize("ttl_s", [0, 59, 86_401, -600, True])
def test_ttl_outside_one_minute_to_one_day_is_refused(ttl_s: int) -> None:
    with pytest.raises(RoomError, match=r"outside 60\.\.86400 s"):
        mint_token(SETTINGS, ACME, "standup", identity="alice", ttl_s=ttl_s)


@pytest.mark.parametrize(
    "identity", ["", " ", "alice smith", "älice", "a\nb", "-alice", "x" * 129, "a'; DROP--", None]
)
def test_bad_identities_are_refused(identity: str) -> None:
    with pytest.raises(RoomError, match="invalid identity"):
        mint_token(SETTINGS, ACME, "standup", identity=identity)


def test_bad_display_names_are_refused() -> None:
    with pytest.raises(RoomError, match="invalid display name"):
        mint_token(SETTINGS, ACME, "standup", identity="alice", name="Alice\x1b[2J")


def test_expired_tokens_are_rejected() -> None:
    past = (
        api.AccessToken(SETTINGS.api_key, SETTINGS.api_secret)
        .with_identity("alice")
        .with_grants(api.VideoGrants(room_join=True, room="tenant_acme_standup"))
        .with_ttl(timedelta(seconds=-120))  # past the verifier's 60 s leeway
        .to_jwt()
    )
    with pytest.raises(RoomError, match="expired"):
        verify_token(SETTINGS, past)
    good = jwt.decode(
        mint_token(SETTINGS, ACME, "standup", identity="a"), options={"verify_signature": False}
    )
    now = int(time.time())
    crafted = jwt.encode(
        {**good, "nbf": now - 3600, "exp": now - 600}, SETTINGS.api_secret, algorithm="HS256"
    )
    with pytest.raises(RoomError, match="expired"):
        verify_token(SETTINGS, crafted)


def test_wrong_secret_wrong_key_tampered_and_unsigned_tokens_are_rejected() -> None:
    token = mint_token(SETTINGS, ACME, "standup", identity="alice")
    other_secret = LiveKitSettings(
        SETTINGS.url, SETTINGS.api_key, "another-secret-entirely-32-bytes-long"
    )
    with pytest.raises(RoomError, match="signature does not match LIVEKIT_API_SECRET") as caught:
        verify_token(other_secret, token)
    assert "another-secret" not in str(caught.value)
    other_key = LiveKitSettings(SETTINGS.url, "otherkey", SETTINGS.api_secret)
    with pytest.raises(RoomError, match="not issued for LIVEKIT_API_KEY"):
        verify_token(other_key, token)
    claims = jwt.decode(token, options={"verify_signature": False})
    claims["video"]["room"] = "tenant_acme-corp_standup"
    header, _, signature = token.split(".")
    forged = jwt.encode(claims, "a-guessed-secret-of-32-bytes-or-more", algorithm="HS256").split(
        "."
    )[1]
    with pytest.raises(RoomError, match="signature"):
        verify_token(SETTINGS, f"{header}.{forged}.{signature}")
    unsigned = jwt.encode(claims, None, algorithm="none")
    with pytest.raises(RoomError, match="token is invalid"):
        verify_token(SETTINGS, unsigned)
    with pytest.raises(RoomError, match="token is invalid"):
        verify_token(SETTINGS, "not.a.jwt")


# -- command line ---------------------------------------------------------------------------------
def cli(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="python -m assistant")
    rooms_cli.add_commands(parser.add_subparsers(dest="command", required=True))
    return rooms_cli.run(parser.parse_args(argv))


@pytest.fixture
def env(fake: FakeLiveKit, monkeypatch: pytest.MonkeyPatch) -> FakeLiveKit:
    monkeypatch.setenv("LIVEKIT_URL", fake.url)
    monkeypatch.setenv("LIVEKIT_API_KEY", fake.api_key)
    monkeypatch.setenv("LIVEKIT_API_SECRET", fake.api_secret)
    return fake


def test_cli_token_prints_a_verifiable_jwt(
    env: FakeLiveKit, capsys: pytest.CaptureFixture[str]
) -> None:
    assert (
        cli("token", "--tenant", "acme", "--room", "standup", "--identity", "alice", "--ttl", "120")
        == 0
    )
    out, err = capsys.readouterr()
    claims = jwt.decode(out.strip(), env.api_secret, algorithms=["HS256"])
    assert claims["sub"] == "alice" and claims["video"]["room"] == "tenant_acme_standup"
    assert claims["exp"] - claims["nbf"] == 120 and "tenant_acme_standup" in err
    assert env.api_secret not in out + err


def test_cli_rooms_create_list_delete(env: FakeLiveKit, capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        cli(
            "rooms",
            "create",
            "--tenant",
            "acme",
            "--room",
            "standup",
            "--metadata",
            '{"topic": "q3"}',
        )
        == 0
    )
    assert cli("rooms", "create", "--tenant", "acme-corp", "--room", "standup") == 0
    capsys.readouterr()
    assert cli("rooms", "list", "--tenant", "acme") == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split() == ["name", "room", "participants", "created", "(UTC)", "metadata"]
    assert len(table) == 2 and table[1].startswith("tenant_acme_standup  standup")
    assert '{"topic": "q3"}' in table[1] and "0/10" in table[1]
    assert cli("rooms", "list", "--tenant", "acme", "--json") == 0
    (listed,) = json.loads(capsys.readouterr().out)
    assert listed["name"] == "tenant_acme_standup" and listed["metadata"] == {"topic": "q3"}
    with pytest.raises(TenancyError):
        cli("rooms", "delete", "--tenant", "acme", "--room", "tenant_acme-corp_standup")
    assert cli("rooms", "delete", "--tenant", "acme", "--room", "standup") == 0
    assert "deleted standup" in capsys.readouterr().out
    assert list(env.rooms) == ["tenant_acme-corp_standup"]
    assert cli("rooms", "list", "--tenant", "acme") == 0
    assert capsys.readouterr().out.strip() == "tenant acme has no rooms"


@pytest.mark.parametrize(
    "argv",
    [
        ("rooms", "list", "--tenant", "acme_corp"),
        ("rooms", "create", "--tenant", "acme", "--room", "x", "--metadata", "[1]"),
        ("rooms", "create", "--tenant", "acme", "--room", "x", "--metadata", "{oops"),
        ("token", "--tenant", "acme", "--room", "x", "--identity", "a", "--ttl", "5"),
    ],
)
def test_cli_bad_input_is_a_workbench_error(env: FakeLiveKit, argv: tuple[str, ...]) -> None:
    with pytest.raises(WorkbenchError):
        cli(*argv)
    assert env.calls("CreateRoom") == []


@pytest.mark.parametrize(
    "argv",
    [
        ("token", "--tenant", "a", "--room", "r", "--identity", "i"),
        ("rooms", "list", "--tenant", "a"),
    ],
)
def test_cli_without_env_names_the_variables(
    monkeypatch: pytest.MonkeyPatch, argv: tuple[str, ...]
) -> None:
    for name in ("LIVEKIT_URL", "LIVEKIT_API_KEY", "LIVEKIT_API_SECRET"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(
        WorkbenchError, match="set LIVEKIT_URL, LIVEKIT_API_KEY, LIVEKIT_API_SECRET"
    ):
        cli(*argv)


# -- a real server --------------------------------------------------------------------------------
LIVE = all(os.environ.get(n) for n in ("LIVEKIT_URL", "LIVEKIT_API_KEY", "LIVEKIT_API_SECRET"))


@pytest.mark.skipif(
    not LIVE,
    reason="set LIVEKIT_URL, LIVEKIT_API_KEY and LIVEKIT_API_SECRET to run against a real server "
    "(e.g. `livekit-server --dev`: ws://localhost:7880, devkey, secret)",
)
class TestRealLiveKit:
    def test_create_list_delete_and_token(self) -> None:
        settings = LiveKitSettings.from_env()
        admin = RoomAdmin(settings)
        ctx = TenantContext(f"wbtest-{uuid.uuid4().hex[:8]}")
        other = TenantContext(f"{ctx.tenant_id}-x")
        try:
            created = run(admin.create_room(ctx, "standup", metadata={"it": True}))
            assert created.max_participants == 10 and created.empty_timeout_s == 300
            run(admin.create_room(other, "standup"))
            assert [r.name for r in run(admin.list_rooms(ctx))] == [created.name]
            with pytest.raises(TenancyError):
                run(admin.delete_room(ctx, room_name(other, "standup")))
            token = mint_token(settings, ctx, "standup", identity="it-bot", ttl_s=60)
            assert verify_token(settings, token, ctx=ctx).room == created.name
        finally:
            for tenant in (ctx, other):
                for room in run(admin.list_rooms(tenant)):
                    run(admin.delete_room(tenant, room.room))
        assert run(admin.list_rooms(ctx)) == []


def test_participants_and_their_tracks_of_the_tenants_room_only(
    fake: FakeLiveKit, admin: RoomAdmin, settings: LiveKitSettings
) -> None:
    from assistant.views.rooms import list_participants

    run(admin.create_room(ACME, "standup"))
    run(admin.create_room(ACME_CORP, "standup"))
    fake.add_participant("tenant_acme_standup", "alice", name="Alice",
                         tracks=("SCREEN_SHARE", "MICROPHONE"))
    fake.add_participant("tenant_acme_standup", "agent")
    fake.add_participant("tenant_acme-corp_standup", "mallory", tracks=("CAMERA",))
    people = run(admin.list_participants(ACME, "standup"))
    assert [(p.identity, p.state, p.is_publisher) for p in people] == [
        ("agent", "ACTIVE", False),
        ("alice", "ACTIVE", True),
    ]
    assert [(t.source, t.kind, t.width) for t in people[1].tracks] == [
        ("SCREEN_SHARE", "VIDEO", 1280),
        ("MICROPHONE", "AUDIO", 0),
    ]
    (call,) = fake.calls("ListParticipants")
    assert call.claims is not None and call.claims["video"]["roomAdmin"] is True
    assert call.claims["video"]["room"] == "tenant_acme_standup"  # scoped to that one room
    with pytest.raises(TenancyError):  # acme-corp's room, named in full, is not acme's
        run(admin.list_participants(ACME, "tenant_acme-corp_standup"))
    with pytest.raises(RoomError, match="does not exist"):
        run(admin.list_participants(ACME, "retro"))
    rows = list_participants(settings, "acme", "standup")
    assert rows.ok and rows.value[1]["tracks"] == "screen share 1280x720, microphone"
    assert "mallory" not in json.dumps(rows.value, default=str)
