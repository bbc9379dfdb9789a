"""What a job runs: a page's choices become a request, the request one validated Config and the
replay command lines of its steps (one per threshold).

The Config is built here once (:func:`job_config`, through ``core.config.config_from_options``)
and handed to the replays as the TOML file ``Config.to_toml()`` writes; each step adds only its
``--threshold``, its run id and its progress file.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from assistant.core.config import Config, config_from_options

RUN_PREFIX = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,89}")  # replay's run-id rule, room for -t0.30


@dataclass(frozen=True, slots=True)
class ReplayRequest:
    """What the user chose on a page: one dataset, one or more thresholds, shared options.

    ``config`` holds TOML tables for options without a CLI flag (``{"sampling": {"policy":
    "change"}}``); with ``stt`` it becomes the job's Config (:func:`job_config`), validated once
    and written to the job's ``config.toml``. ``thresholds`` empty means one run at the
    configuration's threshold.
    """

    dataset: str
    ledger: str
    thresholds: tuple[float, ...] = ()
    stt: str | None = None
    config: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    both_tiers: bool = False
    paced: float | None = None
    run_prefix: str | None = None
    label: str = ""


def parse_thresholds(text: str) -> tuple[float, ...]:
    """``"0.1, 0.3 0.5"`` -> ``(0.1, 0.3, 0.5)``; ValueError with what is wrong."""
    values: list[float] = []
    for part in text.replace(",", " ").split():
        try:
            value = float(part)
        except ValueError:
            raise ValueError(f"{part!r} is not a number: give thresholds like 0.1, 0.3") from None
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"threshold {value} is outside [0, 1]")
        if value not in values:
            values.append(value)
    return tuple(values)


def job_config(request: ReplayRequest) -> Config:
    """The configuration every step of ``request`` runs with (before its threshold).

    Raises ConfigError naming what to fix ("the chosen options: 'sampling.policy' must be ...")."""
    return config_from_options(tables=request.config, stt=request.stt, where="the chosen options")


def replay_request(
    *,
    dataset: str,
    ledger: str,
    thresholds: str = "",
    stt: str | None = None,
    policy: str | None = None,
    explore_share: float | None = None,
    vision: tuple[str, str] | None = None,
    llm: tuple[str, str] | None = None,
    both_tiers: bool = False,
    paced: float | None = None,
    run_prefix: str = "",
) -> ReplayRequest:
    """A request from a page's choices; options equal to the defaults are left out of the config.

    ``thresholds`` is text (``"0.2, 0.4"``); ``vision`` and ``llm`` are ``(cheap, premium)``
    ``"provider:model"`` specs. Raises ValueError saying what to fix; the options themselves are
    validated once, when the job starts (ConfigError from ``start_replays``)."""
    default = Config()
    tables: dict[str, dict[str, Any]] = {}
    if policy and policy != default.sampling.policy:
        tables["sampling"] = {"policy": policy}
    if explore_share is not None and explore_share != default.routing.explore_share:
        tables["routing"] = {"explore_share": float(explore_share)}
    for name, chosen, base in (("vision", vision, default.vision), ("llm", llm, default.llm)):
        if chosen is None:
            continue
        cheap, premium = (c.strip() for c in chosen)
        changed = {
            k: v for k, v in (("cheap", cheap), ("premium", premium)) if v != getattr(base, k)
        }
        if changed:
            tables[name] = changed
    prefix = run_prefix.strip() or None
    if prefix is not None and not RUN_PREFIX.fullmatch(prefix):
        raise ValueError(f"run id {prefix!r} is not valid: use letters, digits, '.', '_' and '-'")
    return ReplayRequest(
        dataset=dataset,
        ledger=ledger,
        thresholds=parse_thresholds(thresholds),
        stt=stt or None,
        config=tables,
        both_tiers=both_tiers,
        paced=paced,
        run_prefix=prefix,
    )


def run_ids(request: ReplayRequest, name: str) -> list[tuple[str, float | None]]:
    """Each step's run id and threshold: ``PREFIX-t0.30`` per threshold (PREFIX: dataset, time)."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    prefix = request.run_prefix or f"{name}-{stamp}"
    if not request.thresholds:
        return [(prefix, None)]
    return [(f"{prefix}-t{t:.2f}", t) for t in request.thresholds]


def dataset_name(dataset: Path) -> str:
    """The manifest's ``name`` (else the folder's), without loading the dataset."""
    import tomllib

    manifest = dataset / "manifest.toml" if dataset.is_dir() else dataset
    try:
        name = tomllib.loads(manifest.read_text(encoding="utf-8")).get("name")
    except (OSError, ValueError):
        name = None
    return name if isinstance(name, str) and name else dataset.stem


def replay_argv(
    *,
    python: str,
    dataset: str,
    ledger: str,
    run_id: str,
    progress_file: str,
    config_file: str,
    threshold: float | None = None,
    both_tiers: bool = False,
    paced: float | None = None,
) -> tuple[str, ...]:
    """The replay command line a step runs (its configuration in ``config_file``)."""
    argv = [python, "-m", "assistant", "replay", dataset, "--ledger", ledger]
    argv += ["--run-id", run_id, "--progress-file", progress_file, "--quiet"]
    argv += ["--config", config_file]
    if threshold is not None:
        argv += ["--threshold", repr(threshold)]
    if both_tiers:
        argv.append("--both-tiers")
    if paced is not None:
        argv += ["--paced", repr(paced)]
    return tuple(argv)
