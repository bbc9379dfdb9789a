#!/usr/bin/env python3
"""Build the "hard" session: a Dashboard 2.0 design review made to stress frame samplers.

Run from the repository root:

    .venv/bin/python datasets/hard/build.py

Needs, besides the Python packages of the project venv (PyAV with libx264, Pillow, numpy):

* ``espeak-ng`` (Debian package ``espeak-ng``) to synthesise the two voices;
* ``sox`` (Debian package ``sox``) to resample the speech to 16 kHz and write FLAC;
* the DejaVu fonts (Debian package ``fonts-dejavu-core``) to render the screen.

What it writes next to itself (everything except ``knowledge/``, which is hand-written Markdown that
this script only reads to check the questions against it):

    manifest.toml, screen.mp4, audio/<identity>.flac, questions.jsonl,
    truth/transcript.jsonl, truth/screen_changes.jsonl

The screen is scripted frame by frame: ``build_screen`` walks the segments below and gives every one of
the video's frames a render key (what is on the screen at that frame) and records each content change
at the frame where it first shows. Speech and questions are anchored to those frames. The same lists
then drive the video, the audio, the ground truth and the checks, so they agree to the frame.

What makes this session hard for a frame sampler (and what the ground truth does and does not list):

* eight concept slides flipped in 9.7 s (seven shown 1.0-1.6 s, one only 0.6 s): every one is listed;
* a long document scrolled continuously (the content moves on every frame, the end of each scroll
  creeps at 1 px per frame): the start of each scroll and the frame where it stops ("... settled") are
  listed, the frames in between belong to the "scrolling" state;
* a 200x150 px video playing in a corner of a static slide for 15 s: NOT a content change;
* a blinking text caret (2x30 px, toggles every 0.5 s) in an editor: NOT a content change; each typing
  burst is listed (kind "typing") at its first keystroke;
* two small changes that ARE content changes (a table cell, a checkbox), kind "other";
* a slide that appears while nobody speaks, and long silences.

Before writing anything the script checks the timeline (no overlapping speech, the silent slide is
silent, each question's screen and facts, ...); while encoding it checks every rendered frame against
the ground truth: a frame differs from the previous one outside the corner video and the caret exactly
when a listed change starts or a listed scroll/typing is in progress. The build is deterministic: a
seeded ``random.Random`` only; espeak-ng, sox and libx264 give the same output for the same input.
"""

from __future__ import annotations

import functools
import itertools
import math
import random
import shutil
import sys
import tempfile
from collections.abc import Hashable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import av
import numpy as np
from PIL import Image, ImageDraw

# The helpers shared with datasets/demo/build.py live in datasets/buildkit.py. This script is run as
# a file (`.venv/bin/python datasets/hard/build.py`), so put the datasets folder on the import path.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from buildkit import (
    ACCENT,
    FPS,
    GOOD,
    INK,
    MUTED,
    RULE,
    SR,
    ZEBRA,
    Canvas,
    H,
    Participant,
    W,
    check_facts,
    check_question,
    check_speech,
    check_visible,
    encode_video,
    exit_on_problems,
    font,
    frame_of,
    framed_slide,
    has,
    need_tools,
    number_questions,
    read_knowledge,
    speak,
    status_bar,
    table,
    title_bar,
    title_slide,
    to_video_frame,
    utterance,
    write_manifest,
    write_tracks,
    write_truth,
)

HERE = Path(__file__).resolve().parent
SEED = 20251112
MAX_FOLDER_BYTES = 3_000_000

PARTICIPANTS: list[Participant] = [
    # identity, display name, espeak-ng voice, peak level of each utterance
    ("dana", "Dana Reyes", "en-us+f4", 0.4),
    ("eli", "Eli Novak", "en-gb-x-rp", 0.4),
]
VOICE = {p[0]: p[2] for p in PARTICIPANTS}
LEVEL = {p[0]: p[3] for p in PARTICIPANTS}
SHARER = "dana"


def frames(seconds: float) -> int:
    n = round(seconds * FPS)
    if abs(n - seconds * FPS) > 1e-6:
        raise ValueError(f"{seconds} s is not a whole number of frames")
    return n


FOOTER = "Northwind Analytics  \u00b7  Dashboard 2.0 design review  \u00b7  Nov 12, 2025"


def slide_frame(title: str) -> Canvas:
    return framed_slide(title, FOOTER)


# ----------------------------------------------------------------------------------------------
# Screen content
# ----------------------------------------------------------------------------------------------


def s_title() -> Canvas:
    return title_slide(
        "Dashboard 2.0: design review",
        "Wednesday, November 12, 2025",
        "Dana Reyes  \u00b7  Eli Novak",
    )


# --- fast-flipped concept slides ---------------------------------------------------------------

# name, median task time (s), SUS score, shown for (s), background, panel colour
CONCEPTS = [
    ("Sidebar navigation", 41, 68, 1.2, (232, 240, 252), (37, 88, 200)),
    ("Top tabs", 37, 72, 1.0, (252, 240, 226), (196, 98, 16)),
    ("Card wall", 33, 79, 1.5, (226, 246, 234), (22, 122, 64)),
    ("Split view", 45, 64, 1.4, (64, 70, 84), (236, 196, 64)),
    ("Command palette", 29, 81, 0.6, (24, 28, 36), (120, 200, 255)),
    ("Timeline", 39, 70, 1.5, (250, 232, 240), (176, 38, 98)),
    ("Focus mode", 31, 86, 1.1, (255, 255, 255), (27, 36, 48)),
    ("Map overlay", 52, 58, 1.4, (214, 236, 238), (0, 112, 120)),
]


def concept_label(i: int) -> str:
    return f"concept {i + 1} of 8: {CONCEPTS[i][0]}"


