#!/usr/bin/env python3
"""Build the demo session: "Northwind weekly product review" (tenant `northwind`).

Run from the repository root:

    .venv/bin/python datasets/demo/build.py

Needs, besides the Python packages of the project venv (PyAV with libx264, Pillow, numpy):

* ``espeak-ng`` (Debian package ``espeak-ng``) to synthesise the three voices;
* ``sox`` (Debian package ``sox``) to resample the speech to 16 kHz and write FLAC;
* the DejaVu fonts (Debian package ``fonts-dejavu-core``) to render the screen.

What it writes next to itself (everything except ``knowledge/``, which is hand-written Markdown that
this script only reads to check the questions against it):

    manifest.toml, screen.mp4, audio/<identity>.flac, questions.jsonl,
    truth/transcript.jsonl, truth/screen_changes.jsonl

Everything derives from one timeline: the ``SCRIPT`` list below is walked once; each utterance is
synthesised and placed after the previous one, each screen action (slide change, scroll, typing) is
placed on the 30 fps frame grid, each question gets its time. The same timeline then drives the
audio tracks, the video frames, the ground truth and the checks at the end (questions asked when
their slide has been visible for at least 3 s, facts only where they are supposed to be, ...).
The build is deterministic: no randomness except a seeded ``random.Random``, and espeak-ng, sox and
libx264 give the same output for the same input (same package versions).
"""

from __future__ import annotations

import functools
import math
import random
import sys
import tempfile
from collections.abc import Callable, Hashable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import av
import numpy as np
from PIL import Image

# The helpers shared with datasets/hard/build.py live in datasets/buildkit.py. This script is run as
# a file (`.venv/bin/python datasets/demo/build.py`), so put the datasets folder on the import path.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from buildkit import (
    ACCENT,
    BAD,
    FPS,
    GOOD,
    INK,
    MUTED,
    RULE,
    SR,
    Canvas,
    Participant,
    W,
    check_facts,
    check_question,
    check_speech,
    check_visible,
    encode_video,
    exit_on_problems,
    frame_of,
    framed_slide,
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
SEED = 20251009

PARTICIPANTS: list[Participant] = [
    # identity, display name, espeak-ng voice, peak level of each utterance (about -8 dBFS)
    ("alice", "Alice Martin", "en-us+f3", 0.4),
    ("bob", "Bob Okafor", "en-gb", 0.4),
    ("carol", "Carol Nguyen", "en-us+f2", 0.4),
]
VOICE = {p[0]: p[2] for p in PARTICIPANTS}
LEVEL = {p[0]: p[3] for p in PARTICIPANTS}


# ----------------------------------------------------------------------------------------------
# Screen content
# ----------------------------------------------------------------------------------------------

REVENUE = [  # region, Q2, Q3 (USD millions)
    ("North America", 2.40, 2.76),
    ("EMEA", 1.10, 1.32),
    ("APAC", 0.52, 0.61),
    ("LATAM", 0.18, 0.17),
]

WAU = [
    ("Jul", "18.2k", 18.2),
    ("Aug", "19.6k", 19.6),
    ("Sep", "21.4k", 21.4),
    ("Oct*", "23.0k", 23.0),
]

ACCOUNTS = [  # account, plan, seats, ARR ($K), renewal, owner, health
    ("Contoso Retail", "Enterprise", 420, 378, "Oct 31", "Carol", 42),
    ("Northpeak Media", "Team", 85, 60, "Nov 3", "Mei", 81),
    ("Alder Insurance", "Enterprise", 260, 234, "Nov 7", "Tom", 74),
    ("Copperline Freight", "Team", 120, 85, "Oct 24", "Mei", 88),
    ("Lakeside Clinics", "Enterprise", 180, 162, "Dec 1", "Carol", 71),
    ("Orchard Labs", "Team", 64, 45, "Nov 14", "Tom", 90),
    ("Westbrook University", "Enterprise", 310, 223, "Dec 19", "Mei", 77),
    ("Pinecrest Energy", "Team", 96, 68, "Oct 28", "Tom", 58),
    ("Granite Payments", "Enterprise", 210, 189, "Nov 21", "Carol", 83),
    ("Silverline Travel", "Team", 72, 51, "Dec 5", "Mei", 62),
    ("Blue Harbor Bank", "Enterprise", 350, 315, "Dec 12", "Carol", 66),
    ("Meadow Pharmacy", "Team", 58, 41, "Nov 10", "Tom", 79),
    ("Redwood Capital", "Enterprise", 150, 135, "Nov 28", "Carol", 85),
    ("Cobalt Robotics", "Team", 110, 78, "Oct 30", "Mei", 73),
    ("Harborview Hotels", "Team", 90, 64, "Dec 9", "Tom", 55),
    ("Sterling Legal", "Team", 45, 32, "Nov 17", "Mei", 92),
    ("Evergreen Schools", "Enterprise", 240, 173, "Dec 15", "Carol", 69),
    ("Brightwater Utilities", "Enterprise", 190, 171, "Nov 25", "Tom", 80),
    ("Quarry Games", "Team", 70, 50, "Oct 27", "Mei", 47),
    ("Riverside Logistics", "Enterprise", 230, 207, "Dec 3", "-", 64),
    ("Foxglove Fashion", "Team", 55, 39, "Nov 12", "Tom", 86),
    ("Ironwood Mining", "Enterprise", 160, 144, "Dec 18", "Carol", 60),
    ("Juniper Telecom", "Enterprise", 275, 248, "Nov 30", "Mei", 78),
    ("Kestrel Aviation", "Team", 80, 57, "Oct 29", "Tom", 71),
    ("Lumen Architects", "Team", 40, 28, "Dec 10", "Mei", 94),
    ("Marigold Bakeries", "Team", 62, 44, "Nov 19", "Tom", 68),
    ("Nimbus Software", "Enterprise", 200, 180, "Dec 22", "Carol", 75),
    ("Oakridge Dental", "Team", 48, 34, "Nov 6", "Mei", 89),
    ("Prairie Credit Union", "Enterprise", 140, 126, "Dec 16", "Tom", 72),
    ("Quayside Ports", "Enterprise", 170, 153, "Nov 26", "Carol", 63),
]

