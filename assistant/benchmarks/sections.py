"""The benchmark's sections, in one place: their names and ``run_bench``, which runs them.

- ``sampler``: the change policy's decision per 1080p I420 frame against converting that frame to
  RGB (``frame_bench``).
- ``replay``: replay speed of the demo and of a synthetic long session in multiples of real time,
  with recorded transcripts and with offline whisper, and where the time goes; peak memory of a
  short and a long replay in subprocesses (``replay_bench``).
- ``ledger``: batched appends against row-by-row inserts, the cost dashboard and the threshold
  sweep over a synthetic ledger of a million requests (``ledger_bench``).
- ``live``: the pipeline's own time per question with instant scripted providers, and what
  recording a room costs the live path (``live_bench``).
- ``fleet``: rows per second of 1, 2, 4 and 8 writer processes into a DuckLake with a PostgreSQL
  catalog beside the file ledger with its spool, and the cost dashboard over a lake beside a file
  (``fleet_bench``).
- ``cache``: a second replay of the demo against its first in one ledger: the second answers every
  call from the call cache (zero provider calls, the same answers), in multiples of real time
  (``cache_bench``).
- ``prefetch``: the demo's question latency p50/p95 and cost with and without prefetched screen
  readings, paced as a live room; whisper replay speed with and without background
  transcription (``prefetch_bench``).
- ``ocr``: one offline screen reading per tier, RapidOCR with the settings before the 320 px line
  floor was dropped against the current ones, alternating on the same demo frames (``ocr_bench``).

``quick`` runs every section small (a smoke run for CI, under a minute); its figures are not
comparable with a full run's.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from assistant.benchmarks.harness import BenchResult, Figure, machine_info

SECTIONS = ("sampler", "replay", "ledger", "live", "fleet", "cache", "prefetch", "ocr")


def run_bench(
    *,
    quick: bool = False,
    sections: tuple[str, ...] = SECTIONS,
    say: Callable[[str], None] = lambda message: None,
) -> BenchResult:
    """Run the chosen sections; generated inputs are cached, scratch files are removed."""
    started = time.perf_counter()
    machine = machine_info()
    figures: list[Figure] = []
    notes: dict[str, list[str]] = {}
    workdir = Path(tempfile.mkdtemp(prefix="workbench-bench-"))
    try:
        for section in sections:
            if section == "sampler":
                from assistant.benchmarks.frame_bench import run as run_sampler

                figures += run_sampler(quick=quick, say=say)
            elif section == "replay":
                from assistant.benchmarks.replay_bench import run as run_replay

                found, section_notes = run_replay(workdir, quick=quick, say=say)
                figures += found
                notes["replay"] = section_notes
            elif section == "ledger":
                from assistant.benchmarks.ledger_bench import run as run_ledger

                figures += run_ledger(workdir, quick=quick, say=say)
            elif section == "live":
                from assistant.benchmarks.live_bench import run as run_live

                figures += run_live(quick=quick, say=say)
            elif section == "fleet":
                from assistant.benchmarks.fleet_bench import run as run_fleet

                figures += run_fleet(workdir, quick=quick, say=say)
            elif section == "cache":
                from assistant.benchmarks.cache_bench import run as run_cache

                figures += run_cache(workdir, quick=quick, say=say)
            elif section == "prefetch":
                from assistant.benchmarks.prefetch_bench import run as run_prefetch

                figures += run_prefetch(workdir, quick=quick, say=say)
            elif section == "ocr":
                from assistant.benchmarks.ocr_bench import run as run_ocr

                figures += run_ocr(quick=quick, say=say)
            else:
                raise ValueError(f"unknown section {section!r}; known: {', '.join(SECTIONS)}")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return BenchResult(
        quick=quick,
        machine=machine,
        figures=figures,
        notes=notes,
        elapsed_s=time.perf_counter() - started,
    )


