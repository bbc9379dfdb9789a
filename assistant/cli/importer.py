"""`python -m assistant import SOURCE... --out DIR` and `python -m assistant questions DATASET`.

``import`` turns a recording (a mixed-audio video, LiveKit Egress files, a video plus its audio)
into a dataset folder and proposes the questions found in its transcript; ``questions`` proposes
them for any dataset and, with ``--write``, appends the new ones to its questions file.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import tomllib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from assistant.core.errors import WorkbenchError

DEFAULT_STT = "whisper:tiny.en"


def add_commands(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    imp = subparsers.add_parser(
        "import",
        help="turn a recording (mixed-audio video, LiveKit Egress files) into a dataset folder",
        description="Sources: one video with its mixed audio (participant 'room'), or a video plus "
        "one audio file per participant (IDENTITY=FILE, or named by the file). Tracks are aligned "
        "by their stream start times.",
    )
    imp.add_argument("sources", nargs="+", help="video and audio files (IDENTITY=FILE names one)")
    imp.add_argument("--out", required=True, type=Path, help="the new dataset folder")
    imp.add_argument("--tenant", default="imported", help="tenant id (default imported)")
    imp.add_argument("--room", help="room name (default: from the --out folder name)")
    imp.add_argument("--title", help="the meeting's title (default: the video's file name)")
    imp.add_argument("--sharer", help="who shares the screen (default: the first participant)")
    imp.add_argument("--knowledge", type=Path, help="a folder of .md/.txt documents to copy")
    imp.add_argument("--no-questions", action="store_true",
                     help="do not transcribe nor propose questions")
    imp.add_argument("--stt", default=DEFAULT_STT, help=f"transcriber (default {DEFAULT_STT})")
    imp.add_argument("--quiet", action="store_true", help="no progress bars")
    q = subparsers.add_parser(
        "questions", help="propose the questions asked in a dataset's transcript"
    )
    q.add_argument("dataset", type=Path, help="dataset folder")
    q.add_argument("--write", action="store_true",
                   help="append the new proposals to the questions file (never removes one)")
    q.add_argument("--stt", default=DEFAULT_STT,
                   help="transcriber when the dataset has no imported transcript "
                   f"('recorded' reads its ground truth; default {DEFAULT_STT})")
    q.add_argument("--quiet", action="store_true", help="no progress bars")
    q.add_argument("--evaluate", action="store_true",
                   help="print the proposer's precision and recall against the dataset's truth: "
                   "transcript lines marked as questions (question_like / question)")
    q.add_argument("--truth", type=Path,
                   help="with --evaluate: a transcript JSONL whose lines mark the real questions "
                   "(default: the dataset's [ground_truth].transcript)")


def _transcriber(spec: str, truth: Any) -> Any:
    from assistant.core.config import Config
    from assistant.providers.registry import make_transcriber

    base = Config()
    cfg = dataclasses.replace(base, stt=dataclasses.replace(base.stt, provider=spec))
    transcriber = make_transcriber(cfg, truth, allow_fallback=False)
    transcriber.warm_up()
    return transcriber


def transcribe(spec: str, people: Sequence[tuple[str, Path]], duration_s: float, *,
               quiet: bool, truth: Any = None) -> list[Any]:
    """Every participant's audio through the transcriber, utterances in time order."""
    from assistant.cli import terminal
    from assistant.providers.base import ProviderCallError
    from assistant.sessions.media import iter_audio

    transcriber = _transcriber(spec, truth)
    utterances: list[Any] = []
    failed = 0
    for identity, path in people:
        tick = terminal.bar(duration_s, f"transcribing {identity}", quiet=quiet)
        def heard(segments: list[Any]) -> None:
            nonlocal failed
            for segment in segments:  # as each closes: no recording's speech is held in memory
                try:
                    utterances.extend(transcriber.transcribe(segment).value)
                except ProviderCallError:
                    failed += 1

        try:
            for chunk in iter_audio(path, participant=identity):
                heard(transcriber.push(chunk))
                if tick is not None:
                    tick(chunk.t_s)
            heard(transcriber.flush())
            terminal.finish(tick)
        finally:
            terminal.close(tick)
    if failed:
        print(f"warning: {failed} speech segments could not be transcribed", file=sys.stderr)
    return sorted((u for u in utterances if u.text.strip()), key=lambda u: u.start_s)


def run(args: argparse.Namespace) -> int:
    if args.command == "import":
        return _import(args)
    return _questions(args)


