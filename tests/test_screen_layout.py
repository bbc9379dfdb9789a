"""The structured screen reading kept with its positions: its JSON form, the ledger column
``request_inputs.screen_layout_json`` (migration 14) filled by both OCR tiers in a real replay and
NULL for a cloud model's reading, and a reading served from the frame cache or the call cache
that keeps its positions (old cache entries still load, without them)."""

from __future__ import annotations

import dataclasses
import json
import pickle
from pathlib import Path

import duckdb
import numpy as np
import pytest
from streamlit.testing.v1 import AppTest
from support.configs import recorded_config
from support.fakes.vendors import FakeVendors

from assistant.core.errors import LedgerError
from assistant.core.events import KeptFrame, Usage
from assistant.core.screen import (
    LAYOUT_VERSION,
    Box,
    ScreenReading,
    ScreenText,
    Table,
    TextBlock,
    layout_of,
    parse_reading,
    reading_from_json,
)
from assistant.ledger import Ledger
from assistant.ledger import schema as ledger_schema
from assistant.ledger.queries.projection import run_request_inputs
from assistant.ledger.queries.screen import screen_readings
from assistant.ledger.schema import migrate
from assistant.providers.base import HookOutput
from assistant.providers.cache import CacheEntry, CallCache
from assistant.providers.vision.base import VisionProvider
from assistant.sessions.datasets import load_dataset
from assistant.sessions.replay import replay
from assistant.views.screens import PART_COLUMNS, layout_parts, read_screen_readings

ROOT = Path(__file__).resolve().parent.parent

READING = ScreenReading(
    title="Q3 revenue",
    blocks=(TextBlock(("Churn fell to 2.1%", "from 3.4% in Q2"), Box(0.05, 0.2, 0.6, 0.3)),),
    tables=(
        Table(
            (("Region", "Q3 2025"), ("EMEA", "$1.32M"), ("APAC", "$0.9M")),
            Box(0.05, 0.4, 0.7, 0.8),
        ),
    ),
    title_box=Box(0.05, 0.02, 0.5, 0.1),
    order=(("title", 0), ("block", 0), ("table", 0)),
)


def test_the_json_form_round_trips_with_its_positions() -> None:
    text = READING.to_json()
    assert reading_from_json(text) == READING
    data = json.loads(text)
    assert data["version"] == LAYOUT_VERSION == 1
    assert data["title_box"] == [0.05, 0.02, 0.5, 0.1]  # [x0, y0, x1, y1] fractions
    assert data["tables"][0] == {
        "rows": [["Region", "Q3 2025"], ["EMEA", "$1.32M"], ["APAC", "$0.9M"]],
        "box": [0.05, 0.4, 0.7, 0.8],
    }
    assert data["order"] == [["title", 0], ["block", 0], ["table", 0]]
    assert READING.has_positions
    # the text form has no positions: its reading is structure only, and round trips too
    parsed = parse_reading(READING.to_markdown())
    assert not parsed.has_positions and parsed.tables[0].rows == READING.tables[0].rows
    assert reading_from_json(parsed.to_json()) == parsed
    assert reading_from_json(ScreenReading().to_json()) == ScreenReading()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"version": 2}, "version 2 is not one this workbench reads"),
        ({"title_box": [0.1, 0.2]}, r"box is \[x0, y0, x1, y1\]"),
        ({"order": [["table", 3]]}, "order names a part it lacks"),
        ({"blocks": [{"lines": "one"}]}, "block lines is a list of strings"),
        ({"tables": [{"box": None}]}, "lacks or misshapes a part"),
    ],
)
def test_a_layout_that_does_not_read_back_says_why(change: dict[str, object], message: str) -> None:
    data = READING.to_dict() | change
    with pytest.raises(ValueError, match=message):
        reading_from_json(json.dumps(data))
    with pytest.raises(ValueError, match="not JSON"):
        reading_from_json("{")


def test_screen_text_is_the_markdown_and_carries_its_reading() -> None:
    text = ScreenText(READING.to_markdown(), READING)
    assert text == READING.to_markdown() and layout_of(text) == READING
    assert layout_of(pickle.loads(pickle.dumps(text))) == READING
    assert layout_of(str(text)) is None and layout_of(text.strip()) is None  # plain text again
    assert layout_of(ScreenText("x", parse_reading("x"))) is None  # a reading without positions


class LayoutVision(VisionProvider):
    """Scripted fake: reads every frame as ``READING`` (positions included), as OCR does."""

    provider = "fake-ocr"
    local = True

    def __init__(self, *, model: str = "m1") -> None:
        super().__init__(model=model)
        self.calls = 0

    def _analyze_impl(self, frame: KeptFrame, question: str) -> HookOutput[str]:
        self.calls += 1
        return HookOutput(ScreenText(READING.to_markdown(), READING), Usage(image_count=1))


