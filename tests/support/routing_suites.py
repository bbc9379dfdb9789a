"""Small synthetic per-prompt suites (RouteLLM's CSV columns) for the routing-protocol tests.

Synthetic, not measured: each prompt is built from tokens whose meaning the test controls, so a
router that sees test items during training is caught by scoring far above random.
"""

from __future__ import annotations

import csv
import random
from collections.abc import Sequence
from pathlib import Path

COLUMNS = ("item_id", "suite", "turn", "prompt", "weak_score", "strong_score")


def write_suite(path: Path, rows: Sequence[tuple[str, int, str, float, float]], name: str) -> Path:
    """``rows``: (item_id, turn, prompt, weak, strong)."""
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(COLUMNS)
        for item_id, turn, prompt, weak, strong in rows:
            writer.writerow([item_id, name, turn, prompt, weak, strong])
    return path


def _token(rng: random.Random) -> str:
    return "".join(rng.choice("bcdfghjklmnpqrstvwxz") for _ in range(10))


def unique_token_rows(
    n: int, *, seed: int, prefix: str, turns: int = 1
) -> list[tuple[str, int, str, float, float]]:
    """``n`` conversations whose prompt is one unique nonsense token (shared by their ``turns``
    turns) and whose gain is a coin flip: only memorising a test item predicts it."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        token = _token(rng)
        helps = rng.random() < 0.5
        for turn in range(1, turns + 1):
            prompt = token if turn == 1 else f"{token}\n\n{token} again"
            rows.append((f"{prefix}-{i}-{turn}", turn, prompt, 0.0, 1.0 if helps else 0.0))
    return rows


def shared_signal_rows(
    n: int, *, seed: int, prefix: str
) -> list[tuple[str, int, str, float, float]]:
    """Prompts where the word ``theorem`` marks the strong model's wins in every suite (plus
    filler words unique to the suite): a router that learns anything transfers."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        helps = rng.random() < 0.5
        filler = " ".join(_token(rng) for _ in range(3))
        prompt = f"please {'prove this theorem' if helps else 'say hello'} {filler}"
        rows.append((f"{prefix}-{i}", 1, prompt, 0.0, 1.0 if helps else 0.0))
    return rows
