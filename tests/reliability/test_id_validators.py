"""Every id validator takes the whole string (issue 20, item 6).

``re.match`` with ``$`` passed ``"a\\n"`` (``$`` also matches before a trailing newline), so
``kb ingest --tenant $'a\\n'`` stored tenant ``a\\n`` and ``replay --run-id $'evil\\n'`` stored a run
nobody could name. One row per validator: a good id passes, the same id with a trailing newline
(or other trailing control text) is refused.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from assistant.core.errors import WorkbenchError


def _tenancy_tenant(value: str) -> object:
    from assistant.core.tenancy import validate_tenant_id

    return validate_tenant_id(value)


def _tenancy_room(value: str) -> object:
    from assistant.core.tenancy import validate_room

    return validate_room(value)


def _tenancy_full_name(value: str) -> object:
    from assistant.core.tenancy import parse_room_name

    if parse_room_name(f"tenant_{value}_room") is None:
        raise WorkbenchError("not a room name")
    return value


def _kb_tenant(value: str) -> object:
    from assistant.rag.store import check_tenant

    return check_tenant(value)


def _replay_run_id(value: str) -> object:
    """Through replay() itself: the id is checked before anything is opened."""
    from assistant.core.config import Config
    from assistant.sessions.replay import replay

    try:
        replay(None, ledger=Path("/nonexistent/x.duckdb"), config=Config(), run_id=value)  # type: ignore[arg-type]
    except WorkbenchError as exc:
        if str(exc).startswith("run id"):
            raise
    except Exception:  # past the check, it fails on the missing dataset: the id passed
        pass
    return value


def _job_run_prefix(value: str) -> object:
    from assistant.jobs.spec import RUN_PREFIX

    if not RUN_PREFIX.fullmatch(value):
        raise WorkbenchError("refused")
    return value


def _dataset_ident(value: str) -> object:
    from assistant.sessions.datasets import IDENT, _pattern

    return _pattern(value, IDENT, "name", Path("manifest.toml"))


def _dataset_slug(value: str) -> object:
    from assistant.sessions.datasets import SLUG, _pattern

    return _pattern(value, SLUG, "tenant", Path("manifest.toml"))


def _token_identity(value: str) -> object:
    from assistant.core.tenancy import TenantContext
    from assistant.livekit.admin import LiveKitSettings
    from assistant.livekit.tokens import mint_token

    settings = LiveKitSettings("ws://localhost:7880", "key", "s" * 32)
    return mint_token(settings, TenantContext("acme"), "room", identity=value)


def _ledger_table(value: str) -> object:
    from assistant.ledger.store import insert_rows

    try:
        insert_rows(None, value, [])  # type: ignore[arg-type]
    except ValueError as exc:
        raise WorkbenchError(str(exc)) from exc
    except Exception:  # a valid name gets past the check and fails on the missing cursor
        return value
    return value


VALIDATORS: list[tuple[str, Callable[[str], object], str]] = [
    ("tenancy tenant id", _tenancy_tenant, "acme"),
    ("tenancy room", _tenancy_room, "standup"),
    ("tenancy full room name", _tenancy_full_name, "acme"),
    ("kb tenant", _kb_tenant, "acme"),
    ("replay run id", _replay_run_id, "run-1.a_b"),
    ("job run prefix", _job_run_prefix, "sweep-1"),
    ("dataset name", _dataset_ident, "demo_1"),
    ("dataset tenant/room", _dataset_slug, "acme"),
    ("token identity", _token_identity, "alice"),
    ("ledger table", _ledger_table, "runs"),
]


@pytest.mark.parametrize(("name", "check", "good"), VALIDATORS, ids=[v[0] for v in VALIDATORS])
@pytest.mark.parametrize("tail", ["\n", "\r\n", "\n\n", " ", "\x00"])
def test_a_trailing_newline_is_refused(
    name: str, check: Callable[[str], object], good: str, tail: str
) -> None:
    check(good)  # the id itself passes
    with pytest.raises(WorkbenchError):
        check(good + tail)
