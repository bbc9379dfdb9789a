"""Prefetched screen readings (``[vision] prefetch``): one reading per screen, none of a screen
caught moving, and each call given to one question or reported unused, once."""

from __future__ import annotations

import dataclasses
import threading
from pathlib import Path
from typing import Any

import numpy as np
from support.configs import recorded_config
from support.pipelines import collecting_pipeline

from assistant.core.config import Config
from assistant.core.events import KeptFrame, Question, Usage
from assistant.ledger.records import CallRecord, RequestRecord
from assistant.pipeline.background import Prefetcher, same_screen, screen_signature
from assistant.pipeline.stages import make_stages
from assistant.pipeline.tiers import TierPair
from assistant.providers.base import HookOutput
from assistant.providers.vision.base import VisionProvider
from assistant.sessions.datasets import load_dataset
from assistant.sessions.sources.recorded import RecordedSource


class CountingVision(VisionProvider):
    """Reads a screen by what is on it (the test's own label for its frames), counting reads."""

    provider = "fake"

    def __init__(self, *, model: str) -> None:
        super().__init__(model=model)
        self.read: list[float] = []  # media time of each frame read, in order
        self.threads: list[str] = []

    def _analyze_impl(self, frame: KeptFrame, question: str) -> HookOutput[str]:
        self.read.append(frame.t_s)
        self.threads.append(threading.current_thread().name)
        text = "Churn fell to 2.1%" if frame.t_s >= 4.0 else "Quarterly review"
        return HookOutput(f"{text} ({self.model})", Usage(image_count=1))


def _screen(boxes: list[tuple[int, int]], *, noise: int = 0, seed: int = 0) -> np.ndarray:
    """A 64x64 white screen with a black 8x16 box at each (row, col) of ``boxes``; ``noise``: up to
    that many grey levels of encoder-like noise on every pixel."""
    rgb = np.full((64, 64, 3), 240, dtype=np.int16)
    for row, col in boxes:
        rgb[row : row + 8, col : col + 16] = 10
    if noise:
        rgb += np.random.default_rng(seed).integers(-noise, noise + 1, size=rgb.shape)
    return np.clip(rgb, 0, 255).astype(np.uint8)


def _frame(
    t_s: float, rgb: np.ndarray, reason: str = "interval", *, digest: str | None = None
) -> KeptFrame:
    key = digest or f"d{t_s:g}"
    return KeptFrame("screen", t_s, rgb, digest=key, reason=reason, change_score=0.0)


TITLE = _screen([(8, 8)])
CHURN = _screen([(8, 8), (40, 24)])  # one more line of text: a change


def test_a_screens_signature_tells_noise_from_a_change() -> None:
    plain = screen_signature(TITLE)
    assert plain.shape == (8, 8)
    assert same_screen(plain, screen_signature(_screen([(8, 8)], noise=12, seed=1)))
    assert not same_screen(plain, screen_signature(CHURN))
    assert not same_screen(plain, screen_signature(np.zeros((72, 64, 3), np.uint8)))


def _prefetcher() -> tuple[Prefetcher, CountingVision]:
    vision = CountingVision(model="premium")
    return Prefetcher({"premium": vision}), vision


def test_a_frame_of_a_screen_already_read_is_not_read_again() -> None:
    prefetcher, vision = _prefetcher()
    try:
        first, again = _frame(0.0, TITLE, "first"), _frame(1.0, _screen([(8, 8)], noise=6))
        prefetcher.submit(first)
        assert prefetcher.wait(timeout_s=30)
        prefetcher.submit(again)  # another digest, the same screen
        assert prefetcher.wait(timeout_s=30)
        assert vision.read == [0.0]
        assert prefetcher.counts["same_screen"] == 1 and prefetcher.counts["read"] == 1
        # the question about the later frame takes the earlier frame's call, once
        taken = prefetcher.take("premium", again)
        assert taken is not None and taken.result is not None and taken.same_as is first
        assert taken.result.value == "Quarterly review (premium)"
        later = prefetcher.take("premium", again)
        assert later is not None and later.result is None
        assert later.hit == "Quarterly review (premium)"
        assert prefetcher.unused(wait=True, latest=True) == []  # the call was used
    finally:
        prefetcher.close()


