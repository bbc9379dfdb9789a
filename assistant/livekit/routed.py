"""``RoutedLLM``: a LiveKit Agents ``llm.LLM`` that routes each turn between a cheap and a premium
LLM with the workbench's scorers and routers, and logs every decision.

Put it where an ``AgentSession`` takes an LLM::

    from livekit.plugins import openai
    from assistant.livekit.routed import RoutedLLM

    llm = RoutedLLM(
        cheap=openai.LLM(model="gpt-4o-mini"),
        premium=openai.LLM(model="gpt-4o"),
        scorer="heuristic", threshold=0.45, explore_share=0.1, budget_usd_per_hour=2.0,
        log=LedgerDecisionLog("workbench.duckdb", tenant="acme"),
    )
    session = AgentSession(llm=llm, ...)

Per call it scores the last user message (``policy.RoutePolicy``), asks the chosen tier's LLM and
forwards its chunks unchanged (text, tool calls, usage), so streaming, tools and cancellation
behave as with that LLM alone. A tier that fails before it sent anything falls over to the other
tier (as ``llm.FallbackAdapter`` does); after a chunk was sent the error is raised, since the
words already spoken cannot be taken back. Each tier's ``llm_request`` span carries the routing
attributes (``telemetry.conventions.ROUTE_*``), so a ``otel-receive`` ledger gets the same rows a
``LedgerDecisionLog`` writes.

Needs ``livekit-agents`` (imported here, at module level: import this module only in an agent).
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
import uuid
from typing import Any, ClassVar

from livekit.agents import llm
from livekit.agents._exceptions import APIConnectionError
from livekit.agents.llm import ChatContext, LLMStream
from livekit.agents.llm.tool_context import Tool, ToolChoice
from livekit.agents.types import (
    DEFAULT_API_CONNECT_OPTIONS,
    NOT_GIVEN,
    APIConnectOptions,
    NotGivenOr,
)

from assistant.core.config import Config, load_config
from assistant.core.errors import ConfigError
from assistant.livekit.decisions import Attempt, DecisionLog, Turn, price
from assistant.livekit.policy import Decision, RoutePolicy, RoutingOptions
from assistant.pricing.prices import Pricer
from assistant.routing import CHEAP, PREMIUM, Scorer
from assistant.telemetry import conventions as c

ROUTED_CONNECT_OPTIONS = APIConnectOptions(max_retry=0, timeout=DEFAULT_API_CONNECT_OPTIONS.timeout)
"""Our own retries: none; a failing tier falls over to the other instead (FallbackAdapter's)."""


def pricing_provider(instance: llm.LLM) -> str:
    """The ``Pricer``'s provider id for a plugin's LLM: its plugin package (``livekit.plugins.
    openai`` → ``openai``; its ``provider`` is a host name), else the LLM's own ``provider``."""
    module = type(instance).__module__
    if module.startswith("livekit.plugins."):
        return module.split(".")[2]
    return instance.provider


def question_of(chat_ctx: ChatContext) -> tuple[str, bool, str | None]:
    """The last user message's text, whether it holds an image, and its id."""
    for item in reversed(chat_ctx.items):
        if isinstance(item, llm.ChatMessage) and item.role == "user":
            has_image = any(isinstance(part, llm.ImageContent) for part in item.content)
            return item.text_content or "", has_image, item.id
    return "", False, None


class RoutedLLM(llm.LLM):
    """Routes each call between ``cheap`` and ``premium`` (see the module's docstring)."""

    def __init__(
        self,
        *,
        cheap: llm.LLM,
        premium: llm.LLM,
        scorer: str | Scorer = "heuristic",
        threshold: float = 0.5,
        explore_share: float = 0.0,
        budget_usd_per_hour: float | None = None,
        latency_budget_ms: float | None = None,
        options: RoutingOptions | None = None,
        log: DecisionLog | None = None,
        pricer: Pricer | None = None,
        attempt_timeout_s: float = 10.0,
        clock: Any = time.monotonic,
    ) -> None:
        """``options`` (when given) wins over the five shorthand arguments before it."""
        super().__init__()
        if options is None:
            options = RoutingOptions(
                scorer=scorer if isinstance(scorer, str) else scorer.name,
                threshold=threshold,
                explore_share=explore_share,
                budget_usd_per_hour=budget_usd_per_hour,
                latency_budget_ms=latency_budget_ms,
            )
        self.tiers: dict[str, llm.LLM] = {CHEAP: cheap, PREMIUM: premium}
        self.policy = RoutePolicy(
            options, scorer=None if isinstance(scorer, str) else scorer, clock=clock
        )
        self.decision_log = log
        self.pricer = pricer or Pricer()
        if log is not None or options.budget_usd_per_hour:
            for instance in self.tiers.values():  # costs are logged and budgeted: known prices
                self.pricer.check(provider=pricing_provider(instance), model=instance.model)
        self.attempt_timeout_s = attempt_timeout_s
        self.turns: list[Turn] = []  # the last turns, newest last (for tests and dashboards)
        self._started = time.monotonic()
        self._sticky: tuple[str, Decision] | None = None  # a tool's follow-up keeps its turn's tier
        for instance in self.tiers.values():
            instance.on("metrics_collected", self._on_metrics_collected)

    # -- built from the workbench ---------------------------------------------------------------
    @classmethod
    def from_config(
        cls,
        config: Config | str,
        *,
        cheap: llm.LLM | None = None,
        premium: llm.LLM | None = None,
        tenant: str | None = None,
        **kwargs: Any,
    ) -> RoutedLLM:
        """From a workbench config (a TOML file, a preset's name or a ``Config``): its scorer,
        router, threshold, exploration, vision decision and budget; its ``[llm]`` tiers when they
        are OpenAI models (``openai:gpt-4o-mini``) and ``cheap``/``premium`` are not given."""
        if isinstance(config, str):
            config = load_config(config)
        return cls(
            cheap=cheap or _tier_llm(config.llm.cheap, "cheap"),
            premium=premium or _tier_llm(config.llm.premium, "premium"),
            options=RoutingOptions.from_config(config, tenant=tenant),
            **{"pricer": Pricer(config.pricing), **kwargs},
        )

    @classmethod
    def from_run(
        cls, ledger: str, run_id: str, *, tenant: str | None = None, **kwargs: Any
    ) -> RoutedLLM:
        """Use what a run of the ledger used: its config's routing (see ``from_config``)."""
        import json

        from assistant.core.config import config_from_dict
        from assistant.ledger.queries.runs import run_source
        from assistant.ledger.store import Ledger

        with Ledger(ledger, read_only=True) as held:
            source = run_source(held, run_id)
        if source is None:
            raise ConfigError(
                f"no run {run_id!r} in {ledger}; list them with `python -m assistant runs`"
            )
        config = config_from_dict(json.loads(source[2] or "{}"), where=f"run {run_id}'s config")
        return cls.from_config(config, tenant=tenant, **kwargs)

    # -- llm.LLM ----------------------------------------------------------------------------------
    @property
    def model(self) -> str:
        return f"routed({self.tiers[CHEAP].model}|{self.tiers[PREMIUM].model})"

    @property
    def provider(self) -> str:
        return "workbench-router"

    def chat(
        self,
        *,
        chat_ctx: ChatContext,
        tools: list[Tool] | None = None,
        conn_options: APIConnectOptions = ROUTED_CONNECT_OPTIONS,
        parallel_tool_calls: NotGivenOr[bool] = NOT_GIVEN,
        tool_choice: NotGivenOr[ToolChoice] = NOT_GIVEN,
        extra_kwargs: NotGivenOr[dict[str, Any]] = NOT_GIVEN,
    ) -> LLMStream:
        return RoutedLLMStream(
            self,
            chat_ctx=chat_ctx,
            tools=tools or [],
            conn_options=conn_options,
            passthrough={
                "parallel_tool_calls": parallel_tool_calls,
                "tool_choice": tool_choice,
                "extra_kwargs": extra_kwargs,
            },
        )

    async def _prewarm_impl(self) -> None:
        """Both tiers: either may answer the first turn."""
        for instance in self.tiers.values():
            instance.prewarm()

    async def aclose(self) -> None:
        for instance in self.tiers.values():
            instance.off("metrics_collected", self._on_metrics_collected)
        if self.decision_log is not None:
            await asyncio.to_thread(self.decision_log.close)
        await super().aclose()

    def _on_metrics_collected(self, *args: Any, **kwargs: Any) -> None:
        self.emit("metrics_collected", *args, **kwargs)

    # -- per call ---------------------------------------------------------------------------------
    def decide(self, chat_ctx: ChatContext) -> tuple[str, Decision]:
        """The question and its decision; a tool's follow-up call (the context ends with a tool
        output) keeps the decision of the user message it answers."""
        question, has_image, message_id = question_of(chat_ctx)
        last = chat_ctx.items[-1] if chat_ctx.items else None
        if (
            self._sticky is not None
            and message_id is not None
            and self._sticky[0] == message_id
            and getattr(last, "type", None) == "function_call_output"
        ):
            return question, self._sticky[1]
        decision = self.policy.decide(question, has_image=has_image)
        if message_id is not None:
            self._sticky = (message_id, decision)
        return question, decision

    def finish(self, turn: Turn) -> None:
        """Feed the guards, keep the turn, hand it to the log."""
        for attempt in turn.attempts:
            self.policy.record(
                tier=attempt.tier,
                cost_usd=price(self.pricer, attempt),
                ttft_ms=attempt.ttft_ms if attempt.status == "ok" else None,
            )
        self.turns = [*self.turns[-99:], turn]
        if self.decision_log is not None:
            self.decision_log.log(turn, requested_model=self.tiers[turn.decision.tier].model)

    def media_t_s(self) -> float:
        return time.monotonic() - self._started


def _tier_llm(spec: str, tier: str) -> llm.LLM:
    provider, _, model = spec.partition(":")
    if provider != "openai" or not model:
        raise ConfigError(
            f"the config's [llm] {tier} is {spec!r}: RoutedLLM builds only openai:MODEL tiers "
            f"itself; pass {tier}=<your plugin's LLM> (e.g. anthropic.LLM(...))"
        )
    import openai as openai_sdk
    from livekit.plugins import openai

    try:
        return openai.LLM(model=model)
    except openai_sdk.OpenAIError as exc:
        raise ConfigError(
            f"cannot build the {tier} tier {spec!r}: {exc} Set OPENAI_API_KEY (and "
            f"OPENAI_BASE_URL for an OpenAI-compatible server), or pass {tier}=<an llm.LLM>"
        ) from exc


class RoutedLLMStream(LLMStream):
    """One routed call: the chosen tier's chunks, or the other tier's after a failure."""

    _llm_request_span_name: ClassVar[str] = c.ROUTE_SPAN
    _llm_attempt_span_name: ClassVar[str | None] = None  # the tiers' streams have their own
    _genai_operation_name: ClassVar[str | None] = None  # the tiers' spans own the inference

    def __init__(
        self,
        routed: RoutedLLM,
        *,
        chat_ctx: ChatContext,
        tools: list[Tool],
        conn_options: APIConnectOptions,
        passthrough: dict[str, Any],
    ) -> None:
        super().__init__(routed, chat_ctx=chat_ctx, tools=tools, conn_options=conn_options)
        self._routed = routed
        self._passthrough = passthrough
        self._retry_on_chunk_sent = False

    async def _metrics_monitor_task(self, event_aiter: Any) -> None:
        async for _ in event_aiter:  # the tiers' streams report their own metrics
            pass

    def _span_attributes(
        self, request_id: str, decision: Decision, *, tier: str, role: str, reason: str
    ) -> dict[str, Any]:
        instance = self._routed.tiers[tier]
        return {
            c.ROUTE_REQUEST_ID: request_id,
            c.ROUTE_ROLE: role,
            c.ROUTE_TIER: decision.tier,
            c.ROUTE_ATTEMPT_TIER: tier,
            c.ROUTE_SCORER: decision.scorer,
            c.ROUTE_SCORE: decision.score,
            c.ROUTE_ROUTER: decision.router,
            c.ROUTE_THRESHOLD: -1.0 if decision.threshold is None else decision.threshold,
            c.ROUTE_PROPENSITY: decision.propensity,
            c.ROUTE_EXPLORED: decision.explored,
            c.ROUTE_REASON: reason,
            c.ROUTE_VISION: decision.vision,
            c.ROUTE_MODEL_REQUESTED: self._routed.tiers[decision.tier].model,
            c.ROUTE_PRICING_PROVIDER: pricing_provider(instance),
            c.ROUTE_ROUTING_LATENCY_MS: decision.routing_latency_ms,
        }

    async def _run(self) -> None:
        question, decision = self._routed.decide(self._chat_ctx)
        request_id = uuid.uuid4().hex[:16]
        media_t_s = self._routed.media_t_s()
        order = [decision.tier, PREMIUM if decision.tier == CHEAP else CHEAP]
        attempts: list[Attempt] = []
        answer: list[str] = []
        tier, instance, started = (
            decision.tier,
            self._routed.tiers[decision.tier],
            time.perf_counter(),
        )
        ttft_ms: float | None = None
        usage: llm.CompletionUsage | None = None
        try:
            for tier in order:
                instance = self._routed.tiers[tier]
                failover = tier != decision.tier
                reason = "failover" if failover else decision.reason
                started = time.perf_counter()
                ttft_ms, usage, sent = None, None, False
                try:
                    async with instance.chat(
                        chat_ctx=self._chat_ctx,
                        tools=self._tools,
                        conn_options=dataclasses.replace(
                            self._conn_options,
                            max_retry=0,
                            timeout=self._routed.attempt_timeout_s,
                        ),
                        **self._passthrough,
                    ) as stream:
                        span_ok = False
                        try:
                            async for chunk in stream:
                                delta = chunk.delta  # generation, not just usage
                                if (
                                    ttft_ms is None
                                    and delta
                                    and (delta.content or delta.tool_calls)
                                ):
                                    ttft_ms = (time.perf_counter() - started) * 1000.0
                                if chunk.delta is not None:
                                    if chunk.delta.content:
                                        answer.append(chunk.delta.content)
                                    sent = sent or bool(
                                        chunk.delta.content or chunk.delta.tool_calls
                                    )
                                if chunk.usage is not None:
                                    usage = chunk.usage
                                self._event_ch.send_nowait(chunk)
                            span_ok = True
                        finally:
                            if stream._llm_request_span is not None:
                                stream._llm_request_span.set_attributes(
                                    self._span_attributes(
                                        request_id,
                                        decision,
                                        tier=tier,
                                        role="answer"
                                        if span_ok or sent or tier == order[-1]
                                        else "attempt",
                                        reason=reason,
                                    )
                                )
                except Exception as exc:  # a tier failed: logged, then the other tier
                    attempts.append(
                        self._attempt(tier, instance, started, ttft_ms, usage, "error", exc)
                    )
                    if sent or tier == order[-1]:
                        raise  # chunks already went out, or nothing is left to try
                    continue
                attempts.append(self._attempt(tier, instance, started, ttft_ms, usage, "ok"))
                if self._llm_request_span is not None:
                    self._llm_request_span.set_attributes(
                        {
                            c.ROUTE_REQUEST_ID: request_id,
                            c.ROUTE_TIER: decision.tier,
                            c.ROUTE_REASON: reason,
                            c.ROUTE_ATTEMPT_TIER: tier,
                        }
                    )
                return
            raise APIConnectionError("both tiers failed")  # not reached: the last tier raises
        except asyncio.CancelledError:
            attempts.append(
                self._attempt(tier, instance, started, ttft_ms, usage, "cancelled", None)
            )
            raise
        finally:
            self._routed.finish(
                Turn(
                    request_id=request_id,
                    question=question,
                    decision=decision,
                    attempts=tuple(attempts),
                    answer="".join(answer) or None,
                    media_t_s=media_t_s,
                )
            )

    @staticmethod
    def _attempt(
        tier: str,
        instance: llm.LLM,
        started: float,
        ttft_ms: float | None,
        usage: llm.CompletionUsage | None,
        status: str,
        exc: BaseException | None = None,
    ) -> Attempt:
        return Attempt(
            tier=tier,
            provider=pricing_provider(instance),
            model=instance.model,
            latency_ms=(time.perf_counter() - started) * 1000.0,
            ttft_ms=ttft_ms,
            input_tokens=usage.prompt_tokens if usage else 0,
            output_tokens=usage.completion_tokens if usage else 0,
            status=status,
            error=None
            if exc is None and status != "cancelled"
            else "cancelled: the session interrupted the turn"
            if exc is None
            else f"{type(exc).__name__}: {exc}"[:500],
        )