def _import(args: argparse.Namespace) -> int:
    from assistant.cli import terminal
    from assistant.sessions.importing import ImportOptions, import_recording

    options = ImportOptions(
        out=args.out, tenant=args.tenant, room=args.room, title=args.title, sharer=args.sharer,
        knowledge=args.knowledge, questions=not args.no_questions, stt=args.stt,
    )
    result = import_recording(
        args.sources,
        options,
        transcribe=lambda people, duration_s: transcribe(
            args.stt, people, duration_s, quiet=args.quiet
        ),
        progress=lambda desc, total_s: terminal.bar(total_s, desc, quiet=args.quiet),
        close=terminal.close,
    )
    ds, plan = result.dataset, result.plan
    for note in result.notes:
        print(f"note: {note}")
    print(f"wrote {ds.root}: {ds.duration_s:.1f} s, screen {ds.screen.name} ({result.video}), "
          f"participants {', '.join(p.identity for p in ds.participants)}")
    for identity, track in plan.voices:
        print(f"  audio/{identity}.flac  from {track.path.name}, starts at "
              f"{track.start_s - plan.origin_s:.2f} s")
    if args.no_questions:
        print("no questions (--no-questions): add some, or run "
              f"`python -m assistant questions {ds.root} --write`")
    else:
        print(f"transcript.jsonl: {len(result.transcript)} utterances ({args.stt}, not ground truth)")
        print(f"questions.jsonl: {result.proposed} proposed questions (no reference yet: label them)")
        for q in ds.questions:
            print(f"  {q.id} {q.t_s:7.1f}s {q.asker}: {q.text}")
    return 0


def _utterances(args: argparse.Namespace, ds: Any, manifest: dict[str, Any]) -> tuple[Any, str]:
    """The transcript the proposals come from, and where it came from. ``--stt recorded`` reads
    the ground truth; without one it says so and uses the transcript made at import."""
    from assistant.sessions.datasets import load_transcript
    from assistant.sessions.importing import IMPORTED_TABLE

    made = manifest.get(IMPORTED_TABLE, {}).get("transcript")
    people = {p.identity for p in ds.participants}
    imported = isinstance(made, str) and (ds.root / made).is_file()
    recorded = args.stt.split(":", 1)[0] == "recorded"
    if recorded and ds.transcript is not None:
        return ds.transcript, "the ground-truth transcript (--stt recorded)"
    if recorded:
        if not imported:
            raise WorkbenchError(
                f"--stt recorded: {ds.root} has no ground-truth transcript "
                "([ground_truth].transcript in manifest.toml) and no imported one; "
                f"add one, or use --stt {DEFAULT_STT}"
            )
        print(f"note: --stt recorded: {ds.root} has no ground-truth transcript "
              f"([ground_truth].transcript); using {made}, the transcript made at import, instead")
    if imported:
        utterances = load_transcript(ds.root / made, duration_s=ds.duration_s, people=people)
        return utterances, f"{made} (made at import)"
    stt = DEFAULT_STT if recorded else args.stt
    heard = transcribe(stt, [(p.identity, p.audio) for p in ds.participants],
                       ds.duration_s, quiet=args.quiet, truth=ds.transcript)
    return heard, stt


def _questions(args: argparse.Namespace) -> int:
    from assistant.sessions.datasets import load_dataset
    from assistant.sessions.proposals import dedupe, next_ids, propose_all
    from assistant.sessions.writers import replace_text

    ds = load_dataset(args.dataset, check_media=False)
    manifest = tomllib.loads((ds.root / "manifest.toml").read_text(encoding="utf-8"))
    if args.evaluate:
        return _evaluate(args, ds)
    utterances, origin = _utterances(args, ds, manifest)
    found, rejected = propose_all(utterances)
    fresh, repeats = dedupe(found, ds.questions)
    print(f"{ds.name}: {len(found)} questions proposed from {origin}, "
          f"{len(found) - len(fresh)} already in {manifest['questions']}")
    ids = next_ids((q.id for q in ds.questions), len(fresh))
    for qid, p in zip(ids, fresh, strict=True):
        print(f"  {qid} {p.t_s:7.1f}s {p.asker} [{p.kind}]: {p.text}")
    skipped = sorted(rejected + repeats, key=lambda s: s.t_s)
    if skipped:
        print(f"skipped {len(skipped)}:")
        for s in skipped:
            print(f"  {s.t_s:7.1f}s {s.asker}: {s.text}  ({s.reason})")
    if args.write and fresh:
        path = ds.root / manifest["questions"]
        text = path.read_text(encoding="utf-8")
        if text and not text.endswith("\n"):
            text += "\n"
        text += "".join(
            json.dumps(p.as_json(qid), ensure_ascii=False) + "\n"
            for qid, p in zip(ids, fresh, strict=True)
        )
        replace_text(path, text)  # a new file renamed over the old (mode kept): never half
        load_dataset(ds.root, check_media=False)  # what was appended must load
        print(f"appended {len(fresh)} to {path}")
    elif args.write:
        print("nothing new to append")
    return 0


def _evaluate(args: argparse.Namespace, ds: Any) -> int:
    from assistant.sessions.question_eval import evaluate_proposals, format_evaluation, truth_from

    truth = truth_from(ds, args.truth)
    manifest = tomllib.loads((ds.root / "manifest.toml").read_text(encoding="utf-8"))
    utterances, origin = _utterances(args, ds, manifest)
    print(format_evaluation(evaluate_proposals(utterances, truth), origin=origin, name=ds.name))
    return 0
