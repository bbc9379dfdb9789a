"""Decoding only what the sampler needs: the fixed sampler's planned decode keeps the frames a full
decode keeps, decodes key frames alone when they are a second apart, and no frame is converted to
RGB unless something reads it."""

from __future__ import annotations

import dataclasses
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest

from assistant.core.config import SamplingConfig
from assistant.core.events import KeptFrame, VideoFrame
from assistant.pipeline.sampling import Sampler, decode_period_s, digest, make_sampler
from assistant.sessions import decoding, media
from assistant.sessions.media import iter_video

FPS = 30


def _video(path: Path, *, seconds: float, keyframe_every: int, open_gop: bool = False) -> Path:
    """Synthetic H.264 at 30 fps with B-frames: a bar that moves every frame over a pattern that
    changes every 0.7 s, a key frame every ``keyframe_every`` frames (no scene-cut extras);
    ``open_gop``: B-frames after a key frame may be shown before it and refer to the GOP before."""
    rng = np.random.default_rng(7)
    patterns = [rng.integers(0, 255, (48, 80, 3), dtype=np.uint8) for _ in range(16)]
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = 160, 96, "yuv420p"
        stream.time_base = Fraction(1, FPS)
        stream.options = {"g": str(keyframe_every), "keyint_min": str(keyframe_every),
                          "bf": "3", "x264-params": "scenecut=0" + (":open-gop=1" if open_gop else "")}
        for i in range(int(seconds * FPS)):
            image = np.kron(patterns[int(i / FPS / 0.7) % 16], np.ones((2, 2, 1), np.uint8))
            image[:, (i * 3) % 160] = 255
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame.pts = i
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


