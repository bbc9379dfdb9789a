"""The cascade: a request answered on the cheap tier is asked again on the premium tier when
the cheap answer is weak.

Routing decides before anything is read; the cascade judges after, from what the cheap tier
produced: an answer that declines (an abstention), or whose answerer reports a confidence below
:attr:`Cascade.floor`, is escalated (the screen read again with the premium vision model, the
question answered again with the premium LLM, and that answer kept). Both tiers' calls are
logged and priced, so the extra cost shows beside the quality. An answerer that reports no
confidence (cloud models) is escalated only when it declines.
"""

from __future__ import annotations

from dataclasses import dataclass

CASCADE_REASON = "cascade"
"""The ``route_reason`` of a request the cascade escalated."""


@dataclass(frozen=True, slots=True)
class Cascade:
    """Escalate a cheap answer whose confidence is below ``floor`` (in [0, 1]), or that
    declines."""

    floor: float

    def __post_init__(self) -> None:
        if not 0.0 <= self.floor <= 1.0:
            raise ValueError(f"cascade floor {self.floor} is outside [0, 1]")

    def escalates(self, *, declined: bool, confidence: float | None) -> bool:
        """Should the premium tier answer again? Yes when the cheap answer declines, or when
        its answerer's confidence is known and below the floor."""
        if declined:
            return True
        return confidence is not None and confidence < self.floor
