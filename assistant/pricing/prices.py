"""The one place that turns usage into dollars.

Local providers (offline OCR, whisper, the extractive answerer, BM25) are priced by the CPU
seconds they were measured to use (not wall time, so machine load does not change a price; see
``assistant.providers.base.cpu_clock``), at ``pricing.local_usd_per_hour``. Cloud models are priced from
``genai-prices`` (maintained price data with dates, no network), unless the config overrides them;
speech-to-text is priced per audio minute from the overrides. A model with no known price is an error
that says how to add one, never a silent zero.
"""

from __future__ import annotations

from decimal import Decimal

from assistant.core.config import PricingConfig
from assistant.core.errors import ConfigError
from assistant.core.events import Usage

FREE_PROVIDERS = frozenset({"recorded"})  # ground-truth replays cost nothing
LOCAL_PROVIDERS = frozenset({"local", "ocr", "whisper", "bm25"})
# Published list prices per audio minute for speech-to-text (genai-prices covers LLMs only).
STT_USD_PER_MINUTE = {"deepgram:nova-3": 0.0043, "deepgram:nova-2": 0.0043}


class Pricer:
    def __init__(self, config: PricingConfig | None = None) -> None:
        self.config = config or PricingConfig()

    def cost_usd(self, *, provider: str, model: str, usage: Usage, local: bool = False) -> float:
        if provider in FREE_PROVIDERS:
            return 0.0
        spec = f"{provider}:{model}"
        override = self.config.overrides.get(spec)
        if override is not None:
            return _from_rates(override, usage, spec)
        if local or provider in LOCAL_PROVIDERS:
            return usage.compute_s * self.config.local_usd_per_hour / 3600.0
        if spec in STT_USD_PER_MINUTE:
            return usage.audio_s / 60.0 * STT_USD_PER_MINUTE[spec]
        return _genai_price(provider, model, usage)

    def check(self, *, provider: str, model: str, local: bool = False) -> None:
        """Raise ``ConfigError`` now, before a run, if this model has no known price."""
        self.cost_usd(provider=provider, model=model, usage=Usage(), local=local)


def _from_rates(rates: dict[str, float], usage: Usage, spec: str) -> float:
    known = {
        "usd_per_audio_minute",
        "input_usd_per_mtok",
        "output_usd_per_mtok",
        "usd_per_image",
        "usd_per_hour",
    }
    unknown = set(rates) - known
    if unknown:
        raise ConfigError(
            f"pricing.overrides.{spec!r}: unknown rate {sorted(unknown)[0]!r}; "
            f"known: {', '.join(sorted(known))}"
        )
    return (
        usage.audio_s / 60.0 * rates.get("usd_per_audio_minute", 0.0)
        + usage.input_tokens / 1e6 * rates.get("input_usd_per_mtok", 0.0)
        + usage.output_tokens / 1e6 * rates.get("output_usd_per_mtok", 0.0)
        + usage.image_count * rates.get("usd_per_image", 0.0)
        + usage.compute_s / 3600.0 * rates.get("usd_per_hour", 0.0)
    )


def _genai_price(provider: str, model: str, usage: Usage) -> float:
    from genai_prices import Usage as PriceUsage
    from genai_prices import calc_price

    try:
        price = calc_price(
            PriceUsage(input_tokens=usage.input_tokens, output_tokens=usage.output_tokens),
            model_ref=model,
            provider_id=provider,
        )
    except LookupError as exc:
        raise ConfigError(
            f"no price known for {provider}:{model}; add it to your config under "
            f'[pricing.overrides."{provider}:{model}"] with input_usd_per_mtok and output_usd_per_mtok'
        ) from exc
    return float(Decimal(price.total_price))
