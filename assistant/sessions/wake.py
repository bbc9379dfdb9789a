"""Which utterances and chat messages are questions for the assistant, and what they ask.

A spoken question is addressed to the assistant when it *starts* with one of its names ("assistant",
or the agent's display name), optionally after a greeting: "Assistant, what is the launch date?",
"hey assistant what did Bob say", "OK Nova: summarise the slide". A name followed by a comma or a
colon, or after a greeting, always addresses it; a bare name running into the sentence ("Assistant
managers met on Monday") does only when the rest reads as a question (a question word first or a
question mark last), so a sentence that merely starts with the word is not taken for a question.

Chat messages are questions by default (the room chat is how one types to the assistant); with
``chat_needs_name`` they must be addressed like speech. A leading ``@name`` works in both.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

DEFAULT_NAMES = ("assistant",)
GREETINGS = ("hey", "hi", "hello", "ok", "okay", "so", "um", "uh")
_QUESTION_WORDS = re.compile(
    r"^(what|what's|whats|who|who's|whom|whose|when|where|why|how|which|is|are|was|were|do|"
    r"does|did|can|could|would|will|should|shall|may|might|has|have|had|tell|show|give|list|"
    r"summari[sz]e|explain|remind|read|find|please)\b",
    re.IGNORECASE,
)
# needs the screen: words that point at what is shown (the scorer's own screen feature is broader)
_SCREEN = re.compile(
    r"\b(screen|slide|slides|chart|graph|table|diagram|spreadsheet|sheet|cell|column|row|terminal|"
    r"window|shown|showing|displayed|on display|see|look|visible|this page|this slide|"
    r"on the left|on the right|up there|here)\b",
    re.IGNORECASE,
)


def needs_screen(question: str) -> bool:
    """Does the question point at the screen (so the latest kept frame should be read)?"""
    return bool(_SCREEN.search(question))


@dataclass(frozen=True, slots=True)
class WakePhrases:
    """The assistant's names, and whether chat messages must name it too."""

    names: tuple[str, ...] = DEFAULT_NAMES
    chat_needs_name: bool = False
    min_words: int = 2  # what is left after the name: "Assistant?" alone is not a question
    _pattern: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        names = [" ".join(n.split()) for n in self.names if n and n.strip()]
        if not names:
            raise ValueError("the assistant needs at least one name to be addressed by")
        alternatives = "|".join(
            r"\s+".join(re.escape(part) for part in name.split())
            for name in sorted(set(names), key=len, reverse=True)
        )
        greetings = "|".join(GREETINGS)
        pattern = re.compile(
            rf"^\W*(?P<greet>(?:(?:{greetings})\b[\s,]*)+)?@?(?P<name>{alternatives})\b"
            rf"(?P<sep>\s*[,:;.!?\-–—]+)?\s*(?P<rest>.*)$",
            re.IGNORECASE | re.DOTALL,
        )
        object.__setattr__(self, "_pattern", pattern)

    @classmethod
    def for_agent(cls, display_name: str | None, extra: Iterable[str] = ()) -> WakePhrases:
        """The default names plus the agent's display name and any ``extra`` ones."""
        names = [*DEFAULT_NAMES, *extra]
        if display_name:
            names.append(display_name)
        return cls(names=tuple(names))

    def addressed(self, text: str) -> str | None:
        """The question in ``text`` when it is addressed to the assistant, else None."""
        match = self._pattern.match(text.strip())
        if match is None:
            return None
        rest = match.group("rest").strip()
        if len(rest.split()) < self.min_words:
            return None
        explicit = (
            match.group("greet") is not None
            or match.group("sep") is not None
            or text.lstrip().startswith("@")
        )
        if not explicit and not (_QUESTION_WORDS.match(rest) or rest.endswith("?")):
            return None
        return rest[0].upper() + rest[1:]

    def chat_question(self, text: str) -> str | None:
        """The question in a chat message: addressed, or (unless ``chat_needs_name``) any text."""
        found = self.addressed(text)
        if found is not None:
            return found
        if self.chat_needs_name:
            return None
        rest = text.strip()
        return rest or None
