"""Load and validate a recorded session (format: datasets/README.md).

``load_dataset`` checks everything a replay will touch before the replay starts: the manifest, every
media file (decodable to the end, supported sample rate, covers the session), every line of the
JSONL files and the knowledge base. The first problem stops it with one ``DatasetError`` naming the
file, the line where there is one, and the fix.
"""

from __future__ import annotations

import json
import math
import re
import tomllib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from assistant.core.errors import DatasetError
from assistant.core.events import Question, Utterance
from assistant.core.known_keys import first_unknown, toml_line, unknown_key_problem
from assistant.core.limits import Limits, raise_hint
from assistant.sessions.media import probe_audio, probe_video
from assistant.sessions.wake import needs_screen as guess_needs_screen

FORMAT_VERSION = 1
IDENT = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")  # fullmatch only
SLUG = re.compile(r"[a-z0-9][a-z0-9-]{0,63}")
KNOWLEDGE_SUFFIXES = (".md", ".txt")
SCREEN_CHANGE_KINDS = ("slide", "scroll", "typing", "other")
MAX_DOCUMENT_BYTES = Limits().max_document_bytes  # kept for importers; see assistant/limits.py
QUESTION_KEYS = frozenset({"id", "t_s", "asker", "text", "reference", "key_facts", "needs_screen",
                           "proposed", "source", "difficulty", "answer", "via"})
MANIFEST_KEYS: dict[str, frozenset[str]] = {  # table → its keys ("": the top level)
    "": frozenset({"format", "name", "title", "tenant", "room", "duration_s", "questions",
                   "knowledge", "screen", "participants", "ground_truth", "imported", "recorded"}),
    "screen": frozenset({"file", "participant"}),
    "participants": frozenset({"identity", "name", "audio"}),
    "ground_truth": frozenset({"transcript", "screen_changes"}),
    "imported": frozenset({"sources", "clock", "transcript", "transcript_stt"}),
    "recorded": frozenset({"complete", "run_id", "video_frames", "video_dropped", "audio_late_s",
                           "questions"}),
}


@dataclass(frozen=True, slots=True)
class Participant:
    identity: str
    name: str
    audio: Path


@dataclass(frozen=True, slots=True)
class Document:
    doc_id: str  # file name inside the knowledge folder
    text: str


@dataclass(frozen=True, slots=True)
class ScreenChange:
    t_s: float
    kind: str
    label: str


@dataclass(frozen=True, slots=True)
class Dataset:
    root: Path
    name: str
    title: str
    tenant: str
    room: str
    duration_s: float
    screen: Path
    screen_participant: str
    screen_fps: float
    participants: tuple[Participant, ...]
    questions: tuple[Question, ...]
    documents: tuple[Document, ...]
    transcript: tuple[Utterance, ...] | None
    screen_changes: tuple[ScreenChange, ...] | None
    interrupted: bool = False  # a live recording that was killed: loaded up to its last second


def _need(table: dict[str, Any], key: str, kind: type | tuple[type, ...], where: Path) -> Any:
    if key not in table:
        raise DatasetError(where, f"'{key}' is missing", "Add it (see datasets/README.md)")
    value = table[key]
    if not isinstance(value, kind) or (isinstance(value, bool) and bool not in _tuple(kind)):
        raise DatasetError(
            where, f"'{key}' has the wrong type ({value!r})", "See datasets/README.md"
        )
    return value


def _known_keys(manifest: dict[str, Any], text: str, where: Path) -> None:
    """Refuse the first key the format does not have, with its line and the nearest known key."""
    tables: list[tuple[str, int, Any]] = [("", 0, manifest)]
    for table in MANIFEST_KEYS:
        value = manifest.get(table) if table else None
        entries = value if isinstance(value, list) else [value]
        tables += [(table, i, e) for i, e in enumerate(entries) if isinstance(e, dict)]
    for table, i, entry in tables:
        key = first_unknown(entry, MANIFEST_KEYS[table])
        if key is not None:
            raise DatasetError(
                where, unknown_key_problem(key, MANIFEST_KEYS[table], table=table),
                "Fix or remove the key (datasets/README.md lists every key)",
                line=toml_line(text, key, table=table, occurrence=i),
            )


def _tuple(kind: type | tuple[type, ...]) -> tuple[type, ...]:
    return kind if isinstance(kind, tuple) else (kind,)


