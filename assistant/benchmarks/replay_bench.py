"""Replay speed in multiples of real time, where the time goes, and peak memory against length.

Each replay runs in its own Python process (``python -m assistant.benchmarks.replay_bench``), so
its peak RSS is its own and nothing is shared between runs (models, caches). Inside it, the
stages are timed exclusively by wrapping the functions that do the work (decoding, the sampler
with its RGB conversions, the voice gate, transcription, OCR, answers, retrieval, ledger writes,
model loading); what is left is the pipeline's own bookkeeping and the event merge. The RSS is
also sampled as the media advances, to show whether it grows with the recording's length.

Inputs: the demo, and the demo looped into a one-hour session (``synth.looped_session``); with
``--quick``, a 38 s cut of the demo and three loops of it. The default ``fixed`` sampler decodes
only the frames it keeps (``sessions.decoding``): "decode video" counts those frames.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from assistant.benchmarks.harness import Figure
from assistant.core.paths import DEMO_DATASET
from assistant.ledger.synthetic import table_rows

SECTION = "replay"
HOUR_LOOPS = 15  # 15 x 248.6 s: a 62-minute meeting
# issue 25's targets: the demo and the one-hour session, recorded transcripts and whisper
TARGETS = {
    ("short", "recorded:"): 30.0,
    ("long", "recorded:"): 40.0,
    ("short", "whisper:tiny.en"): 15.0,
    ("long", "whisper:tiny.en"): 15.0,
}
STAGES = (
    "decode video",
    "decode audio",
    "sampler (+ RGB of kept frames)",
    "voice gate",
    "STT",
    "OCR / vision",
    "answers",
    "retrieval",
    "ledger writes",
    "pipeline bookkeeping",
    "model loading",
)


class _Timers:
    """Exclusive wall time per stage: a nested timed call is not counted in its caller."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.calls: dict[str, int] = {}
        self._stack: list[list[float]] = []  # [started, time spent in nested timed calls]

    @contextmanager
    def __call__(self, stage: str) -> Iterator[None]:
        frame = [time.perf_counter(), 0.0]
        self._stack.append(frame)
        try:
            yield
        finally:
            self._stack.pop()
            elapsed = time.perf_counter() - frame[0]
            self.seconds[stage] = self.seconds.get(stage, 0.0) + elapsed - frame[1]
            self.calls[stage] = self.calls.get(stage, 0) + 1
            if self._stack:
                self._stack[-1][1] += elapsed


