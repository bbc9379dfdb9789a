"""What the commands share on the terminal: a progress bar over media seconds (not a command)."""

from __future__ import annotations

import sys
from typing import Any


def bar(total_s: float, desc: str, *, quiet: bool) -> Any:
    """A tqdm bar over media seconds, as a callable taking the current media time."""
    if quiet:
        return None
    from tqdm import tqdm

    shown = tqdm(
        total=round(total_s), unit="s media", desc=desc, file=sys.stderr, dynamic_ncols=True
    )

    def update(t_s: float) -> None:
        target = shown.total if t_s >= total_s else min(int(t_s), shown.total)
        if target > shown.n:
            shown.update(target - shown.n)

    update.bar = shown  # type: ignore[attr-defined]
    return update


def finish(progress: Any) -> None:
    """Bring a bar from :func:`bar` to 100 %: the work went through all of its media (the last
    frame or audio chunk comes before the media's end, so the ticks alone stop short)."""
    if progress is not None:
        progress(float("inf"))


def close(progress: Any) -> None:
    """Close a bar from :func:`bar` (None: nothing to close)."""
    if progress is not None:
        progress.bar.close()