@pytest.fixture(scope="module")
def key_each_second(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _video(tmp_path_factory.mktemp("v") / "k1.mp4", seconds=6.0, keyframe_every=FPS)


@pytest.fixture(scope="module")
def key_each_five(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _video(tmp_path_factory.mktemp("v") / "k5.mp4", seconds=11.0, keyframe_every=5 * FPS)


class _Sent:
    """Counts the packets given to the decoder (and how many were key frames)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.packets = self.keys = 0
        original = decoding._send

        def send(codec: Any, packet: Any) -> list[Any]:
            if packet is not None:
                self.packets += 1
                self.keys += bool(packet.is_keyframe)
            return original(codec, packet)

        monkeypatch.setattr(decoding, "_send", send)


def _kept(path: Path, *, every_s: float | None, fps: float = 1.0) -> list[tuple[float, str, str]]:
    sampler = make_sampler(SamplingConfig(policy="fixed", fps=fps))
    kept = [sampler.offer(f) for f in iter_video(path, every_s=every_s)]
    return [(k.t_s, k.reason, digest(k.rgb)) for k in kept if k is not None]


def _packets(path: Path) -> int:
    with av.open(str(path)) as c:
        return sum(1 for p in c.demux(c.streams.video[0]) if p.size)


def test_key_frames_a_second_apart_are_all_that_is_decoded(
    key_each_second: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    full = _kept(key_each_second, every_s=None)
    sent = _Sent(monkeypatch)
    planned = _kept(key_each_second, every_s=1.0)
    assert [t for t, *_ in full] == pytest.approx([0, 1, 2, 3, 4, 5])
    assert planned == full  # same times, reasons, and pixels (the RGB's digest)
    assert sent.packets == sent.keys == 6  # one key frame a second, nothing else decoded


def test_sparse_key_frames_decode_what_the_kept_frames_need(
    key_each_five: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    total = _packets(key_each_five)
    for fps in (1.0, 0.3, 2.0):
        full = _kept(key_each_five, every_s=None, fps=fps)
        sent = _Sent(monkeypatch)
        planned = _kept(key_each_five, every_s=1.0 / fps, fps=fps)
        assert planned == full, fps  # bit for bit: every frame a kept one refers to is decoded
        assert sent.keys == 3  # 0, 5 and 10 s
        assert sent.keys < sent.packets < total  # not key frames alone; not everything either


def test_planned_decode_stops_where_an_interrupted_recording_stops(key_each_five: Path) -> None:
    frames = list(iter_video(key_each_five, every_s=1.0, stop_s=6.5))
    assert [f.t_s for f in frames] == pytest.approx([0, 1, 2, 3, 4, 5, 6])


def test_an_open_gop_is_decoded_in_full_from_there_on(tmp_path: Path) -> None:
    path = _video(tmp_path / "open.mp4", seconds=6.0, keyframe_every=45, open_gop=True)
    with av.open(str(path)) as c:
        stream = c.streams.video[0]
        packets = [(float(p.pts * stream.time_base), p.is_keyframe)
                   for p in c.demux(stream) if p.size]
    second_key = next(i for i, (_, key) in enumerate(packets) if key and i)
    assert any(t < packets[second_key][0] for t, _ in packets[second_key:])  # leading frames
    offered = [f.t_s for f in iter_video(path, every_s=1.0)]
    assert offered[:2] == pytest.approx([0.0, 1.0])  # the first GOP as planned
    assert offered == sorted(offered) and len(offered) < len(packets)
    assert {t for t, _ in packets[second_key:]} <= set(offered)  # then every frame
    assert _kept(path, every_s=1.0) == _kept(path, every_s=None)


def test_only_the_fixed_policy_plans_its_frames() -> None:
    assert decode_period_s(SamplingConfig(policy="fixed", fps=2.0)) == 0.5
    assert decode_period_s(SamplingConfig(policy="change")) is None
    assert decode_period_s(SamplingConfig(policy="voice_activity")) is None


@pytest.fixture
def conversions(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Every RGB conversion of a decoded frame, by the timestamp of the frame converted."""
    done: list[int] = []
    original = media._rgb_converter

    def counting(frame: Any) -> Any:
        convert = original(frame)

        def to_rgb() -> np.ndarray:
            done.append(frame.pts)
            return np.asarray(convert())

        return to_rgb

    monkeypatch.setattr(media, "_rgb_converter", counting)
    return done


@pytest.mark.parametrize("policy", ["fixed", "change"])
def test_no_frame_is_converted_until_something_reads_it(
    policy: str, key_each_five: Path, conversions: list[int]
) -> None:
    sampler = make_sampler(SamplingConfig(policy=policy, fps=1.0))
    every_s = decode_period_s(sampler.config)
    kept = [k for f in iter_video(key_each_five, every_s=every_s) if (k := sampler.offer(f))]
    assert len(kept) >= 3 and conversions == []  # kept and named, none converted
    assert len({k.digest for k in kept}) == len(kept)  # the YUV key tells screens apart
    rgb = kept[-1].rgb
    assert rgb.shape == (96, 160, 3) and (kept[-1].width, kept[-1].height) == (160, 96)
    assert kept[-1].rgb is rgb and len(conversions) == 1  # converted once, when read


def _eager(frames: list[VideoFrame]) -> list[VideoFrame]:
    """The frames as a source without a content key gives them (the RGB is converted to name
    a kept frame), as every frame was before."""
    return [dataclasses.replace(f, content_key=None) for f in frames]


def test_change_sampler_keeps_the_same_frames_with_the_same_pixels(key_each_five: Path) -> None:
    frames = list(iter_video(key_each_five))

    def run(sampler: Sampler, offered: list[VideoFrame]) -> list[KeptFrame]:
        return [k for f in offered if (k := sampler.offer(f))]

    config = SamplingConfig(policy="change")
    lazy, eager = run(make_sampler(config), frames), run(make_sampler(config), _eager(frames))
    assert len(lazy) >= 3
    assert [(k.t_s, k.reason, k.change_score) for k in lazy] == [
        (k.t_s, k.reason, k.change_score) for k in eager
    ]
    assert all(np.array_equal(a.rgb, b.rgb) for a, b in zip(lazy, eager, strict=True))
    assert eager[0].digest == digest(eager[0].rgb) != lazy[0].digest  # keyed on YUV, not RGB
