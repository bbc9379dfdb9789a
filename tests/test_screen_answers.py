"""The cheap OCR tier reads small print from the frame's own pixels, and the offline answerer
reads tables the way a person does (synthetic screens and readings built here)."""

from __future__ import annotations

import numpy as np

from assistant.core.events import KeptFrame


def _frame(rgb: np.ndarray) -> KeptFrame:
    return KeptFrame("screen", 0.0, rgb, digest="d", reason="test", change_score=1.0)


def test_cheap_ocr_reads_small_print_from_full_resolution_crops() -> None:
    from PIL import Image, ImageDraw, ImageFont

    from assistant.providers.vision.ocr import OcrVision

    image = Image.new("RGB", (1280, 720), "white")
    draw = ImageDraw.Draw(image)
    # 10 px letters: 5 px at half resolution
    draw.text((100, 100), "Date of check: 2020-06-02 Codechecker: Daniel", fill="black",
              font=ImageFont.load_default(size=10))
    draw.text((100, 300), "Summary of output files", fill="black",
              font=ImageFont.load_default(size=40))
    reading = OcrVision(model="low").read(_frame(np.asarray(image)))
    text = reading.to_markdown()
    assert "Date" in text and "Codechecker" in text  # "Dete ofcheck ... Cadechecker" at half
    assert "2020-06-02" in text
    # positions are fractions of the frame as captured
    block = next(b for b in reading.blocks if "Summary" in b.text)
    assert block.box is not None and 0.05 < block.box.x0 < 0.1 and 0.4 < block.box.y0 < 0.45


def _answer(question: str, screen: str, model: str = "extractive-1") -> str:
    from assistant.core.events import Passage
    from assistant.providers.llm.base import AnswerRequest
    from assistant.providers.llm.local import LocalExtractiveLLM

    request = AnswerRequest(question, screen=(Passage("screen", screen),))
    return LocalExtractiveLLM(model=model).answer(request).value.text


_LATENCY = """# Service latency

| Endpoint | Calls | Median (ms) | Mean (ms) |
| --- | --- | --- | --- |
| /login | 120 | 12 | 10.5 |
| /search | 118 | 40 | 42.25 |
| /export | 7 | 300 | 310.75 |
"""


def test_answerer_computes_a_difference_of_two_cells_in_one_column() -> None:
    answer = _answer("How much longer is the mean time of /search than that of /login?", _LATENCY)
    assert "42.25 - 10.5 = 31.75" in answer
    # both operands are quoted with their headers and cited
    assert "/search · Mean (ms) · 42.25 [" in answer and "/login · Mean (ms) · 10.5 [" in answer


def test_answerer_computes_a_sum_and_names_the_rows_by_their_terms() -> None:
    screen = """Files written

| file | comment | size |
| --- | --- | --- |
| a.csv | raw data | 1,200 |
| b.md | summary table | 407 |
| c.md | notes | 322 |
"""
    answer = _answer("How big are b.md and c.md together?", screen, model="extractive-3")
    assert answer.startswith("407 + 322 = 729")


def test_answerer_computes_nothing_unasked_or_without_both_operands() -> None:
    assert " = " not in _answer("What is the mean time of /search?", _LATENCY)
    # one operand is not on the screen: the read values are quoted, nothing is computed
    assert " = " not in _answer("How much longer is the mean time of /search than /upload?",
                                _LATENCY)


def test_answerer_prefers_the_value_under_the_label_the_question_names() -> None:
    screen = """Create new backup job

Retention days
30

Server
10.0.4.21

Advanced options
"""
    answer = _answer("Which server is the new backup job writing to?", screen)
    assert answer.startswith("Server · 10.0.4.21") and "Create" not in answer


def test_answerer_does_not_answer_with_a_table_header_row() -> None:
    screen = """# Quarterly sales

| Region | Revenue |
| --- | --- |
| EMEA | 1.3 |
| APAC | 0.9 |
"""
    answer = _answer("Which region has the highest revenue?", screen)
    assert not answer.startswith("Region · Revenue")
    assert "EMEA" in answer
    # asked about the columns, the header row is an answer
    answer = _answer("Which columns does the revenue table have?", screen)
    assert answer.startswith("Region · Revenue")


_RUN = """Load test 7: summary

| Samples | Duration |  | Throughpot |
| --- | --- | --- | --- |
| 15073 | 4 mins | 12.38 % | 61.02 /s |
"""


def test_answerer_matches_a_header_word_the_ocr_misread() -> None:
    # "Throughpot" is how OCR read "Throughput": the cell under it answers
    assert "61.02" in _answer("What throughput did the load test reach?", _RUN)


def test_the_words_naming_what_is_asked_for_weigh_more() -> None:
    from assistant.providers.llm.local import asked_terms

    assert asked_terms("What error rate and throughput does the run report?") == {
        "error", "rate", "throughput"}
    assert asked_terms("What is the median of /world?") == set()
    screen = """Server status

Server region: Frankfurt
Uptime this month: 99.95 %
"""
    # "server" and "month" are both in the question; what is asked for is the uptime
    answer = _answer("What uptime did the server have this month in the status?", screen)
    assert answer.startswith("Uptime this month")


def test_answerer_takes_a_percentage_for_a_percentage_question() -> None:
    # the column's header was not read at all: the value's % sign answers "what percentage"
    answer = _answer("What error percentage and throughput did the load test report?", _RUN)
    assert "12.38 %" in answer and "61.02" in answer


def test_what_is_counted_after_how_many_is_not_weighted_as_asked() -> None:
    from assistant.providers.llm.local import asked_terms

    # "days" after "how many" is a unit many passages hold, not the thing asked about
    assert asked_terms("Will the engineer start before launch, and by how many days?") == set()
    assert asked_terms("Which region has grown the fastest?") == {"region"}
