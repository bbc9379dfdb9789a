"""What the dataset build scripts (``datasets/*/build.py``) share.

Each script keeps its own content (timeline, slides, conversation, questions, checks); this module
holds the machinery they have in common:

* tool checks (espeak-ng, sox, the DejaVu fonts, PyAV's libx264);
* speech: espeak-ng synthesis resampled by sox to 16 kHz, peak levelling, placed utterances, one
  FLAC track per participant;
* drawing: fonts, a ``Canvas`` that records the strings drawn on it, the slide frame, the title
  slide, tables and window bars;
* video: H.264 encoding with PyAV on the 30 fps frame grid;
* checks shared by the timelines (speech overlaps, questions, facts and where they occur);
* writing the JSONL files, the ground truth and ``manifest.toml``.

The scripts are run as files (``.venv/bin/python datasets/demo/build.py``) and put this folder on
``sys.path`` to import it. Everything here is deterministic: the outputs of both scripts must stay
byte for byte what they were before the helpers moved here.
"""

from __future__ import annotations

import functools
import itertools
import json
import math
import re
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Iterable, Sequence
from fractions import Fraction
from pathlib import Path
from typing import Any, Protocol

import av
import numpy as np
from PIL import Image, ImageDraw, ImageFont

FPS = 30
SR = 16000
W, H = 1280, 720
FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")
SPEECH_RATE_WPM = 170  # espeak-ng -s; with the 20 ms word gap and sentence pauses this is ~155 wpm
WORD_GAP = 2  # espeak-ng -g, in units of 10 ms
# libx264: a keyframe every 5 s at most, I-frames at the same quantiser as P-frames (ipratio=1): the
# text-heavy I-frames dominate the file size, the static frames in between cost almost nothing.
X264_OPTIONS = {
    "crf": "30",
    "preset": "medium",
    "g": str(5 * FPS),
    "keyint_min": str(FPS),
    "x264-params": "ipratio=1.0",
}

BG = (248, 249, 251)
INK = (27, 36, 48)
MUTED = (96, 104, 118)
ACCENT = (37, 88, 200)
RULE = (214, 219, 227)
ZEBRA = (237, 241, 247)
GOOD = (22, 122, 64)
BAD = (190, 40, 40)

RGB = tuple[int, int, int]
# identity, display name, espeak-ng voice, peak level of each utterance
Participant = tuple[str, str, str, float]
# a placed utterance: speaker, start_s, end_s, text, plus "_s0" (first sample) and "_x" (samples)
Utterance = dict[str, Any]


class Question(Protocol):
    """The fields of a scripted question (each script's ``Ask``) that the shared code reads."""

    asker: str
    text: str
    reference: str
    key_facts: list[str]
    source: str  # screen | knowledge | transcript | reasoning
    difficulty: str
    screen: str | None  # label of the screen state current at t_s (needs_screen)
    check_screen: list[str]  # strings that must be visible at t_s


class ScreenChange(Protocol):
    frame: int
    kind: str
    label: str


# ----------------------------------------------------------------------------------------------
# Tools
# ----------------------------------------------------------------------------------------------


def need_tools() -> None:
    missing = [t for t in ("espeak-ng", "sox") if shutil.which(t) is None]
    if missing:
        sys.exit(
            f"build.py: {' and '.join(missing)} not found on PATH. Install the Debian packages: "
            f"sudo apt-get install {' '.join(missing)}"
        )
    if not (FONT_DIR / "DejaVuSans.ttf").exists():
        sys.exit(
            f"build.py: DejaVu fonts not found in {FONT_DIR}. "
            "Install: sudo apt-get install fonts-dejavu-core"
        )
    if "libx264" not in av.codecs_available:
        sys.exit("build.py: this PyAV build has no libx264 encoder")


