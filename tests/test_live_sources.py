"""The live path without a server: real LiveKit rtc frames through the converters, and paced replay.

Frames and audio are built with the real SDK (``rtc.VideoFrame``, ``rtc.AudioFrame``, LiveKit's own
colour converter and resampler); paced timing runs on a fake clock; the end-to-end test replays the
small session in real time (x50) through the same ``Pipeline.handle`` as a plain replay.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import subprocess
import sys
import time
from collections.abc import Generator
from contextlib import aclosing, closing
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from livekit import rtc
from support.synth import slide_image

from assistant.core.config import Config, SamplingConfig, SttConfig
from assistant.core.errors import ConfigError
from assistant.core.events import AudioChunk, Event, Question, Utterance, VideoFrame
from assistant.ledger.records import FrameRecord, RequestRecord, UtteranceRecord
from assistant.pipeline.orchestrator import Pipeline
from assistant.pipeline.sampling import ChangeSampler
from assistant.pipeline.stages import make_stages
from assistant.providers.stt.recorded import RecordedTranscriber
from assistant.sessions.datasets import load_dataset
from assistant.sessions.sources.base import Source
from assistant.sessions.sources.livekit import (
    LiveAudio,
    MediaClock,
    audio_chunk_from_rtc,
    new_resampler,
    video_frame_from_rtc,
)
from assistant.sessions.sources.paced import PacedSource
from assistant.sessions.sources.recorded import RecordedSource, available_at

ROOT = Path(__file__).resolve().parent.parent
VBT = rtc.VideoBufferType


class CountingFrame(rtc.VideoFrame):
    """The real frame, counting colour conversions."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.converts = 0

    def convert(self, type: Any, *, flip_y: bool = False) -> rtc.VideoFrame:
        self.converts += 1
        return super().convert(type, flip_y=flip_y)


def counting(frame: rtc.VideoFrame) -> CountingFrame:
    return CountingFrame(frame.width, frame.height, frame.type, bytes(frame.data))


