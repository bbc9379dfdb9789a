"""The cascade: a request answered on the cheap tier is asked again on the premium tier when
the cheap answer is weak.

Routing decides before anything is read; the cascade judges after, from what the cheap tier
produced. An answer that declines (an abstention), or whose answerer reports a confidence below
:attr:`Cascade.floor`, is escalated: the premium LLM answers again, and that answer is kept. The
screen is read again with the premium vision model only when the cheap reading holds less than
:attr:`Cascade.reread_below` of the question's words (:func:`screen_holds`): then the reading,
not the answerer, is the likelier miss; otherwise the premium answerer reads the cheap reading
(a screen reading is most of a request's cost, the offline answer almost none of it). Both
tiers' calls are logged and priced, so the extra cost shows beside the quality. An answerer
that reports no confidence (cloud models) is escalated only when it declines.
"""

from __future__ import annotations

from dataclasses import dataclass

from assistant.core.text import content_terms

CASCADE_REASON = "cascade"
"""The ``route_reason`` of a request the cascade escalated."""


@dataclass(frozen=True, slots=True)
class Cascade:
    """Escalate a cheap answer whose confidence is below ``floor`` (in [0, 1]), or that
    declines."""

    floor: float
    reread_below: float = 0.5

    def __post_init__(self) -> None:
        for name in ("floor", "reread_below"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"cascade {name} {value} is outside [0, 1]")

    def escalates(self, *, declined: bool, confidence: float | None) -> bool:
        """Should the premium tier answer again? Yes when the cheap answer declines, or when
        its answerer's confidence is known and below the floor."""
        if declined:
            return True
        return confidence is not None and confidence < self.floor

    def rereads(self, question: str, screen_text: str) -> bool:
        """Should an escalated request read the screen again (premium vision)? Yes when the
        cheap reading holds less than :attr:`reread_below` of the question's words."""
        return screen_holds(question, screen_text) < self.reread_below


# words that point at the screen rather than name what is on it ("according to the slide")
_POINTING = frozenset(content_terms("according slide shown screen see display page"))


def screen_holds(question: str, screen_text: str) -> float:
    """The share of the question's content words (those pointing at the screen left out) that
    the screen's reading spells out; 1.0 for a question with none."""
    asked = set(content_terms(question)) - _POINTING
    if not asked:
        return 1.0
    return len(asked & set(content_terms(screen_text))) / len(asked)