TERM_INGEST = [
    "uptime        99.97%",
    "p95 latency   412 ms",
    "error rate    0.21%",
    "requests      18.4M",
]
TERM_QUERY = [
    "uptime        99.99%",
    "p95 latency   655 ms",
    "error rate    0.08%",
    "requests      6.2M",
]

FOOTER = "Northwind Analytics  \u00b7  Weekly product review  \u00b7  Oct 9, 2025"


def slide_frame(title: str, page: int) -> Canvas:
    return framed_slide(title, FOOTER, f"{page} / {len(SLIDE_ORDER)}")


def s_title(page):
    c = title_slide(
        "Weekly Product Review",
        "Thursday, October 9, 2025",
        "Alice Martin  \u00b7  Bob Okafor  \u00b7  Carol Nguyen",
    )
    c.text((120, 600), "Internal \u2014 do not forward", 24, fill=MUTED, record=False)
    return c


def s_agenda(page):
    c = slide_frame("Agenda", page)
    items = [
        "Q3 results by region",
        "Weekly active users",
        "Q4 renewals: top accounts",
        "Ingest service status",
        "Incident follow-up: INC-2291",
        "Q4 roadmap",
        "Hiring plan",
    ]
    for i, it in enumerate(items):
        c.text((90, 160 + i * 66), f"{i + 1}.", 34, "b", fill=ACCENT)
        c.text((150, 160 + i * 66), it, 34)
    return c


def s_revenue(page):
    c = slide_frame("Q3 revenue by region", page)
    rows, colors = [], {}
    for i, (reg, q2, q3) in enumerate(
        [*REVENUE, ("Total", sum(r[1] for r in REVENUE), sum(r[2] for r in REVENUE))]
    ):
        ch = round((q3 / q2 - 1) * 100)
        rows.append([reg, f"${q2:.2f}M", f"${q3:.2f}M", f"{ch:+d}%"])
        colors[(i, 3)] = GOOD if ch >= 0 else BAD
    table(
        c,
        110,
        150,
        [("Region", 380, "l"), ("Q2 2025", 220, "r"), ("Q3 2025", 220, "r"), ("Change", 220, "r")],
        rows,
        size=32,
        row_h=64,
        bold_last=True,
        colors=colors,
    )
    c.text((110, 560), "Recognised revenue in USD. Change is Q3 vs Q2.", 28, fill=MUTED)
    return c


def s_wau(page):
    c = slide_frame("Weekly active users (monthly average)", page)
    base, top, x0, bw, gap = 560, 190, 190, 170, 90
    vmax = 25.0
    c.d.line([140, base, W - 140, base], fill=INK, width=2)
    for i, (mon, lab, v) in enumerate(WAU):
        x = x0 + i * (bw + gap)
        h = (base - top) * v / vmax
        proj = mon.endswith("*")
        c.d.rectangle([x, base - h, x + bw, base], fill=(160, 185, 230) if proj else ACCENT)
        c.text((x + bw / 2, base - h - 12), lab, 32, "b", anchor="md")
        c.text((x + bw / 2, base + 14), mon, 30, anchor="ma")
    c.text((140, 616), "* October is a projection.   Monthly logo churn: 1.8%", 28, fill=MUTED)
    return c


