"""The loader refuses every broken input with one clear error naming the file (and line)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support.synth import write_audio

from assistant.core.errors import DatasetError
from assistant.sessions.datasets import load_dataset


def _error(path: Path) -> DatasetError:
    with pytest.raises(DatasetError) as info:
        load_dataset(path)
    return info.value


def test_valid_dataset_loads(tiny: Path) -> None:
    dataset = load_dataset(tiny)
    assert dataset.name == "tiny" and dataset.tenant == "acme"
    assert [q.id for q in dataset.questions] == ["q1", "q2", "q3"]
    assert dataset.screen_fps == pytest.approx(10.0)
    assert dataset.transcript is not None and len(dataset.transcript) == 3
    assert dataset.screen_changes is not None and dataset.screen_changes[1].t_s == 4.0
    assert {d.doc_id for d in dataset.documents} == {"oncall.md", "pricing.md"}


def test_missing_manifest(tmp_path: Path) -> None:
    err = _error(tmp_path)
    assert "manifest.toml" in str(err) and "no manifest" in str(err)


def test_missing_video(tiny: Path) -> None:
    (tiny / "screen.mp4").unlink()
    err = _error(tiny)
    assert err.path.endswith("screen.mp4") and "missing" in str(err)


def test_corrupt_video(tiny: Path) -> None:
    (tiny / "screen.mp4").write_bytes(b"\x00\x01garbage" * 500)
    err = _error(tiny)
    assert err.path.endswith("screen.mp4")
    assert "corrupt or truncated" in str(err) and "re-export" in str(err)


def test_truncated_video(tiny: Path) -> None:
    video = tiny / "screen.mp4"
    data = video.read_bytes()
    video.write_bytes(data[: len(data) // 2])
    err = _error(tiny)
    assert err.path.endswith("screen.mp4")
    assert "truncated" in str(err)


def test_truncated_audio(tiny: Path) -> None:
    audio = tiny / "audio" / "bob.flac"
    data = audio.read_bytes()
    audio.write_bytes(data[: len(data) // 3])
    err = _error(tiny)
    assert err.path.endswith("bob.flac") and "truncated" in str(err)


def test_empty_audio(tiny: Path) -> None:
    (tiny / "audio" / "bob.flac").write_bytes(b"")
    err = _error(tiny)
    assert err.path.endswith("bob.flac") and "empty" in str(err)


def test_unsupported_sample_rate(tiny: Path) -> None:
    write_audio(tiny / "audio" / "bob.flac", duration_s=8.0, spans=[(1, 2)], rate=11_025)
    err = _error(tiny)
    assert err.path.endswith("bob.flac")
    assert "11025 Hz" in str(err) and "16000" in str(err)


def test_audio_shorter_than_session(tiny: Path) -> None:
    write_audio(tiny / "audio" / "alice.flac", duration_s=3.0, spans=[(1, 2)])
    err = _error(tiny)
    assert err.path.endswith("alice.flac") and "ends at 3.0 s" in str(err)


def test_empty_question_list(tiny: Path) -> None:
    (tiny / "questions.jsonl").write_text("# no questions yet\n\n")
    err = _error(tiny)
    assert err.path.endswith("questions.jsonl") and "no question" in str(err)


def test_malformed_line_names_the_line(tiny: Path) -> None:
    lines = (tiny / "questions.jsonl").read_text().splitlines()
    lines[1] = lines[1][:-5]  # cut the closing of line 2
    (tiny / "questions.jsonl").write_text("\n".join(lines) + "\n")
    err = _error(tiny)
    assert err.line == 2
    assert "questions.jsonl:2" in str(err) and "malformed JSON" in str(err)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"asker": "mallory"}, "not a participant"),
        ({"t_s": 99.0}, "outside the session"),
        ({"needs_screen": "yes"}, "'needs_screen' must be bool"),
        ({"key_facts": [""]}, "key_facts"),
        ({"text": "   "}, "'text' is empty"),
        ({"id": "q1"}, "used twice"),
    ],
)
def test_bad_question_fields(tiny: Path, change: dict[str, object], expected: str) -> None:
    lines = (tiny / "questions.jsonl").read_text().splitlines()
    obj = json.loads(lines[2])
    obj.update(change)
    lines[2] = json.dumps(obj)
    (tiny / "questions.jsonl").write_text("\n".join(lines) + "\n")
    err = _error(tiny)
    assert err.line == 3 and expected in str(err)


def test_missing_question_field(tiny: Path) -> None:
    lines = (tiny / "questions.jsonl").read_text().splitlines()
    obj = json.loads(lines[0])
    del obj["needs_screen"]
    lines[0] = json.dumps(obj)
    (tiny / "questions.jsonl").write_text("\n".join(lines) + "\n")
    err = _error(tiny)
    assert err.line == 1 and "'needs_screen' is missing" in str(err)


def test_question_without_reference_has_unknown_quality(tiny: Path) -> None:
    """No reference and no key facts: accepted, quality unknown (null), not refused."""
    lines = (tiny / "questions.jsonl").read_text().splitlines()
    obj = json.loads(lines[0])
    del obj["reference"], obj["key_facts"]
    lines[0] = json.dumps(obj)
    (tiny / "questions.jsonl").write_text("\n".join(lines) + "\n")
    first = next(q for q in load_dataset(tiny).questions if q.id == obj["id"])
    assert first.reference is None and first.key_facts == () and not first.proposed


def test_path_outside_dataset_is_refused(tiny: Path) -> None:
    manifest = tiny / "manifest.toml"
    manifest.write_text(manifest.read_text().replace('file = "screen.mp4"', 'file = "../x.mp4"'))
    err = _error(tiny)
    assert "outside the dataset folder" in str(err)


def test_bad_manifest_syntax(tiny: Path) -> None:
    (tiny / "manifest.toml").write_text("format = 1\nname = \n")
    err = _error(tiny)
    assert err.path.endswith("manifest.toml") and "not valid TOML" in str(err)


def test_unknown_format_version(tiny: Path) -> None:
    manifest = tiny / "manifest.toml"
    manifest.write_text(manifest.read_text().replace("format = 1", "format = 7"))
    assert "format 7 is not supported" in str(_error(tiny))


def test_bad_tenant_id(tiny: Path) -> None:
    manifest = tiny / "manifest.toml"
    manifest.write_text(manifest.read_text().replace('tenant = "acme"', 'tenant = "acme_\'x"'))
    assert "tenant" in str(_error(tiny))


def test_empty_knowledge_folder(tiny: Path) -> None:
    for doc in (tiny / "knowledge").iterdir():
        doc.unlink()
    err = _error(tiny)
    assert err.path.endswith("knowledge") and "no .md or .txt" in str(err)


def test_transcript_truth_bad_speaker(tiny: Path) -> None:
    (tiny / "truth" / "transcript.jsonl").write_text(
        '{"speaker": "zed", "start_s": 1, "end_s": 2, "text": "hi"}\n'
    )
    err = _error(tiny)
    assert "transcript.jsonl:1" in str(err) and "zed" in str(err)


def test_screen_changes_out_of_order(tiny: Path) -> None:
    (tiny / "truth" / "screen_changes.jsonl").write_text(
        '{"t_s": 2.0, "kind": "slide"}\n{"t_s": 1.0, "kind": "slide"}\n'
    )
    err = _error(tiny)
    assert "screen_changes.jsonl:2" in str(err) and "backwards" in str(err)