def i420_planes(frame: rtc.VideoFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    w, h = frame.width, frame.height
    cw, ch = (w + 1) // 2, (h + 1) // 2
    data = np.frombuffer(frame.data, np.uint8)
    y = data[: w * h].reshape(h, w)
    u = data[w * h : w * h + cw * ch].reshape(ch, cw)
    v = data[w * h + cw * ch :].reshape(ch, cw)
    return y, u, v


def rgba_frame(rgb: np.ndarray) -> rtc.VideoFrame:
    h, w = rgb.shape[:2]
    rgba = np.dstack([rgb, np.full((h, w), 255, np.uint8)])
    return rtc.VideoFrame(w, h, VBT.RGBA, rgba.tobytes())


def quadrants(h: int = 64, w: int = 96) -> np.ndarray:
    """Red, green, blue and white blocks."""
    rgb = np.zeros((h, w, 3), np.uint8)
    rgb[: h // 2, : w // 2] = (220, 20, 20)
    rgb[: h // 2, w // 2 :] = (20, 200, 20)
    rgb[h // 2 :, : w // 2] = (20, 20, 220)
    rgb[h // 2 :, w // 2 :] = (255, 255, 255)
    return rgb


# -- video ----------------------------------------------------------------------------------------
def test_i420_luma_is_the_y_plane_in_place_and_rgb_is_made_only_on_demand() -> None:
    h, w = 45, 79  # odd sizes: chroma planes are rounded up
    yy, xx = np.mgrid[0:h, 0:w]
    y = (16 + (3 * xx + 5 * yy) % 220).astype(np.uint8)
    u = np.full(((h + 1) // 2, (w + 1) // 2), 128, np.uint8)
    frame = CountingFrame(w, h, VBT.I420, y.tobytes() + u.tobytes() + u.tobytes())

    out = video_frame_from_rtc(frame, track="alice:screen", t_s=1.25)

    assert (out.track, out.t_s, out.width, out.height) == ("alice:screen", 1.25, w, h)
    assert out.luma.dtype == np.uint8 and out.luma.shape == (h, w)
    assert np.array_equal(out.luma, y)
    assert np.shares_memory(out.luma, np.frombuffer(frame.data, np.uint8))  # a view, not a copy
    assert not out.luma.flags.writeable
    assert out.luma[::8, ::8].mean() > 0 and frame.converts == 0  # judging costs no conversion
    rgb = out.to_rgb()
    assert frame.converts == 1
    assert rgb.shape == (h, w, 3) and rgb.dtype == np.uint8
    # grey (U = V = 128): R = G = B = the studio-range Y expanded to full range
    expected = np.clip((y.astype(np.float32) - 16) * 255 / 219, 0, 255)
    assert np.abs(rgb.astype(np.float32) - expected[..., None]).max() <= 2


def test_i420_to_rgb_gives_roughly_the_right_colours() -> None:
    rgb = quadrants()
    i420 = counting(rgba_frame(rgb).convert(VBT.I420))  # LiveKit's own RGBA -> I420
    out = video_frame_from_rtc(i420, track="s", t_s=0.0)
    assert np.array_equal(out.luma, i420_planes(i420)[0])
    back = out.to_rgb()
    assert back.shape == rgb.shape
    for r, c in ((16, 24), (16, 72), (48, 24), (48, 72)):  # block centres
        assert np.abs(back[r, c].astype(int) - rgb[r, c]).max() <= 12, (r, c, back[r, c])


def test_rgba_luma_is_bt601_and_matches_livekits_y_plane() -> None:
    rng = np.random.default_rng(7)
    rgb = rng.integers(0, 256, (36, 64, 3), dtype=np.uint8)
    frame = counting(rgba_frame(rgb))
    out = video_frame_from_rtc(frame, track="s", t_s=0.0)
    assert frame.converts == 0
    # BT.601 studio range: 16 + 219 * (0.299 R + 0.587 G + 0.114 B) / 255
    weights = np.array([0.299, 0.587, 0.114])
    approx = 16 + 219 * (rgb.astype(np.float64) @ weights) / 255
    assert np.abs(out.luma - approx).max() <= 1.0
    # and exactly the Y plane LiveKit makes when it converts the same pixels to I420
    assert np.array_equal(out.luma, i420_planes(frame.convert(VBT.I420))[0])
    converts = frame.converts
    assert np.array_equal(out.to_rgb(), rgb)  # already RGB: channels reordered, no FFI call
    assert frame.converts == converts


@pytest.mark.parametrize(
    ("kind", "order"), [("BGRA", [2, 1, 0, 3]), ("ARGB", [3, 0, 1, 2]), ("ABGR", [3, 2, 1, 0])]
)
def test_other_packed_types_give_the_same_luma_and_rgb(kind: str, order: list[int]) -> None:
    rgb = quadrants()
    reference = video_frame_from_rtc(rgba_frame(rgb), track="s", t_s=0.0)
    rgba = np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)])
    frame = rtc.VideoFrame(96, 64, getattr(VBT, kind), rgba[..., order].tobytes())
    out = video_frame_from_rtc(frame, track="s", t_s=0.0)
    assert np.array_equal(out.luma, reference.luma)
    assert np.array_equal(out.to_rgb(), rgb)
    rgb24 = rtc.VideoFrame(96, 64, VBT.RGB24, rgb.tobytes())
    assert np.array_equal(video_frame_from_rtc(rgb24, track="s", t_s=0.0).luma, reference.luma)


def test_bgra_from_livekits_converter_reads_back_the_same_pixels() -> None:
    rgb = quadrants()
    bgra = rgba_frame(rgb).convert(VBT.BGRA)  # LiveKit's memory order, not a guess
    assert np.array_equal(video_frame_from_rtc(bgra, track="s", t_s=0.0).to_rgb(), rgb)


def test_unsupported_buffer_type_is_refused_with_the_fix() -> None:
    frame = rtc.VideoFrame(4, 2, VBT.I010, bytes(4 * 2 * 2 + 2 * 1 * 4))
    with pytest.raises(ValueError, match=r"VideoStream\(track, format=rtc.VideoBufferType.I420\)"):
        video_frame_from_rtc(frame, track="s", t_s=0.0)


def test_change_sampler_keeps_one_frame_per_slide_and_converts_only_those() -> None:
    size = (320, 180)
    texts = ("Quarterly review\nRevenue 4.2M", "Churn fell to 2.1%\nOwner: Priya")
    images = [slide_image(text, size) for text in texts]
    slides = [counting(rgba_frame(image).convert(VBT.I420)) for image in images]
    sampler = ChangeSampler(SamplingConfig(policy="change"))
    kept = []
    for i in range(30):  # 10 FPS: the first slide for 1.5 s, then the second
        t_s = i / 10
        frame = video_frame_from_rtc(slides[t_s >= 1.5], track="alice:screen", t_s=t_s)
        result = sampler.offer(frame)
        if result is not None:
            kept.append(result)
    assert [k.reason for k in kept] == ["first", "change"]
    assert kept[0].t_s == 0.0 and 1.5 <= kept[1].t_s <= 2.0
    assert [s.converts for s in slides] == [1, 1]  # 30 frames judged, 2 converted
    for k, image in zip(kept, images, strict=True):
        assert k.rgb.shape == (180, 320, 3)
        assert np.abs(k.rgb.astype(int) - image).mean() < 6  # the slide, through YUV 4:2:0
    assert kept[0].digest != kept[1].digest


# -- audio ----------------------------------------------------------------------------------------
def stereo_frames(
    left: np.ndarray, right: np.ndarray, *, rate: int = 48_000, frame_ms: int = 10
) -> list[rtc.AudioFrame]:
    n = rate * frame_ms // 1000
    interleaved = np.stack([left, right], axis=1).astype(np.int16)
    return [
        rtc.AudioFrame(interleaved[i : i + n].tobytes(), rate, 2, len(interleaved[i : i + n]))
        for i in range(0, len(interleaved), n)
    ]


def tone_with_silence(rate: int) -> tuple[np.ndarray, np.ndarray]:
    """2.5 s: 0.5 s silence, 1 s of 440 Hz (10000 left, 6000 right), 1 s silence."""
    t = np.arange(5 * rate // 2) / rate
    on = (t >= 0.5) & (t < 1.5)
    sine = np.sin(2 * np.pi * 440 * t) * on
    return np.round(sine * 10_000), np.round(sine * 6_000)


def test_live_audio_turns_48k_stereo_into_16k_mono_chunks_on_the_media_clock() -> None:
    frames = stereo_frames(*tone_with_silence(48_000))
    assert len(frames[0].data) == 960  # int16 samples, both channels (not bytes)
    live = LiveAudio("alice", min_chunk_s=0.1)
    chunks: list[AudioChunk] = []
    for i, frame in enumerate(frames):
        chunks += live.push(frame, t_s=3.0 + i * 0.01)
    chunks += live.flush()

    assert all(c.participant == "alice" and c.sample_rate == 16_000 for c in chunks)
    assert all(c.samples.dtype == np.int16 and c.samples.ndim == 1 for c in chunks)
    assert all(c.duration_s >= 0.1 for c in chunks[:-1])
    assert chunks[0].t_s == 3.0
    for a, b in itertools.pairwise(chunks):  # they tile the timeline exactly
        assert b.t_s == pytest.approx(a.t_s + a.duration_s, abs=1e-9)
    audio = np.concatenate([c.samples for c in chunks])
    assert len(audio) == 40_000  # 2.5 s at 16 kHz

    assert np.abs(audio[: int(0.45 * 16_000)]).max() <= 2  # silence stays silence
    assert np.abs(audio[int(1.55 * 16_000) :]).max() <= 2
    tone = audio[int(0.6 * 16_000) : int(1.4 * 16_000)].astype(np.float64)
    spectrum = np.abs(np.fft.rfft(tone * np.hanning(len(tone))))
    peak_hz = np.argmax(spectrum) * 16_000 / len(tone)
    assert abs(peak_hz - 440) <= 2  # keeps its frequency
    rms = np.sqrt(np.mean(tone**2))
    assert rms == pytest.approx(8_000 / np.sqrt(2), rel=0.03)  # the mean of the two channels

    # the voice gate finds speech exactly where the tone is (3.5 s to 4.5 s on the media clock)
    stt = RecordedTranscriber(
        model="ground-truth",
        transcript=[Utterance("alice", 3.5, 4.5, "Hello from the room.")],
        config=SttConfig(),
    )
    segments, speaking = [], []
    for chunk in chunks:
        segments += stt.push(chunk)
        speaking.append((chunk.t_s + chunk.duration_s, stt.speaking))
    segments += stt.flush()
    assert len(segments) == 1
    assert 3.25 <= segments[0].start_s <= 3.5 and 4.5 <= segments[0].end_s <= 4.8
    assert not any(on for end, on in speaking if end <= 3.5)  # heard up to the chunk's end
    assert all(on for end, on in speaking if 3.6 < end < 4.5)
    assert not any(on for end, on in speaking if end > 5.2)
    assert [u.text for u in stt.transcribe(segments[0]).value] == ["Hello from the room."]


def test_audio_chunk_from_rtc_one_frame() -> None:
    left, right = tone_with_silence(48_000)
    clip = stereo_frames(left[:24_000], right[:24_000], frame_ms=500)[0]
    chunk = audio_chunk_from_rtc(clip, participant="bob", t_s=7.5)
    assert chunk is not None
    assert (chunk.participant, chunk.t_s, len(chunk.samples)) == ("bob", 7.5, 8_000)
    assert np.abs(chunk.samples).max() <= 2  # the first 0.5 s is silent

    mono16 = (np.arange(160) * 50).astype(np.int16)
    frame = rtc.AudioFrame(mono16.tobytes(), 16_000, 1, 160)
    same = audio_chunk_from_rtc(frame, participant="bob", t_s=1.0)
    assert same is not None and np.array_equal(same.samples, mono16)  # already 16 kHz mono

    resampler = new_resampler(48_000)  # streaming: output lags by the resampler's buffer
    out = [
        audio_chunk_from_rtc(f, participant="bob", t_s=i * 0.01, resampler=resampler)
        for i, f in enumerate(stereo_frames(left, right))
    ]
    got = [c for c in out if c is not None]
    assert any(c is None for c in out) and got
    assert all(c.t_s + c.duration_s <= (i + 1) * 0.01 + 1e-9 for i, c in enumerate(out) if c)
    total = sum(len(c.samples) for c in got) + sum(len(f.data) for f in resampler.flush())
    assert total == 40_000


def test_live_audio_restarts_its_count_after_a_gap_and_never_goes_back() -> None:
    live = LiveAudio("bob", min_chunk_s=0.05, resync_s=0.5)
    tone = np.full(160, 1000, np.int16)

    def push(t_s: float) -> list[AudioChunk]:
        return live.push(rtc.AudioFrame(tone.tobytes(), 16_000, 1, 160), t_s=t_s)

    first = [c for i in range(10) for c in push(i * 0.01)]
    assert [c.t_s for c in first] == pytest.approx([0.0, 0.05])
    after_gap = push(5.0) + push(5.01) + push(5.02) + push(5.03) + push(5.04)
    assert [c.t_s for c in after_gap] == pytest.approx([5.0])
    back = push(1.0) + [c for i in range(1, 5) for c in push(1.0 + i * 0.01)]
    assert back and back[0].t_s == pytest.approx(5.05)  # a jump back starts where audio ended


def test_live_audio_stamps_with_the_clock_when_no_time_is_given() -> None:
    now = [100.0]
    clock = MediaClock(now=lambda: now[0])
    live = LiveAudio("bob", clock=clock, min_chunk_s=0.0)
    now[0] = 102.0  # a 10 ms frame that arrives at 2.0 s started at 1.99 s
    chunks = live.push(rtc.AudioFrame(bytes(320), 16_000, 1, 160))
    assert [c.t_s for c in chunks] == pytest.approx([1.99])


def test_media_clock_keeps_frame_spacing_and_anchors_on_the_least_delayed_frame() -> None:
    now = [1000.0]
    clock = MediaClock(now=lambda: now[0])
    delays = [0.08, 0.03, 0.05, 0.03, 0.2]  # network and decode delay of each frame
    times = []
    for k, delay in enumerate(delays):
        now[0] = 1000.0 + 1.0 + k * 0.1 + delay
        times.append(clock.frame_time_s("screen", 7_000_000_000 + k * 100_000))
        assert times[-1] <= clock.now_s() + 1e-9  # never placed after its arrival
    # the first frame is anchored at its arrival, then the least-delayed frame (0.03 s) sets it
    assert times == pytest.approx([1.08, 1.13, 1.23, 1.33, 1.43])
    assert clock.frame_time_s("other", 0) == pytest.approx(clock.now_s())  # no timestamp
    now[0] = 1005.0  # the track restarts with timestamps from zero: re-anchored at arrival
    assert clock.frame_time_s("screen", 1_000) == pytest.approx(5.0)
    now[0] = 1005.1  # and a frame time never goes back on a track
    assert clock.frame_time_s("screen", 1_000) == pytest.approx(5.0)


# -- paced ----------------------------------------------------------------------------------------
class FakeClock:
    def __init__(self, start: float = 500.0) -> None:
        self.t = start
        self.start = start
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        assert seconds > 0
        self.sleeps.append(seconds)
        self.t += seconds

    async def async_sleep(self, seconds: float) -> None:
        self.sleep(seconds)
        await asyncio.sleep(0)

    @property
    def elapsed(self) -> float:
        return self.t - self.start


class ScriptedSource(Source):
    """Frames every 0.1 s, 0.5 s audio chunks and questions, in the recorded source's order."""

    kind = "scripted"

    def __init__(self, duration_s: float = 6.0, questions: tuple[float, ...] = (2.5,)) -> None:
        self._duration_s = duration_s
        self.questions = questions
        self.closed = False

    @property
    def duration_s(self) -> float:
        return self._duration_s

    def events(self) -> Generator[Event, None, None]:
        gray = np.zeros((4, 4), np.uint8)
        items: list[Event] = [
            VideoFrame("s", k / 10, 4, 4, gray, lambda: np.zeros((4, 4, 3), np.uint8))
            for k in range(int(self._duration_s * 10))
        ]
        items += [
            AudioChunk("a", k / 2, np.zeros(8_000, np.int16))
            for k in range(int(self._duration_s * 2))
        ]
        items += [Question(f"q{i}", t, "a", "?", False) for i, t in enumerate(self.questions)]
        order = {VideoFrame: 0, AudioChunk: 1, Question: 2}
        try:
            yield from sorted(items, key=lambda e: (available_at(e), order[type(e)]))
        finally:
            self.closed = True


@pytest.mark.parametrize("speed", [1.0, 10.0])
def test_paced_source_releases_each_event_when_it_becomes_available(speed: float) -> None:
    clock = FakeClock()
    paced = PacedSource(ScriptedSource(), speed=speed, clock=clock, sleep=clock.sleep)
    released = [(event, clock.elapsed) for event in paced.events()]
    assert len(released) == 60 + 12 + 1 and paced.dropped_frames == 0 and paced.kind == "paced"
    for event, at in released:
        assert at == pytest.approx(available_at(event) / speed)
    assert sum(clock.sleeps) == pytest.approx(6.0 / speed)  # an audio chunk ends at 6.0 s
    assert paced.duration_s == 6.0


def test_paced_source_drops_only_video_while_the_consumer_lags_and_counts_them() -> None:
    clock = FakeClock()
    paced = PacedSource(ScriptedSource(), clock=clock, sleep=clock.sleep, max_lag_s=2.0)
    got: list[Event] = []
    for event in paced.events():
        got.append(event)
        if isinstance(event, AudioChunk) and event.t_s == 0.5:  # heard at 1.0 s
            clock.t += 3.45  # a slow request: the consumer is back at 4.45 s
    frames = [e.t_s for e in got if isinstance(e, VideoFrame)]
    dropped = [k / 10 for k in range(11, 45)]  # 1.1 .. 4.4 s, until caught up (not just to 2 s)
    assert frames == [k / 10 for k in range(60) if k / 10 not in dropped]
    assert paced.dropped_frames == len(dropped) == 34
    assert len([e for e in got if isinstance(e, AudioChunk)]) == 12  # audio is never dropped
    assert [e.id for e in got if isinstance(e, Question)] == ["q0"]  # nor questions
    assert paced.max_seen_lag_s == pytest.approx(3.45 - 0.5)  # the audio chunk heard at 1.5 s


def test_paced_source_async_variant_keeps_the_same_schedule() -> None:
    clock = FakeClock()
    source = ScriptedSource()
    paced = PacedSource(source, speed=10.0, clock=clock, async_sleep=clock.async_sleep)

    async def consume() -> list[tuple[Event, float]]:
        return [(event, clock.elapsed) async for event in paced.aevents()]

    released = asyncio.run(consume())
    assert len(released) == 73 and source.closed
    for event, at in released:
        assert at == pytest.approx(available_at(event) / 10.0)


def test_paced_source_closes_the_wrapped_source_when_the_consumer_stops() -> None:
    clock = FakeClock()
    source = ScriptedSource()
    paced = PacedSource(source, clock=clock, sleep=clock.sleep, async_sleep=clock.async_sleep)
    with closing(paced.events()) as events:
        next(events)
    assert source.closed

    source = ScriptedSource()
    paced = PacedSource(source, clock=clock, sleep=clock.sleep, async_sleep=clock.async_sleep)

    async def first() -> Event:
        async with aclosing(paced.aevents()) as events:
            async for event in events:
                return event
        raise AssertionError("no event")

    assert isinstance(asyncio.run(first()), VideoFrame) and source.closed


def test_paced_source_rejects_a_speed_that_is_not_positive() -> None:
    with pytest.raises(ConfigError, match="speed must be > 0"):
        PacedSource(ScriptedSource(), speed=0.0)


def test_paced_and_live_modules_do_not_import_livekit() -> None:
    code = (
        "import sys, assistant.sessions.sources.paced, assistant.sessions.sources.livekit; "
        "assert not [m for m in sys.modules if m.startswith('livekit')], 'livekit imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


# -- end to end -----------------------------------------------------------------------------------
def _run(source: Source, config: Config, dataset: Any) -> list[object]:
    stages = make_stages(config, dataset)
    stages.warm_up()
    records: list[object] = []
    pipeline = Pipeline(
        run_id=f"{source.kind}-run",
        tenant=dataset.tenant,
        room=dataset.room,
        config=config,
        emit=records.append,
        names={p.identity: p.name for p in dataset.participants},
        stages=stages,
    )
    with closing(source.events()) as events:
        for event in events:
            pipeline.handle(event)
    pipeline.finish()
    return records


def _seen(records: list[object]) -> list[tuple[object, ...]]:
    """What a run saw and said, without its run id or timings."""
    out: list[tuple[object, ...]] = []
    for r in records:
        if isinstance(r, FrameRecord):
            out.append(("frame", r.track, r.media_t_s, r.reason, r.frame_hash))
        elif isinstance(r, UtteranceRecord):
            out.append(("utterance", r.participant, r.start_s, r.end_s, r.text))
        elif isinstance(r, RequestRecord):
            out.append(("request", r.question_id, r.tier, r.status, r.answer))
    return out


def test_paced_replay_runs_the_same_pipeline_and_answers_every_question(tiny: Path) -> None:
    dataset = load_dataset(tiny)
    config = dataclasses.replace(
        Config(), stt=dataclasses.replace(SttConfig(), provider="recorded:")
    )
    plain = _run(RecordedSource(dataset), config, dataset)

    # at x50 a 40 ms hiccup is 2 media seconds of lag: the drop policy (tested above) is switched
    # off here, so the paced run must see exactly what the plain replay saw
    paced = PacedSource(RecordedSource(dataset), speed=50.0, max_lag_s=1e9)
    started = time.monotonic()
    records = _run(paced, config, dataset)
    assert time.monotonic() - started >= dataset.duration_s / 50  # it did wait for the media

    requests = [r for r in records if isinstance(r, RequestRecord)]
    assert [r.question_id for r in requests] == ["q1", "q2", "q3"]  # one request per question
    assert [r.run_id for r in requests] == ["paced-run"] * 3
    assert all(r.status == "ok" for r in requests)
    assert "2.1%" in (requests[1].answer or "")  # the slide was read off a paced frame
    assert paced.dropped_frames == 0
    assert _seen(records) == _seen(plain)  # same frames kept, same utterances, same answers
