"""What a request would cost on cloud models: a named price scenario applied to the exact inputs
the cloud adapters would have sent for it.

A scenario names a ``provider:model`` per stage and tier (``scenarios.toml``: ``seed``,
``budget``; a file of the same tables adds or replaces scenarios). A request's inputs are what the
pipeline captured (``ledger.records.RequestInputRecord``): the answerer's system prompt and user
message as the shared prompt builder wrote them, the vision prompt and the frame's size as sent,
the screen text and the answer. Input tokens come from :mod:`.tokens` (exact with tiktoken for
OpenAI, else a marked estimate); output tokens from the text the offline tier produced (the
answer, the screen text), or a scenario's typical lengths when it sets them. Prices come from
:class:`~assistant.pricing.prices.Pricer` (genai-prices, overrides; speech per audio minute).
Nothing here is a measured cost; the projection table keeps them apart.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from assistant.core.errors import ConfigError
from assistant.core.events import Usage
from assistant.pricing import tokens as tok
from assistant.pricing.prices import STT_USD_PER_MINUTE, Pricer

SCENARIOS_FILE = Path(__file__).with_name("scenarios.toml")
DEFAULT_SCENARIOS: tuple[str, ...] = ("seed", "budget")
"""The scenarios every replay projects as it records (``project`` adds others later)."""
STAGES = ("vision", "llm")
_KEYS = {"title", "stt", "vision", "llm", "answer_output_tokens", "vision_output_tokens"}


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    title: str
    stt: str  # provider:model, priced per audio minute
    vision: dict[str, str]  # tier -> provider:model
    llm: dict[str, str]
    answer_output_tokens: int | None = None  # typical answer length instead of the measured one
    vision_output_tokens: int | None = None  # typical screen description length

    def model(self, stage: str, tier: str) -> str:
        return (self.vision if stage == "vision" else self.llm)[tier]


def _split(spec: str, where: str) -> tuple[str, str]:
    provider, sep, model = spec.partition(":")
    if not sep or not provider or not model:
        raise ConfigError(f'{where}: {spec!r} must be a "provider:model" string')
    return provider, model


def _scenario(name: str, data: Any, where: str) -> Scenario:
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: [{name}] must be a table")
    unknown = set(data) - _KEYS
    if unknown:
        raise ConfigError(
            f"{where}: unknown key '{name}.{sorted(unknown)[0]}'; known: {', '.join(sorted(_KEYS))}"
        )
    tiers: dict[str, dict[str, str]] = {}
    for stage in STAGES:
        table = data.get(stage)
        if not isinstance(table, dict) or set(table) != {"cheap", "premium"}:
            raise ConfigError(f"{where}: '{name}.{stage}' must be {{ cheap = ..., premium = ... }}")
        tiers[stage] = {tier: str(spec) for tier, spec in table.items()}
    stt = data.get("stt")
    if not isinstance(stt, str):
        raise ConfigError(f"{where}: '{name}.stt' must be a \"provider:model\" string")
    lengths = {k: data.get(k) for k in ("answer_output_tokens", "vision_output_tokens")}
    for key, value in lengths.items():
        if value is not None and (not isinstance(value, int) or value < 0):
            raise ConfigError(f"{where}: '{name}.{key}' must be a whole number >= 0")
    return Scenario(
        name=name,
        title=str(data.get("title", name)),
        stt=stt,
        vision=tiers["vision"],
        llm=tiers["llm"],
        answer_output_tokens=lengths["answer_output_tokens"],
        vision_output_tokens=lengths["vision_output_tokens"],
    )


def load_scenarios(path: str | Path | None = None) -> dict[str, Scenario]:
    """The shipped scenarios, with ``path``'s (a TOML file of the same tables) added over them."""
    out: dict[str, Scenario] = {}
    for file in [SCENARIOS_FILE] + ([Path(path)] if path else []):
        if not file.is_file():
            raise ConfigError(f"scenario file {file} does not exist; pass an existing TOML file")
        try:
            data = tomllib.loads(file.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{file}: not valid TOML ({exc}); fix the file and retry") from exc
        for name, table in data.items():
            out[name] = _scenario(name, table, str(file))
    return out


def pick_scenarios(
    names: list[str] | tuple[str, ...], path: str | Path | None = None
) -> list[Scenario]:
    known = load_scenarios(path)
    missing = [n for n in names if n not in known]
    if missing:
        raise ConfigError(
            f"no price scenario named {missing[0]!r}; known: {', '.join(sorted(known))} "
            "(add your own with --scenarios FILE)"
        )
    return [known[n] for n in names]


def check_scenario(scenario: Scenario, pricer: Pricer) -> None:
    """ConfigError now, naming the model, if one of the scenario's models has no price or (vision)
    no image-token rule."""
    for stage in STAGES:
        for tier in ("cheap", "premium"):
            spec = scenario.model(stage, tier)
            where = f"scenario {scenario.name}: {stage}.{tier}"
            provider, model = _split(spec, where)
            try:
                pricer.check(provider=provider, model=model)
                if stage == "vision":
                    tok.image_tokens(1280, 720, provider=provider, model=model)
            except ConfigError as exc:
                raise ConfigError(f"{where}: {exc}") from exc
    provider, model = _split(scenario.stt, f"scenario {scenario.name}: stt")
    spec = f"{provider}:{model}"
    if spec not in STT_USD_PER_MINUTE and spec not in pricer.config.overrides:
        raise ConfigError(
            f"scenario {scenario.name}: no per-minute price for {spec}; known: "
            f"{', '.join(sorted(STT_USD_PER_MINUTE))} (or add pricing.overrides)"
        )


@dataclass(frozen=True, slots=True)
class TierInputs:
    """What one tier's cloud adapters would have been sent for one request (``None``: the stage
    made no call: no screen needed, the frame read before, or no answer)."""

    tier: str
    answer_messages: tuple[str, ...] | None  # (system prompt, user message)
    answer_text: str | None
    vision_prompt: str | None  # set when a vision call was made
    frame_width: int | None
    frame_height: int | None
    screen_text: str | None
    vision_tier: str | None = None  # the tier that read the screen, when not ``tier`` (two decisions)


@dataclass(frozen=True, slots=True)
class ProjectedCall:
    stage: str  # vision / llm / stt
    tier: str | None
    model: str  # provider:model
    token_method: str  # how input tokens were counted ("tiktoken:o200k_base", "estimate:chars/4")
    output_method: str  # "measured" (the offline tier's text), "typical" (the scenario's length)
    input_tokens: int  # text and image tokens
    image_tokens: int
    output_tokens: int
    audio_s: float
    cost_usd: float


def project_tier(inputs: TierInputs, scenario: Scenario, pricer: Pricer) -> list[ProjectedCall]:
    """The vision and answer calls of one tier of one request, on the scenario's models."""
    out: list[ProjectedCall] = []
    if inputs.vision_prompt is not None and inputs.frame_width and inputs.frame_height:
        vision_tier = inputs.vision_tier or inputs.tier
        provider, model = _split(scenario.model("vision", vision_tier), scenario.name)
        text = tok.count_messages([inputs.vision_prompt], provider=provider, model=model)
        image = tok.image_tokens(
            inputs.frame_width, inputs.frame_height, provider=provider, model=model
        )
        typical = scenario.vision_output_tokens
        output = (
            typical
            if typical is not None
            else tok.count_text(inputs.screen_text or "", provider=provider, model=model).tokens
        )
        out.append(
            _priced(
                "vision",
                vision_tier,
                provider,
                model,
                text.method,
                typical,
                text.tokens + image,
                image,
                output,
                pricer,
            )
        )
    if inputs.answer_messages is not None:
        provider, model = _split(scenario.model("llm", inputs.tier), scenario.name)
        text = tok.count_messages(list(inputs.answer_messages), provider=provider, model=model)
        typical = scenario.answer_output_tokens
        output = (
            typical
            if typical is not None
            else tok.count_text(inputs.answer_text or "", provider=provider, model=model).tokens
        )
        out.append(
            _priced(
                "llm",
                inputs.tier,
                provider,
                model,
                text.method,
                typical,
                text.tokens,
                0,
                output,
                pricer,
            )
        )
    return out


def _priced(
    stage: str,
    tier: str,
    provider: str,
    model: str,
    method: str,
    typical: int | None,
    input_tokens: int,
    image: int,
    output: int,
    pricer: Pricer,
) -> ProjectedCall:
    usage = Usage(input_tokens=input_tokens, output_tokens=output, image_count=1 if image else 0)
    return ProjectedCall(
        stage=stage,
        tier=tier,
        model=f"{provider}:{model}",
        token_method=method,
        output_method="measured" if typical is None else "typical",
        input_tokens=input_tokens,
        image_tokens=image,
        output_tokens=output,
        audio_s=0.0,
        cost_usd=pricer.cost_usd(provider=provider, model=model, usage=usage),
    )


def project_stt(audio_s: float, scenario: Scenario, pricer: Pricer) -> ProjectedCall:
    """One transcription call's billed audio on the scenario's speech model (per minute)."""
    provider, model = _split(scenario.stt, scenario.name)
    usage = Usage(audio_s=audio_s)
    return ProjectedCall(
        stage="stt",
        tier=None,
        model=f"{provider}:{model}",
        token_method="audio:per-minute",
        output_method="measured",
        input_tokens=0,
        image_tokens=0,
        output_tokens=0,
        audio_s=audio_s,
        cost_usd=pricer.cost_usd(provider=provider, model=model, usage=usage),
    )