def _frame(digest: str = "d1") -> KeptFrame:
    rgb = np.zeros((4, 6, 3), dtype=np.uint8)
    return KeptFrame("screen", 1.0, rgb, digest=digest, reason="change", change_score=1.0)


def test_a_reading_from_the_frame_cache_or_the_call_cache_keeps_its_positions() -> None:
    cache = CallCache()
    first = LayoutVision()
    first.use_cache(cache)
    made = first.analyze(_frame(), "q")
    assert layout_of(made.value) == READING
    hit = first.cached(_frame())  # the frame cache: the same screen again, no call
    assert hit is not None and layout_of(hit) == READING
    assert made.cache_json is not None and json.loads(made.cache_json)["layout"]["version"] == 1
    second = LayoutVision()  # a later run: the call cache, filled from the ledger's value_json
    stored = CallCache()
    stored.put(made.cache_key or "", CacheEntry(made.cache_json, made.usage, 5.0, "m1"))
    second.use_cache(stored)
    again = second.analyze(_frame(), "another question")
    assert again.cached and second.calls == 0
    assert again.value == made.value and layout_of(again.value) == READING
    assert layout_of(second.cached(_frame()) or "") == READING


def test_an_old_cache_entry_without_a_layout_still_loads_as_text() -> None:
    probe = LayoutVision()
    probe.use_cache(CallCache())
    key = probe.analyze(_frame(), "q").cache_key or ""
    old = CallCache()  # as stored before layouts were kept: the text as a JSON string
    old.put(key, CacheEntry(json.dumps(READING.to_markdown()), Usage(image_count=1), 5.0, "m1"))
    vision = LayoutVision()
    vision.use_cache(old)
    result = vision.analyze(_frame(), "q")
    assert result.cached and vision.calls == 0
    assert result.value == READING.to_markdown() and layout_of(result.value) is None


def _tiers(stored: list[object]) -> set[str]:
    return {r.vision_tier for r in stored}  # type: ignore[attr-defined]


@pytest.fixture(scope="module")
def replayed(tmp_path_factory: pytest.TempPathFactory, tiny_master: Path) -> Path:
    """Two --both-tiers replays of the small session (OCR at both tiers), the second reading
    every screen from the call cache the first filled."""
    path = tmp_path_factory.mktemp("layout") / "l.duckdb"
    for run_id in ("first", "second"):
        replay(load_dataset(tiny_master), ledger=path, config=recorded_config(), run_id=run_id,
               both_tiers=True)
    return path


def test_both_ocr_tiers_store_the_layout_and_a_cached_replay_keeps_it(replayed: Path) -> None:
    path = replayed
    with Ledger(path) as ledger:
        first, second = screen_readings(ledger, "first"), screen_readings(ledger, "second")
        cached = ledger.cursor().execute(
            "SELECT bool_and(cached) FROM calls WHERE run_id = 'second' AND stage = 'vision'"
        ).fetchall()[0][0]
    assert cached is True
    assert _tiers(first) == {"cheap", "premium"}  # ocr:low and ocr:full
    for reading in first:
        layout = reading.layout
        assert layout is not None and layout.has_positions
        assert layout.to_markdown() == reading.text  # the stored text is this reading's
        assert any("2.1%" in line for block in layout.blocks for line in block.lines)
        boxes = [layout.title_box, *(b.box for b in layout.blocks), *(t.box for t in layout.tables)]
        for box in (b for b in boxes if b is not None):
            assert 0 <= box.x0 < box.x1 <= 1 and 0 <= box.y0 < box.y1 <= 1
    # the cached run stores the same structure and positions, per tier
    by_tier = {r.vision_tier: r.layout for r in first}
    assert _tiers(second) == {"cheap", "premium"}
    assert all(r.layout == by_tier[r.vision_tier] for r in second)
    with Ledger(path, read_only=True) as ledger:
        only = screen_readings(ledger, "first", request_id=first[0].request_id)
    assert only and {r.request_id for r in only} == {first[0].request_id}


