"""Turn recordings a user already has into a dataset folder (format: datasets/README.md).

Inputs (see :func:`plan_import`):

- one video with a mixed audio track (any meeting tool's MP4/WebM/MKV/MOV, or a LiveKit Egress
  room-composite file): its one audio track becomes one participant, ``room``;
- a video plus audio-only files (LiveKit track-egress outputs, or a separate audio file beside a
  silent screen video): each audio file is one participant, named ``IDENTITY=FILE`` or by its file
  name; the video's own audio, if any, is then left out.

**The clock.** Every stream's first timestamp (the stream's ``start_time``, else the container's)
is read as a time on one shared clock: that is how LiveKit track egress writes its per-track files,
and what :func:`plan_import` relies on. The session starts at the earliest stream and ends at the
latest; each audio file is written from session time 0 (silence before its first packet, in gaps
between its packets, and after its end), so all tracks share one clock. A tool that restarts every
file at 0 gives files that start together, which is all the file can tell.

**Flat memory.** Video packets are copied one at a time (or decoded and re-encoded frame by frame),
audio is decoded, resampled to 16 kHz mono and written to FLAC frame by frame: nothing holds a
whole file. The screen video is copied as it is when the copy decodes to the end of the session
(the loader decodes by pts, so a variable frame rate is kept); it is re-encoded to H.264 when the
copy fails or ends early (the last frame is then held to the end).

**Nothing half-written.** Everything is written into a temporary folder beside ``out``, checked
with :func:`load_dataset`, then renamed to ``out``; any failure removes the temporary folder.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from assistant.core.errors import DatasetError, WorkbenchError
from assistant.core.events import Utterance
from assistant.core.limits import Limits
from assistant.sessions.datasets import IDENT, KNOWLEDGE_SUFFIXES, SLUG, Dataset, load_dataset
from assistant.sessions.media import check_frame_size, probe_video
from assistant.sessions.staging import Staging, stage_beside, sweep_stale
from assistant.sessions.writers import (
    AUDIO_RATE,
    FlacWriter,
    identity_of,
    manifest_text,
    toml_value,
)

TAIL_S = 10.0  # the end of a stream is read from this far before the header's guess
GAP_S = 0.05  # a jump in an audio track's timestamps longer than this is filled with silence
MIXED_IDENTITY = "room"
COPY_SUFFIXES = (".mp4", ".mkv", ".webm", ".mov")
IMPORTED_TABLE = "imported"
_FIX_DECODE = "Re-export it (e.g. `ffmpeg -i in -c:v libx264 -c:a aac out.mp4`)"

Tick = Callable[[float], None]


@dataclass(frozen=True, slots=True)
class Track:
    """One stream of one source file, with its start and end on the session's clock."""

    path: Path
    index: int  # the stream's index in its container
    start_s: float  # first timestamp, in the file's own clock
    end_s: float


@dataclass(frozen=True, slots=True)
class ImportPlan:
    screen: Track
    voices: tuple[tuple[str, Track], ...]  # (identity, audio track)
    origin_s: float  # the earliest stream start: session time 0
    duration_s: float
    notes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ImportOptions:
    out: Path
    tenant: str = "imported"
    room: str | None = None  # default: from the output folder's name
    title: str | None = None
    sharer: str | None = None  # who shares the screen (default: the first participant)
    knowledge: Path | None = None  # a folder of .md/.txt documents to copy
    questions: bool = True
    stt: str = "whisper:tiny.en"


@dataclass(frozen=True, slots=True)
class ImportResult:
    dataset: Dataset
    plan: ImportPlan
    video: str  # "copied" or "re-encoded"
    transcript: tuple[Utterance, ...] = ()
    proposed: int = 0
    notes: tuple[str, ...] = field(default=())


def _av() -> Any:
    import av  # heavy: imported where used

    return av


def _open(path: Path) -> Any:
    av = _av()
    if not path.is_file():
        raise DatasetError(path, "is not a file", "Check the path of the recording")
    if path.stat().st_size == 0:
        raise DatasetError(path, "is empty", "Pass the complete recording")
    try:
        return av.open(str(path))
    except av.FFmpegError as exc:
        raise DatasetError(
            path, f"does not decode as audio or video ({exc.strerror or exc})", _FIX_DECODE
        ) from exc