def _instrument(timers: _Timers) -> None:
    """Wrap the functions that do each stage's work (this process only: a benchmark child)."""
    import assistant.sessions.sources.recorded as recorded
    from assistant.ledger.store import LedgerWriter
    from assistant.pipeline.orchestrator import Pipeline
    from assistant.pipeline.sampling import Sampler
    from assistant.pipeline.stages import Stages
    from assistant.providers.llm.base import LLM
    from assistant.providers.stt.base import Transcriber
    from assistant.providers.vision.base import VisionProvider
    from assistant.rag.bm25 import KnowledgeBase

    def method(cls: Any, name: str, stage: str) -> None:
        original = getattr(cls, name)

        def timed(*args: Any, **kwargs: Any) -> Any:
            with timers(stage):
                return original(*args, **kwargs)

        setattr(cls, name, timed)

    def generator(module: Any, name: str, stage: str) -> None:
        original = getattr(module, name)

        def timed(*args: Any, **kwargs: Any) -> Iterator[Any]:
            inner = original(*args, **kwargs)
            try:
                while True:
                    with timers(stage):
                        try:
                            item = next(inner)
                        except StopIteration:
                            return
                    yield item
            finally:
                inner.close()

        setattr(module, name, timed)

    generator(recorded, "iter_video", "decode video")
    generator(recorded, "iter_audio", "decode audio")
    method(Sampler, "offer", "sampler (+ RGB of kept frames)")
    method(Sampler, "on_question", "sampler (+ RGB of kept frames)")
    method(Transcriber, "push", "voice gate")
    method(Transcriber, "flush", "voice gate")
    method(Transcriber, "transcribe", "STT")
    method(VisionProvider, "analyze", "OCR / vision")
    method(LLM, "answer", "answers")
    method(KnowledgeBase, "search", "retrieval")
    for name in ("append", "flush", "close"):  # the public API: buffering and batch writes
        method(LedgerWriter, name, "ledger writes")
    method(Pipeline, "handle", "pipeline bookkeeping")
    method(Pipeline, "finish", "pipeline bookkeeping")
    method(Stages, "warm_up", "model loading")


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def child(dataset_path: str, stt: str, ledger_path: str) -> dict[str, Any]:
    """One instrumented replay in this process; returns its figures (printed as JSON)."""
    import dataclasses
    import os
    import resource

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from assistant.core.config import Config
    from assistant.ledger import Ledger
    from assistant.sessions.datasets import load_dataset
    from assistant.sessions.replay import replay

    timers = _Timers()
    _instrument(timers)
    dataset = load_dataset(dataset_path)
    config = Config()
    config = dataclasses.replace(config, stt=dataclasses.replace(config.stt, provider=stt))
    rss: list[tuple[float, float]] = []
    next_sample = [0.0]

    def progress(media_s: float) -> None:
        if media_s >= next_sample[0]:
            rss.append((round(media_s, 1), round(_rss_mb(), 1)))
            next_sample[0] = media_s + dataset.duration_s / 20

    rss_before_mb = _rss_mb()
    started = time.perf_counter()
    with Ledger(ledger_path) as ledger:
        replay(dataset, ledger=ledger, config=config, run_id="bench", progress=progress)
        wall_s = time.perf_counter() - started
        kept, utterances, requests = table_rows(
            ledger, "bench", ("frames", "utterances", "requests")
        )
    rss.append((round(dataset.duration_s, 1), round(_rss_mb(), 1)))
    accounted = sum(timers.seconds.values())
    stages = dict(timers.seconds)
    stages["other (event merge, progress)"] = max(wall_s - accounted, 0.0)
    return {
        "dataset": dataset.name,
        "media_s": dataset.duration_s,
        "stt": stt,
        "wall_s": wall_s,
        "stages_s": stages,
        "calls": timers.calls,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "rss_before_replay_mb": rss_before_mb,
        "rss_by_media_s": rss,
        "kept_frames": kept,
        "utterances": utterances,
        "requests": requests,
    }