def s_concept(i: int) -> Canvas:
    name, task, sus, _, bg, col = CONCEPTS[i]
    dark = sum(bg) < 300
    ink = (240, 242, 246) if dark else INK
    muted = (170, 176, 188) if dark else MUTED
    c = Canvas(bg=bg)
    c.d.rectangle([0, 0, W, 14], fill=col)
    c.text((70, 40), f"Concept {i + 1} of 8", 28, "b", fill=col)
    c.text((70, 80), name, 52, "b", fill=ink)
    # the wireframe: a different layout for every concept
    x0, y0, x1, y1 = 70, 170, 800, 640
    frame_fill = tuple(min(255, v + 14) if not dark else v + 18 for v in bg)
    c.d.rectangle([x0, y0, x1, y1], fill=frame_fill, outline=col, width=3)
    block = col
    soft = tuple((a + 2 * b) // 3 for a, b in zip(col, bg, strict=True))
    if i == 0:  # sidebar
        c.d.rectangle([x0, y0, x0 + 180, y1], fill=block)
        for k in range(6):
            c.d.rectangle([x0 + 20, y0 + 30 + k * 60, x0 + 160, y0 + 60 + k * 60], fill=bg)
        for k in range(3):
            c.d.rectangle([x0 + 210 + k * 170, y0 + 40, x0 + 360 + k * 170, y0 + 200], fill=soft)
        c.d.rectangle([x0 + 210, y0 + 230, x1 - 30, y1 - 30], fill=soft)
    elif i == 1:  # top tabs
        for k in range(5):
            c.d.rectangle(
                [x0 + 20 + k * 140, y0 + 20, x0 + 140 + k * 140, y0 + 70],
                fill=block if k == 0 else soft,
            )
        c.d.rectangle([x0 + 20, y0 + 100, x1 - 20, y1 - 20], fill=soft)
        c.d.line(
            [x0 + 60, y1 - 80, x0 + 300, y0 + 200, x0 + 480, y0 + 300, x1 - 60, y0 + 140],
            fill=block,
            width=8,
        )
    elif i == 2:  # card wall
        for r in range(3):
            for k in range(4):
                c.d.rounded_rectangle(
                    [x0 + 24 + k * 176, y0 + 24 + r * 148, x0 + 184 + k * 176, y0 + 152 + r * 148],
                    radius=14,
                    fill=block if (r + k) % 3 == 0 else soft,
                )
    elif i == 3:  # split view
        mid = (x0 + x1) // 2
        c.d.rectangle([x0 + 20, y0 + 20, mid - 10, y1 - 20], fill=block)
        c.d.rectangle([mid + 10, y0 + 20, x1 - 20, y1 - 20], fill=soft)
        for k in range(7):
            c.d.rectangle([mid + 40, y0 + 50 + k * 56, x1 - 50, y0 + 80 + k * 56], fill=bg)
    elif i == 4:  # command palette
        c.d.rectangle([x0 + 110, y0 + 70, x1 - 110, y0 + 140], fill=block)
        for k in range(5):
            c.d.rectangle(
                [x0 + 110, y0 + 160 + k * 56, x1 - 110, y0 + 206 + k * 56],
                fill=soft if k else (200, 220, 255),
            )
    elif i == 5:  # timeline
        ym = (y0 + y1) // 2
        c.d.line([x0 + 30, ym, x1 - 30, ym], fill=block, width=10)
        for k in range(6):
            x = x0 + 80 + k * 120
            c.d.ellipse([x - 22, ym - 22, x + 22, ym + 22], fill=block)
            yy = ym - 170 if k % 2 == 0 else ym + 50
            c.d.rectangle([x - 50, yy, x + 50, yy + 120], fill=soft)
    elif i == 6:  # focus mode
        c.d.rounded_rectangle([x0 + 120, y0 + 60, x1 - 120, y1 - 60], radius=30, fill=block)
        c.d.rectangle([x0 + 200, y0 + 140, x1 - 200, y0 + 200], fill=bg)
    elif i == 7:  # map overlay
        for k, (cx, cy, r) in enumerate(
            [(230, 300, 110), (460, 430, 150), (640, 260, 90), (330, 540, 70), (700, 560, 60)]
        ):
            c.d.ellipse([cx - r, cy - r, cx + r, cy + r], fill=block if k % 2 else soft)
    # the test results, big, on the right
    px = 850
    c.text((px, 190), "Round-1 usability test", 26, "b", fill=muted)
    c.text((px, 250), "Median task time", 28, fill=muted)
    c.text((px, 290), f"{task} s", 72, "b", fill=ink)
    c.text((px, 410), "SUS score", 28, fill=muted)
    c.text((px, 450), f"{sus}", 72, "b", fill=ink)
    c.text((px, 590), "12 participants", 24, fill=muted)
    return c


SHORTLIST = ["Focus mode", "Command palette", "Card wall"]


def s_shortlist() -> Canvas:
    c = slide_frame("Shortlist for usability round 2")
    for k, name in enumerate(SHORTLIST):
        y = 170 + k * 110
        c.d.rounded_rectangle([90, y, 690, y + 86], radius=16, fill=ZEBRA, outline=RULE, width=2)
        c.text((120, y + 43), f"{k + 1}.", 36, "b", fill=ACCENT, anchor="lm")
        c.text((180, y + 43), name, 36, "b", anchor="lm")
    c.text((760, 190), "Archived: five concepts", 30, "b", fill=MUTED)
    c.text((760, 240), "Notes kept in the", 28, fill=MUTED)
    c.text((760, 280), "workshop folder.", 28, fill=MUTED)
    c.text((90, 560), "Round 2 tests the three finalists with real customer data.", 30, fill=MUTED)
    return c


# --- the long document (scrolled) --------------------------------------------------------------

DOC_TITLE = "dashboard-2.0-spec.md \u2013 Northwind Docs"
DOC = [
    ("h1", "Dashboard 2.0 design spec"),
    ("meta", "Status: draft v0.7  \u00b7  Owner: Dana Reyes  \u00b7  Reviewer: Eli Novak"),
    ("h2", "1. Goals"),
    (
        "p",
        "Make the default dashboard answer the three questions customers ask every Monday: how "
        "many people used the product, which reports they opened, and what changed since last week.",
    ),
    (
        "p",
        "Cut the time to find a named metric by a third compared with Dashboard 1.x, measured in "
        "the round-2 usability test.",
    ),
    ("h2", "2. Users and jobs"),
    ("li", "Team leads who check adoption once a week and forward a screenshot to their manager."),
    ("li", "Analysts who build custom reports and need exports that match the charts exactly."),
    ("li", "Admins who manage seats, single sign-on and the audit log."),
    ("h2", "3. Layout"),
    (
        "p",
        "A single column of cards on narrow screens, two columns from 1,100 px and three from "
        "1,600 px. The navigation collapses into a command palette opened with Ctrl+K.",
    ),
    (
        "p",
        "Every card has a title, a one-line summary, the chart, and a link to the underlying report. "
        "Cards never scroll on their own; a card that needs more room links to a full page.",
    ),
    (
        "p",
        "The header shows the workspace name, the date range picker and the share button, in that "
        "order, and stays fixed while the page scrolls.",
    ),
    ("h2", "4. Performance budget"),
    ("li", "First dashboard paint: at most 1.2 s on a mid-range laptop."),
    ("li", "Chart interaction response: under 100 ms for hover and filter."),
    ("li", "Page weight: at most 900 KB compressed, fonts included."),
    ("li", "Web fonts: two families at most, subset to Latin."),
    (
        "p",
        "A pull request that breaks the budget fails the performance check in CI and needs a "
        "written exception from the tech lead.",
    ),
    ("h2", "5. Accessibility"),
    ("li", "Text contrast at least 4.5:1 against its background (WCAG AA)."),
    ("li", "Every chart has a data-table alternative reachable from the keyboard."),
    ("li", "Colour is never the only signal: series also differ by shape or label."),
    ("li", "All actions work without a mouse; focus is always visible."),
    ("h2", "6. Open questions"),
    ("li", "Do we keep the legacy PDF export, or replace it with scheduled e-mails?"),
    ("li", "Which three cards does a new workspace get before it has any data?"),
    ("li", "How long do we keep Dashboard 1.x available behind a toggle?"),
    ("p", "Decisions are recorded in the design review notes and copied here within a week."),
]
DOC_VIEW_TOP = 96  # the document viewport on screen: y from 96 to 690
DOC_VIEW_BOTTOM = 690
DOC_VIEW_H = DOC_VIEW_BOTTOM - DOC_VIEW_TOP
DOC_X = 200
DOC_WRAP = 880


def wrap(s: str, size: int, style: str, width: int) -> list[str]:
    out, cur = [], ""
    for word in s.split():
        cand = f"{cur} {word}".strip()
        if cur and font(size, style).getlength(cand) > width:
            out.append(cur)
            cur = word
        else:
            cur = cand
    return [*out, cur] if cur else out


@functools.cache
def doc_layout() -> tuple[Image.Image, tuple[tuple[int, int, str], ...], dict[str, int]]:
    """The whole document as one tall image, its text lines (y0, y1, text) and heading positions."""
    style = {
        "h1": (40, "b", 70, 20),
        "meta": (22, "", 40, 26),
        "h2": (32, "b", 54, 28),
        "p": (24, "", 36, 14),
        "li": (24, "", 36, 8),
    }
    items: list[tuple[int, str, int, str, int]] = []  # y, text, size, style, x
    headings: dict[str, int] = {}
    y = 40
    for kind, text in DOC:
        size, st, lh, after = style[kind]
        if kind == "h2":
            y += 18
            headings[text] = y
        x = DOC_X + (34 if kind == "li" else 0)
        lines = wrap(text, size, st, DOC_WRAP - (x - DOC_X))
        for k, ln in enumerate(lines):
            items.append((y, ("\u2022  " if kind == "li" and k == 0 else "") + ln, size, st, x))
            y += lh
        y += after
    height = y + 60
    c = Canvas(W, height, bg=(255, 255, 255))
    c.d.rectangle([0, 0, 150, height], fill=(244, 245, 248))
    c.d.rectangle([W - 150, 0, W, height], fill=(244, 245, 248))
    lines_out = []
    for yy, text, size, st, x in items:
        fill = MUTED if size == 22 else INK
        if text.startswith("\u2022"):
            c.text((x - 30, yy), "\u2022", size, fill=ACCENT, record=False)
            text = text[3:]
        c.text((x, yy), text, size, st, fill=fill, record=False)
        lines_out.append((yy, yy + round(size * 1.2), text))
    return c.im, tuple(lines_out), headings


def doc_visible_text(top: int) -> list[str]:
    _, lines, _ = doc_layout()
    return [t for y0, y1, t in lines if y0 >= top and y1 <= top + DOC_VIEW_H]


def render_doc(top: int) -> Canvas:
    body, _, _ = doc_layout()
    c = Canvas(bg=(255, 255, 255))
    c.im.paste(body.crop((0, top, W, top + DOC_VIEW_H)), (0, DOC_VIEW_TOP))
    title_bar(c, DOC_TITLE, record=False)
    c.d.rectangle([0, 44, W, 96], fill=(246, 247, 249))
    for k, lab in enumerate(["File", "Edit", "View", "Insert", "Format", "Tools"]):
        c.text((24 + k * 90, 70), lab, 22, fill=MUTED, anchor="lm", record=False)
    c.d.line([0, 95, W, 95], fill=RULE)
    status_bar(c, DOC_VIEW_BOTTOM, "Dashboard 2.0 design spec  \u00b7  v0.7")
    # scroll bar thumb (moves with the content)
    total = body.height
    th = round(DOC_VIEW_H * DOC_VIEW_H / total)
    ty = DOC_VIEW_TOP + round(top * DOC_VIEW_H / total)
    c.d.rectangle([W - 14, DOC_VIEW_TOP, W - 4, DOC_VIEW_BOTTOM], fill=(236, 238, 242))
    c.d.rounded_rectangle([W - 13, ty, W - 5, ty + th], radius=4, fill=(160, 166, 178))
    c.texts.extend(doc_visible_text(top))
    return c


def doc_offset_for(heading: str) -> int:
    _, _, headings = doc_layout()
    return headings[heading] - 24


def scroll_path(a: int, b: int, n: int) -> list[int]:
    """Offsets for the n frames of a scroll from a to b: every frame moves (strictly monotonic), the
    last frame is at b. Speed ramps up over the first 10 %, then decays; the last frames creep at
    1 px per frame, as a trackpad's inertial scroll does."""
    assert b - a >= n
    v = []
    for k in range(n):
        u = (k + 0.5) / n
        up = min(1.0, u / 0.1)
        down = 1.0 if u < 0.45 else (1.0 - u) / 0.55
        v.append(up * max(down, 0.09))
    cum = list(itertools.accumulate(v))
    pos = [a + round((b - a) * c / cum[-1]) for c in cum]
    for k in range(n):  # at least 1 px per frame ...
        pos[k] = max(pos[k], (pos[k - 1] if k else a) + 1)
    pos[-1] = b
    for k in range(n - 2, -1, -1):  # ... and never past b
        pos[k] = min(pos[k], pos[k + 1] - 1)
    assert all(q > p for p, q in itertools.pairwise([a, *pos])) and pos[-1] == b
    return pos


# --- slide with a video playing in a corner ----------------------------------------------------

VIDEO_RECT = (1020, 470, 1220, 620)  # x0, y0, x1, y1 (exclusive): 200x150 px
VIDEO_S = 15.0


def s_onboarding() -> Canvas:
    c = slide_frame("Onboarding test: the new flow")
    rows = [
        ("Steps", "4 (was 7)"),
        ("Median completion", "2 min 10 s"),
        ("Completed without help", "11 of 12"),
        ("Most missed step", "invite teammates"),
    ]
    for k, (a, b) in enumerate(rows):
        y = 160 + k * 70
        c.text((90, y), a + ":", 32, "b")
        c.text((600, y), b, 32)
    c.text((90, 460), "Recorded in the usability lab.", 28, fill=MUTED)
    c.text((90, 500), "Clip: participant 7, first session.", 28, fill=MUTED)
    x0, y0, x1, y1 = VIDEO_RECT
    c.d.rectangle([x0 - 4, y0 - 4, x1 + 3, y1 + 3], outline=RULE, width=4)
    c.text((x0, y1 + 10), "onboarding-p7.mp4", 18, fill=MUTED, record=False)
    return c


def video_clip(k: int) -> np.ndarray:
    """Frame k of the corner video: drifting diagonal stripes, a bouncing ball, a progress bar and
    a clock. Deterministic in k."""
    w, h = VIDEO_RECT[2] - VIDEO_RECT[0], VIDEO_RECT[3] - VIDEO_RECT[1]
    n = frames(VIDEO_S)
    yy, xx = np.mgrid[0:h, 0:w]
    stripes = ((xx + yy + 2 * k) // 12) % 2
    img = np.empty((h, w, 3), np.uint8)
    img[...] = (36, 44, 60)
    img[stripes == 1] = (52, 64, 88)
    im = Image.fromarray(img)
    d = ImageDraw.Draw(im)
    # mock UI window inside the clip
    d.rectangle([14, 12, 186, 40], fill=(230, 234, 240))
    d.rectangle([14, 40, 186, 112], fill=(248, 249, 251))
    step = min(3, k * 4 // n)
    for s in range(4):
        fill = (37, 88, 200) if s <= step else (200, 206, 216)
        d.ellipse([30 + s * 40, 20, 42 + s * 40, 32], fill=fill)

    # bouncing ball (triangle-wave motion)
    def tri(p: float, span: int) -> int:
        p = p % (2 * span)
        return round(p if p < span else 2 * span - p)

    bx = 24 + tri(k * 3.2, 140)
    by = 48 + tri(k * 2.3, 52)
    d.ellipse([bx - 10, by - 10, bx + 10, by + 10], fill=(255, 150, 40))
    # progress bar and clock
    d.rectangle([0, h - 8, w, h], fill=(20, 24, 32))
    d.rectangle([0, h - 8, round(w * (k + 1) / n), h], fill=(220, 60, 60))
    sec = k // FPS
    d.text((w - 8, h - 14), f"0:{sec:02d} / 0:15", font=font(14), fill=(255, 255, 255), anchor="rs")
    return np.asarray(im)


# --- editor with a blinking caret ---------------------------------------------------------------

EDITOR_LINES = [
    "# Dashboard 2.0 design tokens",
    "# owner: Dana Reyes",
    "",
    "color:",
    '  primary: "#2558C8"',
    '  surface: "#F8F9FB"',
    '  text: "#1B2430"',
    "  danger: ",
    "",
    "spacing:",
    "  unit: ",
    "  gutter: 24px",
    "",
    "radius:",
    "  card: ",
    "  button: 6px",
]
# (line index, text typed at its end, label)
TYPING = [
    (7, '"#C62828"', 'typing: danger: "#C62828"'),
    (10, "8px", "typing: unit: 8px"),
    (14, "12px", "typing: card: 12px"),
]
ED_SIZE = 26
ED_LINE_H = 36
ED_TOP = 70
CARET_W, CARET_H = 2, 30
BLINK = frames(0.5)


@functools.cache
def editor_x0() -> int:
    """Left edge of the code text, chosen so that the caret of the idle (blink-only) stretch falls on
    a column of the 1/8 thumbnail grid (the worst case for a thumbnail-based detector)."""
    base = 96
    w = font(ED_SIZE, "m").getlength(EDITOR_LINES[TYPING[0][0]])
    for x0 in range(base, base + 8):
        if round(x0 + w) % 8 == 0:
            return x0
    raise AssertionError


def caret_rect(line: int, text: str) -> tuple[int, int, int, int]:
    x = round(editor_x0() + font(ED_SIZE, "m").getlength(text))
    y = ED_TOP + line * ED_LINE_H + 2
    return (x, y, x + CARET_W, y + CARET_H)


def render_editor(lines: tuple[str, ...], caret_line: int, caret_on: bool) -> Canvas:
    c = Canvas(bg=(255, 255, 255))
    title_bar(c, "tokens.yaml \u2013 design-system", record=False)
    c.d.rectangle([0, 44, 76, H - 30], fill=(246, 247, 249))
    for k, ln in enumerate(lines):
        y = ED_TOP + k * ED_LINE_H
        c.text((60, y + 4), str(k + 1), 20, "m", fill=(150, 156, 168), anchor="ra", record=False)
        fill = MUTED if ln.startswith("#") else INK
        c.text((editor_x0(), y), ln, ED_SIZE, "m", fill=fill)
    c.d.rectangle([0, H - 30, W, H], fill=ACCENT)
    c.text(
        (16, H - 15),
        "YAML  \u00b7  UTF-8  \u00b7  Spaces: 2",
        18,
        fill=(255, 255, 255),
        anchor="lm",
        record=False,
    )
    r = caret_rect(caret_line, lines[caret_line])
    if caret_on:
        c.d.rectangle([r[0], r[1], r[2] - 1, r[3] - 1], fill=INK)
    c.noise.append(r)
    return c


# --- budget table with the sub-threshold cell update ------------------------------------------

BUDGET = [  # workstream, FY25, FY26 plan
    ("Research", "$0.42M", "$0.48M"),
    ("Design system", "$0.95M", "$1.10M"),
    ("Data visualisation", "$0.71M", "$0.86M"),
    ("Accessibility", "$0.28M", "$0.35M"),
]
CELL_NEW = "$1.32M"


def s_budget(updated: bool) -> Canvas:
    c = slide_frame("Budget by workstream")
    rows = [list(r) for r in BUDGET]
    if updated:
        rows[1][2] = CELL_NEW
    table(
        c,
        110,
        150,
        [("Workstream", 440, "l"), ("FY25 actual", 260, "r"), ("FY26 plan", 260, "r")],
        rows,
        size=32,
        row_h=64,
    )
    c.text((110, 500), "USD. FY26 plan as approved by Finance.", 28, fill=MUTED)
    return c


# --- the slide that appears in silence, and the wrap-up with a checkbox ----------------------


def s_rollout() -> Canvas:
    c = slide_frame("Rollout plan")
    rows = [
        ["Internal dogfood", "February 9", "all Northwind staff"],
        ["Pilot", "March 2", "3 customer teams"],
        ["General availability", "April 27", "every workspace"],
    ]
    table(
        c,
        90,
        160,
        [("Phase", 400, "l"), ("Start", 300, "l"), ("Who", 400, "l")],
        rows,
        size=32,
        row_h=70,
    )
    c.text(
        (104, 500), "Dashboard 1.x stays available behind a toggle until June 30.", 28, fill=MUTED
    )
    return c


ACTIONS = [
    ("Send the round-2 test plan to Eli", "Dana"),
    ("Book the usability lab", "Eli"),
    ("Merge the token changes after review", "Dana"),
]
TICKED = 2  # the item ticked during the wrap-up (0-based)


def s_wrapup(ticked: bool) -> Canvas:
    c = slide_frame("Wrap-up: action items")
    for k, (what, who) in enumerate(ACTIONS):
        y = 170 + k * 80
        c.d.rectangle([96, y + 4, 124, y + 32], outline=INK, width=3)
        if ticked and k == TICKED:
            c.d.line([101, y + 18, 108, y + 26, 120, y + 9], fill=GOOD, width=4)
        c.text((150, y), what, 32)
        c.text((1000, y), who, 32, "b")
    c.text((150, 470), "Next review: Wednesday, Nov 26", 32, "b", fill=ACCENT)
    return c


# ----------------------------------------------------------------------------------------------
# The screen timeline: one render key per frame
# ----------------------------------------------------------------------------------------------


@dataclass
class Change:
    frame: int
    kind: str
    label: str
    settle: int  # first frame from which the content stops moving (= frame for a static state)
    anchor: str = ""


@dataclass
class Screen:
    keys: list[Hashable] = field(default_factory=list)  # what to render at each frame
    changes: list[Change] = field(default_factory=list)
    anchors: dict[str, int] = field(default_factory=dict)  # name -> frame
    moving: set[int] = field(default_factory=set)  # frames inside a scroll/typing in progress
    must_move: set[int] = field(default_factory=set)  # frames inside a scroll: each one moves

    def change(self, kind: str, label: str, anchor: str, settle: int | None = None):
        f = len(self.keys)
        self.changes.append(Change(f, kind, label, f if settle is None else settle, anchor))
        self.anchors[anchor] = f

    def hold(self, key: Hashable, seconds: float):
        self.keys.extend([key] * frames(seconds))

    @property
    def n(self) -> int:
        return len(self.keys)


def build_screen() -> Screen:
    sc = Screen()
    type_rng = random.Random(SEED)

    sc.change("slide", "title slide", "title")
    sc.hold(("title",), 8.0)

    for i, c in enumerate(CONCEPTS):
        sc.change("slide", concept_label(i), f"concept{i + 1}")
        sc.hold(("concept", i), c[3])

    sc.change("slide", "shortlist for round 2", "shortlist")
    sc.hold(("shortlist",), 9.0)

    sc.change("other", "spec document: top", "doc")
    sc.hold(("doc", 0), 3.0)
    top = 0
    for n, (heading, move_s, still_s) in enumerate(
        [("4. Performance budget", 6.0, 5.0), ("5. Accessibility", 3.0, 5.0)], start=1
    ):
        b = doc_offset_for(heading)
        path = scroll_path(top, b, frames(move_s) + 1)  # settled exactly move_s after the start
        f0 = sc.n
        sc.change(
            "scroll",
            f"spec document: scrolling to {heading}",
            f"scroll{n}",
            settle=f0 + len(path) - 1,
        )
        sc.keys.extend(("doc", p) for p in path[:-1])
        sc.moving.update(range(f0 + 1, sc.n))
        sc.must_move.update(range(f0 + 1, sc.n + 1))  # up to and including the settled frame
        sc.change("scroll", f"spec document: {heading} (scroll settled)", f"settled{n}")
        sc.hold(("doc", b), still_s)
        top = b

    sc.change("slide", "onboarding test slide (corner video playing)", "video")
    nv = frames(VIDEO_S)
    sc.keys.extend(("onboarding", k) for k in range(nv))
    sc.hold(("onboarding", nv - 1), 1.5)  # the clip ended: its last frame stays

    # editor: 10 s of a blinking caret, then three typing bursts, blinking in between
    lines = list(EDITOR_LINES)
    caret_line = TYPING[0][0]
    sc.change("other", "editor: tokens.yaml", "editor")
    reset = sc.n  # the caret restarts its blink cycle (on) after each keystroke

    def idle(seconds: float):
        for _ in range(frames(seconds)):
            on = ((sc.n - reset) // BLINK) % 2 == 0
            sc.keys.append(("editor", tuple(lines), caret_line, on))

    idle(10.0)
    pauses = [3.0, 2.6, 4.4]  # from each burst's start to the next burst (or the next slide)
    for n, ((line, typed, label), after) in enumerate(zip(TYPING, pauses, strict=True), start=1):
        f0 = sc.n
        times = []
        t = 0.0
        for _ in typed:
            times.append(f0 + frame_of(t))
            t += 0.07 + 0.08 * type_rng.random()
        end = f0 + frames(after)
        sc.change("typing", label, f"typing{n}", settle=times[-1])
        caret_line = line
        base = lines[line]
        for f in range(f0, end):
            k = sum(1 for x in times if x <= f)
            lines[line] = base + typed[:k]
            if f <= times[-1]:
                reset = max(x for x in times if x <= f)
            on = ((f - reset) // BLINK) % 2 == 0
            sc.keys.append(("editor", tuple(lines), caret_line, on))
        sc.moving.update(range(f0 + 1, times[-1] + 1))

    sc.change("slide", "budget by workstream", "budget")
    sc.hold(("budget", False), 6.0)
    sc.change("other", "cell update: Design system FY26 $1.10M -> $1.32M", "cell")
    sc.hold(("budget", True), 6.0)

    sc.change("slide", "rollout plan (appears in silence)", "rollout")
    sc.hold(("rollout",), 12.0)

    sc.change("slide", "wrap-up: action items", "wrapup")
    sc.hold(("wrapup", False), 3.5)
    sc.change("other", f"checkbox ticked: {ACTIONS[TICKED][0]}", "tick")
    sc.hold(("wrapup", True), 6.0)
    assert sc.n % 3 == 0  # a whole number of 16 kHz samples per frame boundary: N / 30 * 16000
    return sc


def render(key: Hashable) -> Canvas:
    match key:
        case ("title",):
            return s_title()
        case ("concept", int(i)):
            return s_concept(i)
        case ("shortlist",):
            return s_shortlist()
        case ("doc", int(top)):
            return render_doc(top)
        case ("onboarding", int(k)):
            c = s_onboarding()
            c.im.paste(Image.fromarray(video_clip(k)), VIDEO_RECT[:2])
            c.noise.append(VIDEO_RECT)
            return c
        case ("editor", tuple(lines), int(caret_line), bool(on)):
            return render_editor(lines, caret_line, on)
        case ("budget", bool(updated)):
            return s_budget(updated)
        case ("rollout",):
            return s_rollout()
        case ("wrapup", bool(ticked)):
            return s_wrapup(ticked)
    raise ValueError(key)


@functools.lru_cache(maxsize=4)
def rendered(key: Hashable) -> tuple[np.ndarray, tuple[str, ...], tuple]:
    c = render(key)
    return np.asarray(c.im), tuple(c.texts), tuple(c.noise)


def state_at(sc: Screen, f: int) -> Change:
    return max((c for c in sc.changes if c.frame <= f), key=lambda c: c.frame)


# ----------------------------------------------------------------------------------------------
# The conversation and the questions, anchored to the screen
# ----------------------------------------------------------------------------------------------


@dataclass
class Say:
    speaker: str
    text: str
    anchor: str  # a screen anchor (see build_screen)
    offset: float  # seconds after the anchor; the turn starts then or after the previous one


@dataclass
class Ask:
    asker: str
    text: str
    reference: str
    key_facts: list[str]
    source: str  # screen | knowledge | transcript | reasoning
    difficulty: str
    anchor: str
    offset: float
    screen: str | None = None  # label of the screen state current at t_s (needs_screen)
    check_screen: list[str] = field(default_factory=list)


SPEECH = [
    Say(
        "dana",
        "Hi Eli. Thanks for joining the design review for dashboards two point oh.",
        "title",
        0.6,
    ),
    Say("eli", "Hi Dana. Ready when you are.", "title", 5.2),
    Say(
        "dana",
        "Here are the eight concepts from the workshop. I'll flip through them quickly.",
        "concept1",
        0.3,
    ),
    Say("eli", "Wait, go back one. No, never mind.", "concept7", 0.2),
    Say(
        "eli",
        "So three made the shortlist. The timeline concept was slower than I expected.",
        "shortlist",
        0.8,
    ),
    Say("dana", "Agreed. Let me open the spec.", "shortlist", 5.8),
    Say("dana", "I'm scrolling down to the performance budget.", "doc", 0.4),
    Say(
        "eli",
        "Stop there. That page weight budget looks tight with the new charts.",
        "settled1",
        0.5,
    ),
    Say("dana", "And accessibility is just below.", "scroll2", 0.3),
    Say("dana", "This is the clip from the onboarding test, playing in the corner.", "video", 0.5),
    Say("eli", "People finished much faster than with the old flow.", "video", 4.6),
    Say(
        "eli",
        "Can you fix the design tokens while we're here? The danger colour is still missing.",
        "editor",
        0.6,
    ),
    Say("dana", "Sure. Typing the values now.", "editor", 6.2),
    Say("eli", "Looks right. Let's book the usability lab for Thursday.", "typing3", 0.9),
    Say(
        "dana",
        "Budget by workstream. Finance approved the increase this morning, so I'm updating "
        "the cell.",
        "budget",
        0.4,
    ),
    Say("eli", "Good. Those dates work for my team.", "rollout", 8.6),
    Say(
        "dana",
        "Last slide, the action items. I'm ticking off the token merge. Thanks, Eli.",
        "wrapup",
        0.4,
    ),
    Say("eli", "Thanks. Bye.", "tick", 3.2),
]
TAIL_S = 0.0  # the wrap-up hold already ends the session after the last turn

# (anchor, from, to): nobody speaks between anchor+from and anchor+to (seconds)
SILENCES = [
    ("rollout", -2.0, 7.0),  # the rollout slide appears in silence and stays silent for 7 s
    ("video", 9.0, 16.5),  # the corner video plays on while nobody speaks
]

QUESTIONS = [
    Ask(
        "eli",
        "What median task time did the Timeline concept get in the round-1 test?",
        "The Timeline concept had a median task time of 39 s (SUS score 70).",
        ["39 s"],
        "screen",
        "hard",
        "concept6",
        1.4,
        screen=concept_label(5),
    ),
    Ask(
        "eli",
        "What page-weight budget does the spec section on screen set?",
        "The performance budget allows at most 900 KB of page weight, compressed, fonts included.",
        ["900 KB"],
        "screen",
        "medium",
        "settled1",
        3.3,
        screen="spec document: 4. Performance budget (scroll settled)",
    ),
    Ask(
        "dana",
        "What was the median completion time of the new onboarding flow?",
        "The slide shows a median completion time of 2 min 10 s for the new 4-step onboarding.",
        ["2 min 10 s"],
        "screen",
        "medium",
        "video",
        11.3,
        screen="onboarding test slide (corner video playing)",
    ),
    Ask(
        "eli",
        "Which danger colour and which card radius did Dana just enter in the tokens file?",
        'The danger colour is "#C62828" and the card radius is 12px.',
        ["#C62828", "12px"],
        "screen",
        "medium",
        "typing3",
        3.4,
        screen="typing: card: 12px",
    ),
    Ask(
        "eli",
        "What is the FY26 plan for the design system workstream now?",
        "After Dana's update the FY26 plan for the design system is $1.32M (it was $1.10M).",
        ["$1.32M"],
        "screen",
        "hard",
        "cell",
        4.5,
        screen="cell update: Design system FY26 $1.10M -> $1.32M",
    ),
    Ask(
        "dana",
        "When is general availability planned?",
        "General availability is planned for April 27, for every workspace (pilot March 2).",
        ["April 27"],
        "screen",
        "medium",
        "rollout",
        6.3,
        screen="rollout plan (appears in silence)",
    ),
    Ask(
        "dana",
        "What SUS score does a concept need to move on to usability round 2?",
        "A concept needs a SUS score of at least 75 (and a median task time under 40 seconds).",
        ["75"],
        "knowledge",
        "easy",
        "doc",
        2.0,
    ),
    Ask(
        "dana",
        "Which day did Eli want to book the usability lab for?",
        "Eli wanted to book the usability lab for Thursday.",
        ["Thursday"],
        "transcript",
        "easy",
        "tick",
        4.5,
    ),
]


# ----------------------------------------------------------------------------------------------
# Speech
# ----------------------------------------------------------------------------------------------


def place_speech(sc: Screen, tmp: Path) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    end = 0.0
    for n, say in enumerate(SPEECH):
        x = speak(say.text, VOICE[say.speaker], LEVEL[say.speaker], tmp, n)
        want = sc.anchors[say.anchor] / FPS + say.offset
        start = max(want, end + 0.35 if out else 0.0)
        start = math.ceil(start * 100 - 1e-6) / 100  # 10 ms grid
        s0 = round(start * SR)
        out.append(utterance(say.speaker, say.text, s0, x, _late=round(start - want, 2)))
        end = (s0 + len(x)) / SR
    return out


# ----------------------------------------------------------------------------------------------
# Checks
# ----------------------------------------------------------------------------------------------


def check_timeline(sc: Screen, utterances, questions, knowledge_text) -> list[str]:
    duration = sc.n / FPS
    problems = check_speech(utterances, duration, (90, 120), (10, 20))
    if utterances[-1]["end_s"] > duration - 0.3:
        problems.append(f"the last utterance ends at {utterances[-1]['end_s']}, after the session")
    for u in utterances:
        if u["_late"] > 1.5:
            problems.append(f"utterance {u['text'][:30]!r} starts {u['_late']} s after its anchor")
    for anchor, t0, t1 in SILENCES:
        lo, hi = sc.anchors[anchor] / FPS + t0, sc.anchors[anchor] / FPS + t1
        for u in utterances:
            if u["start_s"] < hi and u["end_s"] > lo:
                problems.append(f"{u['text'][:30]!r} breaks the silence {lo:.1f}-{hi:.1f} s")
    # fast flipping: seven slides of 1.0-1.6 s and one of 0.6 s
    shown = sorted(c[3] for c in CONCEPTS)
    if shown[0] != 0.6 or not all(1.0 <= s <= 1.6 for s in shown[1:]):
        problems.append(f"concept slide durations {shown} are not 0.6 s + seven of 1.0-1.6 s")
    # every change is at a later frame than the previous one
    for a, b in itertools.pairwise(sc.changes):
        if b.frame <= a.frame:
            problems.append(f"change {b.label!r} not after {a.label!r}")
    # facts
    all_screen = (
        " | ".join(
            " | ".join(rendered(k)[1])
            for k in dict.fromkeys(sc.keys)  # every distinct screen
        )
        + " | "
        + " | ".join(t for _, _, t in doc_layout()[1])
    )
    seen_t: set[float] = set()
    for q in questions:
        it: Ask = q["_item"]
        t = q["t_s"]
        fr = frame_of(t)
        where = f"question {it.text!r}"
        problems += check_question(where, it, t, duration, VOICE, seen_t)
        if it.screen:
            ch = state_at(sc, fr)
            if ch.label != it.screen:
                problems.append(f"{where}: screen at t_s is {ch.label!r}, wanted {it.screen!r}")
            if fr < ch.settle:
                problems.append(f"{where}: asked while {ch.label!r} still moves")
            problems += check_visible(where, it, " | ".join(rendered(sc.keys[fr])[1]))
        problems += check_facts(where, it, t, utterances, all_screen, knowledge_text)
    # the page-weight fact must be off screen before the first scroll (it is the settled view's)
    if any(has("900 KB", s) for s in doc_visible_text(0)):
        problems.append("'900 KB' is already visible at the top of the document")
    return problems


def noise_mask(rects) -> np.ndarray:
    m = np.zeros((H, W), bool)
    for x0, y0, x1, y1 in rects:
        m[y0:y1, x0:x1] = True
    return m


# ----------------------------------------------------------------------------------------------
# Video
# ----------------------------------------------------------------------------------------------


def checked_frames(sc: Screen, problems: list[str]) -> Iterator[av.VideoFrame]:
    """The video's frames; checks each one against the ground truth (rendered pixels, exact) and
    appends what disagrees to `problems`."""
    change_at = {c.frame: c for c in sc.changes}
    prev = None
    vf_cache: dict[Hashable, av.VideoFrame] = {}
    for fr, key in enumerate(sc.keys):
        rgb, _, noise = rendered(key)
        if prev is not None and key != prev[0]:
            diff = np.any(rgb != prev[1], axis=2)
            outside = diff & ~noise_mask(noise + prev[2])
            content = bool(outside.any())
            if fr in change_at and not content:
                problems.append(f"frame {fr}: change {change_at[fr].label!r} changes nothing")
            if fr not in change_at and fr not in sc.moving and content:
                ys, xs = np.nonzero(outside)
                problems.append(
                    f"frame {fr}: unlisted content change at x {xs.min()}-{xs.max()}, "
                    f"y {ys.min()}-{ys.max()} ({state_at(sc, fr).label!r})"
                )
            if fr in sc.must_move and not content:
                problems.append(f"frame {fr}: nothing moves inside {state_at(sc, fr).label!r}")
        elif fr > 0 and (fr in change_at or fr in sc.must_move):
            problems.append(
                f"frame {fr}: the same screen as frame {fr - 1} ({state_at(sc, fr).label!r})"
            )
        prev = (key, rgb, noise)
        vf = vf_cache.get(key)
        if vf is None:
            vf = to_video_frame(rgb)
            if len(vf_cache) > 64:
                vf_cache.clear()
            vf_cache[key] = vf
        yield vf


# ----------------------------------------------------------------------------------------------
# Main
# ----------------------------------------------------------------------------------------------


def screen_changes_notes(sc: Screen) -> list[str]:
    x0, y0, x1, y1 = VIDEO_RECT
    small = " and ".join(f"{sc.anchors[a] / FPS:.1f} s" for a in ("cell", "tick"))
    return [
        "Generated by build.py. One line per screen content change, at the first frame that shows",
        f"it (t_s = frame / {FPS}, rounded to 1 ms). A state lasts from one change to the next.",
        f"NOT listed, because they are not content changes: the {x1 - x0}x{y1 - y0} px video playing",
        f"in a corner of the onboarding slide (x {x0}-{x1 - 1}, y {y0}-{y1 - 1}, {VIDEO_S:.0f} s) and",
        f"the blinking caret ({CARET_W}x{CARET_H} px, toggles every {BLINK / FPS} s) in the editor.",
        "Scrolls: the content moves on every frame from a 'scrolling to' line up to the matching",
        "'scroll settled' line, which is the first frame of the still view.",
        "Typing: listed at the first keystroke of each burst (a burst lasts about 1 s).",
        f"The 'other' changes at {small} are small (one table cell, one checkbox): a",
        "thumbnail-based change detector may miss them.",
    ]


def folder_bytes() -> int:
    return (
        sum(
            p.stat().st_size
            for p in HERE.rglob("*")
            if p.is_file() and p.name != "build.py" and "__pycache__" not in p.parts
        )
        + (HERE / "build.py").stat().st_size
    )


def main():
    need_tools()
    knowledge_text = read_knowledge(HERE)

    sc = build_screen()
    duration = sc.n / FPS
    with tempfile.TemporaryDirectory(prefix="hard-build-") as tmp:
        print("synthesising speech ...", flush=True)
        utterances = place_speech(sc, Path(tmp))
    questions: list[dict[str, Any]] = [
        {"_item": q, "t_s": round(sc.anchors[q.anchor] / FPS + q.offset, 2)} for q in QUESTIONS
    ]
    number_questions(questions, "h")

    exit_on_problems(check_timeline(sc, utterances, questions, knowledge_text))
    print(
        f"session: {duration:.1f} s, {sc.n} frames, {len(utterances)} utterances, "
        f"{len(sc.changes)} screen changes, {len(questions)} questions",
        flush=True,
    )

    print("encoding screen.mp4 (and checking every frame against the ground truth) ...", flush=True)
    with tempfile.TemporaryDirectory(prefix="hard-video-", dir=HERE) as tmpv:
        tmp_mp4 = Path(tmpv) / "screen.mp4"
        problems: list[str] = []
        encode_video(tmp_mp4, checked_frames(sc, problems))
        exit_on_problems(problems[:20], "the rendered frames disagree with the ground truth")
        shutil.move(tmp_mp4, HERE / "screen.mp4")

    write_tracks(HERE / "audio", VOICE, utterances, sc.n)
    write_truth(HERE, utterances, sc.changes, questions, screen_changes_notes(sc))
    write_manifest(
        HERE / "manifest.toml",
        name="hard",
        title="Northwind Dashboard 2.0 design review (sampler stress test)",
        tenant="northwind",
        room="design-review",
        duration=duration,
        sharer=SHARER,
        participants=PARTICIPANTS,
    )
    size = folder_bytes()
    print(f"done: {HERE} ({size / 1e6:.2f} MB)")
    if size >= MAX_FOLDER_BYTES:
        sys.exit(f"build.py: the folder is {size} bytes, over the {MAX_FOLDER_BYTES} byte budget")


if __name__ == "__main__":
    main()