def _start_s(container: Any, stream: Any) -> float:
    if stream.start_time is not None and stream.time_base is not None:
        return float(stream.start_time * stream.time_base)
    if container.start_time is not None:
        return float(container.start_time) / 1_000_000
    return 0.0


def _end_s(path: Path, container: Any, stream: Any, start_s: float) -> float:
    """The end of the stream's last packet: headers only give a guess (Ogg's and Matroska's
    durations count from 0, not from the stream's start), so the tail is read from a seek to just
    before the guess, or the whole stream is demuxed when that finds nothing (flat memory)."""
    av = _av()
    guesses = []
    if stream.duration is not None and stream.time_base is not None:
        guesses.append(start_s + float(stream.duration * stream.time_base))
    if container.duration is not None:
        guesses.append(float(container.duration) / 1_000_000 + start_s)

    def scan() -> float | None:
        end = None
        try:
            for packet in container.demux(stream):
                if packet.pts is not None:
                    t = float((packet.pts + (packet.duration or 0)) * packet.time_base)
                    end = t if end is None else max(end, t)
        except av.FFmpegError as exc:
            raise DatasetError(path, f"stops reading after {end or 0:.1f} s ({exc})",
                               _FIX_DECODE) from exc
        return end

    found = None
    if guesses and max(guesses) - start_s > TAIL_S:
        try:
            container.seek(int((max(guesses) - TAIL_S) / stream.time_base), stream=stream,
                           backward=True)
            found = scan()
        except av.FFmpegError:
            found = None
    if found is None:
        container.seek(0)
        found = scan()
    return max(found or start_s, start_s)


def _first_decodes(path: Path, container: Any, stream: Any, kind: str) -> None:
    av = _av()
    try:
        for _frame in container.decode(stream):
            return
    except av.FFmpegError as exc:
        raise DatasetError(
            path, f"its {kind} track does not decode ({exc.strerror or exc})", _FIX_DECODE
        ) from exc
    raise DatasetError(path, f"its {kind} track holds no decodable frame", _FIX_DECODE)


def _tracks(path: Path) -> tuple[Track | None, Track | None]:
    """The first video and first audio track of a file (each checked to decode a first frame)."""
    found: list[Track | None] = []
    for kind in ("video", "audio"):
        container = _open(path)
        try:
            streams = getattr(container.streams, kind)
            if not streams:
                found.append(None)
                continue
            stream = streams[0]
            start = _start_s(container, stream)
            _first_decodes(path, container, stream, kind)
            container.seek(0)
            found.append(Track(path, stream.index, start, _end_s(path, container, stream, start)))
        finally:
            container.close()
    return found[0], found[1]


def _check_size(path: Path) -> None:
    """Refuse a screen larger than the loader decodes, before anything is written."""
    container = _open(path)
    try:
        ctx = container.streams.video[0].codec_context
        check_frame_size(path, ctx.width, ctx.height, Limits.from_env())
    finally:
        container.close()


def _split_source(source: str) -> tuple[str | None, Path]:
    left, sep, right = source.partition("=")
    if sep and IDENT.fullmatch(left) and not Path(source).exists():
        return left, Path(right)
    return None, Path(source)


