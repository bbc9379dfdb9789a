"""Configurations the tests replay with."""

from __future__ import annotations

import dataclasses

from assistant.core.config import Config


def recorded_config(threshold: float = 0.5) -> Config:
    """The defaults at ``threshold``, with the ground-truth transcript (``recorded:``): fast."""
    config = Config().with_threshold(threshold)
    return dataclasses.replace(config, stt=dataclasses.replace(config.stt, provider="recorded:"))
