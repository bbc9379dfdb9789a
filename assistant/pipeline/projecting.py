"""The cost projection's side of the recorder: each tier's cloud-adapter inputs as a record, and
their projected cost under the price scenarios a run projects as it records.

The inputs are made by the same prompt builder the cloud answerers use
(``providers.llm.prompts``: ``SYSTEM_PROMPT``, ``user_message``) and the cloud vision adapters'
prompt and frame size (``providers.vision.cloud``: ``VISION_PROMPT``, ``sent_size``), so a
projection counts what would have been sent. Measured costs are never touched here.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

from assistant.core.errors import ConfigError
from assistant.core.events import Passage
from assistant.core.screen import layout_of
from assistant.ledger.records import ProjectionRecord, RequestInputRecord
from assistant.pipeline.results import TierRun
from assistant.pricing.prices import Pricer
from assistant.pricing.projection import (
    DEFAULT_SCENARIOS,
    ProjectedCall,
    Scenario,
    TierInputs,
    check_scenario,
    pick_scenarios,
    project_stt,
    project_tier,
)
from assistant.pricing.tokens import encoding_name, preload
from assistant.providers.llm.prompts import SYSTEM_PROMPT, user_message
from assistant.providers.vision.cloud import VISION_PROMPT, sent_size


def input_record(run_id: str, request_id: str, run: TierRun, *, routed: bool) -> RequestInputRecord:
    """What ``run``'s tier would have sent to cloud adapters for this request."""
    answered = run.request is not None and run.answer is not None
    frame = sent_size(*run.frame_size) if run.frame_size else None
    screen = run.request.screen if run.request is not None else ()
    return RequestInputRecord(
        run_id=run_id,
        request_id=request_id,
        tier=run.tier,
        routed=routed,
        system_prompt=SYSTEM_PROMPT if answered else None,
        user_message=user_message(run.request) if run.request is not None and answered else None,
        answer=run.answer.text if run.answer is not None else None,
        vision_prompt=VISION_PROMPT if frame else None,
        frame_width=frame[0] if frame else None,
        frame_height=frame[1] if frame else None,
        screen_text="\n".join(p.text for p in screen) if frame else None,
        vision_tier=run.vision_tier,
        screen_layout_json=_layout_json(screen) if frame else None,
    )


def _layout_json(screen: Sequence[Passage]) -> str | None:
    """The structured reading (with positions) of the screen passage, in its JSON form; None
    when the reading has no positions (a cloud model's text)."""
    layouts = [layout for p in screen if (layout := layout_of(p.text)) is not None]
    return layouts[0].to_json() if len(layouts) == 1 else None


def tier_inputs(record: RequestInputRecord) -> TierInputs:
    return TierInputs(
        tier=record.tier,
        answer_messages=(record.system_prompt or "", record.user_message)
        if record.user_message is not None
        else None,
        answer_text=record.answer,
        vision_prompt=record.vision_prompt,
        frame_width=record.frame_width,
        frame_height=record.frame_height,
        screen_text=record.screen_text,
        vision_tier=record.vision_tier,
    )


class Projector:
    """Projects each recorded request (and transcription call) under ``scenarios``."""

    def __init__(self, scenarios: Sequence[Scenario], pricer: Pricer) -> None:
        for scenario in scenarios:
            check_scenario(scenario, pricer)
        self.scenarios = tuple(scenarios)
        self.pricer = pricer

    def preload(self) -> threading.Thread | None:
        """Load the scenarios' tokenizers in the background (once per process), so that the
        first request's projection does not wait about a second for them."""
        names = set()
        for scenario in self.scenarios:
            for spec in [*scenario.llm.values(), *scenario.vision.values()]:
                provider, _, model = spec.partition(":")
                name = encoding_name(provider, model)
                if name is not None:
                    names.add(name)
        return preload(names)

    @classmethod
    def default(cls, pricer: Pricer) -> Projector | None:
        """The shipped default scenarios; None (no projection) if the run's pricing cannot price
        them, so a run is never refused for its projection."""
        try:
            return cls(pick_scenarios(DEFAULT_SCENARIOS), pricer)
        except ConfigError:
            return None

    def request(self, record: RequestInputRecord, *, media_t_s: float) -> list[ProjectionRecord]:
        inputs = tier_inputs(record)
        out = []
        for scenario in self.scenarios:
            for call in project_tier(inputs, scenario, self.pricer):
                out.append(
                    _row(record.run_id, record.request_id, scenario, call, record.routed, media_t_s)
                )
        return out

    def transcription(
        self, run_id: str, audio_s: float, *, media_t_s: float
    ) -> list[ProjectionRecord]:
        return [
            _row(run_id, None, s, project_stt(audio_s, s, self.pricer), True, media_t_s)
            for s in self.scenarios
        ]


def _row(
    run_id: str,
    request_id: str | None,
    scenario: Scenario,
    call: ProjectedCall,
    routed: bool,
    media_t_s: float,
) -> ProjectionRecord:
    return ProjectionRecord(
        run_id=run_id,
        request_id=request_id,
        scenario=scenario.name,
        stage=call.stage,
        tier=call.tier,
        routed=routed,
        media_t_s=media_t_s,
        model=call.model,
        token_method=call.token_method,
        output_method=call.output_method,
        input_tokens=call.input_tokens,
        image_tokens=call.image_tokens,
        output_tokens=call.output_tokens,
        audio_s=call.audio_s,
        cost_usd=call.cost_usd,
    )