def s_incident(page):
    c = slide_frame("Incident follow-up: INC-2291", page)
    lines = [
        ("Date", "Sep 28, 2025, ingest pipeline outage"),
        ("Duration", "47 minutes"),
        ("Customers affected", "63"),
        ("Root cause", "expired TLS certificate on Kafka broker 3"),
        ("Actions", "certificate expiry alerts (done)"),
        ("", "runbook update (due Oct 17)"),
        ("", "customer incident report (done)"),
    ]
    for i, (k, v) in enumerate(lines):
        y = 158 + i * 64
        if k:
            c.text((90, y), k + ":", 32, "b")
        c.text((480, y), v, 32)
    return c


def s_roadmap(page):
    c = slide_frame("Q4 roadmap: committed dates", page)
    rows = [
        ["SSO for all plans", "October 20", "Bob"],
        ["Usage-based billing beta", "November 3", "Alice"],
        ["Mobile dashboards GA", "November 24", "Bob"],
        ["EU data residency", "December 8", "Bob"],
        ["Code freeze", "December 15", "All"],
    ]
    table(
        c,
        110,
        150,
        [("Milestone", 520, "l"), ("Target date", 300, "l"), ("Owner", 220, "l")],
        rows,
        size=32,
        row_h=68,
    )
    return c


def s_hiring(page):
    c = slide_frame("Hiring plan: Q4", page)
    rows = [
        ["iOS engineer", "offer accepted", "starts November 17"],
        ["Data engineer", "3 finalists", "decision October 24"],
        ["Support specialist, EMEA", "approved", "opens November 1"],
    ]
    table(
        c,
        90,
        150,
        [("Role", 440, "l"), ("Status", 290, "l"), ("Date", 370, "l")],
        rows,
        size=30,
        row_h=68,
    )
    c.text((104, 470), "Headcount today: 42", 32, "b")
    c.text((104, 530), "Planned headcount on December 31: 46", 32)
    return c


def s_wrapup(page):
    c = slide_frame("Wrap-up: owners and next steps", page)
    items = [
        ("Contoso Retail renewal plan", "Carol"),
        ("Query API cache hit rate", "Bob"),
        ("Confirm EU residency date with legal", "Alice"),
        ("Assign Riverside Logistics owner", "Carol"),
    ]
    for i, (what, who) in enumerate(items):
        y = 160 + i * 70
        c.d.ellipse([92, y + 12, 106, y + 26], fill=ACCENT)
        c.text((130, y), what, 32)
        c.text((1000, y), who, 32, "b")
    c.text((130, 480), "Next review: Thursday, Oct 16, 10:00", 32, "b", fill=ACCENT)
    return c


SLIDES = {
    "title": ("title slide", s_title),
    "agenda": ("agenda", s_agenda),
    "revenue": ("Q3 revenue by region", s_revenue),
    "wau": ("weekly active users chart", s_wau),
    "incident": ("incident follow-up INC-2291", s_incident),
    "roadmap": ("Q4 roadmap", s_roadmap),
    "hiring": ("hiring plan", s_hiring),
    "wrapup": ("wrap-up and owners", s_wrapup),
}
SLIDE_ORDER = list(SLIDES)


@functools.cache
def slide(name: str) -> Canvas:
    return SLIDES[name][1](SLIDE_ORDER.index(name) + 1)


# --- spreadsheet ------------------------------------------------------------------------------

SHEET_COLS = [
    ("", 56, "r"),
    ("Account", 320, "l"),
    ("Plan", 170, "l"),
    ("Seats", 112, "r"),
    ("ARR", 140, "r"),
    ("Renewal", 150, "l"),
    ("Owner", 124, "l"),
    ("Health", 124, "r"),
]
SHEET_X = 24
ROW_H = 46
SHEET_TOP = 148  # y of the first data row on screen
SHEET_BOTTOM = 690  # status bar starts here
VIEW_H = SHEET_BOTTOM - SHEET_TOP


def sheet_rows() -> list[list[str]]:
    rows = [
        [str(i + 1), a, p, str(s), f"${arr}K", ren, own, str(hl)]
        for i, (a, p, s, arr, ren, own, hl) in enumerate(ACCOUNTS)
    ]
    seats = sum(a[2] for a in ACCOUNTS)
    arr = sum(a[3] for a in ACCOUNTS)
    rows.append(
        [str(len(ACCOUNTS) + 1), "Total", "", f"{seats:,}", f"${arr / 1000:.2f}M", "", "", ""]
    )
    return rows


SHEET_MAX_SCROLL = len(sheet_rows()) * ROW_H - VIEW_H


