"""Run configuration: frozen dataclasses with offline defaults, loaded from TOML, hashed for the ledger.

Provider choices are ``"provider:model"`` strings (``"ocr:low"``, ``"local:extractive-3"``), so a later
provider is a new registry entry and a config line, not a code change. No I/O at import.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from assistant.core.errors import ConfigError


@dataclass(frozen=True, slots=True)
class SamplingConfig:
    policy: str = "fixed"  # fixed | voice_activity | change
    keep_last: int = 10
    # fixed
    fps: float = 1.0
    # voice_activity (LiveKit Agents' defaults)
    speaking_fps: float = 1.0
    silent_fps: float = 0.3
    # change
    pixel_delta: int = 48  # grey levels a thumbnail pixel must move to count as changed
    change_share: float = 0.0002  # share of (unmasked) thumbnail pixels that makes a change
    settle_s: float = 0.3  # the screen must hold still this long before a change is kept
    max_wait_s: float = 1.0  # keep anyway when it never settles (continuous scrolling)
    keepalive_s: float = 30.0  # keep a frame at least this often, changed or not
    animated_share: float = 0.1  # localized motion below this share of the screen is masked


@dataclass(frozen=True, slots=True)
class SttConfig:
    provider: str = "whisper:tiny.en"
    language: str = "en"
    vad_threshold_dbfs: float = -45.0  # 30 ms frames louder than this count as speech
    vad_hangover_s: float = 0.6  # silence that closes an utterance
    max_utterance_s: float = 20.0
    # replays transcribe on a worker thread while the media is decoded; each question waits for
    # every segment closed before it, so transcripts, answers and rows are a sequential run's
    background: bool = False


@dataclass(frozen=True, slots=True)
class RoutingConfig:
    scorer: str = "heuristic"
    router: str = "threshold"
    threshold: float = 0.3
    seed: int = 0
    explore_share: float = 0.0  # share of requests routed to a random tier (propensity logged)
    # the vision decision (questions that need the screen): unset, it is the LLM decision itself
    # (same score, threshold, tier and draw), so a one-decision config routes as it always did
    vision_scorer: str | None = None  # a scorer of its own (default: the LLM's scorer)
    vision_threshold: float | None = None  # premium vision when the vision score >= this
    # a trained scorer's weights file (learned, text); unset: $WORKBENCH_LEARNED_WEIGHTS /
    # $WORKBENCH_TEXT_WEIGHTS. Passed to the scorer's factory in routing.registry.
    scorer_weights: str | None = None
    vision_scorer_weights: str | None = None  # the same for vision_scorer
    # a budget in USD per media hour: once a session's running cost per media hour is over it,
    # both decisions route cheap (route_reason "budget"); 0 = none. Per tenant: the table
    # [routing.tenant_budget_usd_per_hour] (tenant = USD) overrides it for those tenants.
    budget_usd_per_hour: float = 0.0
    tenant_budget_usd_per_hour: dict[str, float] = field(default_factory=dict)
    budget_warmup_s: float = 60.0  # the running rate is judged over at least this much media
    # the cascade (assistant.routing.cascade): a request answered cheap whose answer declines or
    # whose answerer's confidence is below cascade_floor is answered again by the premium LLM,
    # the screen read again with premium vision first when the cheap reading holds less than
    # cascade_reread_below of the question's words; both tiers' calls are logged and priced.
    # Not with --both-tiers (its outcomes are the plain tiers).
    cascade: bool = True
    cascade_floor: float = 0.5
    cascade_reread_below: float = 0.5

    @property
    def split(self) -> bool:
        """The vision decision is its own (a threshold or a scorer of its own)."""
        return self.vision_threshold is not None or self.vision_scorer is not None

    def budget_for(self, tenant: str) -> float | None:
        """The tenant's budget in USD per media hour, None when it has none."""
        budget = self.tenant_budget_usd_per_hour.get(tenant, self.budget_usd_per_hour)
        return float(budget) if budget > 0 else None


@dataclass(frozen=True, slots=True)
class TierConfig:
    cheap: str
    premium: str


