"""Build small, valid recorded sessions in a temp folder, for tests (no espeak, no network).

The screen shows big text slides; each participant's audio holds noise bursts where the
ground-truth transcript says they speak (enough for the voice gate; the ``recorded`` provider
supplies the words).
"""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from PIL import Image, ImageDraw, ImageFont

FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
SLIDES = [
    (0.0, "Quarterly review\nRevenue 4.2M dollars"),
    (4.0, "Churn fell to 2.1%\nOwner: Priya"),
]
UTTERANCES = [
    ("alice", 0.5, 2.0, "Welcome everyone to the quarterly review."),
    ("bob", 2.5, 3.8, "The launch date is March 14."),
    ("alice", 4.5, 6.0, "Priya owns the churn work."),
]
QUESTIONS = [
    {
        "id": "q1",
        "t_s": 5.0,
        "asker": "alice",
        "text": "What is the launch date?",
        "reference": "March 14.",
        "key_facts": ["March 14"],
        "needs_screen": False,
        "source": "transcript",
    },
    {
        "id": "q2",
        "t_s": 6.5,
        "asker": "bob",
        "text": "What churn rate is on the slide?",
        "reference": "Churn fell to 2.1%.",
        "key_facts": ["2.1%"],
        "needs_screen": True,
        "source": "screen",
    },
    {
        "id": "q3",
        "t_s": 7.0,
        "asker": "bob",
        "text": "Within how many minutes must on-call acknowledge a page?",
        "reference": "Within 15 minutes.",
        "key_facts": ["15 minutes"],
        "needs_screen": False,
        "source": "knowledge",
    },
]


def slide_image(text: str, size: tuple[int, int]) -> np.ndarray:
    image = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(image)
    font_size = size[1] // 9
    if Path(FONT).is_file():
        font: ImageFont.FreeTypeFont | ImageFont.ImageFont = ImageFont.truetype(FONT, font_size)
    else:  # no DejaVu on this machine: Pillow's bundled scalable font
        font = ImageFont.load_default(size=font_size)
    draw.multiline_text((size[0] // 20, size[1] // 6), text, fill="black", font=font, spacing=12)
    return np.asarray(image)


def write_video(
    path: Path,
    *,
    duration_s: float,
    fps: int = 10,
    size: tuple[int, int] = (640, 360),
    slides: list[tuple[float, str]] | None = None,
) -> None:
    slides = slides or SLIDES
    images = [(t, slide_image(text, size)) for t, text in slides]
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = size[0], size[1], "yuv420p"
        stream.time_base = Fraction(1, fps)
        for i in range(int(duration_s * fps)):
            t = i / fps
            current = [img for start, img in images if start <= t][-1]
            frame = av.VideoFrame.from_ndarray(current, format="rgb24")
            frame.pts = i
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def write_audio(
    path: Path,
    *,
    duration_s: float,
    spans: list[tuple[float, float]],
    rate: int = 16_000,
    codec: str = "flac",
) -> None:
    rng = np.random.default_rng(7)
    samples = np.zeros(int(duration_s * rate), np.int16)
    for start, end in spans:
        a, b = int(start * rate), int(end * rate)
        samples[a:b] = (rng.standard_normal(b - a) * 4000).astype(np.int16)
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=rate)
        stream.layout = "mono"
        for i in range(0, len(samples), 4096):
            frame = av.AudioFrame.from_ndarray(
                samples[None, i : i + 4096], format="s16", layout="mono"
            )
            frame.sample_rate = rate
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def make_dataset(root: Path, *, duration_s: float = 8.0) -> Path:
    """A complete valid dataset at ``root``; returns the folder."""
    (root / "audio").mkdir(parents=True, exist_ok=True)
    (root / "knowledge").mkdir(exist_ok=True)
    (root / "truth").mkdir(exist_ok=True)
    write_video(root / "screen.mp4", duration_s=duration_s)
    for person in ("alice", "bob"):
        spans = [(s, e) for who, s, e, _ in UTTERANCES if who == person]
        write_audio(root / "audio" / f"{person}.flac", duration_s=duration_s, spans=spans)
    (root / "questions.jsonl").write_text("\n".join(json.dumps(q) for q in QUESTIONS) + "\n")
    (root / "truth" / "transcript.jsonl").write_text(
        "\n".join(
            json.dumps({"speaker": w, "start_s": s, "end_s": e, "text": t})
            for w, s, e, t in UTTERANCES
        )
        + "\n"
    )
    (root / "truth" / "screen_changes.jsonl").write_text(
        '{"t_s": 0.0, "kind": "slide", "label": "title"}\n'
        '{"t_s": 4.0, "kind": "slide", "label": "churn"}\n'
    )
    (root / "knowledge" / "oncall.md").write_text(
        "# On-call\n\nThe on-call engineer must acknowledge a page within 15 minutes.\n\n"
        "Escalate to the incident commander after 30 minutes.\n"
    )
    (root / "knowledge" / "pricing.md").write_text(
        "# Pricing\n\nThe Pro plan costs $49 per seat per month.\n"
    )
    (root / "manifest.toml").write_text(f"""format = 1
name = "tiny"
title = "Tiny test session"
tenant = "acme"
room = "standup"
duration_s = {duration_s}
questions = "questions.jsonl"
knowledge = "knowledge"

[screen]
file = "screen.mp4"
participant = "alice"

[[participants]]
identity = "alice"
name = "Alice"
audio = "audio/alice.flac"

[[participants]]
identity = "bob"
name = "Bob"
audio = "audio/bob.flac"

[ground_truth]
transcript = "truth/transcript.jsonl"
screen_changes = "truth/screen_changes.jsonl"
""")
    return root
