"""Provider faults: a replay whose answer calls meet timeouts, 429s with Retry-After, 500s,
malformed bodies and streams that stall or break mid-way, through the real SDKs (openai for the
cheap tier, an OpenAI-compatible server; anthropic for the premium tier) against the local vendor
fakes.

A seeded 30 % of the N questions get a fault of some kind and scope: ``transient`` (the first
attempt at the routed tier only), ``routed`` (every attempt at the routed tier) or ``both`` (every
attempt at either tier). What each request row and call row must say is derived from that schedule
and the configured policy (``[calls]``: which faults are retried, how often, how long to wait), not
from what the code happened to do; the waits are checked against the fake server's own clock, as
lower bounds only.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import random
import re
import socket
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pytest
from support.fakes.vendors import MODELS, FakeVendors, RecordedRequest, Reply, Vendor

from assistant.core.config import CallsConfig, config_from_dict
from assistant.ledger import Ledger
from assistant.routing import CHEAP, PREMIUM
from assistant.sessions.datasets import load_dataset
from assistant.sessions.replay import replay

N = 30
FAULT_SHARE = 0.3
SEED = 8
CALLS = CallsConfig(timeout_s=0.3, max_attempts=3, base_delay_s=0.2, max_delay_s=2.0)
STALL_S = 2.0  # well past the client's timeout; the fake gives up on its own when it stops
RETRY_AFTER_S = 1


@dataclass(frozen=True, slots=True)
class Tier:
    spec: str
    vendor: str  # which of the fake's APIs it speaks (and so the model the fake answers as)
    provider: str  # the name the ledger records

    @property
    def resolved(self) -> str:
        return f"{self.provider}:{MODELS[self.vendor]}"


TIERS = {
    CHEAP: Tier("openai-compatible:fake-mini", "openai", "openai-compatible"),
    PREMIUM: Tier("anthropic:claude-sonnet-4-6", "anthropic", "anthropic"),
}


@dataclass(frozen=True, slots=True)
class Kind:
    reply: Reply
    retryable: bool  # the policy retries it (429, 5xx, timeouts); a bad body or a cut stream not
    names: str  # what the error text must say
    server_clock: bool  # the fake's reply time is when the client got the error (not a stall)


KINDS = {
    "timeout": Kind(
        Reply.stall(STALL_S), True, f"did not answer within {CALLS.timeout_s:g} s", False
    ),
    "rate_limit": Kind(
        Reply.rate_limited(retry_after_s=RETRY_AFTER_S), True, "rate limit or quota reached", True
    ),
    "server_error": Kind(Reply.server_error(500), True, "server error 500", True),
    "malformed": Kind(Reply.malformed(stream=True), False, "malformed response", True),
    "stall_mid_stream": Kind(
        Reply.stall_mid_stream(after=2, seconds=STALL_S),
        True,
        f"did not answer within {CALLS.timeout_s:g} s",
        False,
    ),
    "cut_stream": Kind(Reply.cut_stream(after=2), False, "cut mid-way", True),
}
SCOPES = ("transient", "routed", "both")


@dataclass(frozen=True, slots=True)
class Fault:
    kind: str
    scope: str

    @property
    def spec(self) -> Kind:
        return KINDS[self.kind]

    def hits(self, *, first_vendor: bool, attempt: int) -> bool:
        """Whether the request is faulted: ``first_vendor`` is the tier the question went to."""
        if self.scope == "transient":
            return first_vendor and attempt == 1
        return first_vendor or self.scope == "both"


def qid(i: int) -> str:
    return f"f{i:02d}"


def schedule(rng: random.Random) -> dict[str, Fault]:
    """A seeded 30 % of the questions, every kind at least once, every scope equally often."""
    faulted = sorted(rng.sample([qid(i) for i in range(N)], round(N * FAULT_SHARE)))
    kinds = rng.sample(list(KINDS), len(KINDS))
    kinds += rng.choices(list(KINDS), k=len(faulted) - len(kinds))
    scopes = [SCOPES[i % len(SCOPES)] for i in range(len(faulted))]
    rng.shuffle(scopes)
    return {q: Fault(k, s) for q, k, s in zip(faulted, kinds, scopes, strict=True)}


@dataclass(frozen=True, slots=True)
class Expected:
    status: str
    calls: tuple[tuple[str, str, int], ...]  # (provider, status, attempts) in call order
    fallback_model: str | None
    error_names: tuple[str, ...]  # what the request's error text must contain, in order


def expected(fault: Fault | None, tier: str) -> Expected:
    """What the ledger must hold for a question routed to ``tier`` and faulted with ``fault``."""
    routed, other = TIERS[tier], TIERS[PREMIUM if tier == CHEAP else CHEAP]
    if fault is None:
        return Expected("ok", ((routed.provider, "ok", 1),), None, ())
    failed = CALLS.max_attempts if fault.spec.retryable else 1  # attempts of a call that fails
    named = f"llm {routed.spec}: ", fault.spec.names
    if fault.scope == "transient" and fault.spec.retryable:
        return Expected("ok", ((routed.provider, "ok", 2),), None, ())
    if fault.scope in ("transient", "routed"):  # the other tier answers, at its first attempt
        calls = ((routed.provider, "error", failed), (other.provider, "ok", 1))
        return Expected("fallback", calls, other.resolved, named)
    calls = ((routed.provider, "error", failed), (other.provider, "error", failed))
    return Expected("error", calls, None, (*named, f"llm {other.spec}: ", fault.spec.names))


def backoff_s(attempt: int) -> float:
    """The configured wait after failed attempt ``attempt`` (without Retry-After)."""
    return min(CALLS.base_delay_s * 2 ** (attempt - 1), CALLS.max_delay_s)


# -- fixtures ----------------------------------------------------------------------------------
@pytest.fixture(autouse=True)
def _loopback_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """No network: any connection to a non-loopback address fails the test."""
    real = socket.socket.connect

    def connect(self: socket.socket, address: Any) -> None:
        host = address[0] if isinstance(address, tuple) else str(address)
        assert host in ("127.0.0.1", "::1") or self.family == socket.AF_UNIX, f"network: {address}"
        real(self, address)

    monkeypatch.setattr(socket.socket, "connect", connect)


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[FakeVendors]:
    monkeypatch.chdir(tmp_path)  # no .env or secrets.toml of the developer's
    with FakeVendors() as server:
        monkeypatch.setenv("OPENAI_COMPATIBLE_BASE_URL", server.openai_url)
        monkeypatch.setenv("OPENAI_COMPATIBLE_API_KEY", "oc-test-fake-key")
        monkeypatch.setenv("ANTHROPIC_BASE_URL", server.url)  # read by the anthropic SDK
        monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test-fake-key")
        yield server


def write_questions(dataset: Path) -> None:
    """N questions, each with a tag the fake finds in the request body, all within the session."""
    lines = [
        json.dumps(
            {
                "id": qid(i),
                "t_s": round(5.0 + i * 0.1, 1),
                "asker": ("alice", "bob")[i % 2],
                "text": f"Question {qid(i)}: what is the launch date?",
                "reference": "March 14.",
                "key_facts": ["March 14"],
                "needs_screen": False,
                "source": "transcript",
            }
        )
        for i in range(N)
    ]
    (dataset / "questions.jsonl").write_text("\n".join(lines) + "\n")


TAG = re.compile(r"Question (f\d\d):")


def question_of(request: RecordedRequest) -> str:
    match = TAG.search(request.text)
    assert match, f"a request without a question: {request.path}"
    return match.group(1)


# -- the test ----------------------------------------------------------------------------------
def test_replay_with_injected_faults_records_every_request_truly(
    tiny: Path, tmp_path: Path, fake: FakeVendors
) -> None:
    faults = schedule(random.Random(SEED))
    assert len(faults) == round(N * FAULT_SHARE) and set(KINDS) <= {f.kind for f in faults.values()}
    # the retried faults that must show the waits: a Retry-After, and a backoff over 3 attempts
    assert any(f.kind == "rate_limit" and f.scope != "transient" for f in faults.values())
    assert any(
        f.spec.retryable and f.kind != "rate_limit" and f.scope != "transient"
        for f in faults.values()
    )
    first_vendor: dict[str, str] = {}  # question -> the vendor it reached first (its routed tier)
    served: dict[int, str] = {}  # id(request) -> the fault it was answered with

    def script(request: RecordedRequest, attempt: int) -> Reply | None:
        q = question_of(request)
        first = first_vendor.setdefault(q, request.vendor)
        fault = faults.get(q)
        if fault is None or not fault.hits(first_vendor=request.vendor == first, attempt=attempt):
            return None  # the default answer
        served[id(request)] = fault.kind
        return fault.spec.reply

    fake.script(script)
    write_questions(tiny)
    config = config_from_dict(  # as a config file would say it: [calls] bounds every call
        {
            "stt": {"provider": "recorded:"},
            "llm": {"cheap": TIERS[CHEAP].spec, "premium": TIERS[PREMIUM].spec},
            "routing": {"router": "random", "seed": SEED},
            "calls": dataclasses.asdict(CALLS),
        }
    )
    assert config.calls == CALLS
    ledger_path = tmp_path / "ledger.duckdb"
    with Ledger(ledger_path) as ledger:
        run_id = replay(load_dataset(tiny), ledger=ledger, config=config, run_id="faults")

    con = duckdb.connect(str(ledger_path), read_only=True)
    try:
        rows = con.execute(
            "SELECT question_id, request_id, tier, llm_model_requested, status, error, "
            "fallback_model, answer FROM requests WHERE run_id = ? ORDER BY media_t_s",
            [run_id],
        ).fetchall()
        calls = con.execute(
            "SELECT request_id, stage, provider, status, attempts, error FROM calls "
            "WHERE run_id = ? ORDER BY call_id",
            [run_id],
        ).fetchall()
    finally:
        con.close()

    # exactly one request row per question, none lost, none doubled
    assert len(rows) == N
    assert sorted(r[0] for r in rows) == [qid(i) for i in range(N)]
    # no call took more attempts than the policy allows (no retry loop runs away)
    assert calls and all(1 <= c[4] <= CALLS.max_attempts for c in calls)
    llm_calls: dict[str, list[tuple[str, str, int, str | None]]] = defaultdict(list)
    for request_id, stage, provider, status, attempts, error in calls:
        if stage == "llm":
            llm_calls[request_id].append((provider, status, attempts, error))

    by_request = defaultdict(list)
    for request in fake.requests:
        by_request[question_of(request)].append(request)
    tiers_hit = {CHEAP: 0, PREMIUM: 0}
    statuses: dict[str, int] = defaultdict(int)
    for q, request_id, tier, requested, status, error, fallback_model, answer in rows:
        fault = faults.get(q)
        want = expected(fault, tier)
        where = f"{q} ({fault}, routed {tier})"
        tiers_hit[tier] += fault is not None
        statuses[status] += 1
        assert first_vendor[q] == TIERS[tier].vendor, where  # the routed tier was asked first
        assert requested == TIERS[tier].spec, where
        assert status == want.status, f"{where}: {status} ({error})"
        assert fallback_model == want.fallback_model, where
        assert (answer is not None) == (status != "error"), where
        if want.error_names:
            assert error, where
            at = 0
            for name in want.error_names:  # each failed tier, named with what went wrong, in order
                found = error.find(name, at)
                assert found >= 0, f"{where}: {name!r} not in {error!r}"
                at = found + len(name)
        else:
            assert error is None, f"{where}: {error}"
        got = tuple((p, s, a) for p, s, a, _ in llm_calls[request_id])
        assert got == want.calls, where
        for _, call_status, _, call_error in llm_calls[request_id]:
            if call_status == "error":
                assert fault is not None and fault.spec.names in (call_error or ""), where
        # the fake saw exactly the attempts the ledger records: no hidden SDK retries
        sent: dict[str, int] = defaultdict(int)
        for request in by_request[q]:
            sent[request.vendor] += 1
        providers = {t.provider: t.vendor for t in TIERS.values()}
        assert dict(sent) == {providers[p]: a for p, _, a in want.calls}, where

    # the waits between attempts, on the fake server's clock: lower bounds only
    retry_after_gaps: list[float] = []
    backoff_gaps: dict[int, list[float]] = defaultdict(list)
    for q, requests in by_request.items():
        for vendor in {r.vendor for r in requests}:
            attempts = sorted((r for r in requests if r.vendor == vendor), key=lambda r: r.at)
            assert [r.attempt for r in attempts] == list(range(1, len(attempts) + 1)), q
            for failed, retry in itertools.pairwise(attempts):
                kind = KINDS[served[id(failed)]]  # only a faulted attempt is retried
                wait = backoff_s(failed.attempt)
                if served[id(failed)] == "rate_limit":
                    wait = max(wait, RETRY_AFTER_S)
                if kind.server_clock:  # from the error reply to the retry
                    assert failed.replied_at is not None
                    gap = retry.at - failed.replied_at
                else:  # a stall: the client waited its timeout, then backed off
                    gap = retry.at - failed.at - CALLS.timeout_s
                assert gap >= wait, f"{q} {vendor}: retry after {gap:.3f} s, owed {wait} s"
                if served[id(failed)] == "rate_limit":
                    retry_after_gaps.append(gap)
                else:
                    backoff_gaps[failed.attempt].append(gap)
    assert retry_after_gaps and min(retry_after_gaps) >= RETRY_AFTER_S
    # the backoff grows: every second retry of a request waited at least the doubled delay
    assert backoff_gaps[2] and min(backoff_gaps[2]) >= 2 * CALLS.base_delay_s
    # the schedule reached both tiers, and every status it can produce occurred
    assert tiers_hit[CHEAP] and tiers_hit[PREMIUM], tiers_hit
    assert set(statuses) == {"ok", "fallback", "error"}, statuses


@pytest.mark.parametrize("vendor", ["openai", "anthropic", "google"])
def test_retry_after_longer_than_the_policy_waits_is_not_retried_early(
    vendor: Vendor, fake: FakeVendors
) -> None:
    """Retrying before the server's Retry-After would ignore it: the call fails at once instead
    (the pipeline's other tier answers), saying why; a shorter Retry-After is waited in full."""
    from assistant.providers.base import ProviderCallError, RetryPolicy
    from assistant.providers.cloud import CloudOptions
    from assistant.providers.llm.base import LLM, AnswerRequest
    from assistant.providers.vendors.anthropic.llm import AnthropicLLM
    from assistant.providers.vendors.google.llm import GoogleLLM
    from assistant.providers.vendors.openai.llm import OpenAILLM

    sleeps: list[float] = []
    classes = {"openai": OpenAILLM, "anthropic": AnthropicLLM, "google": GoogleLLM}
    options = CloudOptions(
        model="m",
        api_key="test-fake-key",
        base_url=fake.openai_url if vendor == "openai" else fake.url,
        timeout_s=5.0,
    )
    policy = RetryPolicy(max_attempts=3, base_delay_s=0.5, max_delay_s=8.0)
    llm: LLM = classes[vendor](options, policy=policy, sleep=sleeps.append)
    request = AnswerRequest(question="When is the launch?")
    try:
        fake.push(vendor, Reply.rate_limited(retry_after_s=30))
        with pytest.raises(ProviderCallError) as info:
            llm.answer(request)
        assert info.value.failure.attempts == 1 and sleeps == []
        assert "rate limit" in str(info.value) and "longer than 8 s" in str(info.value)
        # a Retry-After shorter than the backoff still gets the backoff; a longer one in full
        fake.push(vendor, Reply.rate_limited(retry_after_s=0), Reply.rate_limited(retry_after_s=3))
        assert llm.answer(request).attempts == 3  # then the fake's default answer
        assert sleeps == [0.5, 3.0]
    finally:
        llm.close()