def _path_in(root: Path, rel: object, manifest: Path, key: str) -> Path:
    if not isinstance(rel, str) or not rel or "\x00" in rel:
        raise DatasetError(manifest, f"'{key}' must be a relative path", "See datasets/README.md")
    try:
        path = (root / rel).resolve()
    except (OSError, ValueError, RuntimeError) as exc:  # too long, a symlink loop
        raise DatasetError(
            manifest, f"'{key}' = {rel!r} is not a usable path ({exc})", "Fix the path"
        ) from exc
    if not path.is_relative_to(root.resolve()):
        raise DatasetError(
            manifest,
            f"'{key}' = {rel!r} points outside the dataset folder",
            "Keep every file inside the dataset folder",
        )
    return path


def _pattern(value: str, pattern: re.Pattern[str], what: str, where: Path) -> str:
    if not pattern.fullmatch(value):  # not match(): `$` also matches before a trailing newline
        raise DatasetError(
            where,
            f"{what} {value!r} is not valid",
            f"Use lower-case letters, digits and '-' (pattern {pattern.pattern})",
        )
    return value


def _is_file(path: Path) -> bool:
    try:
        return path.is_file()
    except (OSError, ValueError):  # a name too long for the file system
        return False


def _is_dir(path: Path) -> bool:
    try:
        return path.is_dir()
    except (OSError, ValueError):
        return False


def _read_text(path: Path, *, limit: int, limit_name: str, what: str = "file") -> str:
    """The whole file as UTF-8, refused (before reading) when it is larger than ``limit``."""
    try:
        size = path.stat().st_size
        if size > limit:
            raise DatasetError(
                path,
                f"the {what} is {size:,} bytes, too large to read into memory",
                f"Split it or trim it; {raise_hint(limit_name, limit)}",
            )
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise DatasetError(path, "is not UTF-8 text", "Save it as UTF-8") from exc
    except OSError as exc:
        raise DatasetError(
            path, f"cannot be read ({exc.strerror or exc})", "Check the file and its permissions"
        ) from exc


