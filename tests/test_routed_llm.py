"""RoutedLLM inside the real framework: LiveKit Agents' text-mode session (``AgentSession`` with
no room, ``session.run(user_input=...)``) over two ``livekit-plugins-openai`` LLMs pointed at the
local fake of OpenAI's streaming chat completions. The routed tier answers, a tool call still
works, a 500 from one tier falls over, rows (ledger) and spans (received by ``otel-receive``)
carry the decisions and their propensities, and the budget switch happens where it should."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("livekit.agents")
pytest.importorskip("livekit.plugins.openai")

from livekit.agents import Agent, AgentSession, RunContext, function_tool
from livekit.plugins import openai
from support.fakes.vendors import DEFAULT_PARTS, FakeVendors, RecordedRequest, Reply

from assistant.ledger import Ledger
from assistant.livekit.decisions import LedgerDecisionLog
from assistant.livekit.policy import RoutingOptions
from assistant.livekit.routed import RoutedLLM

HARD = "Why did revenue grow 40% more than costs, and should we compare it with last year?"
EASY = "Hi there"
CHEAP_MODEL, PREMIUM_MODEL = "gpt-4o-mini", "gpt-4o"
ANSWER = "".join(DEFAULT_PARTS)


class MeetingAgent(Agent):
    def __init__(self) -> None:
        super().__init__(instructions="You answer questions about the meeting.")

    @function_tool
    async def lookup_budget(self, context: RunContext, project: str) -> str:
        """Look up a project's budget.

        Args:
            project: the project's name
        """
        return f"The {project} budget is $40k."


def _routed(fake: FakeVendors, **kwargs: Any) -> RoutedLLM:
    def tier(model: str) -> openai.LLM:
        return openai.LLM(model=model, base_url=fake.openai_url, api_key="sk-test", max_retries=0)

    return RoutedLLM(cheap=tier(CHEAP_MODEL), premium=tier(PREMIUM_MODEL), **kwargs)


def _session(llm: RoutedLLM, inputs: Sequence[str]) -> list[Any]:
    async def run() -> list[Any]:
        results = []
        async with AgentSession(llm=llm) as session:
            await session.start(MeetingAgent())
            for text in inputs:
                results.append(await session.run(user_input=text))
        await llm.aclose()
        return results

    return asyncio.run(run())


def _models(fake: FakeVendors) -> list[str]:
    return [r.body["model"] for r in fake.of("openai")]


def _requests(path: Path) -> list[dict[str, Any]]:
    with Ledger(path, read_only=True) as ledger:
        cur = ledger.cursor().execute(
            "SELECT tier, propensity, explored, route_reason, status, llm_model_requested, "
            "llm_model_resolved, fallback_model, input_tokens, output_tokens, total_cost_usd, "
            "score, threshold, question, answer FROM requests ORDER BY media_t_s"
        )
        names = [d[0] for d in cur.description]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def test_each_turn_is_answered_by_its_routed_tier_and_logged_as_a_row(tmp_path: Path) -> None:
    path = tmp_path / "agent.duckdb"
    with FakeVendors() as fake:
        llm = _routed(fake, threshold=0.5, log=LedgerDecisionLog(path, tenant="acme"))
        results = _session(llm, [EASY, HARD])
        assert _models(fake) == [CHEAP_MODEL, PREMIUM_MODEL]
        for result in results:
            result.expect.next_event().is_message(role="assistant")
            result.expect.no_more_events()
        assert results[1].events[0].item.text_content == ANSWER  # the tier's words, unchanged
        body = fake.of("openai")[1].body
        assert body["stream"] is True and body["messages"][-1]["content"] == HARD
    rows = _requests(path)
    assert [(r["tier"], r["route_reason"], r["status"]) for r in rows] == [
        ("cheap", "threshold", "ok"),
        ("premium", "threshold", "ok"),
    ]
    premium = rows[1]
    assert premium["llm_model_requested"] == premium["llm_model_resolved"] == PREMIUM_MODEL
    assert (premium["input_tokens"], premium["output_tokens"]) == (123, 17)
    assert premium["total_cost_usd"] == pytest.approx((123 * 2.5 + 17 * 10.0) / 1e6)
    assert premium["question"] == HARD and premium["answer"] == ANSWER
    assert rows[0]["score"] < 0.5 <= premium["score"] and premium["threshold"] == 0.5
    with Ledger(path, read_only=True) as ledger:
        run = ledger.cursor().execute("SELECT source_kind, tenant, status FROM runs").fetchall()
        ttft = ledger.cursor().execute("SELECT ttft_ms FROM calls").fetchall()
    assert run == [("agent", "acme", "finished")]
    assert all(t[0] is not None and t[0] > 0 for t in ttft)


def test_a_tool_call_runs_and_its_follow_up_stays_on_the_turns_tier(tmp_path: Path) -> None:
    path = tmp_path / "agent.duckdb"
    with FakeVendors() as fake:
        fake.push("openai", Reply.tool("lookup_budget", '{"project": "apollo"}'))
        llm = _routed(fake, threshold=0.5, explore_share=0.5, log=LedgerDecisionLog(path))
        (result,) = _session(llm, [HARD])
        result.expect.next_event().is_function_call(
            name="lookup_budget", arguments={"project": "apollo"}
        )
        result.expect.next_event().is_function_call_output(output="The apollo budget is $40k.")
        result.expect.next_event().is_message(role="assistant")
        models = _models(fake)
        follow_up = fake.of("openai")[1].body["messages"]
    assert len(models) == 2 and models[0] == models[1]  # the follow-up kept the turn's tier
    assert any(m.get("role") == "tool" for m in follow_up)
    rows = _requests(path)
    assert len(rows) == 2 and rows[0]["tier"] == rows[1]["tier"]
    assert rows[0]["propensity"] == rows[1]["propensity"] < 1.0


def test_a_500_from_the_routed_tier_falls_over_to_the_other(tmp_path: Path) -> None:
    path = tmp_path / "agent.duckdb"

    def premium_down(request: RecordedRequest, attempt: int) -> Reply | None:
        return Reply.server_error(500) if request.body["model"] == PREMIUM_MODEL else None

    with FakeVendors() as fake:
        fake.script(premium_down)
        llm = _routed(fake, threshold=0.5, log=LedgerDecisionLog(path))
        (result,) = _session(llm, [HARD])
        result.expect.next_event().is_message(role="assistant")
        assert _models(fake) == [PREMIUM_MODEL, CHEAP_MODEL]
    (row,) = _requests(path)
    assert (row["tier"], row["route_reason"], row["status"]) == ("premium", "failover", "fallback")
    assert row["llm_model_requested"] == PREMIUM_MODEL
    assert row["llm_model_resolved"] == row["fallback_model"] == CHEAP_MODEL
    assert row["total_cost_usd"] == pytest.approx((123 * 0.15 + 17 * 0.6) / 1e6)
    with Ledger(path, read_only=True) as ledger:
        calls = ledger.cursor().execute("SELECT model_requested, status FROM calls").fetchall()
    assert sorted(calls) == [(PREMIUM_MODEL, "error"), (CHEAP_MODEL, "ok")]


def test_spending_past_the_hourly_budget_routes_cheap_with_its_reason(tmp_path: Path) -> None:
    path = tmp_path / "agent.duckdb"
    one_premium_turn = (123 * 2.5 + 17 * 10.0) / 1e6
    with FakeVendors() as fake:
        llm = _routed(
            fake,
            threshold=0.5,
            budget_usd_per_hour=1.5 * one_premium_turn,
            log=LedgerDecisionLog(path),
        )
        _session(llm, [HARD, HARD, HARD])
        assert _models(fake) == [PREMIUM_MODEL, PREMIUM_MODEL, CHEAP_MODEL]
    rows = _requests(path)
    assert [(r["tier"], r["route_reason"], r["propensity"]) for r in rows] == [
        ("premium", "threshold", 1.0),
        ("premium", "threshold", 1.0),  # 1.0 of 1.5 turns spent: still under
        ("cheap", "budget", 1.0),
    ]


def test_a_premium_tier_slower_than_the_latency_budget_is_skipped(tmp_path: Path) -> None:
    path = tmp_path / "agent.duckdb"

    def slow_premium(request: RecordedRequest, attempt: int) -> Reply | None:
        return Reply.stall(0.3) if request.body["model"] == PREMIUM_MODEL else None

    with FakeVendors() as fake:
        fake.script(slow_premium)
        llm = _routed(
            fake,
            options=RoutingOptions(threshold=0.5, latency_budget_ms=200.0, latency_min_samples=1),
            log=LedgerDecisionLog(path),
        )
        _session(llm, [HARD, HARD])
        assert _models(fake) == [PREMIUM_MODEL, CHEAP_MODEL]
    rows = _requests(path)
    assert [(r["tier"], r["route_reason"]) for r in rows] == [
        ("premium", "threshold"),
        ("cheap", "latency"),  # the first premium answer took 300 ms to its first token
    ]


def test_spans_received_by_otel_receive_are_the_same_rows(tmp_path: Path) -> None:
    from livekit.agents import telemetry
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from support.otel import encode, post

    from assistant.telemetry.receiver import Receiver

    provider = TracerProvider(resource=Resource.create({"service.name": "routed-agent"}))
    memory = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    telemetry.set_tracer_provider(provider)
    direct = tmp_path / "direct.duckdb"

    def premium_down_once(request: RecordedRequest, attempt: int) -> Reply | None:
        hard = request.body["model"] == PREMIUM_MODEL and "grow 40%" in request.text
        return Reply.server_error(500) if hard and attempt == 1 else None

    with FakeVendors() as fake:
        fake.script(premium_down_once)
        llm = _routed(fake, threshold=0.5, explore_share=0.6, log=LedgerDecisionLog(direct))
        _session(llm, [EASY, HARD, EASY, "What is the launch date?", EASY, HARD])
    spans = list(memory.get_finished_spans())
    received = tmp_path / "received.duckdb"
    Ledger(received).close()
    rx = Receiver(received, port=0)
    host, port = rx.start()
    try:
        assert post(f"http://{host}:{port}/v1/traces", encode(spans))[0] == 200
    finally:
        rx.stop()

    def decisions(path: Path) -> list[tuple[Any, ...]]:
        return [
            (r["tier"], round(r["propensity"], 6), r["explored"], r["route_reason"], r["status"],
             r["llm_model_requested"], r["llm_model_resolved"], round(r["score"], 6),
             r["input_tokens"], round(r["total_cost_usd"], 9))
            for r in _requests(path)
        ]  # fmt: skip

    logged = decisions(direct)
    assert decisions(received) == logged  # the spans carry what the rows hold
    assert len(logged) == 6 and any(r[2] for r in logged)  # some turns were explored
    for tier, propensity, *_, score, _tokens, _cost in logged:  # the mixture's propensities
        rule = "premium" if score >= 0.5 else "cheap"  # 0.4 x the rule + 0.6 x a coin
        assert propensity == pytest.approx(0.7 if tier == rule else 0.3), (tier, score)
    assert any(r[3] == "failover" for r in logged)  # premium's first try at HARD failed

    def calls(path: Path) -> list[tuple[Any, ...]]:
        with Ledger(path, read_only=True) as ledger:
            sql = "SELECT model_requested, status, input_tokens, cost_usd FROM calls ORDER BY ALL"
            return ledger.cursor().execute(sql).fetchall()

    assert calls(received) == calls(direct) and len(calls(direct)) > 6  # failed attempts too
    with Ledger(received, read_only=True) as ledger:
        kinds = ledger.cursor().execute("SELECT source_kind FROM runs").fetchall()
    assert kinds == [("otel",)]


def test_built_from_a_workbench_config_and_from_a_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from assistant.core.errors import ConfigError

    config = tmp_path / "routing.toml"
    config.write_text(
        '[routing]\nscorer = "length"\nthreshold = 0.2\nexplore_share = 0.1\n'
        '[llm]\ncheap = "openai:gpt-4o-mini"\npremium = "openai:gpt-4o"\n',
        encoding="utf-8",
    )
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(ConfigError, match="Set OPENAI_API_KEY"):
        RoutedLLM.from_config(str(config))
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    with FakeVendors() as fake:
        llm = RoutedLLM.from_config(str(config), cheap=_routed(fake).tiers["cheap"])
    assert llm.policy.options.scorer == "length" and llm.policy.options.threshold == 0.2
    assert llm.tiers["premium"].model == "gpt-4o"  # built from the config's [llm]
    unpriced = openai.LLM(model="my-local-model", base_url="http://127.0.0.1:9/v1", api_key="k")
    with pytest.raises(ConfigError, match="no price known for openai:my-local-model"):
        RoutedLLM(cheap=unpriced, premium=llm.tiers["premium"], budget_usd_per_hour=1.0)
    path = tmp_path / "agent.duckdb"
    log = LedgerDecisionLog(
        path, run_id="deployed", config_json=json.dumps({"routing": {"threshold": 0.7}})
    )
    log.close()
    again = RoutedLLM.from_run(
        str(path), "deployed", cheap=llm.tiers["cheap"], premium=llm.tiers["premium"]
    )
    assert again.policy.options.threshold == 0.7

    with pytest.raises(ConfigError, match="no run 'nope'"):
        RoutedLLM.from_run(
            str(path), "nope", cheap=llm.tiers["cheap"], premium=llm.tiers["premium"]
        )


def test_the_example_runs_in_text_mode_and_fills_the_ledger(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import importlib.util

    root = Path(__file__).resolve().parents[1]
    spec = importlib.util.spec_from_file_location("routed_agent", root / "examples/routed_agent.py")
    assert spec is not None and spec.loader is not None
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    ledger = tmp_path / "example.duckdb"
    with FakeVendors() as fake:
        monkeypatch.setenv("OPENAI_BASE_URL", fake.openai_url)
        monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
        monkeypatch.setenv("WORKBENCH_LEDGER", str(ledger))
        monkeypatch.setenv("ROUTED_EXPLORE_SHARE", "0.000001")
        asyncio.run(example.text_mode([EASY, HARD]))
        assert _models(fake) == [CHEAP_MODEL, PREMIUM_MODEL]
    out = capsys.readouterr().out
    assert "cheap (score" in out and "premium (score" in out and ANSWER in out
    assert [r["tier"] for r in _requests(ledger)] == ["cheap", "premium"]
