"""Work off the question's path, measured: screen readings prefetched in the background
(``[vision] prefetch``) and transcription on a worker thread (``[stt] background``).

- Question latency: the demo replayed at the pace of a live room (``PacedSource`` at real time),
  with recorded transcripts, once per prefetch setting in the same run: p50 and p95 of the
  requests' total latency, beside the run's cost (prefetching reads screens no question asks
  about: that is its price). Paced, because a prefetched reading has the time between a screen
  change and the question to finish; a replay faster than real time shrinks that time.
- Transcription: the demo replayed as fast as it goes with offline whisper, sequential and with
  background transcription, same run; whether the transcripts and answers are the same.

With ``quick``: a 38 s cut of the demo, paced at 4x real time, and its whisper replays.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from assistant.benchmarks.harness import Figure
from assistant.core.paths import DEMO_DATASET

SECTION = "prefetch"
SETTINGS = ("off", "cheap", "both")  # prefetch settings compared, the baseline first
LATENCY_TARGET_MS = 100.0
WHISPER_TARGET = 15.0  # x real time (issue 25)


def _config(*, stt: str, prefetch: str = "off", background: bool = False) -> Any:
    from assistant.core.config import Config

    config = Config()
    return dataclasses.replace(
        config,
        stt=dataclasses.replace(config.stt, provider=stt, background=background),
        vision=dataclasses.replace(config.vision, prefetch=prefetch),
    )


def replay_once(
    dataset_path: Path, ledger_path: Path, config: Any, *, paced_speed: float | None
) -> dict[str, Any]:
    """One replay into its own ledger file; its figures."""
    from assistant.ledger import Ledger
    from assistant.ledger.queries import run_calls, run_requests
    from assistant.ledger.queries.runs import run_utterances
    from assistant.sessions.datasets import load_dataset
    from assistant.sessions.replay import replay

    dataset = load_dataset(dataset_path)
    started = time.perf_counter()
    with Ledger(ledger_path) as ledger:
        replay(dataset, ledger=ledger, config=config, run_id="bench", paced_speed=paced_speed)
        wall_s = time.perf_counter() - started
        requests = run_requests(ledger, "bench")
        calls = run_calls(ledger, "bench")
        said = run_utterances(ledger, "bench")
    for p in (ledger_path, ledger_path.with_name(ledger_path.name + ".wal")):
        p.unlink(missing_ok=True)
    latency = np.asarray(requests["total_latency_ms"], dtype=float)
    vision = calls[calls["stage"] == "vision"]
    unused = vision[vision["request_id"].isna()]
    changes = [c.t_s for c in dataset.screen_changes or ()]
    return {
        "questions": question_rows(requests, vision, changes),
        "media_s": dataset.duration_s,
        "wall_s": wall_s,
        "requests": len(requests),
        "p50_ms": float(np.percentile(latency, 50)),
        "p95_ms": float(np.percentile(latency, 95)),
        "cost_usd": float(calls["cost_usd"].sum()),
        "vision_calls": len(vision),
        "unused_reads": len(unused),
        "unused_usd": float(unused["cost_usd"].sum()),
        "stt_compute_s": float(calls[calls["stage"] == "stt"]["compute_s"].sum()),
        "answers": [str(a) for a in requests["answer"]],
        "transcript": [
            f"{p}@{s:.2f}: {t}"
            for p, s, t in said[["participant", "start_s", "text"]].itertuples(index=False)
        ],
    }


def question_rows(requests: Any, vision: Any, changes: list[float]) -> list[dict[str, Any]]:
    """Per question: how long its screen had been on (since the last screen change of the
    ground truth), the tiers it was routed to, how its screen was read, what it waited for the
    reading and the rest of its latency.

    ``read``: ``ahead`` (a call made before the question asked: the question waited for less
    than its duration), ``earlier`` (no call: the text of a reading of that screen made
    before), ``on path`` (the question waited as long as the call took, or longer: read for the
    question, or queued behind other readings), ``-`` (no screen needed)."""
    rows = []
    for r in requests.itertuples(index=False):
        made = vision[vision["request_id"] == r.request_id]
        call_ms = float(made["latency_ms"].sum())
        needs = isinstance(r.vision_tier, str)
        if not needs:
            read = "-"
        elif made.empty:
            read = "earlier"
        else:
            read = "ahead" if call_ms > r.vision_latency_ms + 0.5 else "on path"
        before = [c for c in changes if c <= r.media_t_s]
        rest_ms = r.retrieval_latency_ms + r.routing_latency_ms + r.llm_latency_ms
        rows.append(
            {
                "question": str(r.question_id),
                "t_s": float(r.media_t_s),
                "since_change_s": float(r.media_t_s - before[-1]) if before else None,
                "vision_tier": r.vision_tier if needs else None,
                "llm_tier": str(r.tier),
                "read": read,
                "waited_ms": float(r.vision_latency_ms),
                "rest_ms": float(rest_ms),
                "total_ms": float(r.total_latency_ms),
            }
        )
    return rows


def question_table(rows: list[dict[str, Any]]) -> list[str]:
    """``question_rows`` as Markdown table lines."""
    lines = [
        "| question | t (s) | since change (s) | vision / answer tier | read | waited (ms) | "
        "rest (ms) | total (ms) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        since = "" if row["since_change_s"] is None else f"{row['since_change_s']:.1f}"
        tiers = f"{row['vision_tier'] or '-'} / {row['llm_tier']}"
        lines.append(
            f"| {row['question']} | {row['t_s']:.1f} | {since} | {tiers} | {row['read']} | "
            f"{row['waited_ms']:.0f} | {row['rest_ms']:.1f} | {row['total_ms']:.1f} |"
        )
    return lines


def _warm_up(dataset_path: Path, stt: str) -> None:
    """Load the models once, so neither compared replay pays for it."""
    from assistant.pipeline.stages import make_stages
    from assistant.sessions.datasets import load_dataset

    make_stages(_config(stt=stt), load_dataset(dataset_path)).warm_up()


def run(workdir: Path, *, quick: bool, say: Callable[[str], None]) -> list[Figure]:
    from assistant.benchmarks.synth import looped_session

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if quick:
        dataset, label, pace = looped_session(1, cut_s=38.0), "38 s cut of the demo", 4.0
    else:
        dataset, label, pace = DEMO_DATASET, "demo", 1.0
    _warm_up(dataset, "whisper:tiny.en")
    runs: dict[str, dict[str, Any]] = {}
    for setting in SETTINGS:
        say(f"prefetch: {label} paced at {pace:g}x real time, prefetch = {setting}")
        runs[setting] = replay_once(
            dataset,
            workdir / f"prefetch-{setting}.duckdb",
            _config(stt="recorded:", prefetch=setting),
            paced_speed=pace,
        )
        for line in question_table(runs[setting]["questions"]):
            say(f"prefetch = {setting}: {line}")
    figures = [_latency_figure(runs, setting, label, pace) for setting in SETTINGS[1:]]
    figures += [_cost_figure(runs, setting, label) for setting in SETTINGS[1:]]
    return figures + whisper_figures(dataset, workdir, label=label, say=say)


WHISPER_RUNS = (  # (label, stt spec, background); the baseline first: issue 25's "today"
    ("sequential, temperature fallback", "whisper:tiny.en?fallback=1", False),
    ("sequential, no fallback", "whisper:tiny.en?fallback=0", False),
    ("background, no fallback", "whisper:tiny.en?fallback=0", True),
    ("background, no fallback, 1 thread", "whisper:tiny.en?fallback=0&threads=1", True),
)


def whisper_figures(
    dataset: Path, workdir: Path, *, label: str, say: Callable[[str], None]
) -> list[Figure]:
    """The dataset replayed with whisper as fast as it goes: each of ``WHISPER_RUNS``, against
    the first."""
    runs: dict[str, dict[str, Any]] = {}
    for name, stt, background in WHISPER_RUNS:
        _warm_up(dataset, stt)
        say(f"prefetch: {label} with {stt}, {name} transcription")
        runs[name] = replay_once(
            dataset,
            workdir / f"whisper-{len(runs)}.duckdb",
            _config(stt=stt, background=background),
            paced_speed=None,
        )
    base, same_settings = runs[WHISPER_RUNS[0][0]], runs[WHISPER_RUNS[1][0]]
    return [
        _whisper_figure(base, runs[name], name, label, reference=same_settings)
        for name, _, _ in WHISPER_RUNS[1:]
    ]


def _latency_figure(
    runs: dict[str, dict[str, Any]], setting: str, label: str, pace: float
) -> Figure:
    base, run = runs["off"], runs[setting]
    same = run["answers"] == base["answers"]
    differ = [
        q["question"]
        for q, mine, theirs in zip(run["questions"], run["answers"], base["answers"], strict=False)
        if mine != theirs
    ]
    limited_by = None
    if run["p95_ms"] >= LATENCY_TARGET_MS:
        slow = [q for q in run["questions"] if q["total_ms"] >= LATENCY_TARGET_MS]
        limited_by = "; ".join(
            f"{q['question']} waited {q['waited_ms']:.0f} ms for its screen ({q['read']}, "
            f"asked {q['since_change_s'] or 0:.1f} s after the screen changed)"
            for q in slow
        )
    return Figure(
        section=SECTION,
        name=f"question latency p95, {label}, prefetch = {setting}",
        value=run["p95_ms"],
        unit="ms",
        baseline="p95 without prefetch, same run",
        baseline_value=base["p95_ms"],
        ratio=base["p95_ms"] / max(run["p95_ms"], 1e-6),
        target=f"< {LATENCY_TARGET_MS:g} ms",
        target_value=LATENCY_TARGET_MS,
        limited_by=limited_by,
        detail=f"paced at {pace:g}x real time, {run['requests']} questions; p50 "
        f"{run['p50_ms']:.1f} ms (without: {base['p50_ms']:.1f} ms); answers "
        f"{'the same as without' if same else 'DIFFERENT from without: ' + ', '.join(differ)}",
        extra={
            "with": _summary(run),
            "without": _summary(base),
            "same_answers": same,
            "different_answers": differ,
            "questions_with": run["questions"],
            "questions_without": base["questions"],
        },
    )


def _cost_figure(runs: dict[str, dict[str, Any]], setting: str, label: str) -> Figure:
    base, run = runs["off"], runs[setting]
    hours = run["media_s"] / 3600
    return Figure(
        section=SECTION,
        name=f"cost per media hour, {label}, prefetch = {setting}",
        value=run["cost_usd"] / hours,
        unit="USD/h",
        baseline="cost per media hour without prefetch, same run",
        baseline_value=base["cost_usd"] / hours,
        ratio=base["cost_usd"] / max(run["cost_usd"], 1e-12),
        target="shown beside the latency it buys (no target)",
        detail=f"{run['vision_calls']} screen readings against {base['vision_calls']}; "
        f"{run['unused_reads']} read ahead and never asked about "
        f"(${run['unused_usd']:.6f} of ${run['cost_usd']:.6f})",
        extra={"with": _summary(run), "without": _summary(base)},
    )


def _whisper_figure(
    sequential: dict[str, Any],
    background: dict[str, Any],
    name: str,
    label: str,
    *,
    reference: dict[str, Any],
) -> Figure:
    """``background`` against the baseline ``sequential``; its transcript and answers against
    ``reference``: the sequential run with the same decoding."""
    speed = background["media_s"] / background["wall_s"]
    base_speed = sequential["media_s"] / sequential["wall_s"]
    same = (
        background["transcript"] == reference["transcript"]
        and background["answers"] == reference["answers"]
    )
    return Figure(
        section=SECTION,
        name=f"replay speed, {label}, whisper, {name}",
        value=speed,
        unit="x real time",
        baseline="sequential, with faster-whisper's temperature fallback, same run",
        baseline_value=base_speed,
        ratio=speed / base_speed,
        target=f"≥ {WHISPER_TARGET:g}× real time",
        target_value=WHISPER_TARGET,
        higher_is_better=True,
        limited_by=None
        if speed >= WHISPER_TARGET
        else "2 cores: whisper's CTranslate2 threads and the video decoder share them",
        detail=f"{background['wall_s']:.1f} s against {sequential['wall_s']:.1f} s; transcripts "
        f"and answers {'the same as' if same else 'DIFFERENT from'} the sequential run decoded "
        "once; STT compute "
        f"{background['stt_compute_s']:.1f} s against {sequential['stt_compute_s']:.1f} s",
        extra={
            "sequential": _summary(sequential),
            "background": _summary(background),
            "same_transcript_and_answers": same,
        },
    )


def _summary(run: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in run.items() if k not in ("answers", "transcript", "questions")}