def read_knowledge(here: Path) -> str:
    """The text of the dataset's knowledge documents (``knowledge/*.md``), to check facts against."""
    knowledge = sorted((here / "knowledge").glob("*.md"))
    if not knowledge:
        sys.exit(f"build.py: no knowledge documents in {here / 'knowledge'}")
    return "\n".join(p.read_text() for p in knowledge)


def exit_on_problems(problems: Sequence[str], what: str = "the timeline fails its checks") -> None:
    if problems:
        sys.exit(f"build.py: {what}:\n  " + "\n  ".join(problems))


# ----------------------------------------------------------------------------------------------
# Speech and audio
# ----------------------------------------------------------------------------------------------


def synthesize(text: str, voice: str, tmp: Path, n: int) -> np.ndarray:
    """Mono float speech at 16 kHz, leading/trailing silence trimmed."""
    wav = tmp / f"u{n:03d}.wav"
    raw = tmp / f"u{n:03d}.f32"
    subprocess.run(
        [
            "espeak-ng",
            "-v",
            voice,
            "-s",
            str(SPEECH_RATE_WPM),
            "-g",
            str(WORD_GAP),
            "-w",
            str(wav),
            text,
        ],
        check=True,
    )
    subprocess.run(
        ["sox", "-D", str(wav), "-t", "f32", "-r", str(SR), "-c", "1", str(raw)], check=True
    )
    x = np.fromfile(raw, dtype="<f4").astype(np.float64)
    loud = np.flatnonzero(np.abs(x) > 0.004)
    if loud.size == 0:
        raise RuntimeError(f"espeak-ng produced silence for {text!r}")
    return x[loud[0] : loud[-1] + 1]


def speak(text: str, voice: str, level: float, tmp: Path, n: int) -> np.ndarray:
    """``synthesize``, scaled so that the utterance peaks at ``level``."""
    x = synthesize(text, voice, tmp, n)
    x *= level / np.max(np.abs(x))
    return x


def utterance(speaker: str, text: str, s0: int, x: np.ndarray, **extra: Any) -> Utterance:
    """A placed utterance: ``x`` starts at sample ``s0`` of the speaker's track."""
    return {
        "speaker": speaker,
        "start_s": round(s0 / SR, 3),
        "end_s": round((s0 + len(x)) / SR, 3),
        "text": text,
        "_s0": s0,
        "_x": x,
        **extra,
    }


def write_flac(path: Path, x: np.ndarray) -> None:
    pcm = np.round(np.clip(x, -1, 1) * 32767).astype("<i2")
    path.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [
            "sox",
            "-D",
            "-t",
            "raw",
            "-r",
            str(SR),
            "-e",
            "signed",
            "-b",
            "16",
            "-c",
            "1",
            "-",
            "-C",
            "8",
            str(path),
        ],
        input=pcm.tobytes(),
        check=True,
    )


def write_tracks(
    audio_dir: Path, identities: Iterable[str], utterances: Sequence[Utterance], n_frames: int
) -> None:
    """One track per participant (``audio_dir/<identity>.flac``), silence when not speaking."""
    n_samples = n_frames * SR // FPS
    tracks = {ident: np.zeros(n_samples) for ident in identities}
    for u in utterances:
        x = u["_x"]
        tracks[u["speaker"]][u["_s0"] : u["_s0"] + len(x)] += x
    for ident, x in tracks.items():
        write_flac(audio_dir / f"{ident}.flac", x)


# ----------------------------------------------------------------------------------------------
# Drawing
# ----------------------------------------------------------------------------------------------


def frame_of(t: float) -> int:
    """The first frame at or after ``t`` seconds."""
    return math.ceil(t * FPS - 1e-9)


@functools.cache
def font(size: int, style: str = "") -> ImageFont.FreeTypeFont:
    name = {
        "": "DejaVuSans",
        "b": "DejaVuSans-Bold",
        "m": "DejaVuSansMono",
        "mb": "DejaVuSansMono-Bold",
    }[style]
    return ImageFont.truetype(str(FONT_DIR / f"{name}.ttf"), size)