def test_a_cloud_models_reading_stores_no_layout(
    tiny: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = recorded_config(0.0)
    config = dataclasses.replace(
        config, vision=dataclasses.replace(config.vision, premium="openai:gpt-4o")
    )
    with FakeVendors() as fake:  # OpenAI's SDK, served on this machine
        monkeypatch.setenv("OPENAI_API_KEY", "sk-test-layout")
        monkeypatch.setenv("OPENAI_BASE_URL", fake.openai_url)
        monkeypatch.chdir(tmp_path)
        with Ledger(tmp_path / "l.duckdb") as ledger:
            replay(load_dataset(tiny), ledger=ledger, config=config, run_id="cloud")
            readings = screen_readings(ledger, "cloud")
            inputs = [i for i in run_request_inputs(ledger, "cloud") if i.screen_text is not None]
        assert fake.of("openai")  # the screen was read by the cloud model
    assert readings and all(r.text and r.layout is None for r in readings)
    assert inputs and all(i.screen_layout_json is None for i in inputs)


def test_an_old_ledger_gets_the_layout_column_null_for_its_rows(tmp_path: Path) -> None:
    path = tmp_path / "old.duckdb"
    con = duckdb.connect(str(path))
    assert migrate(con, migrations=ledger_schema.MIGRATIONS[:-1])[-1] == "call_cache"
    con.execute(
        "INSERT INTO request_inputs (run_id, request_id, tier, routed, screen_text, vision_tier) "
        "VALUES ('old', 'old:q1', 'cheap', true, '# Title', 'cheap')"
    ).fetchall()
    con.close()
    with Ledger(path) as ledger:
        assert ledger.applied_migrations == ["screen_layout"]
        (reading,) = screen_readings(ledger, "old")
        assert reading.text == "# Title" and reading.layout is None
        ledger.cursor().execute(
            "UPDATE request_inputs SET screen_layout_json = '{\"version\": 9}'"
        ).fetchall()
        with pytest.raises(LedgerError, match=r"request old:q1 \(cheap\).*version 9"):
            screen_readings(ledger, "old")


def test_an_old_lake_is_migrated_and_a_replay_into_it_keeps_the_layout(
    tiny: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from assistant.ledger.sink import LakeSink, open_sink

    monkeypatch.setenv("WORKBENCH_LAKE_DATA", str(tmp_path / "lake-data"))
    lake = f"ducklake:{tmp_path / 'catalog.ducklake'}"
    with monkeypatch.context() as old:  # a lake made before migration 14
        old.setattr(ledger_schema, "MIGRATIONS", ledger_schema.MIGRATIONS[:-1])
        Ledger(lake).close()
    with Ledger(lake) as ledger:
        assert ledger.applied_migrations == ["screen_layout"]
    sink = open_sink(lake)
    assert isinstance(sink, LakeSink)
    with sink:
        replay(load_dataset(tiny), ledger=sink, config=recorded_config(), run_id="lake")
    with Ledger(lake) as ledger:
        readings = screen_readings(ledger, "lake")
    assert readings and all(r.layout is not None and r.layout.has_positions for r in readings)


def test_the_runs_page_shows_a_screen_reading_with_its_parts(replayed: Path) -> None:
    view = read_screen_readings(replayed, "first")
    assert view.data is not None
    assert {(r["request_id"], r["vision_tier"]) for r in view.data} == {
        (r["request_id"], t) for r in view.data for t in ("cheap", "premium")
    }  # one reading per request and vision tier, though each is stored with both answer tiers
    assert len(view.data) == len({(r["request_id"], r["vision_tier"]) for r in view.data})
    parts = view.data[0]["parts"]
    assert parts and set(parts[0]) == set(PART_COLUMNS)
    assert any("2.1%" in p["text"] and p["x1"] > p["x0"] for p in parts)
    app = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    app.session_state["wb.ledger"] = str(replayed)
    app.run()
    app.switch_page("pages/runs.py")
    app.session_state["runs.selected"] = "first"
    app.run()
    assert not app.exception
    assert "Screen readings" in [h.value for h in app.subheader]
    assert app.selectbox(key="runs.screen").options == [r["label"] for r in view.data]
    shown = app.dataframe[-1].value
    assert list(shown.columns) == PART_COLUMNS and len(shown) == len(parts)


def test_a_reading_without_positions_says_so() -> None:
    assert layout_parts(parse_reading("# T\n\nline")) == [
        {"part": "title", "text": "T", "x0": None, "y0": None, "x1": None, "y1": None},
        {"part": "block", "text": "line", "x0": None, "y0": None, "x1": None, "y1": None},
    ]
    assert layout_parts(READING)[2]["text"] == "3 x 2: Region | Q3 2025"


def test_a_reading_made_ahead_of_the_question_keeps_its_positions(tiny: Path, tmp_path: Path) -> None:
    config = recorded_config()
    config = dataclasses.replace(config, vision=dataclasses.replace(config.vision, prefetch="both"))
    with Ledger(tmp_path / "l.duckdb") as ledger:
        replay(load_dataset(tiny), ledger=ledger, config=config, run_id="ahead")
        readings = screen_readings(ledger, "ahead")
    assert readings and all(r.layout is not None and r.layout.has_positions for r in readings)
