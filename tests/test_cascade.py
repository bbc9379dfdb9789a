"""The cascade: a cheap answer that declines or is not confident is answered again on the premium
tier (the screen read again), both tiers' calls logged and priced; the local answerer's
confidence it is judged by; the setting, validated in one line."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest
from support.configs import recorded_config
from support.pipelines import collecting_pipeline

from assistant.core.config import Config, config_from_dict
from assistant.core.errors import ConfigError
from assistant.core.events import Answer, KeptFrame, Passage, Usage
from assistant.ledger.records import CallRecord, RequestRecord
from assistant.pipeline.answers import AnswerCache
from assistant.pipeline.orchestrator import Pipeline
from assistant.pipeline.stages import make_stages
from assistant.pipeline.tiers import TierPair
from assistant.providers.base import HookOutput
from assistant.providers.llm.base import AnswerRequest
from assistant.providers.llm.local import NOT_FOUND, LocalExtractiveLLM
from assistant.providers.vision.base import VisionProvider
from assistant.routing import CASCADE_REASON, Cascade
from assistant.routing.cascade import screen_holds
from assistant.sessions.datasets import load_dataset
from assistant.sessions.sources.recorded import RecordedSource

READINGS = {
    # the cheap reading missed the line the question is about; the premium one has it
    "cheap": "Quarterly review\nThank you",
    "premium": "Quarterly review\nChurn rate fell to 2.1% this quarter",
}
PRICES = {"fake:cheap": {"usd_per_image": 0.01}, "fake:premium": {"usd_per_image": 0.03}}


class ScriptedVision(VisionProvider):
    provider = "fake"

    def __init__(self, *, model: str, readings: dict[str, str] | None = None) -> None:
        super().__init__(model=model)
        self.readings = READINGS if readings is None else readings

    def _analyze_impl(self, frame: KeptFrame, question: str) -> HookOutput[str]:
        return HookOutput(self.readings[self.model], Usage(image_count=1))


def _config(*, cascade: bool, floor: float = 0.5) -> Config:
    config = recorded_config(1.0, cascade=cascade)  # every question routed cheap
    return dataclasses.replace(
        config,
        routing=dataclasses.replace(config.routing, cascade_floor=floor),
        pricing=dataclasses.replace(config.pricing, overrides=PRICES),
    )


def _drive(tiny: Path, config: Config, readings: dict[str, str] | None = None) -> list[Any]:
    dataset = load_dataset(tiny)
    vision = TierPair(
        cheap=ScriptedVision(model="cheap", readings=readings),
        premium=ScriptedVision(model="premium", readings=readings),
    )
    stages = make_stages(config, dataset).with_(vision=vision)
    pipeline, records = collecting_pipeline(dataset, config, stages=stages)
    for event in RecordedSource(dataset).events():
        pipeline.handle(event)
        pipeline.settle()
    pipeline.finish()
    return records


def _request(records: list[Any], qid: str) -> RequestRecord:
    return next(r for r in records if isinstance(r, RequestRecord) and r.question_id == qid)


def _calls(records: list[Any], request_id: str, stage: str) -> list[CallRecord]:
    return [
        r for r in records
        if isinstance(r, CallRecord) and r.request_id == request_id and r.stage == stage
    ]


# -- the rule ---------------------------------------------------------------------------------
def test_the_cascade_escalates_declines_and_answers_below_its_floor() -> None:
    cascade = Cascade(0.5)
    assert cascade.escalates(declined=True, confidence=0.9)
    assert cascade.escalates(declined=False, confidence=0.2)
    assert not cascade.escalates(declined=False, confidence=0.5)
    # an answerer that gives no confidence (a cloud model) is escalated only when it declines
    assert not cascade.escalates(declined=False, confidence=None)
    with pytest.raises(ValueError, match="outside"):
        Cascade(1.5)


def test_the_screen_is_read_again_only_when_the_reading_misses_the_questions_words() -> None:
    cascade = Cascade(0.5)
    question = "What is the date of check on the certificate on screen?"
    # "on screen" points at the screen; of date, check, certificate the reading holds one
    assert screen_holds(question, "CODECHECK certificate 2020-016") == pytest.approx(1 / 3)
    assert cascade.rereads(question, "CODECHECK certificate 2020-016")
    assert not cascade.rereads(question, "Certificate 2020-016\nDate of check 2020-06-02")
    assert screen_holds("According to the slide?", "") == 1.0  # nothing asked of the screen


def test_the_cascade_setting_is_validated_in_one_line() -> None:
    assert config_from_dict({"routing": {"cascade": False}}).routing.cascade is False
    assert Config().routing.cascade and Config().routing.cascade_floor == 0.5
    with pytest.raises(ConfigError, match="cascade_floor must be in") as err:
        config_from_dict({"routing": {"cascade_floor": 2.0}})
    assert "\n" not in str(err.value) and "cascade = false" in str(err.value)
    with pytest.raises(ConfigError, match="cascade_reread_below must be in"):
        config_from_dict({"routing": {"cascade_reread_below": -0.1}})


# -- the answerer's confidence ----------------------------------------------------------------
def test_the_local_answerer_says_how_much_of_the_question_its_answer_holds() -> None:
    llm = LocalExtractiveLLM(model="extractive-1")

    def answer(question: str, screen: str) -> Answer:
        request = AnswerRequest(question=question, screen=(Passage("screen", screen),))
        return llm.answer(request).value

    question = "What is the date of check on the certificate?"
    weak = answer(question, "CODECHECK certificate 2020-016\nAuthors: A. Smith")
    strong = answer(question, "CODECHECK certificate 2020-016\nDate of check 2020-06-02")
    assert weak.confidence is not None and strong.confidence is not None
    assert weak.confidence < 0.5 <= strong.confidence
    assert "2020-06-02" in strong.text
    declined = answer("Who won the lottery?", "Quarterly review")
    assert declined.text == NOT_FOUND and declined.confidence == 0.0


def test_confidence_survives_the_call_cache_and_the_answer_cache() -> None:
    llm = LocalExtractiveLLM(model="extractive-1")
    answer = Answer("Churn 2.1% [1]", (Passage("screen", "Churn 2.1%", 1.5),), confidence=0.75)
    assert llm._decode_value(llm._encode_value(answer)).confidence == 0.75
    cache = AnswerCache()
    record = cache.put("k", "local:extractive-1", answer, Usage())
    assert record is not None
    loaded = AnswerCache()
    loaded.load([("k", "local:extractive-1", record.answer_json, 0, 0)])
    hit = loaded.get("k")
    assert hit is not None and hit.answer.confidence == 0.75


# -- the pipeline -----------------------------------------------------------------------------
def test_a_weak_cheap_answer_is_answered_again_on_the_premium_tier(tiny: Path) -> None:
    records = _drive(tiny, _config(cascade=True))
    request = _request(records, "q2")  # "What churn rate is on the slide?"
    assert "2.1%" in (request.answer or "")
    assert request.tier == "premium" and request.route_reason == CASCADE_REASON
    assert request.vision_tier == "premium"
    assert request.vision_model_resolved == "fake:premium"
    assert request.llm_model_resolved == "local:extractive-3"
    vision = _calls(records, request.request_id, "vision")
    llm = _calls(records, request.request_id, "llm")
    # both tiers' calls are logged, in order, and the request pays for both readings
    assert [c.model_requested for c in vision] == ["cheap", "premium"]
    assert [c.model_requested for c in llm] == ["extractive-1", "extractive-3"]
    assert request.vision_cost_usd == pytest.approx(0.01 + 0.03)
    assert request.propensity == 1.0  # the router's draw is unchanged: it chose cheap


def test_a_reading_that_holds_the_questions_words_is_not_read_again(tiny: Path) -> None:
    """The cheap reading spells out what is asked: only the answer is escalated (premium LLM on
    the cheap reading), with one vision call."""
    readings = {"cheap": "Churn review\nThe rate fell to 2.1%", "premium": "unused"}
    records = _drive(tiny, _config(cascade=True, floor=0.99), readings)
    request = _request(records, "q2")
    assert request.tier == "premium" and request.route_reason == CASCADE_REASON
    assert request.vision_tier == "cheap" and request.vision_model_resolved == "fake:cheap"
    assert [c.model_requested for c in _calls(records, request.request_id, "vision")] == ["cheap"]
    assert [c.model_requested for c in _calls(records, request.request_id, "llm")] == [
        "extractive-1", "extractive-3"
    ]
    assert request.vision_cost_usd == pytest.approx(0.01)


def test_without_the_cascade_the_cheap_answer_stands(tiny: Path) -> None:
    records = _drive(tiny, _config(cascade=False))
    request = _request(records, "q2")
    assert "2.1%" not in (request.answer or "")
    assert request.tier == "cheap" and request.route_reason != CASCADE_REASON
    assert [c.model_requested for c in _calls(records, request.request_id, "vision")] == [
        "cheap"
    ]
    assert request.vision_cost_usd == pytest.approx(0.01)


def test_a_confident_cheap_answer_is_not_escalated(tiny: Path) -> None:
    records = _drive(tiny, _config(cascade=True))
    request = _request(records, "q3")  # the knowledge base answers it word for word
    assert "15 minutes" in (request.answer or "")
    assert request.tier == "cheap" and request.route_reason != CASCADE_REASON
    assert len(_calls(records, request.request_id, "llm")) == 1


def test_both_tiers_runs_keep_the_plain_tiers(tiny: Path) -> None:
    """A sweep's outcomes are the plain tiers: the cascade stays out of ``both_tiers`` runs."""
    config = _config(cascade=True)
    dataset = load_dataset(tiny)
    vision = TierPair(cheap=ScriptedVision(model="cheap"), premium=ScriptedVision(model="premium"))
    records: list[Any] = []
    pipeline = Pipeline(
        run_id="r", tenant=dataset.tenant, room=dataset.room, config=config,
        emit=records.append, stages=make_stages(config, dataset).with_(vision=vision),
        both_tiers=True,
    )
    for event in RecordedSource(dataset).events():
        pipeline.handle(event)
    pipeline.finish()
    assert _request(records, "q2").tier == "cheap"
