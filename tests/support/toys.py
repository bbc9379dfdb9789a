"""A toy scorer and a toy vendor, each added with one registry call, for the test that finds them
everywhere (tests/test_registries.py). Nothing else in the code base names them.

The toy scorer routes to premium when a question says "theorem"; the toy vendor ("toyvendor",
key ``TOYVENDOR_API_KEY``) answers and reads screens on this machine with no SDK and no network:
its adapters subclass the real cloud bases (``CloudClient`` with ``LLM``, ``CloudVision``), and
its image tokens follow Anthropic's published rule.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from assistant.core.events import KeptFrame, Usage
from assistant.providers.base import HookOutput
from assistant.providers.catalog import Vendor, register_vendor, unregister_vendor
from assistant.providers.cloud import CloudClient
from assistant.providers.errors import malformed
from assistant.providers.llm.base import LLM, AnswerRequest
from assistant.providers.llm.prompts import parse_answer
from assistant.providers.vision.cloud import CloudVision
from assistant.routing.registry import ScorerSpec, register_scorer, unregister_scorer
from assistant.routing.scorer import Score, ScoreContext, Scorer

SCORER = "toy"
VENDOR = "toyvendor"
KEY_ENV = "TOYVENDOR_API_KEY"


class ToyScorer(Scorer):
    name = SCORER

    def score(self, question: str, context: ScoreContext) -> Score:
        hit = "theorem" in question.lower()
        return Score(0.9 if hit else 0.1, {"theorem": 0.8 if hit else 0.0})


class _ToyClient(CloudClient):
    provider = VENDOR

    def _make_client(self) -> Any:
        return object()  # no SDK: the toy answers on its own

    def _map_error(self, exc: BaseException, *, streamed: bool = False) -> Any:
        return malformed(VENDOR, str(exc), provider=VENDOR, model=self.model)


class ToyLLM(_ToyClient, LLM):
    def _answer_impl(self, request: AnswerRequest) -> HookOutput[Any]:
        self._sdk_client()
        text = f"toy answer to: {request.question}"
        usage = Usage(input_tokens=len(request.question.split()), output_tokens=len(text.split()))
        return HookOutput(parse_answer(text, request.passages), usage, f"{self.model}-2026")


class ToyVision(_ToyClient, CloudVision):
    def _analyze_impl(self, frame: KeptFrame, question: str) -> HookOutput[str]:
        height, width = frame.rgb.shape[:2]
        return HookOutput(self._text(f"a {width}x{height} screen", "stop"), Usage(image_count=1))


TOY_SCORER = ScorerSpec(SCORER, ToyScorer, summary="premium when the question says theorem")
TOY_VENDOR = Vendor(
    VENDOR,
    "Toy Vendor",
    (KEY_ENV,),
    adapters={"llm": "support.toys:ToyLLM", "vision": "support.toys:ToyVision"},
    image_rule="anthropic",
)


@contextmanager
def installed() -> Iterator[None]:
    """The toy scorer and vendor registered (one call each), and taken away again after."""
    register_scorer(TOY_SCORER)
    register_vendor(TOY_VENDOR)
    try:
        yield
    finally:
        unregister_scorer(SCORER)
        unregister_vendor(VENDOR)
