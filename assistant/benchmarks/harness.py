"""``python -m assistant bench [--quick] [--json PATH] [--only SECTION,...]``: every speed claim
of the workbench, each measured beside a baseline in the same run.

These machines are noisy: absolute times drift from one run to the next, ratios against a
baseline measured alongside hold. Every figure therefore carries its baseline, the ratio, its
target, whether it was met and, when it was not, what limits it. Sections:

- ``sampler``: the change policy's decision per 1080p I420 frame against converting that frame to
  RGB (``frame_bench``).
- ``replay``: replay speed of the demo and of a synthetic long session in multiples of real time,
  with recorded transcripts and with offline whisper, and where the time goes; peak memory of a
  short and a long replay in subprocesses (``replay_bench``).
- ``ledger``: batched appends against row-by-row inserts, the cost dashboard and the threshold
  sweep over a synthetic ledger of a million requests (``ledger_bench``).
- ``live``: the pipeline's own time per question with instant scripted providers (``live_bench``).

``--quick`` runs every section small (a smoke run for CI, under a minute); its figures are not
comparable with a full run's.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

SECTIONS = ("sampler", "replay", "ledger", "live")


@dataclass(frozen=True, slots=True)
class Figure:
    """One measured figure beside its baseline.

    ``ratio`` is how many times better the figure is than its baseline (faster, cheaper, more
    rows per second), so a ratio above 1 is always a win. ``target_ratio`` and ``target_value``
    are the targets (either may be None); ``higher_is_better`` says which way ``target_value``
    points. ``met`` is None when the figure has no target.
    """

    section: str
    name: str
    value: float
    unit: str
    baseline: str
    baseline_value: float | None
    ratio: float | None
    target: str
    target_ratio: float | None = None
    target_value: float | None = None
    higher_is_better: bool = False
    limited_by: str | None = None
    detail: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def met(self) -> bool | None:
        checks: list[bool] = []
        if self.target_ratio is not None:
            checks.append(self.ratio is not None and self.ratio >= self.target_ratio)
        if self.target_value is not None:
            checks.append(
                self.value >= self.target_value
                if self.higher_is_better
                else self.value < self.target_value
            )
        return all(checks) if checks else None

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["met"] = self.met
        return data


@dataclass(frozen=True, slots=True)
class BenchResult:
    quick: bool
    machine: dict[str, Any]
    figures: list[Figure]
    notes: dict[str, list[str]]  # per section: what the profile says, in sentences
    elapsed_s: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "quick": self.quick,
            "machine": self.machine,
            "elapsed_s": round(self.elapsed_s, 1),
            "figures": [f.to_dict() for f in self.figures],
            "notes": self.notes,
            "missed": [f.name for f in self.figures if f.met is False],
        }


def timed_best(fn: Callable[[], object], reps: int) -> float:
    """The fastest of ``reps`` runs of ``fn``, in seconds (the least disturbed by other load)."""
    best = float("inf")
    for _ in range(max(1, reps)):
        started = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - started)
    return best


def percentile(values: list[float], q: float) -> float:
    """The ``q``-th percentile (0-100) with linear interpolation (numpy's default)."""
    import numpy as np

    return float(np.percentile(values, q)) if values else float("nan")


# --- machine -----------------------------------------------------------------------------------


def machine_info() -> dict[str, Any]:
    """CPU model, cores, RAM, Python, key libraries, date, and the load when the run started."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    ram_gb = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                ram_gb = round(int(line.split()[1]) / 1024 / 1024, 1)
                break
    except OSError:
        pass
    versions: dict[str, str | None] = {}
    for name in ("duckdb", "numpy", "av", "pyarrow", "pandas", "faster_whisper", "rapidocr"):
        try:
            from importlib.metadata import version

            versions[name] = version(name.replace("_", "-"))
        except Exception:  # a missing package is reported as None
            versions[name] = None
    try:
        load = list(os.getloadavg())
    except OSError:
        load = []
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "ram_gb": ram_gb,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "versions": versions,
        "date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "load_average_at_start": [round(x, 2) for x in load],
    }


def cache_dir() -> Path:
    """Where generated inputs (the synthetic long session, the 1080p clip) are kept between runs:
    ``$WORKBENCH_BENCH_CACHE``, else ``$XDG_CACHE_HOME/workbench-bench`` (``~/.cache/...``)."""
    explicit = os.environ.get("WORKBENCH_BENCH_CACHE")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "workbench-bench"


# --- running -----------------------------------------------------------------------------------


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


# --- output ------------------------------------------------------------------------------------


def _number(value: float | None, unit: str = "") -> str:
    if value is None:
        return "n/a"
    if unit == "rows/s":
        return f"{value:,.0f} rows/s"
    if abs(value) >= 100:
        text = f"{value:,.0f}"
    elif abs(value) >= 10:
        text = f"{value:.1f}"
    else:
        text = f"{value:.2f}"
    return f"{text} {unit}".strip()


def format_bench(result: BenchResult) -> str:
    m = result.machine
    lines = [
        f"machine: {m['cpu']}, {m['cores']} cores, {m['ram_gb']} GB RAM, Python {m['python']}, "
        f"duckdb {m['versions'].get('duckdb')}, {m['date']}"
        + (" (quick: smoke-run sizes, not comparable)" if result.quick else ""),
        f"{'figure':<58}{'value':>16}{'baseline':>16}{'ratio':>9}  {'target':<30}{'':>6}",
    ]
    for f in result.figures:
        met = {True: "met", False: "MISSED", None: "-"}[f.met]
        ratio = "n/a" if f.ratio is None else f"{f.ratio:,.1f}x"
        lines.append(
            f"{f.name[:57]:<58}{_number(f.value, f.unit):>16}"
            f"{_number(f.baseline_value, f.unit):>16}{ratio:>9}  {f.target[:29]:<30}{met:>6}"
        )
    lines.append("")
    lines.append("baselines:")
    for f in result.figures:
        lines.append(f"  {f.name}: against {f.baseline}" + (f" ({f.detail})" if f.detail else ""))
    missed = [f for f in result.figures if f.met is False]
    if missed:
        lines.append("")
        lines.append("missed, and what limits them:")
        for f in missed:
            lines.append(f"  {f.name}: {f.limited_by or 'not known'}")
    for section, section_notes in result.notes.items():
        if section_notes:
            lines.append("")
            lines.append(f"{section}:")
            lines.extend(f"  {note}" for note in section_notes)
    lines.append("")
    lines.append(f"bench took {result.elapsed_s:.0f} s")
    return "\n".join(lines)


def add_command(sub: Any) -> None:
    """The ``bench`` subcommand on the CLI's subparsers."""
    bench = sub.add_parser(
        "bench", help="every speed figure beside its baseline (sampler, replay, ledger, live)"
    )
    bench.add_argument("--quick", action="store_true", help="small sizes: a smoke run for CI")
    bench.add_argument("--json", metavar="PATH", help="also write every figure and the machine")
    bench.add_argument(
        "--only",
        metavar="SECTIONS",
        help=f"comma-separated sections to run (default all: {','.join(SECTIONS)})",
    )


def run_command(args: argparse.Namespace) -> int:
    from assistant.core.errors import ConfigError

    sections = SECTIONS
    if args.only:
        sections = tuple(s.strip() for s in args.only.split(",") if s.strip())
        unknown = [s for s in sections if s not in SECTIONS]
        if unknown:
            raise ConfigError(f"unknown bench section {unknown[0]!r}; known: {', '.join(SECTIONS)}")

    def say(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    result = run_bench(quick=args.quick, sections=sections, say=say)
    print(format_bench(result))
    if args.json:
        path = Path(args.json)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(result.to_dict(), indent=2) + "\n", encoding="utf-8")
    return 0
