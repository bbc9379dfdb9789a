"""A LiveKit Agents meeting agent whose LLM is ``RoutedLLM``: each turn goes to the cheap or the
premium model by the workbench's scorer and threshold, and every decision lands in the ledger.

Two ways to run it (from the repository's root, with ``OPENAI_API_KEY`` set, or
``OPENAI_BASE_URL`` pointing at any OpenAI-compatible server such as Ollama or vLLM):

    # against a LiveKit server (LIVEKIT_URL, LIVEKIT_API_KEY, LIVEKIT_API_SECRET set; e.g.
    # `livekit-server --dev` gives ws://localhost:7880, devkey, secret): chat in the room
    python examples/routed_agent.py dev

    # without a server: a few text turns in LiveKit Agents' text mode, decisions printed
    python examples/routed_agent.py

Settings (environment): ``ROUTED_CHEAP_MODEL`` (gpt-4o-mini), ``ROUTED_PREMIUM_MODEL`` (gpt-4o),
``ROUTED_THRESHOLD`` (0.45), ``ROUTED_EXPLORE_SHARE`` (0.1), ``ROUTED_BUDGET_USD_PER_HOUR``
(unset: none), ``ROUTED_LATENCY_BUDGET_MS`` (unset: none), ``ROUTED_CONFIG`` (a workbench TOML
file: its [routing] wins over the four above), ``WORKBENCH_LEDGER`` (workbench.duckdb),
``WORKBENCH_TENANT`` (default). Open the workbench (`streamlit run app.py`) to see the runs.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout

from livekit.agents import Agent, AgentSession, JobContext, RunContext, function_tool
from livekit.plugins import openai

from assistant.livekit.decisions import LedgerDecisionLog
from assistant.livekit.policy import RoutingOptions
from assistant.livekit.routed import RoutedLLM

INSTRUCTIONS = (
    "You are a meeting assistant. Answer the participants' questions briefly and precisely; "
    "use the tools for facts about projects."
)


class MeetingAgent(Agent):
    def __init__(self) -> None:
        super().__init__(instructions=INSTRUCTIONS)

    @function_tool
    async def project_budget(self, context: RunContext, project: str) -> str:
        """Look up a project's approved budget.

        Args:
            project: the project's name
        """
        budgets = {"apollo": "$40k", "zephyr": "$125k"}
        return budgets.get(project.lower(), f"no budget is on file for {project}")


def _float(name: str) -> float | None:
    value = os.environ.get(name)
    return float(value) if value else None


def routed_llm(*, room: str) -> RoutedLLM:
    """The RoutedLLM this agent uses, its decisions logged into the workbench's ledger."""
    from assistant.core.config import load_config

    tenant = os.environ.get("WORKBENCH_TENANT", "default")
    config = os.environ.get("ROUTED_CONFIG")
    if config:
        options = RoutingOptions.from_config(load_config(config), tenant=tenant)
    else:
        options = RoutingOptions(
            threshold=_float("ROUTED_THRESHOLD") or 0.45,
            explore_share=_float("ROUTED_EXPLORE_SHARE") or 0.1,
            budget_usd_per_hour=_float("ROUTED_BUDGET_USD_PER_HOUR"),
            latency_budget_ms=_float("ROUTED_LATENCY_BUDGET_MS"),
        )
    return RoutedLLM(
        cheap=openai.LLM(model=os.environ.get("ROUTED_CHEAP_MODEL", "gpt-4o-mini")),
        premium=openai.LLM(model=os.environ.get("ROUTED_PREMIUM_MODEL", "gpt-4o")),
        options=options,
        log=LedgerDecisionLog(
            os.environ.get("WORKBENCH_LEDGER", "workbench.duckdb"), tenant=tenant, room=room
        ),
    )


async def entrypoint(ctx: JobContext) -> None:
    """One room: a text-chat meeting agent (add stt=/tts= to the session for voice)."""
    from livekit.agents import room_io

    await ctx.connect()
    llm = routed_llm(room=ctx.room.name)
    session = AgentSession(llm=llm)

    async def close() -> None:
        await llm.aclose()  # finishes the ledger run

    ctx.add_shutdown_callback(close)
    await session.start(
        MeetingAgent(),
        room=ctx.room,
        room_options=room_io.RoomOptions(
            text_input=True, audio_input=False, audio_output=False, text_output=True
        ),
    )


async def text_mode(questions: list[str]) -> None:
    """No LiveKit server: the same agent in LiveKit Agents' text mode."""
    llm = routed_llm(room="text-mode")
    async with AgentSession(llm=llm) as session:
        await session.start(MeetingAgent())
        for question in questions:
            result = await session.run(user_input=question)
            turn = llm.turns[-1]
            d = turn.decision
            print(f"> {question}")
            print(
                f"  {d.tier} (score {d.score:.2f}, threshold {d.threshold}, propensity "
                f"{d.propensity:.2f}, reason {turn.reason})"
            )
            for event in result.events:
                if event.type == "message":
                    print(f"  {event.item.text_content}")
    await llm.aclose()


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] in ("dev", "start", "connect", "console"):
        missing = [
            n
            for n in ("LIVEKIT_URL", "LIVEKIT_API_KEY", "LIVEKIT_API_SECRET")
            if not os.environ.get(n)
        ]
        if missing:
            sys.exit(
                f"set {', '.join(missing)} to run against a LiveKit server "
                "(`livekit-server --dev`: ws://localhost:7880, devkey, secret), "
                "or run without arguments for text mode"
            )
        from livekit.agents import WorkerOptions, cli

        cli.run_app(WorkerOptions(entrypoint_fnc=entrypoint))
        return
    asyncio.run(
        text_mode(
            [
                "Hi, who is on the call?",
                "What is the Apollo budget?",
                "Why did revenue grow 40% more than costs, and should we compare it with last "
                "year's plan before we commit?",
            ]
        )
    )


if __name__ == "__main__":
    main()
