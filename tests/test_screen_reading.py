"""Screen reading that keeps layout, the offline answerer that uses it, key facts matched after
symbol normalisation, local calls priced by CPU time, progress bars that end at 100 %."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from support import recordings as rec

from assistant.cli import terminal
from assistant.cli.registry import main
from assistant.core.events import Answer, Passage
from assistant.core.quality import declines, fact_found, key_fact_recall
from assistant.core.screen import parse_reading
from assistant.providers import base
from assistant.providers.llm.base import AnswerRequest
from assistant.providers.llm.local import NOT_FOUND, LocalExtractiveLLM
from assistant.providers.vision.layout import Word, read_layout
from assistant.providers.vision.ocr import OcrVision
from assistant.sessions.importing import ImportOptions, import_recording


def _w(text: str, x0: float, y0: float, x1: float, y1: float) -> Word:
    return Word(text, x0, y0, x1, y1)


SLIDE = [
    _w("Quarterly review", 100, 20, 500, 60),  # tall: the title
    _w("Revenue grew in every region.", 100, 100, 520, 120),
    _w("Region", 100, 160, 180, 180),
    _w("Q2 2025", 300, 160, 380, 180),
    _w("Q3 2025", 450, 160, 530, 180),
    _w("EMEA", 100, 200, 160, 220),
    _w("$1.10M", 300, 200, 370, 220),
    _w("$1.32M", 450, 200, 520, 220),
    _w("APAC", 100, 240, 160, 260),
    _w("$0.90M", 300, 240, 370, 260),
    _w("$1.05M", 450, 240, 520, 260),
]


def _markdown(words: list[Word]) -> str:
    return read_layout(words, width=1000, height=500).to_markdown()


def test_layout_reads_title_blocks_and_tables_with_headers_and_positions() -> None:
    reading = read_layout(SLIDE, width=1000, height=500)
    assert reading.title == "Quarterly review"
    assert reading.title_box is not None and reading.title_box.y0 == pytest.approx(0.04)
    assert [b.lines for b in reading.blocks] == [("Revenue grew in every region.",)]
    (table,) = reading.tables
    assert table.rows == (
        ("Region", "Q2 2025", "Q3 2025"),
        ("EMEA", "$1.10M", "$1.32M"),
        ("APAC", "$0.90M", "$1.05M"),
    )
    assert table.box is not None and (table.box.x0, table.box.y1) == (0.1, 0.52)
    assert "EMEA · Q3 2025 · $1.32M" in [c.with_headers() for c in table.cells()]
    back = parse_reading(reading.to_markdown())  # what the ledger keeps reads back the same
    assert back.title == reading.title and back.tables[0].rows == table.rows
    assert [b.lines for b in back.blocks] == [b.lines for b in reading.blocks]


def test_layout_joins_a_two_line_header_and_names_rows_by_their_distinct_column() -> None:
    words = [
        _w("Type", 20, 150, 70, 172), _w("Name", 100, 150, 160, 172), _w("#", 300, 150, 315, 172),
        _w("Requests", 300, 168, 380, 190), _w("(path)", 100, 168, 150, 190),
        _w("GET", 20, 220, 60, 240), _w("/hello", 100, 220, 160, 240), _w("445", 300, 220, 340, 240),
        _w("GET", 20, 260, 60, 280), _w("/world", 100, 260, 160, 280), _w("444", 300, 260, 340, 280),
    ]
    (table,) = read_layout(words, width=1000, height=500).tables
    assert table.header == ("Type", "Name (path)", "# Requests")
    assert table.key_column == 1  # "GET" repeats; the path names the row
    assert "/world · # Requests · 444" in [c.with_headers() for c in table.cells()]


def _answer(question: str, screen: str, model: str = "extractive-1") -> str:
    request = AnswerRequest(question=question, screen=(Passage("screen", screen),))
    return LocalExtractiveLLM(model=model).answer(request).value.text


def test_answerer_quotes_a_cell_with_its_headers_not_the_title() -> None:
    md = _markdown(SLIDE)
    assert _answer("What was EMEA revenue in Q3 2025?", md).startswith(
        "EMEA · Q3 2025 · $1.32M [1]"
    )
    assert "Quarterly review" not in _answer("How did the quarterly review go for EMEA?", md)
    assert _answer("What is the title of this slide?", md) == "Quarterly review [1]"


def test_answerer_gives_both_facts_of_a_two_part_question() -> None:
    answer = _answer("What were EMEA and APAC revenue in Q3 2025?", _markdown(SLIDE))
    assert "$1.32M" in answer and "$1.05M" in answer


def test_answerer_reads_a_form_label_with_its_value_and_a_date_for_when() -> None:
    form = "Start new load test\n\nNumber of users (peak concurrency)\n\n100\n\nHost\n\nexample.com"
    assert _answer("What peak number of users is entered?", form) == (
        "Number of users (peak concurrency) · 100 [1]"
    )
    title_slide = "# Code review at scale\n\nJane Doe @ Tools Workshop 2022 (TW22), 2022-04-04"
    assert "2022-04-04" in _answer("When was this talk given?", title_slide)
    assert _answer("Who won the lottery?", title_slide) == NOT_FOUND


def test_key_facts_match_after_symbols_are_made_plain() -> None:
    assert key_fact_recall("Our Product™ ships in May", ["Product"]) == 1.0
    assert key_fact_recall("Acme® Cloud", ["Acme Cloud"]) == 1.0
    assert key_fact_recall("costs\u00a0$49", ["costs $49"]) == 1.0
    assert key_fact_recall("weeks 3\u20134", ["3-4"]) == 1.0
    assert key_fact_recall("the \u201cBeta\u201d plan", ['"Beta"']) == 1.0
    assert fact_found("EMEA · Q3 2025 · $1.32M [1]", "$1.32M")
    assert fact_found("Product™ [1]", "Product") and not fact_found("Prod [1]", "Product")


def test_declining_answers_are_abstentions() -> None:
    assert declines(NOT_FOUND)
    assert declines("The context does not contain the launch date.")
    assert not declines("The launch is on March 14 [1].")
    assert not declines("We could not find a cheaper vendor, says Bob [1].")  # cited: an answer


def test_local_calls_are_priced_by_cpu_time(monkeypatch: pytest.MonkeyPatch) -> None:
    readings = iter([10.0, 10.25])
    scopes: list[str] = []

    def clock(scope: str) -> float:
        scopes.append(scope)
        return next(readings)

    monkeypatch.setattr(base, "cpu_clock", clock)
    result = LocalExtractiveLLM(model="extractive-1").answer(AnswerRequest(question="Why?"))
    assert result.usage.compute_s == pytest.approx(0.25)  # CPU seconds, not wall time
    assert scopes == ["thread", "thread"]
    assert OcrVision.cpu_scope == "process"  # onnxruntime computes on threads of its own


def test_progress_bars_end_at_100_percent(capsys: pytest.CaptureFixture[str]) -> None:
    tick = terminal.bar(67.7, "replay", quiet=False)
    tick(66.9)  # the last frame comes before the media's end
    assert tick.bar.n < tick.bar.total
    terminal.finish(tick)
    assert tick.bar.n == tick.bar.total == 68
    terminal.close(tick)


def test_import_stages_end_at_100_percent(tmp_path: Path) -> None:
    video = rec.mixed_video(tmp_path / "m.mp4", seconds=3.0)
    seen: dict[str, tuple[float, float]] = {}

    def progress(desc: str, total_s: float) -> object:
        def tick(t_s: float) -> None:
            seen[desc] = (total_s, max(t_s, seen.get(desc, (0.0, 0.0))[1]))

        return tick

    import_recording([str(video)], ImportOptions(out=tmp_path / "ds", questions=False),
                     progress=progress, close=lambda tick: None)
    assert seen and all(last >= total for total, last in seen.values())


def test_sample_bench_refuses_before_drawing_a_bar(
    tiny: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    manifest = tiny / "manifest.toml"
    manifest.write_text(
        manifest.read_text().replace('screen_changes = "truth/screen_changes.jsonl"\n', "")
    )
    assert main(["eval-sampling", str(tiny)]) == 2
    err = capsys.readouterr().err
    assert "screen-change ground truth" in err and "sampling" not in err


def test_cloud_style_abstention_is_recognised_in_a_parsed_answer() -> None:
    assert declines(Answer("I cannot find this on the screen.").text)


def test_answer_bench_counts_facts_on_a_dataset(tiny: Path, tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    shutil.rmtree(tmp_path / "work", ignore_errors=True)
    assert main(["eval-answers", str(tiny), "--work", str(tmp_path / "work"), "--json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert set(row) == {"dataset", "default", "all-premium"}
    assert row["all-premium"]["premium"] == row["all-premium"]["questions"] > 0
    assert row["default"]["facts"] > 0 and 0 <= row["default"]["found"] <= row["default"]["facts"]
