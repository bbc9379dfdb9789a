"""Question proposals with precision: word order, joined fragments, duplicates by text, the
skipped ones reported, and precision and recall against a transcript that marks real questions."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from assistant.cli.registry import main
from assistant.core.events import Utterance
from assistant.sessions.proposals import (
    Proposal,
    dedupe,
    join_fragments,
    judge,
    propose,
    propose_all,
)


@pytest.mark.parametrize(
    ("sentence", "is_question"),
    [
        ("Have you heard about the new conversation transcription capability?", True),
        ("Is the new feature can diarize in real time?", True),
        ("What's the weather like?", True),
        ("What did Bob say about churn", True),  # no "?": word order says it
        ("How many users are there", True),
        ("Latin America went down. Carol, why?", True),
        ("It's the new feature that transcribes our discussion and lets us know who said what?",
         False),  # declarative with a "?" (whisper punctuated it)
        ("What a week!", False),  # an exclamation
        ("When you are done, send it.", False),  # a clause opened by a question word
        ("How we did it was great", False),
        ("No, tell me more.", False),
        ("Turn on the lamp.", False),
        ("Do this first please.", False),  # an instruction
        ("That's right, isn't it?", True),  # a tag question
    ],
)
def test_judge_reads_word_order_not_just_a_question_word(sentence: str, is_question: bool) -> None:
    assert judge(sentence)[0] is is_question


def test_fragments_cut_by_the_transcriber_are_joined_before_judging() -> None:
    cut = [
        Utterance("room", 10.0, 12.0, "When we look at the numbers for the third quarter,"),
        Utterance("room", 12.3, 14.0, "what changed in EMEA?"),
    ]
    assert [u.text for u in join_fragments(cut)] == [
        "When we look at the numbers for the third quarter, what changed in EMEA?"
    ]
    (found,) = propose(cut)
    assert found.t_s == 14.0 and found.text.startswith("When we look")


def test_statements_are_skipped_with_their_reason() -> None:
    heard = [
        Utterance("room", 1.0, 3.0, "Have you heard about the new conversation transcription "
                  "capability? No, tell me more. It's the new feature that transcribes our "
                  "discussion and lets us know who said what?"),
    ]
    found, skipped = propose_all(heard)
    assert [p.text for p in found] == [
        "Have you heard about the new conversation transcription capability?"
    ]
    assert len(skipped) == 1 and "declarative" in skipped[0].text


def test_duplicates_are_decided_by_text_not_time_alone() -> None:
    existing = [Proposal(20.0, "room", "Which region grew the fastest?", "direct", True)]
    near_but_other = Proposal(21.0, "room", "Is the launch still on Monday?", "direct", False)
    same_later = Proposal(60.0, "room", "Which region grew fastest?", "direct", True)
    fresh, skipped = dedupe([near_but_other, same_later], existing)
    assert fresh == [near_but_other]  # same asker within 2 s, but another question
    assert [s.text for s in skipped] == ["Which region grew fastest?"]
    assert "already present" in skipped[0].reason


def _imported(tiny: Path, tmp_path: Path, lines: list[dict[str, object]]) -> Path:
    """The tiny dataset as an import would leave it: its transcript made at import."""
    ds = Path(shutil.copytree(tiny, tmp_path / "imp"))
    (ds / "transcript.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    manifest = ds / "manifest.toml"
    text = manifest.read_text()
    manifest.write_text(text + '\n[imported]\ntranscript = "transcript.jsonl"\n')
    return ds


def test_questions_command_prints_skipped_and_evaluates(
    tiny: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = [
        {"speaker": "alice", "start_s": 0.5, "end_s": 2.0, "text": "Can you share the roadmap?"},
        {"speaker": "bob", "start_s": 2.5, "end_s": 4.0,
         "text": "It's the page that shows us who owns what in the team?"},
        {"speaker": "alice", "start_s": 4.5, "end_s": 6.0, "text": "What a great quarter!"},
    ]
    ds = _imported(tiny, tmp_path, lines)
    assert main(["questions", str(ds)]) == 0
    out = capsys.readouterr().out
    assert "Can you share the roadmap?" in out and "skipped" in out and "declarative" in out
    truth = tmp_path / "truth.jsonl"
    marks = ["question", "statement", "exclamation"]
    truth.write_text("".join(
        json.dumps({**x, "question_like": m}) + "\n" for x, m in zip(lines, marks, strict=True)
    ))
    assert main(["questions", str(ds), "--evaluate", "--truth", str(truth)]) == 0
    out = capsys.readouterr().out
    assert "precision 1.00 (1 of 1" in out and "recall    1.00 (1 of 1" in out
    unmarked = tmp_path / "plain.jsonl"
    unmarked.write_text(json.dumps(lines[0]) + "\n")
    assert main(["questions", str(ds), "--evaluate", "--truth", str(unmarked)]) == 2
    assert "marks no line" in capsys.readouterr().err


def test_stt_recorded_without_ground_truth_says_what_it_uses(
    tiny: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = [{"speaker": "alice", "start_s": 0.5, "end_s": 2.0, "text": "Can we ship today?"}]
    ds = _imported(tiny, tmp_path, lines)
    manifest = ds / "manifest.toml"
    manifest.write_text(manifest.read_text().replace(
        'transcript = "truth/transcript.jsonl"\n', "", 1))
    assert main(["questions", str(ds), "--stt", "recorded"]) == 0
    out = capsys.readouterr().out
    assert "has no ground-truth transcript" in out and "transcript.jsonl" in out
    assert "Can we ship today?" in out
