"""The sampler's pass kept in the call cache (``assistant.sessions.frame_index``): a second replay
decodes no video frame and records the same rows; a frame read after all decodes to the planned
pixels; another file, another sampling configuration or ``--no-cache`` miss the index; an
interrupted run stores none, and a resumed one is right."""

from __future__ import annotations

import dataclasses
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import av
import numpy as np
import pandas as pd
import pytest
from support.configs import recorded_config
from support.synth import write_video
from test_decoding import _video

from assistant.core.config import Config, SamplingConfig
from assistant.core.events import Question, VideoFrame
from assistant.ledger import Ledger
from assistant.ledger.queries import run_calls, run_requests
from assistant.pipeline.orchestrator import Pipeline
from assistant.pipeline.sampling import make_sampler
from assistant.providers.vision.base import VisionProvider
from assistant.sessions import decoding, frame_index
from assistant.sessions.datasets import load_dataset
from assistant.sessions.frame_index import (
    FrameIndex,
    IndexingSampler,
    ReplayedSampler,
    decode_frame_at,
    index_key,
    indexed_frames,
)
from assistant.sessions.media import iter_video
from assistant.sessions.replay import replay, resume


class Decoded:
    """Video decoding in this process, counted through wrappers: containers of a video opened
    (``av.open`` on a ``.mp4``), packets sent to the planned decoder, frames decoded one by one
    for a reader (``decode_frame_at``)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.opened = 0
        self.packets = 0
        self.lazy = 0
        real_open, real_send, real_at = av.open, decoding._send, frame_index.decode_frame_at

        def opened(path: Any, *args: Any, **kwargs: Any) -> Any:
            if str(path).endswith(".mp4"):
                self.opened += 1
            return real_open(path, *args, **kwargs)

        def send(codec: Any, packet: Any) -> list[Any]:
            self.packets += 1
            return real_send(codec, packet)

        def at(*args: Any, **kwargs: Any) -> Any:
            self.lazy += 1
            return real_at(*args, **kwargs)

        monkeypatch.setattr(av, "open", opened)
        monkeypatch.setattr(decoding, "_send", send)
        monkeypatch.setattr(frame_index, "decode_frame_at", at)

    @property
    def any(self) -> bool:
        return bool(self.opened or self.packets or self.lazy)


def _run(tiny: Path, ledger: Path, run_id: str, config: Config, **kw: Any) -> str:
    return replay(load_dataset(tiny), ledger=ledger, config=config, run_id=run_id, **kw)


def _frames(ledger: Ledger, run_id: str) -> pd.DataFrame:
    return ledger.cursor().execute(
        "SELECT track, media_t_s, reason, change_score, width, height, frame_hash FROM frames "
        "WHERE run_id = ? ORDER BY media_t_s, reason", [run_id]
    ).df()


def _indexes(ledger: Ledger) -> list[tuple[str, str]]:
    return ledger.cursor().execute(
        "SELECT spec, run_id FROM call_cache WHERE stage = 'sampler' ORDER BY created_at"
    ).fetchall()


_REQUEST_COLUMNS = ["question_id", "answer", "tier", "status", "complexity_score",
                    "vision_tier", "llm_cost_usd", "vision_cost_usd"]  # retrieval: timed anew


def _same_rows(ledger: Ledger, one: str, two: str, *, costs: bool = True) -> None:
    """The same frames, requests (answers, tiers; their costs as if paid unless ``costs`` is
    False: a call made again is timed, and priced by its compute time, again) and calls."""
    pd.testing.assert_frame_equal(_frames(ledger, one), _frames(ledger, two))
    r1, r2 = run_requests(ledger, one), run_requests(ledger, two)
    columns = [c for c in _REQUEST_COLUMNS if c in r1.columns and (costs or "cost" not in c)]
    pd.testing.assert_frame_equal(r1[columns].reset_index(drop=True),
                                  r2[columns].reset_index(drop=True))
    c1, c2 = run_calls(ledger, one), run_calls(ledger, two)
    assert list(c1["stage"]) == list(c2["stage"])
    assert list(c1["provider"]) == list(c2["provider"])


@pytest.mark.parametrize("policy", ["fixed", "change"])
def test_a_cached_replay_decodes_no_frame_and_records_the_same(
    tiny: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, policy: str
) -> None:
    path = tmp_path / "l.duckdb"
    config = recorded_config()
    config = dataclasses.replace(config, sampling=SamplingConfig(policy=policy))
    _run(tiny, path, "first", config)
    dataset = load_dataset(tiny)  # its probe decodes: before the counting starts
    decoded = Decoded(monkeypatch)
    notices: list[str] = []
    replay(dataset, ledger=path, config=config, run_id="second", notice=notices.append)
    assert not decoded.any, vars(decoded)
    assert any(n.startswith("frame index:") for n in notices)
    with Ledger(path) as ledger:
        _same_rows(ledger, "first", "second")
        assert len(_frames(ledger, "first")) > 0
        calls = run_calls(ledger, "second")
        assert calls[calls["stage"] == "vision"]["cached"].all()
        assert _indexes(ledger) == [(f"sampler:{policy}", "first")]  # stored once


def test_a_reading_the_cache_misses_decodes_that_frame_alone_as_the_first_run_did(
    tiny: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "l.duckdb"
    config = recorded_config()
    _run(tiny, path, "first", config)
    with Ledger(path) as ledger:  # forget the screen readings, keep the frame index
        ledger.cursor().execute("DELETE FROM call_cache WHERE stage = 'vision'")
    dataset = load_dataset(tiny)
    decoded = Decoded(monkeypatch)
    read: list[str] = []
    analyze = VisionProvider.analyze

    def recorded_read(self: VisionProvider, frame: Any, question: str) -> Any:
        result = analyze(self, frame, question)
        read.append(result.value)
        return result

    monkeypatch.setattr(VisionProvider, "analyze", recorded_read)
    replay(dataset, ledger=path, config=config, run_id="second")
    assert decoded.packets == 0  # no planned pass
    assert 0 < decoded.lazy <= len(read) and decoded.opened == decoded.lazy
    with Ledger(path) as ledger:
        _same_rows(ledger, "first", "second", costs=False)
        calls = run_calls(ledger, "second")
        assert not calls[calls["stage"] == "vision"]["cached"].any()  # read again, same text


def test_a_frame_decoded_on_its_own_has_the_planned_pixels(tmp_path: Path) -> None:
    # key frames every 5 s, B-frames: most kept frames sit inside a GOP
    video = _video(tmp_path / "k5.mp4", seconds=11.0, keyframe_every=150)
    planned = list(iter_video(video, every_s=1.0))
    assert len(planned) >= 10
    every = list(iter_video(video))  # a full decode: the change sampler's frames
    for frame in [*planned, every[7], every[-1]]:
        assert frame.content_key is not None
        rgb = decode_frame_at(video, frame.t_s, digest=frame.content_key())
        assert (rgb == frame.to_rgb()).all()


def test_a_frame_that_does_not_decode_to_its_digest_is_refused(tmp_path: Path) -> None:
    video = _video(tmp_path / "k1.mp4", seconds=2.0, keyframe_every=30)
    with pytest.raises(Exception, match="decodes to the pixels its replay indexed"):
        decode_frame_at(video, 1.0, digest="0" * 16)


def test_the_key_changes_with_the_file_the_sampling_and_the_stop(tmp_path: Path) -> None:
    video = _video(tmp_path / "a.mp4", seconds=2.0, keyframe_every=30)
    twin = Path(shutil.copy(video, tmp_path / "b.mp4"))
    other = tmp_path / "c.mp4"
    write_video(other, duration_s=2.0)

    def key(path: Path = video, stop_s: float | None = None, questions: list[float] | None = None,
            **sampling: Any) -> str | None:
        return index_key(video=path, sampling=SamplingConfig(**sampling), stop_s=stop_s,
                         question_times_s=questions or [])

    base = key()
    assert base is not None and key(twin) == base  # by content, not by name
    changed = {key(other), key(fps=0.5), key(policy="change"), key(keep_last=3),
               key(stop_s=1.5), key(policy="change", questions=[1.0])}
    assert base not in changed and len(changed) == 6
    assert key(policy="change", pixel_delta=20) != key(policy="change")
    assert key(questions=[1.0]) == base  # the fixed sampler keeps nothing for a question
    assert key(policy="voice_activity") is None  # what it keeps depends on the audio too
    with twin.open("ab") as f:  # one byte more: another file
        f.write(b"\0")
    assert key(twin) != base


def test_another_sampling_another_file_or_no_cache_decode_again(
    tiny: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "l.duckdb"
    config = recorded_config()
    _run(tiny, path, "first", config)
    dataset = load_dataset(tiny)
    decoded = Decoded(monkeypatch)
    half = dataclasses.replace(config, sampling=SamplingConfig(fps=0.5))
    replay(dataset, ledger=path, config=half, run_id="half")
    assert decoded.packets > 0
    no_cache = dataclasses.replace(config, calls=dataclasses.replace(config.calls, cache=False))
    decoded.packets = 0
    replay(dataset, ledger=path, config=no_cache, run_id="nocache")
    assert decoded.packets > 0
    write_video(tiny / "screen.mp4", duration_s=8.0, slides=[(0.0, "Another deck")])
    other = load_dataset(tiny)
    decoded.packets = 0
    replay(other, ledger=path, config=config, run_id="other")
    assert decoded.packets > 0
    with Ledger(path) as ledger:
        assert [spec for spec, _ in _indexes(ledger)] == ["sampler:fixed"] * 3
        assert [run for _, run in _indexes(ledger)] == ["first", "half", "other"]
        assert not _frames(ledger, "other")["frame_hash"].isin(
            _frames(ledger, "first")["frame_hash"]
        ).any()


def _stop_at(monkeypatch: pytest.MonkeyPatch, question_id: str) -> Callable[[], None]:
    original = Pipeline.ask

    def ask(self: Pipeline, question: Question) -> Any:
        if question.id == question_id:
            raise KeyboardInterrupt
        return original(self, question)

    monkeypatch.setattr(Pipeline, "ask", ask)
    return lambda: monkeypatch.setattr(Pipeline, "ask", original)


@pytest.mark.parametrize("index_before_resume", [False, True])
def test_an_interrupted_run_stores_no_index_and_its_resume_is_right(
    tiny: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, index_before_resume: bool
) -> None:
    path = tmp_path / "l.duckdb"
    config = recorded_config()
    undo = _stop_at(monkeypatch, "q2")
    with pytest.raises(KeyboardInterrupt):
        _run(tiny, path, "stopped", config)
    undo()
    with Ledger(path) as ledger:
        assert _indexes(ledger) == []  # a partial pass is not stored
    if index_before_resume:  # another run completes the pass: the resume replays it
        _run(tiny, path, "whole", config)
    resume(load_dataset(tiny), ledger=path, run_id="stopped")
    _run(tiny, path, "after", config)
    with Ledger(path) as ledger:
        indexes = _indexes(ledger)
        assert indexes == [("sampler:fixed", "whole" if index_before_resume else "stopped")]
        _same_rows(ledger, "after", "stopped")


def test_a_stored_index_in_another_format_is_ignored() -> None:
    assert FrameIndex.from_json('{"format": 0}') is None
    assert FrameIndex.from_json("not json") is None
    index = FrameIndex((0.0, 1.0), {}, {})
    assert FrameIndex.from_json(index.to_json()) == index


def _screen(t_s: float, level: int) -> VideoFrame:
    luma = np.full((90, 160), level, np.uint8)
    luma[:, : int(t_s * 10) % 160] = 255 - level  # a bar that grows: every frame differs a bit
    rgb = np.repeat(luma[:, :, None], 3, axis=2)
    return VideoFrame(track="alice:screen", t_s=t_s, width=160, height=90, luma=luma,
                      to_rgb=lambda: rgb, content_key=lambda: f"{level}-{t_s}")


def test_the_change_samplers_question_frames_are_replayed_too() -> None:
    config = SamplingConfig(policy="change", settle_s=0.3, max_wait_s=5.0)
    frames = [_screen(i / 10, 40 if i < 10 else 200) for i in range(30)]
    questions = {11: 1.15, 25: 2.55}  # after frame 11: the new slide has not settled yet

    def run(sampler: Any, source: list[VideoFrame]) -> list[tuple[Any, ...]]:
        out = []
        for i, frame in enumerate(source):
            out.append(sampler.offer(frame))
            if i in questions:
                out.append(sampler.on_question(questions[i]))
        return [None if k is None else (k.track, k.t_s, k.digest, k.reason, k.change_score,
                                        k.width, k.height) for k in out]

    indexing = IndexingSampler(make_sampler(config))
    first = run(indexing, frames)
    index = FrameIndex.from_json(indexing.index().to_json())
    assert index is not None and index.asked  # a question kept a frame
    replayed = ReplayedSampler(config, index)
    indexed = list(indexed_frames(Path("unused.mp4"), index, track="alice:screen"))
    assert run(replayed, indexed) == first
    assert [f.t_s for f in indexed] == [f.t_s for f in frames]
    assert any(k is not None and k[3] == "question" for k in first)
    assert replayed.latest() is not None and indexing.latest() is not None
    assert replayed.latest().digest == indexing.latest().digest  # type: ignore[union-attr]


def _provider_classes(cls: type) -> list[type]:
    found = []
    for sub in cls.__subclasses__():
        found += [sub, *_provider_classes(sub)]
    return found


def test_a_replay_of_a_recording_seen_before_loads_no_model_before_a_miss(
    tiny: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from assistant.providers.base import Provider

    path = tmp_path / "l.duckdb"
    config = recorded_config()
    _run(tiny, path, "first", config)
    with Ledger(path) as ledger:
        called = set(run_calls(ledger, "first")["provider"])
    loaded: list[str] = []
    for cls in [Provider, *_provider_classes(Provider)]:
        if "warm_up" in vars(cls):
            original = vars(cls)["warm_up"]

            def warm_up(self: Provider, _original: Any = original) -> None:
                loaded.append(self.spec)
                _original(self)

            monkeypatch.setattr(cls, "warm_up", warm_up)
    _run(tiny, path, "second", config)
    # the tiers the first replay never called (the premium ones here) are not loaded either;
    # the recorded transcript is no model and never cached: it is "loaded" as before
    assert "ocr" in called and loaded == ["recorded:ground-truth"], loaded
    with Ledger(path) as ledger:
        _same_rows(ledger, "first", "second")
