"""``eval-sampling``: every frame-sampling policy on the same recording, against its ground truth.

One decode pass feeds every policy the same frames. Voice activity comes from the ground-truth
transcript (so the voice policy is judged on its rule, not on a detector), questions trigger the
policies' question capture. For each policy: frames kept, frames per screen-share hour, the share of
what fixed 1 FPS keeps, change recall (ground-truth screen states lasting at least ``min_state_s``
that got a kept frame), mean and max delay from a change to its capture, and the decision cost per
frame beside the cost of converting one frame to RGB.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from assistant.core.config import SamplingConfig
from assistant.core.errors import DatasetError
from assistant.pipeline.sampling import make_sampler
from assistant.sessions.datasets import Dataset
from assistant.sessions.media import iter_video

DEFAULT_POLICIES = {
    "fixed": SamplingConfig(policy="fixed", fps=1.0),
    "voice_activity": SamplingConfig(policy="voice_activity"),
    "change": SamplingConfig(policy="change"),
}
RGB_SAMPLE_EVERY = 30


@dataclass(frozen=True, slots=True)
class PolicyResult:
    policy: str
    frames_kept: int
    frames_per_hour: float
    share_of_fixed: float | None
    states: int
    states_captured: int
    change_recall: float | None
    mean_delay_s: float | None
    max_delay_s: float | None
    decision_us_per_frame: float
    missed: list[str] = field(default_factory=list)
    reasons: dict[str, int] = field(default_factory=dict)
    kept_t_s: list[float] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class SampleBench:
    dataset: str
    duration_s: float
    frames: int
    width: int
    height: int
    rgb_us_per_frame: float
    min_state_s: float
    policies: list[PolicyResult]

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _speaking_at(dataset: Dataset) -> Callable[[float], bool]:
    spans = sorted((u.start_s, u.end_s) for u in dataset.transcript or ())

    def speaking(t_s: float) -> bool:
        return any(start <= t_s < end for start, end in spans if start <= t_s)

    return speaking


def require_screen_truth(dataset: Dataset) -> None:
    """Refuse a dataset without screen-change ground truth (before any work or progress bar)."""
    if not dataset.screen_changes:
        raise DatasetError(
            dataset.root / "manifest.toml",
            "has no screen-change ground truth",
            "Add [ground_truth].screen_changes (see datasets/README.md) to benchmark samplers",
        )


def run_sample_bench(
    dataset: Dataset,
    *,
    policies: dict[str, SamplingConfig] | None = None,
    min_state_s: float = 1.0,
    questions: bool = True,
    progress: Callable[[float], None] | None = None,
) -> SampleBench:
    require_screen_truth(dataset)
    policies = policies or DEFAULT_POLICIES
    samplers = {name: make_sampler(cfg) for name, cfg in policies.items()}
    kept_times: dict[str, list[float]] = {name: [] for name in samplers}
    reasons: dict[str, dict[str, int]] = {name: {} for name in samplers}
    speaking = _speaking_at(dataset)
    asked = list(dataset.questions) if questions else []
    rgb_ns, rgb_n, frames, width, height = 0, 0, 0, 0, 0
    last_speaking: bool | None = None
    for frame in iter_video(dataset.screen):
        frames += 1
        width, height = frame.width, frame.height
        now_speaking = speaking(frame.t_s)
        while asked and asked[0].t_s <= frame.t_s:
            question = asked.pop(0)
            for name, sampler in samplers.items():
                kept = sampler.on_question(question.t_s)
                if kept is not None:
                    kept_times[name].append(kept.t_s)
                    reasons[name]["question"] = reasons[name].get("question", 0) + 1
        for name, sampler in samplers.items():
            if now_speaking != last_speaking:
                sampler.on_voice(frame.t_s, now_speaking)
            kept = sampler.offer(frame)
            if kept is not None:
                kept_times[name].append(kept.t_s)
                reasons[name][kept.reason] = reasons[name].get(kept.reason, 0) + 1
        last_speaking = now_speaking
        if frames % RGB_SAMPLE_EVERY == 0:
            started = time.perf_counter_ns()
            frame.to_rgb()
            rgb_ns += time.perf_counter_ns() - started
            rgb_n += 1
        if progress is not None:
            progress(frame.t_s)
    fixed_kept = len(kept_times.get("fixed", [])) or None
    results = [
        _score(
            name,
            sorted(kept_times[name]),
            dataset,
            min_state_s,
            samplers[name].decision_ns,
            frames,
            fixed_kept,
            reasons[name],
        )
        for name in samplers
    ]
    return SampleBench(
        dataset=dataset.name,
        duration_s=dataset.duration_s,
        frames=frames,
        width=width,
        height=height,
        rgb_us_per_frame=rgb_ns / max(rgb_n, 1) / 1000,
        min_state_s=min_state_s,
        policies=results,
    )


def _score(
    name: str,
    kept: list[float],
    dataset: Dataset,
    min_state_s: float,
    decision_ns: int,
    frames: int,
    fixed_kept: int | None,
    reasons: dict[str, int],
) -> PolicyResult:
    changes = dataset.screen_changes or ()
    captured, delays, missed = 0, [], []
    states = 0
    for i, change in enumerate(changes):
        end = changes[i + 1].t_s if i + 1 < len(changes) else dataset.duration_s
        if end - change.t_s < min_state_s:
            continue
        states += 1
        hits = [t for t in kept if change.t_s - 1e-3 <= t < end - 1e-3]
        if hits:
            captured += 1
            delays.append(hits[0] - change.t_s)
        else:
            missed.append(f"{change.t_s:.1f}s {change.label}")
    return PolicyResult(
        policy=name,
        frames_kept=len(kept),
        frames_per_hour=len(kept) / dataset.duration_s * 3600,
        share_of_fixed=len(kept) / fixed_kept if fixed_kept else None,
        states=states,
        states_captured=captured,
        change_recall=captured / states if states else None,
        mean_delay_s=sum(delays) / len(delays) if delays else None,
        max_delay_s=max(delays) if delays else None,
        decision_us_per_frame=decision_ns / max(frames, 1) / 1000,
        missed=missed,
        reasons=reasons,
        kept_t_s=[round(t, 3) for t in kept],
    )


def format_sample_bench(bench: SampleBench) -> str:
    lines = [
        f"{bench.dataset}: {bench.frames} frames ({bench.width}x{bench.height}) over "
        f"{bench.duration_s:.1f} s; states >= {bench.min_state_s:g} s from the ground truth; "
        f"RGB conversion {bench.rgb_us_per_frame:.0f} us/frame",
        f"{'policy':<16}{'kept':>6}{'per hour':>10}{'of fixed':>10}{'recall':>9}"
        f"{'mean delay':>12}{'max delay':>11}{'decide us':>11}{'x cheaper':>11}",
    ]
    for p in bench.policies:
        share = "n/a" if p.share_of_fixed is None else f"{p.share_of_fixed:.1%}"
        recall = "n/a" if p.change_recall is None else f"{p.change_recall:.3f}"
        mean = "n/a" if p.mean_delay_s is None else f"{p.mean_delay_s:.2f} s"
        worst = "n/a" if p.max_delay_s is None else f"{p.max_delay_s:.2f} s"
        ratio = bench.rgb_us_per_frame / p.decision_us_per_frame if p.decision_us_per_frame else 0
        lines.append(
            f"{p.policy:<16}{p.frames_kept:>6}{p.frames_per_hour:>10.0f}{share:>10}{recall:>9}"
            f"{mean:>12}{worst:>11}{p.decision_us_per_frame:>11.1f}{ratio:>10.0f}x"
        )
    for p in bench.policies:
        if p.missed:
            lines.append(
                f"  {p.policy} missed {len(p.missed)}: "
                + "; ".join(p.missed[:6])
                + (" ..." if len(p.missed) > 6 else "")
            )
    return "\n".join(lines)
