"""Configurations the tests replay with."""

from __future__ import annotations

import dataclasses

from assistant.core.config import Config


def recorded_config(threshold: float = 0.5, *, cascade: bool = False) -> Config:
    """The defaults at ``threshold``, with the ground-truth transcript (``recorded:``): fast.
    Each question is answered by the tier the threshold routes it to: the cascade (on by
    default, ``[routing] cascade``) is off unless asked for (tests/test_cascade.py)."""
    config = Config().with_threshold(threshold)
    return dataclasses.replace(
        config,
        stt=dataclasses.replace(config.stt, provider="recorded:"),
        routing=dataclasses.replace(config.routing, cascade=cascade),
    )