class HeldVision(CountingVision):
    """Reads only once ``go`` is set; sets ``started`` when it begins."""

    def __init__(self, *, model: str) -> None:
        super().__init__(model=model)
        self.started, self.go = threading.Event(), threading.Event()

    def _analyze_impl(self, frame: KeptFrame, question: str) -> HookOutput[str]:
        self.started.set()
        assert self.go.wait(timeout=60)
        return super()._analyze_impl(frame, question)


def test_a_later_frame_of_a_screen_waits_for_no_other_reading() -> None:
    """The premium reading of the screen is still running: a question about a later frame of
    that screen, routed to cheap, takes the cheap reading without queueing behind it."""
    cheap, premium = CountingVision(model="cheap"), HeldVision(model="premium")
    prefetcher = Prefetcher({"cheap": cheap, "premium": premium})
    try:
        prefetcher.submit(_frame(0.0, TITLE, "first"))
        assert premium.started.wait(timeout=60)  # cheap is read, premium is reading
        later = _frame(1.0, _screen([(8, 8)], noise=6))
        prefetcher.submit(later)
        taken: list[Any] = []
        taker = threading.Thread(target=lambda: taken.append(prefetcher.take("cheap", later)))
        taker.start()
        taker.join(timeout=60)
        alive = taker.is_alive()
        premium.go.set()
        taker.join()
        assert not alive, "the cheap question waited for the premium reading"
        assert taken[0].result.value == "Quarterly review (cheap)"
        assert prefetcher.counts["same_screen"] == 2  # one per tier
        assert prefetcher.wait(timeout_s=60)
        assert cheap.read == premium.read == [0.0]
    finally:
        premium.go.set()
        prefetcher.close()


def test_a_screen_caught_moving_is_not_read() -> None:
    prefetcher, vision = _prefetcher()
    try:
        prefetcher.submit(_frame(0.0, TITLE, "first"))
        moving = _frame(4.0, CHURN)  # differs from the frame before it: mid-change
        prefetcher.submit(moving)
        assert prefetcher.wait(timeout_s=30)
        assert vision.read == [0.0] and prefetcher.counts["moving"] == 1
        assert prefetcher.take("premium", moving) is None  # the question reads it itself
        held = _frame(5.0, _screen([(8, 8), (40, 24)], noise=4))  # the screen held still
        prefetcher.submit(held)
        assert prefetcher.wait(timeout_s=30)
        assert vision.read == [0.0, 5.0]
        # the change sampler keeps only settled frames: read at once
        prefetcher.submit(_frame(9.0, TITLE, "change"))
        assert prefetcher.wait(timeout_s=30)
        assert vision.read == [0.0, 5.0, 9.0]
        # a frame read before (its digest) comes from the frame cache
        prefetcher.submit(_frame(12.0, CHURN, "change", digest="d5"))
        assert prefetcher.wait(timeout_s=30)
        assert vision.read == [0.0, 5.0, 9.0] and prefetcher.counts["cached"] == 1
    finally:
        prefetcher.close()


def test_each_call_is_given_once_or_reported_unused_once() -> None:
    prefetcher, vision = _prefetcher()
    try:
        title = _frame(0.0, TITLE, "first")
        prefetcher.submit(title)
        prefetcher.submit(_frame(1.0, _screen([(8, 8)], noise=5)))  # same screen: no call
        assert prefetcher.wait(timeout_s=30)
        assert prefetcher.unused(wait=True) == []  # still the last screen read: may be asked
        prefetcher.submit(_frame(2.0, CHURN, "change"))
        assert prefetcher.wait(timeout_s=30)
        (unused,) = prefetcher.unused(wait=True)  # the title's call: nobody asked
        assert unused.frame is title and unused.result is not None
        assert prefetcher.unused(wait=True) == []  # reported once
        (churn,) = [r for r in prefetcher.unused(wait=True, latest=True)]
        assert churn.frame.t_s == 2.0  # the session ended before anyone asked
        assert vision.read == [0.0, 2.0]
    finally:
        prefetcher.close()


def _drive(tiny: Path, config: Config) -> tuple[list[Any], TierPair[CountingVision]]:
    dataset = load_dataset(tiny)
    vision = TierPair(cheap=CountingVision(model="cheap"), premium=CountingVision(model="premium"))
    stages = make_stages(config, dataset).with_(vision=vision)
    pipeline, records = collecting_pipeline(dataset, config, stages=stages)
    for event in RecordedSource(dataset).events():
        if isinstance(event, Question) and pipeline.prefetcher is not None:
            assert pipeline.prefetcher.wait(timeout_s=30)
        pipeline.handle(event)
        pipeline.settle()
    pipeline.finish()
    return records, vision