def plan_import(sources: Sequence[str]) -> ImportPlan:
    """Which file is the screen, who each audio file is, and the shared clock (module docstring)."""
    if not sources:
        raise WorkbenchError("import needs at least one recording: python -m assistant import FILE")
    videos: list[Track] = []
    voices: list[tuple[str, Track]] = []
    mixed: Track | None = None
    notes: list[str] = []
    for source in sources:
        named, path = _split_source(source)
        video, audio = _tracks(path)
        if video is None and audio is None:
            raise DatasetError(path, "holds no audio or video track", _FIX_DECODE)
        if video is not None:
            videos.append(video)
            if len(videos) > 1:
                raise DatasetError(
                    path,
                    f"is a second video (the screen is {videos[0].path})",
                    "Pass one screen recording; its participants' audio may be separate files",
                )
            mixed = audio
            continue
        assert audio is not None
        identity = named or identity_of(path.stem)
        if any(identity == i for i, _ in voices):
            raise DatasetError(
                path, f"names participant {identity!r} twice", "Name the files IDENTITY=FILE"
            )
        voices.append((identity, audio))
    if not videos:
        first = voices[0][1].path
        raise DatasetError(
            first,
            "is audio only and no source has a video track (an Egress set needs its screen-share "
            "track file too)",
            "Add the screen recording (a video file) to the sources",
        )
    screen = videos[0]
    _check_size(screen.path)
    if voices:
        if mixed is not None:
            notes.append(f"{screen.path.name}: its own audio is left out (speaker files given)")
    elif mixed is not None:
        voices.append((MIXED_IDENTITY, mixed))
    else:
        raise DatasetError(
            screen.path,
            "has no audio track and no audio file was given (an Egress set needs every "
            "participant's audio track file)",
            "Pass the audio too: python -m assistant import VIDEO AUDIO... (IDENTITY=FILE names one)",
        )
    starts = [screen.start_s, *(t.start_s for _, t in voices)]
    origin = min(starts)
    end = max(screen.end_s, *(t.end_s for _, t in voices))
    return ImportPlan(screen, tuple(voices), origin, round(end - origin, 3), tuple(notes))


# -- writing --------------------------------------------------------------------------------------


def write_audio(track: Track, dest: Path, *, origin_s: float, duration_s: float,
                tick: Tick | None = None) -> None:
    """The track as mono 16 kHz FLAC from session time 0 to ``duration_s``, frame by frame."""
    av = _av()
    total = round(duration_s * AUDIO_RATE)
    out = FlacWriter(dest, total=total)
    put, silence_until = out.put, out.silence_until
    inp = _open(track.path)
    t_s = 0.0
    try:
        stream = inp.streams[track.index]
        resampler = av.AudioResampler(format="s16", layout="mono", rate=AUDIO_RATE)
        try:
            for frame in inp.decode(stream):
                if frame.pts is not None:
                    t_s = float(frame.pts * stream.time_base) - origin_s
                    at = round(t_s * AUDIO_RATE)
                    if at - out.written > GAP_S * AUDIO_RATE:
                        silence_until(at)
                for res in resampler.resample(frame):
                    put(res.to_ndarray().reshape(-1))
                if tick is not None:
                    tick(t_s)
                if out.written >= total:
                    break
            for res in resampler.resample(None):
                put(res.to_ndarray().reshape(-1))
        except av.FFmpegError as exc:
            raise DatasetError(
                track.path,
                f"the audio stops decoding at {t_s:.1f} s ({exc.strerror or exc})",
                _FIX_DECODE,
            ) from exc
        silence_until(total)
    finally:
        inp.close()
        out.close()


def _copy_video(track: Track, dest: Path, *, origin_s: float, tick: Tick | None) -> None:
    av = _av()
    inp = _open(track.path)
    out = av.open(str(dest), "w")
    try:
        ist = inp.streams[track.index]
        ost = out.add_stream_from_template(ist)
        shift = round(origin_s / ist.time_base)
        for packet in inp.demux(ist):
            if packet.dts is None:
                continue
            packet.pts = None if packet.pts is None else packet.pts - shift
            packet.dts -= shift
            packet.stream = ost
            out.mux(packet)
            if tick is not None and packet.pts is not None:
                tick(float(packet.pts * ist.time_base))
    finally:
        inp.close()
        out.close()