def _spawn(dataset: Path, stt: str, workdir: Path) -> dict[str, Any]:
    ledger = workdir / f"replay-{time.perf_counter_ns()}.duckdb"
    cmd = [sys.executable, "-m", "assistant.benchmarks.replay_bench", str(dataset), stt, str(ledger)]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    for p in (ledger, ledger.with_name(ledger.name + ".wal")):
        p.unlink(missing_ok=True)
    if done.returncode != 0:
        raise RuntimeError(f"benchmark replay of {dataset.name} failed:\n{done.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def _where(run: dict[str, Any]) -> list[tuple[str, float, float]]:
    """(stage, seconds, share of the replay's wall time), largest first; model loading is
    reported but the replay's steady state is what the shares describe."""
    wall = run["wall_s"]
    rows = [(name, s, s / wall) for name, s in run["stages_s"].items() if s > 0]
    return sorted(rows, key=lambda r: -r[1])


def _sentence(run: dict[str, Any], top: int = 4) -> str:
    parts = [f"{name} {share:.0%} ({s:.1f} s)" for name, s, share in _where(run)[:top]]
    return (
        f"{run['dataset']} with {run['stt']}: {run['wall_s']:.1f} s wall for "
        f"{run['media_s']:.0f} s of media; " + ", ".join(parts)
    )


def _speed_figure(run: dict[str, Any], *, label: str, target: float) -> Figure:
    speed = run["media_s"] / run["wall_s"]
    top = _where(run)[:3]
    limited_by = None
    if speed < target:
        limited_by = "time goes to " + ", ".join(
            f"{name} ({share:.0%})" for name, _, share in top
        )
    stt = "recorded transcripts" if run["stt"].startswith("recorded") else "offline whisper"
    return Figure(
        section=SECTION,
        name=f"replay speed, {label}, {stt}",
        value=speed,
        unit="x real time",
        baseline="real time (the recording's own length)",
        baseline_value=1.0,
        ratio=speed,
        target=f"≥ {target:g}× real time",
        target_value=target,
        higher_is_better=True,
        limited_by=limited_by,
        detail=f"{run['wall_s']:.1f} s for {run['media_s']:.0f} s of media, "
        f"{run['requests']} questions, {run['kept_frames']} kept frames, "
        f"{run['calls'].get('decode video', 0)} frames decoded for the sampler",
        extra={"stages_s": run["stages_s"], "calls": run["calls"]},
    )


def run(workdir: Path, *, quick: bool, say: Callable[[str], None]) -> tuple[list[Figure], list[str]]:
    from assistant.benchmarks.synth import looped_session

    stts: tuple[str, ...] = ("recorded:", "whisper:tiny.en")
    if quick:  # a smoke run: recorded transcripts only, a 38 s cut and two loops of it
        stts = ("recorded:",)
        short = looped_session(1, cut_s=38.0)
        long = looped_session(2, cut_s=38.0)
        label_short, label_long = "38 s cut of the demo", "2 loops of the cut"
    else:
        short = DEMO_DATASET
        say(f"replay: building the one-hour session ({HOUR_LOOPS} demo loops; cached)")
        long = looped_session(HOUR_LOOPS)
        label_short, label_long = "demo", f"{HOUR_LOOPS}-loop one-hour session"
    runs: dict[tuple[str, str], dict[str, Any]] = {}
    for name, path in (("short", short), ("long", long)):
        for stt in stts:
            say(f"replay: {path.name} with {stt.rstrip(':')} (a subprocess)")
            runs[(name, stt)] = _spawn(path, stt, workdir)
    figures = [
        _speed_figure(runs[(name, stt)], label=label, target=TARGETS[(name, stt)])
        for name, label in (("short", label_short), ("long", label_long))
        for stt in stts
    ]
    for stt in stts:
        what = "recorded transcripts" if stt == "recorded:" else "whisper"
        short_run, long_run = runs[("short", stt)], runs[("long", stt)]
        ratio = short_run["peak_rss_mb"] / long_run["peak_rss_mb"]
        length = long_run["media_s"] / short_run["media_s"]
        grew = long_run["peak_rss_mb"] - short_run["peak_rss_mb"]
        figures.append(
            Figure(
                section=SECTION,
                name=f"peak RSS, {label_long}, {what}",
                value=long_run["peak_rss_mb"],
                unit="MB",
                baseline=f"peak RSS of the {length:.0f}x shorter replay ({label_short})",
                baseline_value=short_run["peak_rss_mb"],
                ratio=ratio,
                target="within 10% of the short replay's (ratio ≥ 0.91)",
                target_ratio=0.91,
                limited_by=None
                if ratio >= 0.91
                else f"{grew:.0f} MB more over {length:.0f}x the media: see rss_by_media_s",
                detail=f"{grew:+.0f} MB for {length:.0f}x the length; RSS by media second in "
                "the JSON",
                extra={
                    "rss_by_media_s_long": long_run["rss_by_media_s"],
                    "rss_by_media_s_short": short_run["rss_by_media_s"],
                },
            )
        )
    notes = [_sentence(r) for r in runs.values()]
    if quick:
        notes.append("--quick: offline whisper replays skipped (a full run measures them)")
    return figures, notes


if __name__ == "__main__":  # the benchmark's child process: one replay, JSON on stdout
    print(json.dumps(child(sys.argv[1], sys.argv[2], sys.argv[3])))
