"""The call cache: a second replay of the demo against its first, in multiples of real time.

Both replays run with the default configuration (offline whisper, OCR, the extractive answerer:
local providers, cached by default) into one fresh ledger, each in its own Python process
(``python -m assistant.benchmarks.cache_bench``), so the second finds nothing in memory: only
what the first stored in the ledger's ``call_cache``. Each child counts the provider calls it
really made (``Provider._attempts``, the hook's retry loop, is wrapped) and reads its run's
answers back; the second replay must make none and answer the same, or the section fails. Each
child also counts the video frames it decoded (the sampler's pass, ``iter_video``, and single
frames a reader asked for, ``frame_index.decode_frame_at``): the second replay finds the first's
sampler pass in the cache (``sessions.frame_index``) and must decode none. Where the second
replay's time goes is timed as in ``replay_bench`` (decoding, sampler, model loading), by
wrapping the same functions.

Input: the demo; with ``--quick``, a 38 s cut of it (``synth.looped_session``).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from assistant.benchmarks.harness import Figure
from assistant.core.paths import DEMO_DATASET

SECTION = "cache"
TARGET_X = 100.0  # issue 25: a second replay of the demo with the cache at >= 100x real time


def child(dataset_path: str, ledger_path: str, run_id: str) -> dict[str, Any]:
    """One replay in this process with its provider calls counted; its figures (JSON)."""
    import os

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from assistant.benchmarks.replay_bench import _instrument, _Timers
    from assistant.core.config import Config
    from assistant.ledger import Ledger
    from assistant.ledger.queries import run_calls, run_requests
    from assistant.providers.base import Provider
    from assistant.sessions.datasets import load_dataset
    from assistant.sessions.replay import replay

    made: dict[str, int] = {}
    attempts = Provider._attempts

    def counted(self: Provider, hook: Any) -> Any:
        made[self.spec] = made.get(self.spec, 0) + 1
        return attempts(self, hook)

    Provider._attempts = counted  # type: ignore[method-assign]
    timers = _Timers()
    _instrument(timers)
    decoded = _count_decoding(timers)
    dataset = load_dataset(dataset_path)
    started = time.perf_counter()
    with Ledger(ledger_path) as ledger:
        replay(dataset, ledger=ledger, config=Config(), run_id=run_id)
        wall_s = time.perf_counter() - started
        calls = run_calls(ledger, run_id)
        answers = run_requests(ledger, run_id)["answer"].tolist()
    cached = calls["cached"].fillna(False).astype(bool)
    stages = dict(timers.seconds)
    stages["other (event merge, progress)"] = max(wall_s - sum(timers.seconds.values()), 0.0)
    return {
        "media_s": dataset.duration_s,
        "wall_s": wall_s,
        "calls_made": made,
        "cached_calls": int(cached.sum()),
        "paid_usd": float(calls["cost_usd"].sum()),
        "cost_if_paid_usd": float(
            (calls["cost_usd"] + calls["original_cost_usd"].fillna(0.0)).sum()
        ),
        "answers": answers,
        "stages_s": stages,
        "video_frames_decoded": decoded,
    }


def _count_decoding(timers: Any) -> dict[str, int]:
    """Count the video frames this process decodes: by the sampler's pass (``iter_video``) and
    one by one for a reader (``decode_frame_at``); time the frames replayed from the index."""
    import assistant.sessions.frame_index as frame_index
    import assistant.sessions.sources.recorded as recorded

    counts = {"pass": 0, "read": 0}
    iter_video, indexed_frames = recorded.iter_video, recorded.indexed_frames
    decode_frame_at = frame_index.decode_frame_at

    def counted_pass(*args: Any, **kwargs: Any) -> Any:
        for frame in iter_video(*args, **kwargs):
            counts["pass"] += 1
            yield frame

    def timed_index(*args: Any, **kwargs: Any) -> Any:
        frames = indexed_frames(*args, **kwargs)
        while True:
            with timers("frames from the index (none decoded)"):
                frame = next(frames, None)
            if frame is None:
                return
            yield frame

    def counted_read(*args: Any, **kwargs: Any) -> Any:
        counts["read"] += 1
        return decode_frame_at(*args, **kwargs)

    recorded.iter_video = counted_pass
    recorded.indexed_frames = timed_index
    frame_index.decode_frame_at = counted_read
    return counts


def _spawn(dataset: Path, ledger: Path, run_id: str) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "assistant.benchmarks.cache_bench", str(dataset), str(ledger), run_id]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"cache benchmark replay {run_id} failed:\n{done.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def run(workdir: Path, *, quick: bool, say: Callable[[str], None]) -> list[Figure]:
    from assistant.benchmarks.synth import looped_session

    dataset = looped_session(1, cut_s=38.0) if quick else DEMO_DATASET
    label = "38 s cut of the demo" if quick else "demo"
    ledger = workdir / f"cache-{time.perf_counter_ns()}.duckdb"
    try:
        say(f"cache: first replay of the {label}, empty cache (a subprocess)")
        first = _spawn(dataset, ledger, "first")
        say(f"cache: second replay of the {label}, same ledger (a subprocess)")
        second = _spawn(dataset, ledger, "second")
    finally:
        for p in (ledger, ledger.with_name(ledger.name + ".wal")):
            p.unlink(missing_ok=True)
    made = sum(second["calls_made"].values())
    if made or second["answers"] != first["answers"]:
        raise RuntimeError(
            f"the second replay made {made} provider calls ({second['calls_made']}) and "
            f"{'the same' if second['answers'] == first['answers'] else 'different'} answers: "
            "the call cache failed"
        )
    decoded = second["video_frames_decoded"]
    if sum(decoded.values()):
        raise RuntimeError(
            f"the second replay decoded {decoded['pass']} video frames in its sampler pass and "
            f"{decoded['read']} for readers: the frame index failed"
        )
    made_first = sum(first["calls_made"].values())
    if not made_first:
        raise RuntimeError("the first replay made no provider call: nothing to cache")
    speed_1 = first["media_s"] / first["wall_s"]
    speed_2 = second["media_s"] / second["wall_s"]
    top = sorted(second["stages_s"].items(), key=lambda kv: -kv[1])[:3]
    where = ", ".join(f"{name} {s / second['wall_s']:.0%} ({s:.1f} s)" for name, s in top)
    return [
        Figure(
            section=SECTION,
            name=f"second replay with the call cache, {label}, offline whisper",
            value=speed_2,
            unit="x real time",
            baseline="the first replay of the same recording, same ledger, empty cache",
            baseline_value=speed_1,
            ratio=speed_2 / speed_1,
            target=f"≥ {TARGET_X:g}× real time",
            target_value=TARGET_X,
            higher_is_better=True,
            limited_by=None if speed_2 >= TARGET_X else f"time goes to {where}",
            detail=f"{second['wall_s']:.1f} s against {first['wall_s']:.1f} s for "
            f"{first['media_s']:.0f} s of media; {second['cached_calls']} calls answered from "
            f"the cache, paid now ${second['paid_usd']:.6f}, cost if paid now "
            f"${second['cost_if_paid_usd']:.6f}; answers identical; video frames decoded: "
            f"{first['video_frames_decoded']['pass']} by the first, none by the second (its "
            "sampler pass found in the cache)",
            extra={
                "first_stages_s": first["stages_s"],
                "second_stages_s": second["stages_s"],
                "first_calls_made": first["calls_made"],
            },
        ),
        Figure(
            section=SECTION,
            name=f"calls the second replay answered from the cache, {label} ({made} made)",
            value=float(second["cached_calls"]),
            unit="calls",
            baseline="provider calls the first replay made",
            baseline_value=float(made_first),
            ratio=second["cached_calls"] / made_first,
            target="every one of them: 0 calls made (asserted)",
            target_ratio=1.0,
            detail=f"first replay made {first['calls_made']}; the second made "
            f"{second['calls_made'] or 'none'}",
            extra={"calls_made": made, "calls_made_first": made_first},
        ),
    ]


if __name__ == "__main__":  # the benchmark's child process: one replay, JSON on stdout
    print(json.dumps(child(sys.argv[1], sys.argv[2], sys.argv[3])))