def _jsonl(
    path: Path, limits: Limits, *, torn_tail_ok: bool = False
) -> Iterator[tuple[int, dict[str, Any]]]:
    if not _is_file(path):
        raise DatasetError(path, "the file is missing", "Add it or fix the path in manifest.toml")
    text = _read_text(path, limit=limits.max_jsonl_bytes, limit_name="max_jsonl_bytes")
    lines = text.splitlines()
    if torn_tail_ok and text and not text.endswith("\n"):
        lines = lines[:-1]  # the line a killed recorder was writing
    for number, line in enumerate(lines, start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        try:
            obj = json.loads(stripped)
            json.dumps(obj, ensure_ascii=False).encode("utf-8")  # lone surrogates ("\ud800")
        except json.JSONDecodeError as exc:
            raise DatasetError(
                path,
                f"malformed JSON ({exc.msg} at column {exc.colno})",
                "Write one JSON object per line",
                line=number,
            ) from exc
        except UnicodeEncodeError as exc:
            raise DatasetError(
                path,
                "holds a \\u escape that is not a Unicode character (a lone surrogate)",
                "Write the text as UTF-8, or escape astral characters as a surrogate pair",
                line=number,
            ) from exc
        except RecursionError as exc:
            raise DatasetError(
                path,
                "the line nests too deeply",
                "Write one flat JSON object per line",
                line=number,
            ) from exc
        if not isinstance(obj, dict):
            raise DatasetError(
                path, "the line is not a JSON object", "Write one JSON object per line", line=number
            )
        yield number, obj


def _field(
    obj: dict[str, Any],
    key: str,
    kind: type | tuple[type, ...],
    path: Path,
    line: int,
    *,
    required: bool = True,
) -> Any:
    if key not in obj:
        if required:
            raise DatasetError(
                path, f"'{key}' is missing", "Add it (see datasets/README.md)", line=line
            )
        return None
    value = obj[key]
    kinds = _tuple(kind)
    if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
        names = " or ".join(k.__name__ for k in kinds)
        raise DatasetError(
            path, f"'{key}' must be {names}, got {value!r}", "Fix the value", line=line
        )
    return value


def _time(obj: dict[str, Any], key: str, path: Path, line: int, duration_s: float) -> float:
    raw = _field(obj, key, (int, float), path, line)
    try:
        value = float(raw)
    except OverflowError:  # an integer beyond any float
        value = math.inf
    if not 0.0 <= value <= duration_s + 1.0:  # NaN fails this too
        raise DatasetError(
            path,
            f"'{key}' = {value} is outside the session (0 to {duration_s} s)",
            "Fix the time or duration_s in manifest.toml",
            line=line,
        )
    return value


def load_questions(
    path: Path,
    *,
    duration_s: float,
    people: set[str],
    limits: Limits | None = None,
    allow_empty: bool = False,
    interrupted: bool = False,
) -> tuple[Question, ...]:
    """The questions file; ``allow_empty`` (an imported or recorded dataset) accepts a file with
    none; ``interrupted`` (a killed recording) skips a torn last line and questions after
    ``duration_s``."""
    questions: list[Question] = []
    seen: set[str] = set()
    for line, obj in _jsonl(path, limits or Limits.from_env(), torn_tail_ok=interrupted):
        unknown = first_unknown(obj, QUESTION_KEYS)
        if unknown is not None:  # "keyfacts" would load as no key facts
            raise DatasetError(
                path, unknown_key_problem(unknown, QUESTION_KEYS),
                "Fix or remove the key (datasets/README.md lists every key)", line=line,
            )
        qid = _field(obj, "id", str, path, line)
        if qid in seen:
            raise DatasetError(
                path, f"question id {qid!r} is used twice", "Make ids unique", line=line
            )
        seen.add(qid)
        asker = _field(obj, "asker", str, path, line)
        if asker not in people:
            raise DatasetError(
                path,
                f"asker {asker!r} is not a participant",
                f"Use one of {sorted(people)}",
                line=line,
            )
        text = _field(obj, "text", str, path, line).strip()
        if not text:
            raise DatasetError(path, "'text' is empty", "Write the question", line=line)
        facts = _field(obj, "key_facts", list, path, line, required=False) or []
        proposed = bool(_field(obj, "proposed", bool, path, line, required=False))
        screen = _field(obj, "needs_screen", bool, path, line, required=not proposed)
        _field(obj, "answer", str, path, line, required=False)  # what a live agent answered
        if interrupted and isinstance(obj.get("t_s"), int | float) and obj["t_s"] > duration_s:
            continue
        if not all(isinstance(f, str) and f.strip() for f in facts):
            raise DatasetError(
                path, "'key_facts' must be a list of non-empty strings", "Fix the list", line=line
            )
        questions.append(
            Question(
                id=qid,
                t_s=_time(obj, "t_s", path, line, duration_s),
                asker=asker,
                text=text,
                needs_screen=guess_needs_screen(text) if screen is None else screen,
                reference=_field(obj, "reference", str, path, line, required=False),
                key_facts=tuple(facts),
                source=_field(obj, "source", str, path, line, required=False),
                difficulty=_field(obj, "difficulty", str, path, line, required=False),
                proposed=proposed,
            )
        )
    if not questions and not allow_empty:
        raise DatasetError(path, "holds no question", "Add at least one question line")
    return tuple(sorted(questions, key=lambda q: q.t_s))


def load_transcript(
    path: Path, *, duration_s: float, people: set[str], limits: Limits | None = None
) -> tuple[Utterance, ...]:
    out: list[Utterance] = []
    for line, obj in _jsonl(path, limits or Limits.from_env()):
        speaker = _field(obj, "speaker", str, path, line)
        if speaker not in people:
            raise DatasetError(
                path,
                f"speaker {speaker!r} is not a participant",
                f"Use one of {sorted(people)}",
                line=line,
            )
        start = _time(obj, "start_s", path, line, duration_s)
        end = _time(obj, "end_s", path, line, duration_s)
        if end < start:
            raise DatasetError(path, "end_s is before start_s", "Fix the times", line=line)
        out.append(Utterance(speaker, start, end, _field(obj, "text", str, path, line)))
    return tuple(sorted(out, key=lambda u: u.start_s))


def load_screen_changes(
    path: Path, *, duration_s: float, limits: Limits | None = None
) -> tuple[ScreenChange, ...]:
    out: list[ScreenChange] = []
    for line, obj in _jsonl(path, limits or Limits.from_env()):
        t_s = _time(obj, "t_s", path, line, duration_s)
        kind = _field(obj, "kind", str, path, line)
        if kind not in SCREEN_CHANGE_KINDS:
            raise DatasetError(
                path, f"kind {kind!r} is unknown", f"Use one of {SCREEN_CHANGE_KINDS}", line=line
            )
        if out and t_s < out[-1].t_s:
            raise DatasetError(path, "times go backwards", "List changes in time order", line=line)
        out.append(ScreenChange(t_s, kind, str(obj.get("label", ""))))
    return tuple(out)


def load_documents(folder: Path, *, limits: Limits | None = None) -> tuple[Document, ...]:
    limits = limits or Limits.from_env()
    if not _is_dir(folder):
        raise DatasetError(
            folder,
            "the knowledge folder is missing",
            "Create it with the tenant's .md/.txt documents, or fix 'knowledge'",
        )
    docs: list[Document] = []
    total = 0
    inside = folder.resolve()
    for file in sorted(folder.rglob("*")):
        if not file.is_file() or file.suffix.lower() not in KNOWLEDGE_SUFFIXES:
            continue
        if not file.resolve().is_relative_to(inside):
            raise DatasetError(
                file, "links outside the knowledge folder", "Copy the document into the folder"
            )
        text = _read_text(
            file, limit=limits.max_document_bytes, limit_name="max_document_bytes", what="document"
        )
        total += len(text.encode("utf-8"))
        if total > limits.max_knowledge_bytes:
            raise DatasetError(
                folder,
                f"the documents up to {file.name} hold {total:,} bytes, too many to index in memory",
                f"Keep the tenant's knowledge base smaller; {raise_hint('max_knowledge_bytes', limits.max_knowledge_bytes)}",
            )
        if text.strip():
            docs.append(Document(doc_id=file.relative_to(folder).as_posix(), text=text))
    if not docs:
        raise DatasetError(
            folder, "holds no .md or .txt document", "Add the knowledge-base documents"
        )
    return tuple(docs)


def _participants(manifest: dict[str, Any], root: Path, where: Path) -> tuple[Participant, ...]:
    entries = _need(manifest, "participants", list, where)
    if not entries:
        raise DatasetError(where, "lists no participant", "Add [[participants]] entries")
    people: list[Participant] = []
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict):
            raise DatasetError(where, f"participants[{i}] is not a table", "Use [[participants]]")
        identity = _pattern(
            _need(entry, "identity", str, where), IDENT, "participant identity", where
        )
        if any(p.identity == identity for p in people):
            raise DatasetError(
                where, f"participant {identity!r} is listed twice", "Make identities unique"
            )
        people.append(
            Participant(
                identity=identity,
                name=str(entry.get("name", identity)),
                audio=_path_in(root, entry.get("audio"), where, f"participants[{i}].audio"),
            )
        )
    return tuple(people)