class Canvas:
    """An RGB image plus the strings drawn on it (used to check where facts are) and the rectangles
    whose pixels may change without a content change (corner video, caret)."""

    def __init__(self, w: int = W, h: int = H, bg: RGB = BG):
        self.im = Image.new("RGB", (w, h), bg)
        self.d = ImageDraw.Draw(self.im)
        self.texts: list[str] = []
        self.noise: list[tuple[int, int, int, int]] = []  # x0, y0, x1, y1 (exclusive)

    def text(
        self,
        xy: tuple[float, float],
        s: str,
        size: int = 30,
        style: str = "",
        fill: RGB = INK,
        anchor: str = "la",
        record: bool = True,
    ) -> None:
        self.d.text(xy, s, font=font(size, style), fill=fill, anchor=anchor)
        if record:
            self.texts.append(s)

    def width(self, s: str, size: int = 30, style: str = "") -> float:
        return font(size, style).getlength(s)


def framed_slide(title: str, footer: str, page: str | None = None) -> Canvas:
    """A slide with the accent bar, the title, a rule, the footer and optionally a page label."""
    c = Canvas()
    c.d.rectangle([0, 0, W, 10], fill=ACCENT)
    c.text((70, 46), title, 46, "b")
    c.d.line([70, 118, W - 70, 118], fill=RULE, width=3)
    c.text((70, 676), footer, 20, fill=MUTED, record=False)
    if page is not None:
        c.text((W - 70, 676), page, 20, fill=MUTED, anchor="ra", record=False)
    return c


def title_slide(title: str, date: str, people: str, org: str = "Northwind Analytics") -> Canvas:
    c = Canvas()
    c.d.rectangle([0, 0, W, H], fill=(240, 244, 250))
    c.d.rectangle([0, 0, 24, H], fill=ACCENT)
    c.text((120, 190), org, 40, "b", fill=ACCENT)
    c.text((120, 260), title, 64, "b")
    c.text((120, 370), date, 34, fill=MUTED)
    c.text((120, 430), people, 30, fill=MUTED)
    return c


