"""``eval-stt``: transcription providers on the same recording, against its ground-truth transcript.

Each provider hears every participant's track through the same voice gate the pipeline uses. For
each: word error rate (jiwer, lower-cased, punctuation removed) per participant and overall, the
real-time factor (wall seconds spent / seconds of recorded audio), and the audio seconds sent and
billed per participant beside the seconds recorded. A provider that cannot run here (no key) is
listed with the reason instead of a figure.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from assistant.core.config import Config
from assistant.core.errors import DatasetError, ProviderError
from assistant.providers.base import ProviderCallError
from assistant.providers.registry import make_transcriber
from assistant.sessions.datasets import Dataset
from assistant.sessions.media import iter_audio

DEFAULT_PROVIDERS = ("recorded:", "whisper:tiny.en", "deepgram:nova-3")


@dataclass(frozen=True, slots=True)
class ProviderResult:
    provider: str
    skipped: str | None = None
    wer: float | None = None
    wer_by_participant: dict[str, float] = field(default_factory=dict)
    rtf: float | None = None
    wall_s: float | None = None
    billed_audio_s: dict[str, float] = field(default_factory=dict)
    recorded_audio_s: dict[str, float] = field(default_factory=dict)
    calls: int = 0
    errors: int = 0
    cost_usd: float | None = None


@dataclass(frozen=True, slots=True)
class SttBench:
    dataset: str
    providers: list[ProviderResult]

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def word_error_rate(reference: str, hypothesis: str) -> float:
    import jiwer

    normalise = jiwer.Compose(
        [
            jiwer.ToLowerCase(),
            jiwer.RemovePunctuation(),
            jiwer.RemoveMultipleSpaces(),
            jiwer.Strip(),
            jiwer.ReduceToListOfListOfWords(),
        ]
    )
    if not reference.strip():
        return 0.0 if not hypothesis.strip() else 1.0
    return float(
        jiwer.wer(
            reference,
            hypothesis or "",
            reference_transform=normalise,
            hypothesis_transform=normalise,
        )
    )


def run_stt_bench(
    dataset: Dataset,
    *,
    providers: tuple[str, ...] = DEFAULT_PROVIDERS,
    config: Config | None = None,
    progress: Callable[[str], None] | None = None,
) -> SttBench:
    if not dataset.transcript:
        raise DatasetError(
            dataset.root / "manifest.toml",
            "has no ground-truth transcript",
            "Add [ground_truth].transcript (see datasets/README.md) to benchmark transcription",
        )
    from assistant.pricing.prices import Pricer

    base = config or Config()
    pricer = Pricer(base.pricing)
    results = []
    for spec in providers:
        cfg = dataclasses.replace(base, stt=dataclasses.replace(base.stt, provider=spec))
        try:
            transcriber = make_transcriber(cfg, dataset.transcript, allow_fallback=False)
            transcriber.warm_up()
        except ProviderError as exc:
            results.append(ProviderResult(provider=spec, skipped=str(exc)))
            continue
        if progress is not None:
            progress(spec)
        hypotheses: dict[str, list[str]] = {p.identity: [] for p in dataset.participants}
        billed = {p.identity: 0.0 for p in dataset.participants}
        recorded = {p.identity: 0.0 for p in dataset.participants}
        calls = errors = 0
        cost = 0.0
        started = time.perf_counter()
        for person in dataset.participants:
            chunks = iter_audio(person.audio, participant=person.identity)
            segments = [s for chunk in chunks for s in _push(transcriber, chunk, recorded)]
            for segment in segments + transcriber.flush():
                calls += 1
                try:
                    result = transcriber.transcribe(segment)
                except ProviderCallError:
                    errors += 1
                    continue
                billed[person.identity] += result.usage.audio_s
                cost += pricer.cost_usd(
                    provider=result.provider,
                    model=result.model_resolved,
                    usage=result.usage,
                    local=result.local,
                )
                hypotheses[person.identity] += [u.text for u in result.value]
        wall_s = time.perf_counter() - started
        truth = {
            p.identity: " ".join(u.text for u in dataset.transcript if u.participant == p.identity)
            for p in dataset.participants
        }
        results.append(
            ProviderResult(
                provider=transcriber.spec,
                wer=word_error_rate(
                    " ".join(truth.values()), " ".join(" ".join(h) for h in hypotheses.values())
                ),
                wer_by_participant={
                    k: word_error_rate(truth[k], " ".join(v)) for k, v in hypotheses.items()
                },
                rtf=wall_s / max(sum(recorded.values()), 1e-9),
                wall_s=wall_s,
                billed_audio_s={k: round(v, 2) for k, v in billed.items()},
                recorded_audio_s={k: round(v, 2) for k, v in recorded.items()},
                calls=calls,
                errors=errors,
                cost_usd=cost,
            )
        )
    return SttBench(dataset=dataset.name, providers=results)


def _push(transcriber: Any, chunk: Any, recorded: dict[str, float]) -> list[Any]:
    recorded[chunk.participant] += chunk.duration_s
    return list(transcriber.push(chunk))


def format_stt_bench(bench: SttBench) -> str:
    w = max([20, *(len(p.provider) + 1 for p in bench.providers)])  # whisper:tiny.en?batched=0
    lines = [
        f"{bench.dataset}: word error rate against the ground-truth transcript",
        f"{'provider':<{w}}{'WER':>7}{'RTF':>8}{'sent s':>9}{'recorded s':>12}{'sent':>7}"
        f"{'calls':>7}{'cost':>11}  WER by participant",
    ]
    for p in bench.providers:
        if p.skipped:
            lines.append(f"{p.provider:<{w}}skipped: {p.skipped}")
            continue
        sent, rec = sum(p.billed_audio_s.values()), sum(p.recorded_audio_s.values())
        by = ", ".join(f"{k} {v:.2f}" for k, v in p.wer_by_participant.items())
        lines.append(
            f"{p.provider:<{w}}{p.wer or 0:>7.3f}{p.rtf or 0:>8.3f}{sent:>9.1f}{rec:>12.1f}"
            f"{sent / rec if rec else 0:>7.0%}{p.calls:>7}{'$' + format(p.cost_usd or 0, '.5f'):>11}"
            f"  {by}"
        )
    return "\n".join(lines)
