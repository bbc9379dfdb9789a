"""Limits: what is too large for memory is refused before it is read; media is streamed.

Files the loader reads whole (JSONL, the manifest, knowledge documents) are refused by size before
a byte is read, with a message naming the file, the limit and the variable that raises it. Media is
decoded as a stream: a long recording's memory stays flat, measured in a child process (RSS high
water mark) and with tracemalloc.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import tracemalloc
from pathlib import Path

import pytest
from support.synth import write_audio

from assistant.core.errors import DatasetError
from assistant.core.limits import MB, Limits, env_var
from assistant.sessions.datasets import load_dataset
from assistant.sessions.media import STT_SAMPLE_RATE, iter_audio

ROOT = Path(__file__).resolve().parents[2]


def _sparse(path: Path, size: int) -> None:
    """A file that claims ``size`` bytes without using the disk (reading it would fill memory)."""
    with path.open("r+b" if path.exists() else "wb") as f:
        f.truncate(size)


@pytest.mark.parametrize(
    "which", ["questions.jsonl", "truth/transcript.jsonl", "truth/screen_changes.jsonl"]
)
def test_a_200_mb_jsonl_file_is_refused_unread_naming_the_file_and_limit(
    tiny: Path, which: str
) -> None:
    path = tiny / which
    _sparse(path, 200 * MB)
    tracemalloc.start()
    try:
        with pytest.raises(DatasetError) as caught:
            load_dataset(tiny, check_media=False)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 20 * MB  # the 200 MB were never read
    error = caught.value
    assert error.path == str(path) and "200,000,000 bytes" in error.problem
    assert "64,000,000" in error.fix and "WORKBENCH_MAX_JSONL_BYTES" in error.fix


def test_the_limit_can_be_raised_by_the_environment_or_by_argument(
    tiny: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    questions = tiny / "questions.jsonl"
    size = questions.stat().st_size
    with pytest.raises(DatasetError, match="max_jsonl_bytes"):
        load_dataset(tiny, check_media=False, limits=Limits(max_jsonl_bytes=size - 1))
    monkeypatch.setenv(env_var("max_jsonl_bytes"), str(size - 1))
    with pytest.raises(DatasetError, match=f"the limit is {size - 1:,}"):
        load_dataset(tiny, check_media=False)
    monkeypatch.setenv(env_var("max_jsonl_bytes"), str(size))
    assert len(load_dataset(tiny, check_media=False).questions) == 3
    monkeypatch.setenv(env_var("max_jsonl_bytes"), "lots")
    with pytest.raises(
        DatasetError, match=r"WORKBENCH_MAX_JSONL_BYTES.*not a positive whole number"
    ):
        load_dataset(tiny, check_media=False)


def test_a_huge_manifest_is_refused_unread(tiny: Path) -> None:
    _sparse(tiny / "manifest.toml", 500 * MB)
    with pytest.raises(DatasetError, match=r"manifest\.toml: the manifest is 500,000,000 bytes"):
        load_dataset(tiny, check_media=False)


def test_a_huge_knowledge_document_is_refused_unread(tiny: Path) -> None:
    _sparse(tiny / "knowledge" / "dump.md", 300 * MB)
    with pytest.raises(DatasetError) as caught:
        load_dataset(tiny, check_media=False)
    assert caught.value.path == str(tiny / "knowledge" / "dump.md")
    assert "max_document_bytes" in caught.value.fix and "5,000,000" in caught.value.fix


def test_many_documents_together_over_the_knowledge_limit_are_refused(tiny: Path) -> None:
    for i in range(5):
        (tiny / "knowledge" / f"part{i}.md").write_text("word " * 40_000)  # 200 kB each
    limits = Limits(max_knowledge_bytes=500_000)
    with pytest.raises(DatasetError) as caught:
        load_dataset(tiny, check_media=False, limits=limits)
    assert (
        caught.value.path == str(tiny / "knowledge") and "max_knowledge_bytes" in caught.value.fix
    )
    assert len(load_dataset(tiny, check_media=False).documents) == 7  # within the default


def test_a_long_recording_decodes_in_flat_memory(tmp_path: Path) -> None:
    """30 minutes of 48 kHz audio (173 MB as int16) streamed to 16 kHz chunks: Python-side memory
    stays at a few chunks, and every sample arrives."""
    path = tmp_path / "long.flac"
    write_audio(path, duration_s=1800.0, spans=[(600.0, 601.0)], rate=48_000)
    tracemalloc.start()
    try:
        total = 0
        for chunk in iter_audio(path, participant="p", chunk_s=0.5):
            total += len(chunk.samples)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert abs(total - 1800 * STT_SAMPLE_RATE) < STT_SAMPLE_RATE
    assert peak < 8 * MB, f"decoding held {peak / MB:.0f} MB: it is not streaming"


CHILD = textwrap.dedent(
    """
    import json, sys
    from pathlib import Path
    sys.path.insert(0, sys.argv[2])
    from support.synth import write_video
    from assistant.sessions.media import iter_video

    def hwm_kb():
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])

    path = Path(sys.argv[1])
    write_video(path, duration_s=60.0, fps=30, size=(1280, 720))
    frames = 0
    for frame in iter_video(path):
        frames += 1
        if frames == 100:
            early = hwm_kb()
    print(json.dumps({"frames": frames, "early_kb": early, "end_kb": hwm_kb()}))
    """
)


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs /proc (Linux)")
def test_a_long_video_decodes_with_a_flat_memory_high_water_mark(tmp_path: Path) -> None:
    """1800 frames of 720p (2.5 GB if frames were kept as RGB, 1.6 GB as YUV): the process's peak
    RSS after the last frame is within 150 MB of its peak after the 100th."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(tmp_path / "long.mp4"), str(ROOT / "tests")],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["frames"] == 1800
    growth_mb = (report["end_kb"] - report["early_kb"]) / 1024
    assert growth_mb < 150, f"memory grew {growth_mb:.0f} MB over the video: frames are kept"