def test_a_replay_reads_each_screen_once_per_tier_with_the_same_answers(tiny: Path) -> None:
    """The tiny session keeps 8 frames of 2 slides, with 6 digests (x264's noise): each slide is
    read once per tier, the slide change's own frame (caught moving) not at all."""
    config = recorded_config(1.0)
    prices = {"fake:cheap": {"usd_per_image": 0.01}, "fake:premium": {"usd_per_image": 0.03}}
    config = dataclasses.replace(
        config, pricing=dataclasses.replace(config.pricing, overrides=prices)
    )
    plain, _ = _drive(tiny, config)
    ahead, vision = _drive(
        tiny,
        dataclasses.replace(config, vision=dataclasses.replace(config.vision, prefetch="both")),
    )
    answers = [[r.answer for r in rs if isinstance(r, RequestRecord)] for rs in (plain, ahead)]
    assert answers[0] == answers[1] and len(answers[0]) == 3
    assert vision.cheap.read == vision.premium.read == [0.0, 5.0]
    assert all(
        t.startswith("vision-prefetch") for t in vision.cheap.threads + vision.premium.threads
    )
    calls = [c for c in ahead if isinstance(c, CallRecord) and c.stage == "vision"]
    assert len(calls) == 4  # each reading made is one row
    (used,) = [c for c in calls if c.request_id is not None]
    assert used.request_id == "r:q2" and used.model_requested == "cheap"  # threshold 1.0: cheap
    (q2,) = [r for r in ahead if isinstance(r, RequestRecord) and r.question_id == "q2"]
    assert q2.vision_cost_usd == used.cost_usd == 0.01
    assert sorted(c.media_t_s for c in calls if c.request_id is None) == [0.0, 0.0, 5.0]


def test_the_bench_tells_how_each_question_read_its_screen() -> None:
    import pandas as pd

    from assistant.benchmarks.prefetch_bench import question_rows, question_table

    requests = pd.DataFrame(
        {
            "request_id": ["b:q1", "b:q2", "b:q3", "b:q4"],
            "question_id": ["q1", "q2", "q3", "q4"],
            "media_t_s": [5.0, 12.0, 14.0, 30.0],
            "vision_tier": [None, "premium", "premium", "cheap"],
            "tier": ["cheap", "premium", "premium", "cheap"],
            "vision_latency_ms": [0.0, 2.0, 0.0, 900.0],
            "retrieval_latency_ms": [1.0] * 4,
            "routing_latency_ms": [0.5] * 4,
            "llm_latency_ms": [3.0] * 4,
            "total_latency_ms": [4.5, 6.5, 4.5, 904.5],
        }
    )
    vision = pd.DataFrame(
        {"request_id": ["b:q2", "b:q4", None], "latency_ms": [1200.0, 400.0, 1100.0]}
    )
    rows = question_rows(requests, vision, [0.0, 10.0, 25.0])
    assert [r["read"] for r in rows] == ["-", "ahead", "earlier", "on path"]
    assert [r["since_change_s"] for r in rows] == [5.0, 2.0, 4.0, 5.0]
    assert rows[3]["waited_ms"] == 900.0 and rows[3]["rest_ms"] == 4.5
    table = question_table(rows)
    assert len(table) == 6 and table[3].startswith(
        "| q2 | 12.0 | 2.0 | premium / premium | ahead |"
    )


def test_the_bench_names_the_questions_whose_answers_differ() -> None:
    from assistant.benchmarks.prefetch_bench import _latency_figure

    def run(answers: list[str], p95_ms: float) -> dict[str, Any]:
        questions = [
            {"question": q, "total_ms": t, "waited_ms": t, "read": "on path", "since_change_s": 1.0}
            for q, t in (("q1", 5.0), ("q2", p95_ms))
        ]
        return {
            "answers": answers,
            "questions": questions,
            "p50_ms": 5.0,
            "p95_ms": p95_ms,
            "requests": 2,
        }

    runs = {"off": run(["a", "b"], 900.0), "both": run(["a", "b'"], 150.0)}
    figure = _latency_figure(runs, "both", "demo", 1.0)
    assert "DIFFERENT from without: q2" in (figure.detail or "")
    assert figure.extra["different_answers"] == ["q2"]
    assert figure.limited_by is not None and figure.limited_by.startswith("q2 waited 150 ms")