def table(
    c: Canvas,
    x: int,
    y: int,
    cols: Sequence[tuple[str, int, str]],
    rows: Sequence[Sequence[str]],
    size: int = 30,
    row_h: int = 56,
    bold_last: bool = False,
    colors: dict[tuple[int, int], RGB] | None = None,
) -> None:
    """cols: (header, width, align 'l'|'r'); colors: {(row, col): rgb}; bold_last: the last row
    is a total (bold, ruled above, never zebra-striped)."""
    total_w = sum(w for _, w, _ in cols)
    cx = x
    for head, w, al in cols:
        c.text(
            (cx + (w - 14 if al == "r" else 14), y + row_h // 2),
            head,
            size,
            "b",
            fill=MUTED,
            anchor="rm" if al == "r" else "lm",
        )
        cx += w
    c.d.line([x, y + row_h, x + total_w, y + row_h], fill=INK, width=2)
    for i, row in enumerate(rows):
        ry = y + row_h * (i + 1)
        last = bold_last and i == len(rows) - 1
        if i % 2 == 1 and not last:
            c.d.rectangle([x, ry + 1, x + total_w, ry + row_h], fill=ZEBRA)
        if last:
            c.d.line([x, ry, x + total_w, ry], fill=INK, width=2)
        cx = x
        for j, ((_, w, al), cell) in enumerate(zip(cols, row, strict=True)):
            fill = (colors or {}).get((i, j), INK)
            c.text(
                (cx + (w - 14 if al == "r" else 14), ry + row_h // 2),
                cell,
                size,
                "b" if last else "",
                fill=fill,
                anchor="rm" if al == "r" else "lm",
            )
            cx += w


def title_bar(c: Canvas, title: str, record: bool) -> None:
    """The window's title bar (y 0-44), the title centred."""
    c.d.rectangle([0, 0, W, 44], fill=(226, 230, 236))
    c.text((W // 2, 22), title, 22, anchor="mm", fill=MUTED, record=record)


def status_bar(c: Canvas, top: int, text: str) -> None:
    """The window's status bar, from y ``top`` to the bottom of the screen."""
    c.d.rectangle([0, top, W, H], fill=(226, 230, 236))
    c.text((24, (top + H) // 2), text, 20, fill=MUTED, anchor="lm", record=False)


# ----------------------------------------------------------------------------------------------
# Video
# ----------------------------------------------------------------------------------------------


def to_video_frame(rgb: np.ndarray) -> av.VideoFrame:
    return av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuv420p")


def encode_video(path: Path, frames: Iterable[av.VideoFrame]) -> None:
    """H.264 in MP4 at FPS, W x H: frame k of ``frames`` is shown at k / FPS. A frame object may
    come again (cached screens): its timestamp is set just before it is encoded."""
    with av.open(str(path), "w", format="mp4") as out:
        st = out.add_stream("libx264", rate=FPS, options=X264_OPTIONS)
        st.width, st.height, st.pix_fmt = W, H, "yuv420p"
        st.codec_context.time_base = Fraction(1, FPS)
        for fr, vf in enumerate(frames):
            vf.pts = fr
            vf.time_base = Fraction(1, FPS)
            for pkt in st.encode(vf):
                out.mux(pkt)
        for pkt in st.encode():
            out.mux(pkt)


# ----------------------------------------------------------------------------------------------
# Checks
# ----------------------------------------------------------------------------------------------


def has(fact: str, text: str) -> bool:
    """`fact` occurs in `text`, case-insensitive, not as the prefix of a longer number ("October 1" is not in
    "October 16")."""
    pat = r"(?<![0-9A-Za-z])" + re.escape(fact.lower()) + r"(?![0-9])"
    return re.search(pat, text.lower()) is not None


def check_speech(
    utterances: Sequence[Utterance],
    duration: float,
    durations: tuple[float, float],
    counts: tuple[int, int],
) -> list[str]:
    """The session's length and number of utterances are in range; no two utterances overlap."""
    problems = []
    if not durations[0] <= duration <= durations[1]:
        problems.append(f"duration {duration:.1f} s outside {durations[0]:g}-{durations[1]:g} s")
    if not counts[0] <= len(utterances) <= counts[1]:
        problems.append(f"{len(utterances)} utterances, expected {counts[0]}-{counts[1]}")
    for a, b in itertools.pairwise(utterances):
        if b["start_s"] < a["end_s"] + 0.2:
            problems.append(f"utterances overlap or touch at {b['start_s']}")
    return problems


def check_question(
    where: str, it: Question, t: float, duration: float, askers: Iterable[str], seen_t: set[float]
) -> list[str]:
    """The question is asked inside the session, by a participant, at a time of its own (``seen_t``:
    the times of the questions checked so far; ``t`` is added)."""
    problems = []
    if not 0 <= t <= duration:
        problems.append(f"{where}: t_s outside the session")
    if it.asker not in askers:
        problems.append(f"{where}: unknown asker")
    if t in seen_t:
        problems.append(f"{where}: same t_s as another question")
    seen_t.add(t)
    return problems


def check_visible(where: str, it: Question, visible: str) -> list[str]:
    """What the question needs to see on screen (its ``check_screen`` strings and, for a screen
    question, its key facts) is in ``visible``, the text on screen at t_s."""
    return [
        f"{where}: {s!r} not on screen at t_s"
        for s in it.check_screen + (it.key_facts if it.source == "screen" else [])
        if not has(s, visible)
    ]


def check_facts(
    where: str,
    it: Question,
    t: float,
    utterances: Sequence[Utterance],
    all_screen: str,
    knowledge_text: str,
) -> list[str]:
    """Each key fact is found in the question's source and nowhere else (screen, knowledge,
    transcript); a transcript fact is said before the question."""
    problems = []
    all_said = " | ".join(u["text"] for u in utterances)
    said_before = " | ".join(u["text"] for u in utterances if u["end_s"] <= t)
    for fact in it.key_facts:
        found = {
            "screen": has(fact, all_screen),
            "knowledge": has(fact, knowledge_text),
            "transcript": has(fact, all_said),
        }
        if it.source in found:
            others = [k for k, v in found.items() if v and k != it.source]
            if not found[it.source]:
                problems.append(f"{where}: key fact {fact!r} not found in its source ({it.source})")
            if others:
                problems.append(f"{where}: key fact {fact!r} also in {others}")
        if it.source == "transcript" and not has(fact, said_before):
            problems.append(f"{where}: key fact {fact!r} not said before t_s")
    return problems


# ----------------------------------------------------------------------------------------------
# Writing
# ----------------------------------------------------------------------------------------------


def number_questions(questions: list[dict[str, Any]], prefix: str) -> None:
    """Sort the questions by time and give them ids: prefix01, prefix02, ..."""
    questions.sort(key=lambda q: q["t_s"])
    for i, q in enumerate(questions):
        q["id"] = f"{prefix}{i + 1:02d}"


def write_jsonl(path: Path, rows: Iterable[Any], comments: Sequence[str] = ()) -> None:
    """One JSON object a line, after ``comments`` as ``# `` lines."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        "".join(f"# {c}\n" for c in comments)
        + "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
    )


def write_truth(
    here: Path,
    utterances: Sequence[Utterance],
    changes: Sequence[ScreenChange],
    questions: Sequence[dict[str, Any]],
    screen_notes: Sequence[str] = (),
) -> None:
    """truth/transcript.jsonl, truth/screen_changes.jsonl (after ``screen_notes`` as comments) and
    questions.jsonl (each question: {"id", "t_s", "_item": the script's Ask})."""
    write_jsonl(
        here / "truth" / "transcript.jsonl",
        [{k: u[k] for k in ("speaker", "start_s", "end_s", "text")} for u in utterances],
    )
    write_jsonl(
        here / "truth" / "screen_changes.jsonl",
        [{"t_s": round(c.frame / FPS, 3), "kind": c.kind, "label": c.label} for c in changes],
        screen_notes,
    )
    write_jsonl(
        here / "questions.jsonl",
        [
            {
                "id": q["id"],
                "t_s": q["t_s"],
                "asker": q["_item"].asker,
                "text": q["_item"].text,
                "reference": q["_item"].reference,
                "key_facts": q["_item"].key_facts,
                "needs_screen": q["_item"].screen is not None,
                "source": q["_item"].source,
                "difficulty": q["_item"].difficulty,
            }
            for q in questions
        ],
    )


def toml_str(s: str) -> str:
    return json.dumps(s, ensure_ascii=False)


def write_manifest(
    path: Path,
    *,
    name: str,
    title: str,
    tenant: str,
    room: str,
    duration: float,
    sharer: str,
    participants: Sequence[Participant],
) -> None:
    lines = [
        "# Generated by build.py; edit build.py, not this file.",
        "format = 1",
        f"name = {toml_str(name)}",
        f"title = {toml_str(title)}",
        f"tenant = {toml_str(tenant)}",
        f"room = {toml_str(room)}",
        f"duration_s = {duration:.1f}",
        'questions = "questions.jsonl"',
        'knowledge = "knowledge"',
        "",
        "[screen]",
        'file = "screen.mp4"',
        f"participant = {toml_str(sharer)}",
    ]
    for ident, display_name, _, _ in participants:
        lines += [
            "",
            "[[participants]]",
            f"identity = {toml_str(ident)}",
            f"name = {toml_str(display_name)}",
            f'audio = "audio/{ident}.flac"',
        ]
    lines += [
        "",
        "[ground_truth]",
        'transcript = "truth/transcript.jsonl"',
        'screen_changes = "truth/screen_changes.jsonl"',
        "",
    ]
    path.write_text("\n".join(lines))
    tomllib.loads(path.read_text())
