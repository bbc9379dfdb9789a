"""The Rooms page from app.py: without LiveKit credentials, and against the local fake RoomService
(create, list, mint a token, delete) through the real livekit-api client."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest
from support.fakes.livekit_server import FakeLiveKit
from support.pages import demo_ledger as build_demo_ledger
from support.pages import open_page

from assistant.core.tenancy import TenantContext
from assistant.livekit.admin import ENV_VARS, LiveKitSettings
from assistant.livekit.tokens import verify_token
from assistant.views.rooms import livekit_settings, parse_metadata

PAGE = "pages/rooms.py"


@pytest.fixture(scope="session")
def demo_ledger(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_demo_ledger(tmp_path_factory)


@pytest.fixture
def no_livekit(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ENV_VARS:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeLiveKit]:
    with FakeLiveKit() as server:
        monkeypatch.setenv("LIVEKIT_URL", server.url)
        monkeypatch.setenv("LIVEKIT_API_KEY", server.api_key)
        monkeypatch.setenv("LIVEKIT_API_SECRET", server.api_secret)
        yield server


def _messages(app: AppTest) -> str:
    return " ".join(e.value for kind in ("info", "success", "error") for e in app.get(kind))


def test_without_credentials_the_page_says_exactly_what_to_set(
    tmp_path: Path, no_livekit: None
) -> None:
    app = open_page(tmp_path / "none.duckdb", PAGE)
    assert not app.exception
    assert app.title[0].value == "Rooms"
    info = app.info[0].value
    for name in ENV_VARS:
        assert name in info
    assert "livekit-server --dev" in info
    assert not app.get("form") and not app.dataframe


def test_half_configured_names_the_missing_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LIVEKIT_API_SECRET", raising=False)
    monkeypatch.setenv("LIVEKIT_URL", "ws://localhost:7880")
    monkeypatch.setenv("LIVEKIT_API_KEY", "devkey")
    outcome = livekit_settings()
    assert not outcome.ok and "set LIVEKIT_API_SECRET" in outcome.message


def test_create_list_token_delete_against_the_fake_server(
    tmp_path: Path, fake: FakeLiveKit
) -> None:
    fake.add_room("tenant_other_standup", metadata=json.dumps({"tenant_id": "other"}))
    app = open_page(tmp_path / "none.duckdb", PAGE)
    assert not app.exception
    assert "Type the tenant id" in app.info[0].value
    app.text_input(key="rooms.tenant").input("acme").run()
    assert not app.exception
    assert "has no rooms yet" in app.info[0].value  # the other tenant's room is not listed

    app.text_input(key="rooms.new_name").input("standup")
    app.text_area(key="rooms.new_metadata").input('{"topic": "weekly"}')
    app.number_input(key="rooms.new_max").set_value(4)
    app.button(key="rooms.create_button").click().run()
    assert not app.exception, app.exception
    assert "tenant_acme_standup is ready" in app.success[0].value
    created = fake.rooms["tenant_acme_standup"]
    assert json.loads(created.metadata) == {"tenant_id": "acme", "custom": {"topic": "weekly"}}
    assert created.max_participants == 4
    table = app.dataframe[0].value
    assert list(table["room"]) == ["standup"] and list(table["participants"]) == [0]

    app.text_input(key="rooms.token_identity").input("bob")
    app.checkbox(key="rooms.token_publish").uncheck()
    app.button(key="rooms.token_button").click().run()
    assert not app.exception
    token = app.code[0].value
    settings = LiveKitSettings(fake.url, fake.api_key, fake.api_secret)
    claims = verify_token(settings, token, ctx=TenantContext("acme"))
    assert claims.identity == "bob" and claims.room == "tenant_acme_standup"
    assert not claims.can_publish and claims.can_subscribe
    assert "grants: subscribe, data" in _messages(app)

    assert app.button(key="rooms.delete_button").disabled  # not before confirming
    app.checkbox(key="rooms.delete_confirm").check().run()
    app.button(key="rooms.delete_button").click().run()
    assert not app.exception
    assert "tenant_acme_standup" not in fake.rooms and "tenant_other_standup" in fake.rooms
    assert "Deleted room standup" in app.success[0].value
    assert "has no rooms yet" in app.info[0].value


def test_mistakes_are_shown_not_raised(tmp_path: Path, fake: FakeLiveKit) -> None:
    app = open_page(tmp_path / "none.duckdb", PAGE, state={"rooms.tenant": "acme"})
    app.text_input(key="rooms.new_name").input("Stand_Up")
    app.button(key="rooms.create_button").click().run()
    assert not app.exception
    assert "invalid room name 'Stand_Up'" in app.error[0].value
    app.text_input(key="rooms.new_name").input("ok")
    app.text_area(key="rooms.new_metadata").input("[1, 2]")
    app.button(key="rooms.create_button").click().run()
    assert "must be a JSON object" in app.error[0].value
    assert fake.rooms == {}
    app.text_input(key="rooms.tenant").input("acme_corp").run()
    assert not app.exception and "invalid tenant id 'acme_corp'" in app.error[0].value


def test_the_server_refusing_the_key_is_a_message(
    tmp_path: Path, fake: FakeLiveKit, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LIVEKIT_API_SECRET", "not-the-servers-secret-but-long-enough")
    app = open_page(tmp_path / "none.duckdb", PAGE, state={"rooms.tenant": "acme"})
    assert not app.exception
    assert "HTTP 401" in app.error[0].value
    assert "not-the-servers-secret" not in app.error[0].value


def test_the_sidebar_tenant_is_the_default(demo_ledger: Path, fake: FakeLiveKit) -> None:
    app = open_page(demo_ledger, PAGE, state={"wb.tenant": "northwind"})  # the sidebar selectbox
    assert not app.exception
    assert app.text_input(key="rooms.tenant").value == "northwind"
    assert "Tenant northwind has no rooms yet" in app.info[0].value


def test_parse_metadata() -> None:
    assert parse_metadata("").value is None
    assert parse_metadata('{"a": 1}').value == {"a": 1}
    assert not parse_metadata("{").ok