PREFETCH = ("off", "cheap", "premium", "both")
"""``[vision] prefetch``: the tiers that read each kept frame ahead of the questions."""


@dataclass(frozen=True, slots=True)
class VisionConfig(TierConfig):
    """The vision tiers, and whether kept frames are read ahead of the questions
    (``prefetch = "cheap"``: in the background, at the cheap tier; see docs/prefetch.md)."""

    prefetch: str = "off"

    @property
    def prefetch_tiers(self) -> tuple[str, ...]:
        """The tiers ``prefetch`` names (none for ``off``)."""
        if self.prefetch == "both":
            return ("cheap", "premium")
        return () if self.prefetch == "off" else (self.prefetch,)


def _vision_tiers() -> VisionConfig:
    return VisionConfig(cheap="ocr:low", premium="ocr:full")


def _llm_tiers() -> TierConfig:
    return TierConfig(cheap="local:extractive-1", premium="local:extractive-3")


@dataclass(frozen=True, slots=True)
class RetrievalConfig:
    top_k: int = 4
    chunk_words: int = 90


@dataclass(frozen=True, slots=True)
class CallsConfig:
    """How every provider call is bounded: one policy for all vendors (see ``providers``)."""

    timeout_s: float = 30.0  # per attempt of a remote call
    max_attempts: int = 3  # attempts of one call, the first included
    base_delay_s: float = 0.5  # backoff after the first failed attempt, doubled after each
    max_delay_s: float = 8.0  # longest wait; a longer Retry-After fails the call at once
    # the call cache across runs (assistant/providers/cache.py): unset, local providers' results
    # are looked up before they are made; true, cloud providers' too (only when you say so: a
    # vendor's answer may change, and its terms may not allow keeping it); false, none (--no-cache)
    cache: bool | None = None


@dataclass(frozen=True, slots=True)
class PricingConfig:
    local_usd_per_hour: float = 0.10  # price of one local compute-second x 3600 (a 2-vCPU cloud VM)
    # "provider:model" -> {"usd_per_audio_minute": x} or {"input_usd_per_mtok": x, "output_usd_per_mtok": y}
    overrides: dict[str, dict[str, float]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Config:
    sampling: SamplingConfig = field(default_factory=SamplingConfig)
    stt: SttConfig = field(default_factory=SttConfig)
    routing: RoutingConfig = field(default_factory=RoutingConfig)
    vision: VisionConfig = field(default_factory=_vision_tiers)
    llm: TierConfig = field(default_factory=_llm_tiers)
    retrieval: RetrievalConfig = field(default_factory=RetrievalConfig)
    calls: CallsConfig = field(default_factory=CallsConfig)
    pricing: PricingConfig = field(default_factory=PricingConfig)
    transcript_window_s: float = 180.0  # how much recent conversation a request sees

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))

    def to_toml(self) -> str:
        """This configuration as a TOML file that :func:`load_config` reads back equal."""
        return toml_text(self.to_dict())

    def digest(self) -> str:
        return hashlib.sha256(self.to_json().encode()).hexdigest()[:16]

    def with_threshold(self, threshold: float) -> Config:
        check_threshold(threshold)
        return dataclasses.replace(
            self, routing=dataclasses.replace(self.routing, threshold=threshold)
        )

    def with_routing(self, **changes: Any) -> Config:
        """A copy with routing settings changed (``vision_threshold``, ``budget_usd_per_hour``,
        ...), validated as a config file's would be."""
        config = dataclasses.replace(self, routing=dataclasses.replace(self.routing, **changes))
        _validate(config, "the chosen options")
        return config


def check_threshold(threshold: float) -> None:
    if not 0.0 <= threshold <= 1.0:
        raise ConfigError(
            f"threshold {threshold} is outside [0, 1]: scores are in [0, 1], so pick a value "
            "between 0 (everything premium) and 1 (almost everything cheap)"
        )


