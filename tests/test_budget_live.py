"""A tenant held to a budget: the live session (real rtc frames, chat questions, a real ledger)
routes cheap once its running cost per media hour is over the budget, and says so per request."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from assistant.core.config import Config, config_from_dict
from assistant.core.errors import ConfigError
from assistant.core.events import AudioChunk, Question
from assistant.ledger import Ledger
from assistant.livekit.publish import I420Frame, PublishSource, audio_frames, rtc_video_frame
from assistant.pipeline.stages import make_stages
from assistant.sessions.datasets import Dataset, load_dataset
from assistant.sessions.live import LiveAnswer, LiveSession
from assistant.sessions.replay import replay
from assistant.sessions.sources.livekit import MediaClock
from assistant.sessions.sources.recorded import available_at

pytest.importorskip("livekit.rtc")


def premium_config(**routing: object) -> Config:
    """Everything premium (threshold 0), ground-truth transcript, routing settings changed."""
    config = Config().with_threshold(0.0)
    config = dataclasses.replace(config, stt=dataclasses.replace(config.stt, provider="recorded:"))
    return config.with_routing(**routing)


class Now:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def live_run(dataset: Dataset, path: Path, config: Config, run_id: str) -> list[LiveAnswer]:
    now, answers = Now(), []
    session = LiveSession(
        ledger=path,
        config=config,
        stages=make_stages(config, dataset),
        tenant=dataset.tenant,
        room=dataset.room,
        run_id=run_id,
        on_answer=answers.append,
        clock=MediaClock(now=now, start=0.0),
        max_video_backlog=100_000,
    )
    session.start()
    for event in PublishSource(dataset).events():
        if isinstance(event, I420Frame):
            now.t = event.t_s
            session.on_video(dataset.screen_participant, "TR_screen", rtc_video_frame(event))
        elif isinstance(event, AudioChunk):
            start = event.t_s
            for frame in audio_frames(event):
                start += frame.duration
                now.t = start
                session.on_audio(event.participant, frame)
        elif isinstance(event, Question):
            now.t = available_at(event)
            session.on_chat(event.asker, event.text)
    session.close()
    return answers


def routes(path: Path, run_id: str) -> list[tuple[str, str, float, str | None]]:
    with Ledger(path, read_only=True) as ledger:
        found = ledger.cursor().execute(
            "SELECT tier, route_reason, total_cost_usd, vision_route_reason FROM requests "
            "WHERE run_id = ? ORDER BY media_t_s",
            [run_id],
        )
        return [tuple(r) for r in found.fetchall()]  # type: ignore[misc]


def test_the_live_budget_routes_cheap_once_the_running_cost_is_over_it(
    tiny: Path, tmp_path: Path
) -> None:
    dataset = load_dataset(tiny)
    path = tmp_path / "live.duckdb"
    free = live_run(dataset, path, premium_config(), "free")
    # a budget the first premium answer spends at once (no warm-up: judged from the first second)
    held = live_run(
        dataset,
        path,
        premium_config(tenant_budget_usd_per_hour={dataset.tenant: 1e-9}, budget_warmup_s=0.0),
        "held",
    )
    live_run(  # another tenant's budget does not apply to this one
        dataset,
        path,
        premium_config(tenant_budget_usd_per_hour={"someone-else": 1e-9}, budget_warmup_s=0.0),
        "other",
    )
    assert [r[:2] for r in routes(path, "free")] == [("premium", "threshold")] * 3
    assert [r[:2] for r in routes(path, "other")] == [("premium", "threshold")] * 3
    held_routes = routes(path, "held")
    assert held_routes[0][:2] == ("premium", "threshold")  # nothing spent yet: within budget
    assert held_routes[0][2] > 0
    assert [r[:2] for r in held_routes[1:]] == [("cheap", "budget")] * 2
    assert held_routes[1][3] == "budget"  # q2 needs the screen: read cheap too, for the budget
    assert len(free) == len(held) == 3 and all(a.record.answer for a in held)


def test_a_generous_budget_and_the_warm_up_change_nothing(tiny: Path, tmp_path: Path) -> None:
    dataset = load_dataset(tiny)
    path = tmp_path / "l.duckdb"
    with Ledger(path) as ledger:
        replay(dataset, ledger=ledger, config=premium_config(budget_usd_per_hour=1e6), run_id="a")
        # a tiny budget, but judged over at least an hour of media: 8 s of it spend too little
        replay(
            dataset,
            ledger=ledger,
            config=premium_config(budget_usd_per_hour=1e-3, budget_warmup_s=3600.0),
            run_id="b",
        )
    assert [r[:2] for r in routes(path, "a")] == [("premium", "threshold")] * 3
    assert [r[:2] for r in routes(path, "b")] == [("premium", "threshold")] * 3


def test_budget_settings_are_checked() -> None:
    with pytest.raises(ConfigError, match="budget_usd_per_hour must be >= 0"):
        config_from_dict({"routing": {"budget_usd_per_hour": -1.0}})
    with pytest.raises(ConfigError, match=r"tenant_budget_usd_per_hour\.acme must be a number"):
        config_from_dict({"routing": {"tenant_budget_usd_per_hour": {"acme": "lots"}}})
    config = config_from_dict(
        {"routing": {"budget_usd_per_hour": 0.5, "tenant_budget_usd_per_hour": {"acme": 0.2}}}
    )
    assert config.routing.budget_for("acme") == 0.2 and config.routing.budget_for("b") == 0.5
    assert Config().routing.budget_for("acme") is None


def test_a_resumed_run_keeps_what_it_had_spent(tiny: Path, tmp_path: Path) -> None:
    from assistant.ledger.queries.resume import load_resume_state

    path = tmp_path / "l.duckdb"
    with Ledger(path) as ledger:
        replay(load_dataset(tiny), ledger=ledger, config=premium_config(), run_id="r")
        ledger.cursor().execute("UPDATE runs SET status = 'interrupted'").fetchall()
        state = load_resume_state(ledger, "r")
        routed = ledger.cursor().execute("SELECT sum(total_cost_usd) FROM requests").fetchall()
        stt = ledger.cursor().execute(
            "SELECT coalesce(sum(cost_usd), 0) FROM calls WHERE stage = 'stt'"
        ).fetchall()
    assert state.spent_usd == pytest.approx(routed[0][0] + stt[0][0]) and state.spent_usd > 0


def test_a_stored_config_reads_back_with_its_unset_vision_decision() -> None:
    import json

    for config in (Config(), Config().with_routing(vision_threshold=0.4)):
        assert config_from_dict(json.loads(config.to_json())) == config