def _encode_video(track: Track, dest: Path, *, origin_s: float, duration_s: float,
                  tick: Tick | None) -> None:
    """Decode and re-encode to H.264 frame by frame, keeping each frame's time; the last frame is
    held to ``duration_s``."""
    av = _av()
    inp = _open(track.path)
    out = av.open(str(dest), "w")
    try:
        ist = inp.streams[track.index]
        rate = ist.average_rate or ist.guessed_rate or 30
        ost = out.add_stream("libx264", rate=rate)
        ctx = ist.codec_context
        ost.width, ost.height = ctx.width - ctx.width % 2, ctx.height - ctx.height % 2
        ost.pix_fmt = "yuv420p"
        ost.codec_context.time_base = ist.time_base
        ost.options = {"preset": "veryfast", "crf": "23"}
        last: Any = None
        last_pts = -1
        t_s = 0.0

        def put(frame: Any, pts: int) -> None:
            frame = frame.reformat(width=ost.width, height=ost.height, format="yuv420p")
            frame.pts, frame.time_base = pts, ist.time_base
            for packet in ost.encode(frame):
                out.mux(packet)

        try:
            for frame in inp.decode(ist):
                if frame.pts is None:
                    continue
                pts = frame.pts - round(origin_s / ist.time_base)
                if pts <= last_pts:
                    continue  # a repeated or out-of-order time: keep the first
                put(frame, pts)
                last, last_pts = frame, pts
                t_s = float(pts * ist.time_base)
                if tick is not None:
                    tick(t_s)
        except av.FFmpegError as exc:
            raise DatasetError(
                track.path, f"the video stops decoding at {t_s:.1f} s ({exc})", _FIX_DECODE
            ) from exc
        if last is None:
            raise DatasetError(track.path, "its video holds no decodable frame", _FIX_DECODE)
        end_pts = int(duration_s / ist.time_base)
        if end_pts > last_pts:
            put(last, end_pts)
        for packet in ost.encode(None):
            out.mux(packet)
    finally:
        inp.close()
        out.close()


def write_screen(track: Track, folder: Path, *, origin_s: float, duration_s: float,
                 tick: Tick | None = None) -> tuple[str, str]:
    """The screen video in ``folder``: ``(file name, "copied" | "re-encoded")``."""
    av = _av()
    suffix = track.path.suffix.lower()
    copy = folder / f"screen{suffix if suffix in COPY_SUFFIXES else '.mkv'}"
    try:
        _copy_video(track, copy, origin_s=origin_s, tick=tick)
        probe_video(copy, expect_duration_s=duration_s)
        return copy.name, "copied"
    except (av.FFmpegError, DatasetError, ValueError):
        copy.unlink(missing_ok=True)
    encoded = folder / "screen.mp4"
    _encode_video(track, encoded, origin_s=origin_s, duration_s=duration_s, tick=tick)
    try:
        probe_video(encoded, expect_duration_s=duration_s)
    except DatasetError as exc:  # name the user's file, not the temporary copy
        raise DatasetError(track.path, f"re-encoding it failed: {exc.problem}", _FIX_DECODE) from exc
    return encoded.name, "re-encoded"


def _manifest(*, name: str, title: str, tenant: str, room: str, duration_s: float,
              screen: str, sharer: str, people: Sequence[str],
              transcript: str | None, sources: Sequence[str], stt: str | None) -> str:
    entries = [f"sources = [{', '.join(toml_value(s) for s in sources)}]",
               'clock = "stream start times"']
    if transcript is not None:
        entries += [f"transcript = {toml_value(transcript)}  # made by {stt}: not ground truth",
                    f"transcript_stt = {toml_value(stt)}"]
    return manifest_text(header="Written by `python -m assistant import`.", name=name,
                         title=title, tenant=tenant, room=room, duration_s=duration_s,
                         screen=screen, sharer=sharer, people=people, table=IMPORTED_TABLE,
                         entries=entries)


def _temp_beside(out: Path) -> Staging:
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise DatasetError(
            out, "exists and is not empty",
            "Choose a new --out folder (import never writes into or over an existing one)",
        )
    return stage_beside(out)  # locked while this process writes it (sessions.staging)


def _knowledge(folder: Path, given: Path | None, title: str, people: Sequence[str]) -> None:
    folder.mkdir()
    copied = 0
    if given is not None:
        if not given.is_dir():
            raise DatasetError(given, "is not a folder", "Pass --knowledge a folder of .md/.txt")
        for file in sorted(given.rglob("*")):
            if file.is_file() and file.suffix.lower() in KNOWLEDGE_SUFFIXES:
                target = folder / file.relative_to(given)
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(file, target)
                copied += 1
    if not copied:  # the loader needs one document; this one only says what the meeting is
        (folder / "meeting.md").write_text(
            f"# {title}\n\nImported recording. Participants: {', '.join(people)}.\n"
            "Add the tenant's documents to this folder.\n",
            encoding="utf-8",
        )