def _build(cls: type, data: Any, where: str, origin: str) -> Any:
    """Build dataclass ``cls`` from a TOML table, naming the first unknown or mistyped key."""
    if not isinstance(data, dict):
        raise ConfigError(f"{origin}: [{where}] must be a table, not {type(data).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        if key not in fields:
            known = ", ".join(sorted(fields))
            raise ConfigError(f"{origin}: unknown key '{where}.{key}'; known keys here: {known}")
        default = getattr(cls(), key)
        if default is None:  # an optional setting: its type from the annotation ("float | None")
            if value is None:  # unset, as a run's stored config (JSON) says it
                kwargs[key] = None
                continue
            default = _OPTIONAL_DEFAULTS[str(fields[key].type).split(" | ")[0]]
        if isinstance(default, bool):
            ok = isinstance(value, bool)
        elif isinstance(default, int | float):
            ok = isinstance(value, int | float) and not isinstance(value, bool)
            ok = ok and (isinstance(default, float) or isinstance(value, int))
        else:
            ok = isinstance(value, type(default))
        if not ok:
            raise ConfigError(
                f"{origin}: '{where}.{key}' must be {type(default).__name__}, got {value!r}"
            )
        what = f"{origin}: '{where}.{key}'"
        if isinstance(default, float):
            value = _number(value, what)
        elif isinstance(value, int) and not isinstance(value, bool) and value not in _INT64:
            raise ConfigError(f"{what} is out of range, got {value!r}")
        kwargs[key] = value
    return cls(**kwargs)


_INT64 = range(-(2**63), 2**63)  # what TOML integers can hold
_OPTIONAL_DEFAULTS: dict[str, Any] = {"float": 0.0, "int": 0, "str": "", "bool": False}


def _number(value: int | float, what: str) -> float:
    """``value`` as a finite float: NaN and infinity compare false with every bound, so they would
    slip through range checks (and make the config's JSON invalid)."""
    try:
        number = float(value)
    except OverflowError:
        number = math.inf
    if not math.isfinite(number):
        raise ConfigError(f"{what} must be a finite number, got {value!r}")
    return number


def _tiers(data: Any, where: str, base: TierConfig) -> TierConfig:
    if not isinstance(data, dict):
        raise ConfigError(f"{where} must be a table with 'cheap' and 'premium'")
    known = [f.name for f in dataclasses.fields(base)]
    unknown = set(data) - set(known)
    if unknown:
        raise ConfigError(
            f"unknown key '{where}.{sorted(unknown)[0]}'; known: {', '.join(known)}"
        )
    for key, value in data.items():
        if key == "prefetch":
            if value not in PREFETCH:
                raise ConfigError(
                    f"'{where}.prefetch' must be one of {', '.join(map(repr, PREFETCH))}, "
                    f"got {value!r}"
                )
            continue
        if not isinstance(value, str) or ":" not in value:
            raise ConfigError(f"'{where}.{key}' must be a \"provider:model\" string, got {value!r}")
    return dataclasses.replace(base, **data)


def config_from_dict(data: dict[str, Any], *, where: str = "config") -> Config:
    base = Config()
    kwargs: dict[str, Any] = {}
    sections = {f.name: f for f in dataclasses.fields(Config)}
    for key, value in data.items():
        if key not in sections:
            raise ConfigError(
                f"{where}: unknown section '{key}'; known: {', '.join(sorted(sections))}"
            )
        current = getattr(base, key)
        if isinstance(current, TierConfig):
            kwargs[key] = _tiers(value, f"{where}: {key}", current)
        elif dataclasses.is_dataclass(current):
            kwargs[key] = _build(type(current), value, key, where)
        elif isinstance(value, int | float) and not isinstance(value, bool):
            kwargs[key] = _number(value, f"{where}: '{key}'")
        else:
            raise ConfigError(f"{where}: '{key}' must be a number, got {value!r}")
    config = dataclasses.replace(base, **kwargs)
    _validate(config, where)
    return config


def _validate(config: Config, where: str) -> None:
    routing = config.routing
    check_threshold(routing.threshold)
    if routing.vision_threshold is not None:
        check_threshold(routing.vision_threshold)
    if not 0.0 <= routing.explore_share <= 1.0:
        raise ConfigError(f"{where}: routing.explore_share must be in [0, 1]")
    for key in ("cascade_floor", "cascade_reread_below"):
        value = getattr(routing, key)
        if not 0.0 <= value <= 1.0:
            raise ConfigError(
                f"{where}: routing.{key} must be in [0, 1] (a share), got {value}; "
                "set routing.cascade = false to turn the cascade off"
            )
    if routing.vision_scorer == "":
        raise ConfigError(f"{where}: routing.vision_scorer is empty; name a scorer or leave it out")
    for key in ("scorer_weights", "vision_scorer_weights"):
        if getattr(routing, key) == "":
            raise ConfigError(
                f"{where}: routing.{key} is empty; name a weights file or leave it out"
            )
    budgets = {"budget_usd_per_hour": routing.budget_usd_per_hour}
    for tenant, usd in routing.tenant_budget_usd_per_hour.items():
        if isinstance(usd, bool) or not isinstance(usd, int | float):
            raise ConfigError(
                f"{where}: routing.tenant_budget_usd_per_hour.{tenant} must be a number of USD "
                f"per media hour, e.g. {tenant} = 0.5; got {usd!r}"
            )
        budgets[f"tenant_budget_usd_per_hour.{tenant}"] = float(usd)
    for key, usd in budgets.items():
        if not math.isfinite(usd) or usd < 0:
            raise ConfigError(f"{where}: routing.{key} must be >= 0 USD per hour (0: no budget)")
    if routing.budget_warmup_s < 0:
        raise ConfigError(f"{where}: routing.budget_warmup_s must be >= 0")
    sampling = config.sampling
    for key in ("fps", "speaking_fps", "silent_fps", "keepalive_s", "max_wait_s"):
        if getattr(sampling, key) <= 0:
            raise ConfigError(f"{where}: sampling.{key} must be > 0, got {getattr(sampling, key)}")
    if not 0 < sampling.change_share < 1 or not 0 < sampling.animated_share <= 1:
        raise ConfigError(f"{where}: sampling.change_share and animated_share must be in (0, 1]")
    if not 0 < sampling.pixel_delta < 255 or sampling.settle_s < 0:
        raise ConfigError(f"{where}: sampling.pixel_delta must be in 1..254 and settle_s >= 0")
    if config.sampling.keep_last < 1:
        raise ConfigError(f"{where}: sampling.keep_last must be >= 1")
    if config.retrieval.top_k < 1 or config.retrieval.chunk_words < 10:
        raise ConfigError(f"{where}: retrieval.top_k must be >= 1 and chunk_words >= 10")
    calls = config.calls
    if calls.timeout_s <= 0 or calls.max_attempts < 1:
        raise ConfigError(f"{where}: calls.timeout_s must be > 0 and calls.max_attempts >= 1")
    if not 0 <= calls.base_delay_s <= calls.max_delay_s:
        raise ConfigError(f"{where}: calls.base_delay_s must be in [0, calls.max_delay_s]")
    for spec, rates in config.pricing.overrides.items():
        if not isinstance(rates, dict) or not all(
            isinstance(v, int | float) and not isinstance(v, bool) and 0 <= v < 1e12
            for v in rates.values()
        ):
            raise ConfigError(
                f"{where}: pricing.overrides.{spec!r} must be a table of non-negative numbers, "
                f"e.g. input_usd_per_mtok = 0.15"
            )
    if config.pricing.local_usd_per_hour < 0:
        raise ConfigError(f"{where}: pricing.local_usd_per_hour must be >= 0")
    if config.transcript_window_s < 0:
        raise ConfigError(f"{where}: transcript_window_s must be >= 0")
    if config.vision.prefetch not in PREFETCH:
        raise ConfigError(
            f"{where}: vision.prefetch must be one of {', '.join(map(repr, PREFETCH))}, "
            f"got {config.vision.prefetch!r}"
        )


PRESETS_DIR = Path(__file__).resolve().parents[1] / "presets"
"""Shipped configurations, named by file stem: ``--config seed`` reads ``presets/seed.toml``."""


def presets() -> list[str]:
    return sorted(p.stem for p in PRESETS_DIR.glob("*.toml"))


def load_config(path: str | Path | None) -> Config:
    """The defaults, overlaid with a TOML file (or a shipped preset's name) when one is given."""
    if path is None:
        return Config()
    file = Path(path)
    if not file.is_file() and str(path) in presets():
        file = PRESETS_DIR / f"{path}.toml"
    if not file.is_file():
        raise ConfigError(
            f"config file {file} does not exist; pass an existing TOML file or a preset "
            f"({', '.join(presets())})"
        )
    try:
        data = tomllib.loads(file.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError, RecursionError) as exc:
        raise ConfigError(f"{file}: not valid TOML ({exc}); fix the file and retry") from exc
    except OSError as exc:
        raise ConfigError(f"{file}: cannot be read ({exc.strerror or exc})") from exc
    return config_from_dict(data, where=str(file))


def config_from_options(
    config_file: str | Path | None = None,
    *,
    tables: Mapping[str, Mapping[str, Any]] | None = None,
    threshold: float | None = None,
    stt: str | None = None,
    where: str = "the chosen options",
    vision_threshold: float | None = None,
    budget_usd_per_hour: float | None = None,
    no_cache: bool = False,
) -> Config:
    """The configuration a command runs with, validated: the defaults, overlaid with a TOML file
    (``--config``) or with ``tables`` (a page's choices, named ``where`` in errors), then the
    ``--threshold``, ``--vision-threshold``, ``--budget-usd-per-hour``, ``--stt`` and
    ``--no-cache`` (``calls.cache = false``) flags. ``stt`` without a model (``"recorded"``) gets an empty one.

    The one place where options become a :class:`Config`: the replay command, the agent's
    ``connect`` and the background jobs all call it."""
    if config_file is not None and tables:
        raise ValueError("give a config file or tables, not both")
    if tables:
        config = config_from_dict({k: dict(v) for k, v in tables.items() if v}, where=where)
    else:
        config = load_config(config_file)
    if threshold is not None:
        config = config.with_threshold(threshold)
    if vision_threshold is not None:
        config = config.with_routing(vision_threshold=vision_threshold)
    if budget_usd_per_hour is not None:
        config = config.with_routing(budget_usd_per_hour=budget_usd_per_hour)
    if no_cache:
        config = dataclasses.replace(config, calls=dataclasses.replace(config.calls, cache=False))
    if stt:
        spec = stt if ":" in stt else f"{stt}:"
        config = dataclasses.replace(config, stt=dataclasses.replace(config.stt, provider=spec))
    return config


def toml_text(tables: Mapping[str, Any]) -> str:
    """A TOML document of ``tables``: top-level numbers, strings and booleans first, then tables
    (nested ones as ``[a.b]``) of the same values. What :meth:`Config.to_toml` writes."""
    lines: list[str] = []
    _toml_table(lines, (), tables)
    return "\n".join(lines)


def _toml_table(lines: list[str], path: tuple[str, ...], values: Mapping[str, Any]) -> None:
    where = ".".join(path)
    # None is an unset optional setting: left out, it loads back as None
    scalars = [(k, v) for k, v in values.items() if not isinstance(v, Mapping) and v is not None]
    tables = [(k, v) for k, v in values.items() if isinstance(v, Mapping)]
    if path and scalars:
        lines.append(f"[{'.'.join(_toml_key(p) for p in path)}]")
    for key, value in scalars:
        lines.append(f"{_toml_key(key)} = {_toml_value(value, f'{where}.{key}' if where else key)}")
    if scalars:
        lines.append("")
    for key, table in tables:
        if table:
            _toml_table(lines, (*path, key), table)


_BARE_KEY = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-")


def _toml_key(key: str) -> str:
    return key if key and set(key) <= _BARE_KEY else _toml_string(key)


def _toml_value(value: Any, where: str) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return _toml_string(value)
    raise TypeError(f"{where}: cannot write {type(value).__name__} to TOML")


def _toml_string(text: str) -> str:
    # a JSON string is a TOML basic string, once DEL (which TOML wants escaped) is escaped too
    return json.dumps(text, ensure_ascii=False).replace("\x7f", "\\u007f")
