"""What every benchmark section shares: the Figure (a measurement beside its baseline), timing,
the machine's description, the input cache, and the report as text and JSON.

These machines are noisy: absolute times drift from one run to the next, ratios against a
baseline measured alongside hold. Every figure therefore carries its baseline, the ratio, its
target, whether it was met and, when it was not, what limits it. The sections themselves (and
``run_bench``) are in ``benchmarks.sections``; this module imports none of them.
"""

from __future__ import annotations

import dataclasses
import os
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any


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