def write_transcript(path: Path, utterances: Sequence[Utterance]) -> None:
    with path.open("w", encoding="utf-8") as f:
        for u in utterances:
            f.write(json.dumps({"speaker": u.participant, "start_s": round(u.start_s, 3),
                                "end_s": round(u.end_s, 3), "text": u.text},
                               ensure_ascii=False) + "\n")


def import_recording(
    sources: Sequence[str],
    options: ImportOptions,
    *,
    transcribe: Callable[[Sequence[tuple[str, Path]], float], list[Utterance]] | None = None,
    progress: Callable[[str, float], Tick | None] | None = None,
    close: Callable[[Tick | None], None] | None = None,
) -> ImportResult:
    """Write the dataset at ``options.out`` (or nothing at all; see the module docstring).

    ``transcribe(participants, duration_s)`` returns the utterances of ``(identity, flac)`` pairs
    (needed unless ``options.questions`` is false); ``progress(desc, total_s)`` makes a tick over
    media seconds, ``close(tick)`` ends it."""
    from assistant.sessions.proposals import next_ids, propose

    out = options.out
    name = identity_of(out.name)
    room = options.room or re.sub(r"_", "-", name)
    for value, pattern, what in ((options.tenant, SLUG, "tenant"), (room, SLUG, "room")):
        if not pattern.fullmatch(value):
            raise WorkbenchError(f"--{what} {value!r} is not valid: use [a-z0-9-]")
    plan = plan_import(sources)
    people = [identity for identity, _ in plan.voices]
    sharer = options.sharer or people[0]
    if sharer not in people:
        raise WorkbenchError(f"--sharer {sharer!r} is not a participant: use one of {people}")
    title = options.title or plan.screen.path.stem
    stale = sweep_stale(out.parent)  # folders of imports killed earlier: removed, and said so
    staging = _temp_beside(out)
    temp = staging.path

    @contextmanager
    def stage(desc: str) -> Iterator[Tick | None]:
        tick = progress(desc, plan.duration_s) if progress else None
        try:
            yield tick
            if tick is not None:  # went through all the media: the bar ends at 100 %
                tick(plan.duration_s)
        finally:
            if close is not None:
                close(tick)

    try:
        with stage(f"screen {plan.screen.path.name}") as tick:
            screen, how = write_screen(plan.screen, temp, origin_s=plan.origin_s,
                                       duration_s=plan.duration_s, tick=tick)
        (temp / "audio").mkdir()
        for identity, track in plan.voices:
            with stage(f"audio {identity}") as tick:
                write_audio(track, temp / "audio" / f"{identity}.flac", origin_s=plan.origin_s,
                            duration_s=plan.duration_s, tick=tick)
        _knowledge(temp / "knowledge", options.knowledge, title, people)
        utterances: list[Utterance] = []
        lines: list[str] = []
        if options.questions:
            if transcribe is None:
                raise WorkbenchError("import_recording needs a transcribe function for questions")
            utterances = transcribe(
                [(i, temp / "audio" / f"{i}.flac") for i in people], plan.duration_s
            )
            write_transcript(temp / "transcript.jsonl", utterances)
            found = propose(utterances)
            lines = [json.dumps(p.as_json(qid), ensure_ascii=False)
                     for qid, p in zip(next_ids((), len(found)), found, strict=True)]
        (temp / "questions.jsonl").write_text(
            "".join(line + "\n" for line in lines)
            or "# no question yet: add some, or run `python -m assistant questions DIR --write`\n",
            encoding="utf-8",
        )
        (temp / "manifest.toml").write_text(
            _manifest(
                name=name, title=title, tenant=options.tenant, room=room,
                duration_s=plan.duration_s, screen=screen, sharer=sharer, people=people,
                transcript="transcript.jsonl" if options.questions else None,
                sources=[str(Path(s).name) for s in sources],
                stt=options.stt if options.questions else None,
            ),
            encoding="utf-8",
        )
        load_dataset(temp)  # everything the replay will touch, before the folder appears
        if out.exists():
            out.rmdir()  # empty (checked above); a file put there since makes this fail
        staging.unlock()
        temp.rename(out)
    except BaseException:
        staging.discard()
        raise
    return ImportResult(load_dataset(out, check_media=False), plan, how, tuple(utterances),
                        len(lines), (*stale, *plan.notes))