@functools.lru_cache(maxsize=1)
def sheet_body() -> Image.Image:
    rows = sheet_rows()
    c = Canvas(W, len(rows) * ROW_H, bg=(255, 255, 255))
    for i, row in enumerate(rows):
        y = i * ROW_H
        cx = SHEET_X
        total = row[1] == "Total"
        for j, ((_, w, al), cell) in enumerate(zip(SHEET_COLS, row, strict=True)):
            if j == 0:
                c.d.rectangle([cx, y, cx + w, y + ROW_H], fill=(236, 238, 242))
            fill = MUTED if j == 0 else INK
            if j == 7 and cell and int(cell) < 50:
                fill = BAD
            size = 24 if j == 0 else 28
            if c.width(cell, size, "b" if total else "") + 16 > w:
                raise ValueError(f"spreadsheet cell {cell!r} does not fit its column")
            c.text(
                (cx + (w - 10 if al == "r" else 10), y + ROW_H // 2),
                cell,
                size,
                "b" if total and j else "",
                fill=fill,
                anchor="rm" if al == "r" else "lm",
                record=False,
            )
            c.d.line([cx + w, y, cx + w, y + ROW_H], fill=RULE)
            cx += w
        c.d.line(
            [SHEET_X, y + ROW_H - 1, cx, y + ROW_H - 1],
            fill=INK if total else RULE,
            width=2 if total else 1,
        )
    return c.im


def sheet_visible_text(top: int) -> list[str]:
    """Text of the rows entirely inside the viewport when scrolled to `top` pixels."""
    out: list[str] = []
    for i, row in enumerate(sheet_rows()):
        if i * ROW_H >= top and (i + 1) * ROW_H <= top + VIEW_H:
            out.extend(c for c in row if c)
    return out


def sheet_rows_visible(top: int) -> str:
    first = math.ceil(top / ROW_H) + 1
    last = min(len(sheet_rows()), (top + VIEW_H) // ROW_H)
    return f"rows {first}-{last}"


def render_sheet(top: int) -> Canvas:
    c = Canvas(bg=(255, 255, 255))
    c.im.paste(sheet_body().crop((0, top, W, top + VIEW_H)), (0, SHEET_TOP))
    title_bar(c, "Q4 renewals \u2013 top accounts.xlsx", record=True)
    c.d.rectangle([0, 44, W, 96], fill=(246, 247, 249))
    c.text((24, 70), "A1", 22, fill=MUTED, anchor="lm")
    c.text((90, 70), "fx   Q4 renewals, accounts over $25K ARR", 22, fill=MUTED, anchor="lm")
    c.d.line([0, 96, W, 96], fill=RULE)
    cx = SHEET_X
    for head, w, al in SHEET_COLS:
        c.d.rectangle([cx, 96, cx + w, SHEET_TOP], fill=(230, 236, 246))
        c.text(
            (cx + (w - 10 if al == "r" else 10), (96 + SHEET_TOP) // 2),
            head,
            26,
            "b",
            anchor="rm" if al == "r" else "lm",
        )
        cx += w
    c.d.line([0, SHEET_TOP - 1, W, SHEET_TOP - 1], fill=INK, width=2)
    status_bar(c, SHEET_BOTTOM, f"{len(ACCOUNTS)} accounts  \u00b7  Sheet 1 of 1")
    c.texts.extend(sheet_visible_text(top))
    return c


# --- terminal ---------------------------------------------------------------------------------

TERM_BG = (253, 246, 227)
TERM_INK = (7, 54, 66)
PROMPT = "$ "


def render_term(lines: tuple[str, ...]) -> Canvas:
    c = Canvas(bg=TERM_BG)
    c.d.rectangle([0, 0, W, 44], fill=(222, 216, 198))
    for i, col in enumerate([(236, 95, 90), (245, 190, 80), (98, 197, 84)]):
        c.d.ellipse([18 + i * 28, 14, 34 + i * 28, 30], fill=col)
    c.text((W // 2, 22), "alice@northwind: ~", 22, anchor="mm", fill=(88, 110, 117))
    y = 62
    for i, ln in enumerate(lines):
        c.text((28, y), ln, 28, "m", fill=TERM_INK)
        if i == len(lines) - 1 and ln.startswith(PROMPT):
            x = 28 + c.width(ln, 28, "m")
            c.d.rectangle([x + 2, y + 2, x + 18, y + 34], fill=(88, 110, 117))
        y += 38
    return c


# ----------------------------------------------------------------------------------------------
# The meeting
# ----------------------------------------------------------------------------------------------


@dataclass
class Say:
    speaker: str
    text: str


@dataclass
class Show:  # a new screen: a slide or another window
    view: str  # slide name, "sheet" or "term"
    kind: str = "slide"
    label: str = ""
    delay: float = 0.3


@dataclass
class Scroll:
    to_row: int  # first row at the top of the viewport (0-based); clamped to the end of the sheet
    delay: float = 0.3
    dur: float = 0.5


@dataclass
class Type:
    command: str
    output: list[str]
    output_label: str
    delay: float = 0.8


@dataclass
class Ask:
    asker: str
    text: str
    reference: str
    key_facts: list[str]
    source: str  # screen | knowledge | transcript | reasoning
    difficulty: str
    screen: str | None = (
        None  # label of the screen change that must be current at t_s (needs_screen)
    )
    check_screen: list[str] = field(default_factory=list)  # strings that must be visible at t_s
    delay: float = 0.3


SCRIPT: list[Say | Show | Scroll | Type | Ask] = [
    Show("title"),
    Say(
        "alice",
        "Good morning, everyone. Welcome to the weekly product review. I'm sharing my screen now.",
    ),
    Say("bob", "Morning. I can see it."),
    Say("carol", "Morning. I have a hard stop at half past ten."),
    Show("agenda"),
    Say(
        "alice",
        "Here's the agenda. Third quarter results, active users, renewals, the ingest service, the "
        "incident, the roadmap, and hiring.",
    ),
    Show("revenue"),
    Say(
        "alice",
        "Here are the third quarter numbers by region. Overall, revenue grew about 16 percent.",
    ),
    Say("bob", "Europe looks really strong. Is that mostly the Summit Health deal?"),
    Ask(
        "bob",
        "What was EMEA revenue in Q3 according to the slide?",
        "EMEA revenue was $1.32M in Q3 2025, up from $1.10M in Q2.",
        ["$1.32M"],
        "screen",
        "easy",
        screen="Q3 revenue by region",
    ),
    Say(
        "carol",
        "Mostly, yes. Summit Health signed for 300 seats in August, our biggest deal of the quarter.",
    ),
    Say("alice", "Latin America is the only region that went down. Carol, why?"),
    Ask(
        "alice",
        "Which region grew the fastest from Q2 to Q3, and by how much?",
        "EMEA grew the fastest: +20%, from $1.10M to $1.32M (North America +15%, APAC +17%, LATAM -6%).",
        ["EMEA", "20%"],
        "reasoning",
        "medium",
        screen="Q3 revenue by region",
        check_screen=["+20%", "+15%", "+17%", "-6%"],
    ),
    Say(
        "carol",
        "We lost two small customers in Brazil to a local competitor. I'm meeting our partner there "
        "next Tuesday.",
    ),
    Ask(
        "carol",
        "What is the largest discount an account executive can give without anyone else's approval?",
        "Account executives may approve discounts of up to 10% on their own; up to 20% needs a sales director "
        "and more than 20% the CFO.",
        ["10%"],
        "knowledge",
        "medium",
    ),
    Show("wau"),
    Say(
        "alice",
        "Next, weekly active users. The trend is up every month, and October is only a projection.",
    ),
    Say(
        "bob",
        "The September jump lines up with the new onboarding flow, which shipped on September 2nd.",
    ),
    Ask(
        "bob",
        "How many weekly active users did we have in September?",
        "The chart shows 21.4k weekly active users (monthly average) in September.",
        ["21.4k"],
        "screen",
        "easy",
        screen="weekly active users chart",
    ),
    Say(
        "carol",
        "Customers say the new onboarding is much easier. Setup tickets dropped by almost a third.",
    ),
    Ask(
        "carol",
        "How do we define a weekly active user?",
        "A weekly active user is a user who opened at least one dashboard during the last 7 days (rolling "
        "window); logging in alone does not count.",
        ["at least one dashboard", "7 days"],
        "knowledge",
        "medium",
    ),
    Show("sheet", "other", "renewals spreadsheet"),
    Say("alice", "Now the accounts that renew in the fourth quarter. I'll scroll through them."),
    Say("carol", "Contoso Retail worries me most. Their champion left last month."),
    Ask(
        "alice",
        "How many seats did Summit Health sign for?",
        "Carol said Summit Health signed for 300 seats in August, the biggest deal of the quarter.",
        ["300"],
        "transcript",
        "easy",
    ),
    Scroll(8),
    Say(
        "bob",
        "Blue Harbor Bank asked again about keeping their data in Europe. That could be a deal breaker.",
    ),
    Ask(
        "carol",
        "When does the Blue Harbor Bank contract renew?",
        "Blue Harbor Bank renews on Dec 12 (Enterprise, 350 seats, $315K ARR).",
        ["Dec 12"],
        "screen",
        "medium",
        screen="renewals spreadsheet: scrolled to rows 9-19",
        check_screen=["Blue Harbor Bank"],
    ),
    Say("carol", "Right. I promised them an answer by the end of October."),
    Scroll(16),
    Say("alice", "Here's the rest. Most of these look healthy."),
    Say(
        "carol",
        "Riverside Logistics has no owner yet. I'd like to give it to Kevin, since he ran their pilot.",
    ),
    Scroll(99),
    Say("alice", "That's the bottom of the list. Bob, the ingest service?"),
    Ask(
        "alice",
        "When did the new onboarding flow ship?",
        "Bob said the new onboarding flow shipped on September 2nd, which lines up with the jump in weekly active "
        "users.",
        ["September 2"],
        "transcript",
        "easy",
    ),
    Say("bob", "Yes. Can you run the status command for ingest, last seven days?"),
    Say("alice", "Sure, opening a terminal."),
    Show("term", "other", "terminal window"),
    Type("nw status --service ingest --window 7d", TERM_INGEST, "ingest status output"),
    Say("bob", "There it is. Latency is finally back under our target, and errors look flat."),
    Ask(
        "carol",
        "What is the p95 latency of the ingest service over the last 7 days?",
        "The ingest service's p95 latency over the last 7 days is 412 ms.",
        ["412 ms"],
        "screen",
        "easy",
        screen="ingest status output",
    ),
    Say("bob", "Now the same for the query API, so we can compare."),
    Type("nw status --service query-api --window 7d", TERM_QUERY, "query-api status output"),
    Say("alice", "Here you go. Query is quite a bit slower."),
    Say("bob", "Yes, my team will look at the cache hit rate next sprint."),
    Ask(
        "bob",
        "How much higher is the query API's p95 latency than the ingest service's?",
        "The query API's p95 latency is 655 ms versus 412 ms for ingest, so 243 ms higher.",
        ["243 ms"],
        "reasoning",
        "hard",
        screen="query-api status output",
        check_screen=["p95 latency   412 ms", "p95 latency   655 ms"],
    ),
    Show("incident"),
    Say("alice", "Next, the follow up from the ingest outage in September."),
    Say(
        "bob",
        "The root cause was an expired certificate on one of the Kafka brokers. And the first page sat "
        "unacknowledged for a while.",
    ),
    Ask(
        "carol",
        "If the primary on-call doesn't acknowledge a Sev1 page, when does it escalate and to whom?",
        "After 15 minutes without acknowledgement PagerDuty escalates a Sev1 page to the secondary on-call "
        "(and to the engineering manager after 30 minutes).",
        ["15 minutes", "secondary"],
        "knowledge",
        "medium",
    ),
    Say(
        "carol",
        "I sent the incident report to every affected customer on October 1st. Two of them asked for "
        "service credits.",
    ),
    Ask(
        "alice",
        "How many customers were affected by INC-2291?",
        "63 customers were affected by the INC-2291 ingest outage.",
        ["63"],
        "screen",
        "easy",
        screen="incident follow-up INC-2291",
    ),
    Say("alice", "Let's handle those credits exactly the way the policy says."),
    Ask(
        "carol",
        "Given how long the outage lasted, did we breach the Enterprise uptime SLA for September?",
        "Yes: the SLA is 99.9% monthly uptime, which allows 43.2 minutes of downtime in a 30-day month, and "
        "the outage lasted 47 minutes.",
        ["43.2"],
        "reasoning",
        "hard",
        screen="incident follow-up INC-2291",
        check_screen=["47 minutes"],
    ),
    Say("bob", "Agreed. Expiry alerts are live since Monday."),
    Ask(
        "alice",
        "How many days before expiry must TLS certificates be renewed under our security policy?",
        "The security policy requires TLS certificates to be renewed at least 30 days before they expire.",
        ["30 days"],
        "knowledge",
        "medium",
    ),
    Show("roadmap"),
    Say("alice", "Now the fourth quarter roadmap. These are the dates we committed to the board."),
    Say("bob", "I'm fine with everything except mobile. We're still one iOS engineer short."),
    Say(
        "carol",
        "Blue Harbor will be happy to see data residency here. Can I share that date with them?",
    ),
    Say("alice", "Yes, but call it a target, not a promise."),
    Ask(
        "carol",
        "When is EU data residency scheduled?",
        "EU data residency is scheduled for December 8 (owner: Bob).",
        ["December 8"],
        "screen",
        "easy",
        screen="Q4 roadmap",
    ),
    Say("bob", "For usage based billing, the beta group is the 14 customers Carol picked."),
    Ask(
        "bob",
        "When did Carol send the incident report to the affected customers?",
        "Carol sent the incident report to every affected customer on October 1st.",
        ["October 1"],
        "transcript",
        "medium",
    ),
    Say("carol", "Correct, and Golden Valley Foods agreed to go first."),
    Ask(
        "carol",
        "What will we charge for usage above the included quota with usage-based billing?",
        "Usage above the quota is billed at $0.40 per 1,000 query units, monthly in arrears, never discounted.",
        ["$0.40"],
        "knowledge",
        "easy",
    ),
    Show("hiring"),
    Say("alice", "Bob asked about hiring, so here's where we are."),
    Say("bob", "Great news on the iOS role. That takes risk off the mobile launch."),
    Say("carol", "Any update on the support role in Europe?"),
    Ask(
        "bob",
        "Will the new iOS engineer start before mobile dashboards go GA, and by how many days?",
        "Yes: the iOS engineer starts on November 17 and mobile dashboards GA is November 24 on the roadmap, "
        "7 days later.",
        ["November 17", "7 days"],
        "reasoning",
        "hard",
        screen="hiring plan",
        check_screen=["starts November 17"],
    ),
    Say("alice", "It opens next month. I'll ask Sarah in recruiting to prioritize it."),
    Ask(
        "alice",
        "Who did Carol want to give the Riverside Logistics account to?",
        "Carol wants to give Riverside Logistics to Kevin, since he ran their pilot.",
        ["Kevin"],
        "transcript",
        "medium",
    ),
    Show("wrapup"),
    Say(
        "alice",
        "To wrap up. Carol owns the Contoso plan, Bob owns the cache work, and I'll confirm the residency "
        "date with legal.",
    ),
    Say("carol", "Sounds good. Thanks, everyone."),
    Say("bob", "Thanks. See you next week."),
    Ask(
        "carol",
        "Which customer agreed to go first in the usage-based billing beta?",
        "Carol said Golden Valley Foods agreed to be the first customer in the usage-based billing beta.",
        ["Golden Valley"],
        "transcript",
        "medium",
    ),
]
TAIL_S = 2.5  # silence after the last utterance


# ----------------------------------------------------------------------------------------------
# Timeline
# ----------------------------------------------------------------------------------------------


@dataclass
class Change:
    frame: int
    kind: str
    label: str
    # state at frame f (>= self.frame): a hashable key understood by render()
    key_at: Callable[[int], Hashable]
    settle_frame: int  # frame from which the state no longer moves


def ease(u: float) -> float:
    u = min(max(u, 0.0), 1.0)
    return u * u * (3 - 2 * u)


def build_timeline(tmp: Path):
    gap_rng = random.Random(SEED)
    type_rng = random.Random(SEED + 1)
    t = 0.0  # end of the last thing that happened
    utterances: list[dict[str, Any]] = []
    changes: list[Change] = []
    questions: list[dict[str, Any]] = []
    sheet_top = 0
    term_lines: list[str] = []
    last_speaker = None

    def static(key: Hashable) -> Callable[[int], Hashable]:
        return lambda f: key

    for n, item in enumerate(SCRIPT):
        # the screen a question is about stays put for a moment after the question
        prev = SCRIPT[n - 1] if n else None
        after_screen_q = 1.5 if isinstance(prev, Ask) and prev.screen else 0.0
        if isinstance(item, Say):
            x = speak(item.text, VOICE[item.speaker], LEVEL[item.speaker], tmp, n)
            gap = (
                0.0
                if last_speaker is None
                else (0.35 if item.speaker == last_speaker else 0.45 + 0.30 * gap_rng.random())
            )
            start = (
                round((t + gap + (0.6 if last_speaker is None else 0.0)) * 100) / 100
            )  # 10 ms grid
            s0 = round(start * SR)
            utterances.append(utterance(item.speaker, item.text, s0, x))
            t = (s0 + len(x)) / SR
            last_speaker = item.speaker
        elif isinstance(item, Show):
            f = frame_of(t + max(item.delay, after_screen_q) if changes else 0.0)
            key: Hashable
            if item.view in SLIDES:
                key, label = ("slide", item.view), item.label or SLIDES[item.view][0]
            elif item.view == "sheet":
                sheet_top = 0
                key, label = ("sheet", 0), f"{item.label} ({sheet_rows_visible(0)})"
            elif item.view == "term":
                term_lines = ["Last login: Thu Oct  9 10:14:02 on ttys001", PROMPT]
                key, label = ("term", tuple(term_lines)), item.label
            else:
                raise ValueError(item.view)
            changes.append(Change(f, item.kind, label, static(key), f))
            t = f / FPS
        elif isinstance(item, Scroll):
            f = frame_of(t + max(item.delay, after_screen_q))
            a, b = sheet_top, min(item.to_row * ROW_H, SHEET_MAX_SCROLL)
            nf = round(item.dur * FPS)

            def scroll_key(fr: int, f: int = f, a: int = a, b: int = b, nf: int = nf) -> Hashable:
                # frame f already moves, frame f + nf - 1 is at b
                return ("sheet", round(a + (b - a) * ease((fr - f + 1) / nf)))

            rows = sheet_rows_visible(b)
            changes.append(
                Change(
                    f, "scroll", f"renewals spreadsheet: scrolled to {rows}", scroll_key, f + nf - 1
                )
            )
            sheet_top = b
            t = (f + nf) / FPS
        elif isinstance(item, Type):
            f = frame_of(t + item.delay)
            times: list[int] = []
            tt = f / FPS
            for ch in item.command:
                times.append(frame_of(tt))
                tt += 0.07 + 0.08 * type_rng.random() + (0.12 if ch == " " else 0.0)
            base = tuple(term_lines[:-1])
            cmd = item.command

            def typing_key(
                fr: int, base: tuple[str, ...] = base, times: list[int] = times, cmd: str = cmd
            ) -> Hashable:
                k = sum(1 for x in times if x <= fr)
                return ("term", (*base, PROMPT + cmd[:k]))

            done = times[-1]
            changes.append(Change(times[0], "typing", f"typing: {cmd}", typing_key, done))
            term_lines = [*base, PROMPT + cmd, *item.output, "", PROMPT]
            fo = frame_of(done / FPS + 0.5 + 0.4)  # Enter after 0.5 s, output 0.4 s later
            changes.append(
                Change(fo, "other", item.output_label, static(("term", tuple(term_lines))), fo)
            )
            t = fo / FPS
        elif isinstance(item, Ask):
            t = round(t + item.delay, 1)  # what follows (a slide change, the next turn) comes after
            questions.append({"_item": item, "t_s": t})
        else:
            raise TypeError(item)

    n_frames = frame_of(t + TAIL_S)
    n_frames += (
        -n_frames
    ) % 3  # whole number of audio samples per video frame boundary: N/30*16000
    return utterances, changes, questions, n_frames


# ----------------------------------------------------------------------------------------------
# Rendering
# ----------------------------------------------------------------------------------------------


def render(key) -> Canvas:
    if key[0] == "slide":
        return slide(key[1])
    if key[0] == "sheet":
        return render_sheet(key[1])
    if key[0] == "term":
        return render_term(key[1])
    raise ValueError(key)


@functools.lru_cache(maxsize=8)
def video_frame(key) -> av.VideoFrame:
    return to_video_frame(np.asarray(render(key).im))


def video_frames(changes: list[Change], n_frames: int) -> Iterator[av.VideoFrame]:
    ci = 0
    for fr in range(n_frames):
        while ci + 1 < len(changes) and changes[ci + 1].frame <= fr:
            ci += 1
        yield video_frame(changes[ci].key_at(fr))


# ----------------------------------------------------------------------------------------------
# Checks
# ----------------------------------------------------------------------------------------------


def check(utterances, changes, questions, n_frames, knowledge_text):
    duration = n_frames / FPS
    problems = check_speech(utterances, duration, (220, 260), (35, 60))
    all_screen = " | ".join(s for name in SLIDES for s in slide(name).texts)
    all_screen += (
        " | "
        + " | ".join(" ".join(r) for r in sheet_rows())
        + " | "
        + " | ".join(TERM_INGEST + TERM_QUERY)
    )
    ids: set[float] = set()
    for q in questions:
        it: Ask = q["_item"]
        t = q["t_s"]
        fr = frame_of(t)
        ci = max(i for i, c in enumerate(changes) if c.frame <= fr)
        ch = changes[ci]
        where = f"question {q['id']} ({it.text!r})"
        problems += check_question(where, it, t, duration, VOICE, ids)
        if it.screen:
            if ch.label != it.screen:
                problems.append(f"{where}: screen at t_s is {ch.label!r}, wanted {it.screen!r}")
            elif (fr - ch.settle_frame) / FPS < 3.0:
                problems.append(
                    f"{where}: {ch.label!r} visible for only {(fr - ch.settle_frame) / FPS:.1f} s"
                )
            problems += check_visible(where, it, " | ".join(render(ch.key_at(fr)).texts))
        problems += check_facts(where, it, t, utterances, all_screen, knowledge_text)
    return problems


# ----------------------------------------------------------------------------------------------
# Main
# ----------------------------------------------------------------------------------------------


def main():
    need_tools()
    knowledge_text = read_knowledge(HERE)

    with tempfile.TemporaryDirectory(prefix="demo-build-") as tmp:
        print("synthesising speech ...", flush=True)
        utterances, changes, questions, n_frames = build_timeline(Path(tmp))
    duration = n_frames / FPS
    number_questions(questions, "q")

    exit_on_problems(check(utterances, changes, questions, n_frames, knowledge_text))

    print(
        f"session: {duration:.1f} s, {len(utterances)} utterances, {len(changes)} screen changes, "
        f"{len(questions)} questions",
        flush=True,
    )

    # audio: one track per participant, silence when not speaking
    write_tracks(HERE / "audio", VOICE, utterances, n_frames)

    print("encoding screen.mp4 ...", flush=True)
    encode_video(HERE / "screen.mp4", video_frames(changes, n_frames))

    write_truth(HERE, utterances, changes, questions)
    write_manifest(
        HERE / "manifest.toml",
        name="demo",
        title="Northwind weekly product review",
        tenant="northwind",
        room="product-review",
        duration=duration,
        sharer="alice",
        participants=PARTICIPANTS,
    )
    print("done:", HERE)


if __name__ == "__main__":
    main()
