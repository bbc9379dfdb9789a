"""Size limits on what a recorded session may hold, in one place.

Media is decoded as a stream, so a long recording costs time, not memory; what would be read whole
(JSONL files, knowledge documents) or what makes one decoded frame large is bounded here. Each limit
can be raised for one process with an environment variable; every refusal names the limit, its
value and that variable.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields

from assistant.core.errors import DatasetError

MB = 1_000_000


@dataclass(frozen=True, slots=True)
class Limits:
    max_jsonl_bytes: int = 64 * MB  # questions.jsonl and each truth/*.jsonl file: read whole
    max_document_bytes: int = 5 * MB  # one knowledge document
    max_knowledge_bytes: int = 100 * MB  # all the knowledge documents together
    max_video_pixels: int = 3840 * 2160  # width x height of one decoded frame
    max_video_side: int = 8192  # longest side of a frame, whatever its area

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Limits:
        """The defaults, each overridden by ``WORKBENCH_<NAME>`` when set (a whole number)."""
        env = os.environ if environ is None else environ
        values: dict[str, int] = {}
        for f in fields(cls):
            raw = env.get(env_var(f.name), "").strip()
            if not raw:
                continue
            try:
                value = int(raw.replace("_", ""))
            except ValueError:
                value = 0
            if value <= 0:
                raise DatasetError(
                    env_var(f.name),
                    f"{raw!r} is not a positive whole number",
                    "Set it to a number of bytes (or pixels), or unset it for the default",
                )
            values[f.name] = value
        return cls(**values)


def env_var(name: str) -> str:
    """The environment variable that overrides limit ``name``: ``WORKBENCH_MAX_JSONL_BYTES``."""
    return f"WORKBENCH_{name.upper()}"


def raise_hint(name: str, value: int) -> str:
    """How to raise limit ``name`` (currently ``value``), for an error message."""
    return f"the limit is {value:,} ({name}); raise it with {env_var(name)}=<number> if you must"