def load_dataset(
    path: str | Path,
    *,
    check_media: bool = True,
    progress: Callable[[str], None] | None = None,
    limits: Limits | None = None,
) -> Dataset:
    """Load the session at ``path`` (its folder or its manifest.toml) and validate all of it.

    ``limits`` defaults to :meth:`Limits.from_env` (assistant/limits.py)."""
    limits = limits or Limits.from_env()
    given = Path(path)
    manifest_path = given / "manifest.toml" if _is_dir(given) else given
    if not _is_file(manifest_path):
        raise DatasetError(
            manifest_path,
            "no manifest found",
            "Point at a dataset folder holding manifest.toml (see datasets/README.md)",
        )
    root = manifest_path.parent
    text = _read_text(
        manifest_path, limit=limits.max_jsonl_bytes, limit_name="max_jsonl_bytes", what="manifest"
    )
    try:
        manifest = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise DatasetError(manifest_path, f"not valid TOML ({exc})", "Fix the syntax") from exc
    except RecursionError as exc:
        raise DatasetError(manifest_path, "nests too deeply", "Fix the syntax") from exc
    version = _need(manifest, "format", int, manifest_path)
    if version != FORMAT_VERSION:
        raise DatasetError(
            manifest_path,
            f"format {version} is not supported",
            f"This workbench reads format {FORMAT_VERSION}; upgrade it or convert the dataset",
        )
    _known_keys(manifest, text, manifest_path)
    duration_s = float(_need(manifest, "duration_s", (int, float), manifest_path))
    if not math.isfinite(duration_s) or duration_s <= 0:
        raise DatasetError(
            manifest_path,
            f"duration_s must be a number > 0, not {duration_s}",
            "Set the session length in seconds",
        )
    people = _participants(manifest, root, manifest_path)
    identities = {p.identity for p in people}
    recorded = manifest.get("recorded")
    interrupted = isinstance(recorded, dict) and recorded.get("complete") is False
    screen = _need(manifest, "screen", dict, manifest_path)
    screen_file = _path_in(root, screen.get("file"), manifest_path, "screen.file")
    sharer = _need(screen, "participant", str, manifest_path)
    if sharer not in identities:
        raise DatasetError(
            manifest_path,
            f"screen.participant {sharer!r} is not a participant",
            f"Use one of {sorted(identities)}",
        )
    fps = 0.0
    if check_media and interrupted:  # the media say how far the recording got
        fps, duration_s = _interrupted_media(manifest_path, screen_file, people, limits)
    questions = load_questions(
        _path_in(
            root, _need(manifest, "questions", str, manifest_path), manifest_path, "questions"
        ),
        duration_s=duration_s,
        people=identities,
        limits=limits,
        allow_empty=isinstance(manifest.get("imported"), dict) or isinstance(recorded, dict),
        interrupted=interrupted,
    )
    documents = load_documents(
        _path_in(
            root, _need(manifest, "knowledge", str, manifest_path), manifest_path, "knowledge"
        ),
        limits=limits,
    )
    truth = manifest.get("ground_truth", {})
    if not isinstance(truth, dict):
        raise DatasetError(manifest_path, "ground_truth must be a table", "Use [ground_truth]")
    transcript = changes = None
    if "transcript" in truth:
        transcript = load_transcript(
            _path_in(root, truth["transcript"], manifest_path, "ground_truth.transcript"),
            duration_s=duration_s,
            people=identities,
            limits=limits,
        )
    if "screen_changes" in truth:
        changes = load_screen_changes(
            _path_in(root, truth["screen_changes"], manifest_path, "ground_truth.screen_changes"),
            duration_s=duration_s,
            limits=limits,
        )
    if check_media and not interrupted:
        if progress:
            progress(f"checking {screen_file.name}")
        fps = probe_video(screen_file, expect_duration_s=duration_s, limits=limits).fps
        for person in people:
            if progress:
                progress(f"checking {person.audio.name}")
            probe_audio(person.audio, expect_duration_s=duration_s)
    return Dataset(
        root=root,
        name=_pattern(_need(manifest, "name", str, manifest_path), IDENT, "name", manifest_path),
        title=str(manifest.get("title", "")),
        tenant=_pattern(
            _need(manifest, "tenant", str, manifest_path), SLUG, "tenant", manifest_path
        ),
        room=_pattern(_need(manifest, "room", str, manifest_path), SLUG, "room", manifest_path),
        duration_s=duration_s,
        screen=screen_file,
        screen_participant=sharer,
        screen_fps=fps,
        participants=people,
        questions=questions,
        documents=documents,
        transcript=transcript,
        screen_changes=changes,
        interrupted=interrupted,
    )


def _interrupted_media(
    manifest: Path, screen: Path, people: tuple[Participant, ...], limits: Limits
) -> tuple[float, float]:
    """``(fps, duration_s)`` of a recording that was killed (``[recorded] complete = false``): up
    to the last whole second that every file decodes to, their torn tails left out."""
    fix = "Nothing to replay: record the room again"
    try:
        info = probe_video(screen, expect_duration_s=0.0, limits=limits, truncated_ok=True)
        ends = [info.duration_s] + [
            probe_audio(p.audio, expect_duration_s=0.0, truncated_ok=True).duration_s
            for p in people
        ]
    except DatasetError as exc:  # a file killed before its header was written
        raise DatasetError(
            manifest, f"the recording was interrupted before {Path(exc.path).name} could be "
            f"read ({exc.problem})", fix) from exc
    duration_s = float(math.floor(min(ends)))
    if duration_s < 1.0:
        raise DatasetError(
            manifest,
            f"the recording was interrupted before its first complete second (its media decode "
            f"to {min(ends):.2f} s)",
            fix,
        )
    return info.fps, duration_s
