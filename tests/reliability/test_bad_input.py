"""Bad input never crashes with anything but the workbench's own error, and never reaches SQL.

Property tests (hypothesis, derandomized so CI sees the same examples every run) throw generated
garbage at the config parser and the dataset loader; corrupt, truncated, huge-frame and odd-rate
media go through the loader and the decoders; Unicode, quotes and SQL fragments go through the
loader, a real replay into a real DuckDB ledger, and the dashboard's tenant filters.
"""

from __future__ import annotations

import ast
import contextlib
import dataclasses
import json
import math
import re
import shutil
import tempfile
import tomllib
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support.synth import QUESTIONS, UTTERANCES, write_audio

from assistant.core.config import Config, config_from_dict, load_config
from assistant.core.errors import ConfigError, DatasetError
from assistant.core.events import Question
from assistant.core.limits import Limits
from assistant.sessions.datasets import Dataset, load_dataset
from assistant.sessions.media import (
    STT_SAMPLE_RATE,
    SUPPORTED_SAMPLE_RATES,
    iter_audio,
    iter_video,
    probe_audio,
    probe_video,
)

ROOT = Path(__file__).resolve().parents[2]
PROPERTY = settings(
    max_examples=40,
    deadline=None,
    derandomize=True,  # the same examples on every run: CI cannot flake
    database=None,  # no .hypothesis/ folder in the checkout
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

NASTY_TEXT = [
    "",
    " ",
    "'; DROP TABLE runs; --",
    '" OR 1=1 --',
    "' OR '1'='1",
    "acme\n",
    "ACME",
    "a\x00b",
    "../../etc/passwd",
    "/etc/passwd",
    "\u202eevil\u202c",  # right-to-left override
    "שלום עולם",  # RTL text
    "🚀💥",
    "ｆｕｌｌｗｉｄｔｈ",
    "e\u0301",  # combining accent
    "\ufeffbom",
    "x" * 5000,
    "$tenant",
    "{where}",
    "%s",
]
# Text that TOML and UTF-8 can hold (no lone surrogates)
plain_text = st.one_of(
    st.sampled_from(NASTY_TEXT),
    st.text(st.characters(exclude_categories=["Cs"]), max_size=40),
)
scalars = st.one_of(
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.sampled_from([0, -1, 2**63 - 1, -(2**63)]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0.0, -0.0, -1.5, 1e308, 5e-324, math.nan, math.inf, -math.inf]),
    plain_text,
)
EDGE_NUMBERS = st.sampled_from(
    [math.nan, math.inf, -math.inf, 0, 0.0, -1, -1e-9, 1.0, 0.5, 255, 10**400, 1e308, True]
)
toml_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(plain_text, inner, max_size=3),
    max_leaves=8,
)


# -- a small TOML writer (no tomli_w here): every value as an inline value --------------------------
def _toml_str(text: str) -> str:
    out = []
    for ch in text:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return _toml_str(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_toml_str(k)} = {_toml_value(v)}" for k, v in value.items()) + "}"
    raise TypeError(type(value))


def toml_dumps(data: dict[str, Any]) -> str:
    text = "".join(f"{_toml_str(k)} = {_toml_value(v)}\n" for k, v in data.items())
    assert _same(tomllib.loads(text), data), "the test's TOML writer is wrong"
    return text


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and a == b


# -- (a) the config parser ------------------------------------------------------------------------
def _known_keys() -> dict[str, list[str]]:
    keys: dict[str, list[str]] = {}
    for f in dataclasses.fields(Config):
        current = getattr(Config(), f.name)
        keys[f.name] = (
            [g.name for g in dataclasses.fields(current)]
            if dataclasses.is_dataclass(current)
            else []
        )
    return keys


KNOWN = _known_keys()


@st.composite
def config_dicts(draw: st.DrawFn) -> dict[str, Any]:
    """Mostly-right configs: known sections and keys, with values of any type and size."""
    data: dict[str, Any] = {}
    for section in draw(st.lists(st.sampled_from(sorted(KNOWN)), max_size=4, unique=True)):
        keys = KNOWN[section]
        if not keys or draw(st.integers(0, 9)) == 0:
            data[section] = draw(toml_values)
            continue
        table: dict[str, Any] = {}
        for key in draw(st.lists(st.sampled_from(keys), min_size=1, max_size=3, unique=True)):
            table[key] = draw(st.one_of(toml_values, EDGE_NUMBERS))
        if draw(st.integers(0, 9)) == 0:
            table[draw(plain_text)] = draw(toml_values)
        data[section] = table
    if draw(st.integers(0, 9)) == 0:
        data[draw(plain_text)] = draw(toml_values)
    if draw(st.integers(0, 3)) == 0:
        data["transcript_window_s"] = draw(EDGE_NUMBERS)
    return data


def _assert_usable(config: Config) -> None:
    """A config the parser accepts is one the workbench can run and log."""
    assert 0.0 <= config.routing.threshold <= 1.0
    text = json.dumps(config.to_dict(), allow_nan=False)  # NaN/inf would make invalid JSON
    assert json.loads(text) == json.loads(config.to_json())
    for section in config.to_dict().values():
        for value in section.values() if isinstance(section, dict) else [section]:
            if isinstance(value, float):
                assert math.isfinite(value)
    assert config.sampling.fps > 0 and config.sampling.keepalive_s > 0
    assert config.transcript_window_s >= 0


@PROPERTY
@given(config_dicts())
def test_config_from_any_dict_is_a_config_or_a_config_error(data: dict[str, Any]) -> None:
    try:
        config = config_from_dict(data, where="generated.toml")
    except ConfigError as exc:
        assert str(exc).strip()
        return
    _assert_usable(config)


@PROPERTY
@given(config_dicts())
def test_config_files_of_any_content_load_or_raise_config_error(data: dict[str, Any]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "c.toml"
        path.write_text(toml_dumps(data), encoding="utf-8")
        try:
            config = load_config(path)
        except ConfigError as exc:
            assert str(exc).strip()
            return
    _assert_usable(config)


@PROPERTY
@given(st.one_of(st.text(max_size=200), st.binary(max_size=200)))
def test_config_files_of_arbitrary_text_or_bytes(raw: str | bytes) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "c.toml"
        if isinstance(raw, str):
            path.write_text(raw, encoding="utf-8", errors="surrogatepass")
        else:
            path.write_bytes(raw)
        try:
            _assert_usable(load_config(path))
        except ConfigError as exc:
            assert str(path) in str(exc)


@pytest.mark.parametrize(
    "data",
    [
        {"routing": {"threshold": math.nan}},
        {"sampling": {"fps": math.nan}},
        {"sampling": {"fps": math.inf}},
        {"sampling": {"keepalive_s": math.nan}},
        {"pricing": {"local_usd_per_hour": math.nan}},
        {"pricing": {"overrides": {"x:y": {"input_usd_per_mtok": math.inf}}}},
        {"transcript_window_s": math.nan},
        {"transcript_window_s": -5},
        {"transcript_window_s": 10**400},
        {"sampling": {"fps": 10**400}},  # float(10**400) raised OverflowError
        {"sampling": {"keep_last": 10**30}},  # beyond int64: deque(maxlen=...) would overflow
    ],
)
def test_non_finite_and_out_of_range_numbers_are_config_errors(data: dict[str, Any]) -> None:
    with pytest.raises(ConfigError):
        config_from_dict(data)


def test_a_deeply_nested_config_file_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "deep.toml"
    path.write_text("a = " + "[" * 100_000 + "]" * 100_000 + "\n")
    with pytest.raises(ConfigError, match=r"deep\.toml"):
        load_config(path)


# -- (b) the dataset loader: manifest, questions, transcript --------------------------------------
@contextlib.contextmanager
def copy_of(master: Path) -> Iterator[Path]:
    """A private copy of the small session (hypothesis reuses function fixtures across examples)."""
    with tempfile.TemporaryDirectory() as folder:
        yield Path(shutil.copytree(master, Path(folder) / "tiny"))


def _load(root: Path, *, check_media: bool) -> Dataset | DatasetError:
    """``load_dataset``'s result, or the DatasetError it raised: any other exception fails."""
    try:
        return load_dataset(root, check_media=check_media)
    except DatasetError as exc:
        assert exc.problem and exc.fix and str(exc).startswith(exc.path)
        return exc


def _assert_sane(dataset: Dataset) -> None:
    """What the loader returns is what the replay may rely on."""
    assert math.isfinite(dataset.duration_s) and dataset.duration_s > 0
    assert dataset.questions and len({q.id for q in dataset.questions}) == len(dataset.questions)
    people = {p.identity for p in dataset.participants}
    for q in dataset.questions:
        assert 0 <= q.t_s <= dataset.duration_s + 1 and q.asker in people and q.text.strip()
        q.text.encode("utf-8")  # no lone surrogate reaches the ledger
    for u in dataset.transcript or ():
        assert 0 <= u.start_s <= u.end_s <= dataset.duration_s + 1 and u.participant in people
    for name in (dataset.tenant, dataset.room, dataset.name):
        assert re.fullmatch(r"[a-z0-9][a-z0-9_-]*", name)


json_values = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.sampled_from([10**400, -(10**400), -1, 0, 2**63]),
        st.floats(allow_nan=True, allow_infinity=True),
        st.sampled_from([-0.5, 1e308, 9.0, 8.5, 1e-300]),  # the tiny session lasts 8 s
        st.sampled_from(NASTY_TEXT),
        st.text(max_size=30),  # lone surrogates included: JSON can escape them
        st.sampled_from(["alice", "bob", "q1", "slide", "scroll"]),  # valid-looking values
    ),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=6,
)


@st.composite
def mutated_tree(draw: st.DrawFn, tree: Any, values: st.SearchStrategy[Any]) -> Any:
    """``tree`` with one to three nodes deleted, replaced or added, anywhere in it."""
    tree = json.loads(json.dumps(tree))  # a deep copy
    for _ in range(draw(st.integers(1, 3))):
        node = tree
        while True:  # walk down to a random container
            children = list(node.items()) if isinstance(node, dict) else list(enumerate(node))
            deeper = [(k, v) for k, v in children if isinstance(v, dict | list) and v]
            if not deeper or draw(st.booleans()):
                break
            node = draw(st.sampled_from(deeper))[1]
        keys = list(node) if isinstance(node, dict) else list(range(len(node)))
        action = draw(st.sampled_from(["replace", "delete", "add"] if keys else ["add"]))
        if action == "add":
            if isinstance(node, dict):
                node[draw(st.sampled_from([*KEYS, "extra"]))] = draw(values)
            else:
                node.append(draw(values))
        else:
            key = draw(st.sampled_from(keys))
            if action == "delete":
                del node[key]
            else:
                node[key] = draw(values)
    return tree


KEYS = ["id", "t_s", "asker", "text", "key_facts", "needs_screen", "speaker", "start_s", "end_s"]


@PROPERTY
@given(data=st.data())
def test_mutated_manifests_load_or_raise_dataset_error(
    tiny_master: Path, data: st.DataObject
) -> None:
    manifest = tomllib.loads((tiny_master / "manifest.toml").read_text())
    mutated = data.draw(mutated_tree(manifest, toml_values))
    check_media = data.draw(st.booleans())
    with copy_of(tiny_master) as root:
        (root / "manifest.toml").write_text(toml_dumps(mutated), encoding="utf-8")
        result = _load(root, check_media=check_media)
        if isinstance(result, Dataset):
            _assert_sane(result)


@PROPERTY
@given(data=st.data())
def test_mutated_questions_and_transcripts_load_or_raise_dataset_error(
    tiny_master: Path, data: st.DataObject
) -> None:
    transcript = [{"speaker": w, "start_s": s, "end_s": e, "text": t} for w, s, e, t in UTTERANCES]
    which = data.draw(st.sampled_from(["questions.jsonl", "truth/transcript.jsonl"]))
    rows = QUESTIONS if which == "questions.jsonl" else transcript
    mutated = data.draw(mutated_tree(rows, json_values))
    lines = [json.dumps(row, ensure_ascii=data.draw(st.booleans())) for row in mutated]
    if data.draw(st.integers(0, 4)) == 0:  # a raw line of anything
        lines.insert(data.draw(st.integers(0, len(lines))), data.draw(st.text(max_size=40)))
    with copy_of(tiny_master) as root:
        (root / which).write_text("\n".join(lines), encoding="utf-8", errors="surrogatepass")
        result = _load(root, check_media=False)
        if isinstance(result, DatasetError):
            assert result.path == str(root / which) or result.path.startswith(str(root))
        else:
            _assert_sane(result)


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ('{"t_s": NaN}', "outside the session"),
        ('{"t_s": Infinity}', "outside the session"),
        ('{"t_s": -0.5}', "outside the session"),
        ('{"t_s": 9.5}', "outside the session"),  # beyond duration + 1 s
        ('{"t_s": 1' + "0" * 400 + "}", "outside the session"),  # float() of it overflowed
        ('{"text": "\\ud800 lone"}', "lone surrogate"),
        ("[" * 100_000 + "]" * 100_000, "nests too deeply"),
    ],
)
def test_bad_numbers_surrogates_and_nesting_in_questions_name_the_line(
    tiny: Path, line: str, problem: str
) -> None:
    first = dict(QUESTIONS[0])
    first.pop("t_s", None) if '"t_s"' in line else first.pop("text")
    row = json.dumps(first)[:-1] + ", " + line[1:] if line.startswith("{") else line
    (tiny / "questions.jsonl").write_text(json.dumps(QUESTIONS[1]) + "\n" + row + "\n")
    with pytest.raises(DatasetError) as caught:
        load_dataset(tiny, check_media=False)
    assert caught.value.path.endswith("questions.jsonl") and caught.value.line == 2
    assert problem in caught.value.problem


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ("duration_s = nan", "duration_s must be a number > 0"),
        ("duration_s = inf", "duration_s must be a number > 0"),
        ('tenant = "acme\\n"', "tenant 'acme\\n' is not valid"),  # `$` matched before \n
        ('room = "standup\\n"', "room 'standup\\n' is not valid"),
        ('questions = "q\\u0000.jsonl"', "must be a relative path"),
        ('questions = "' + "q" * 5000 + '"', "the file is missing"),  # name too long for the OS
        ("title = " + "[" * 100_000 + "]" * 100_000, "nests too deeply"),
    ],
)
def test_manifest_values_that_crashed_or_slipped_through(
    tiny: Path, line: str, problem: str
) -> None:
    manifest = tiny / "manifest.toml"
    key = line.split(" =")[0]
    kept = [row for row in manifest.read_text().splitlines() if not row.startswith(key + " =")]
    manifest.write_text(line + "\n" + "\n".join(kept) + "\n")
    with pytest.raises(DatasetError) as caught:
        load_dataset(tiny, check_media=False)
    assert caught.value.path == str(manifest) or "q" * 100 in caught.value.path
    assert problem in str(caught.value)


def test_a_knowledge_document_linking_outside_the_folder_is_refused(tiny: Path) -> None:
    (tiny / "knowledge" / "secret.md").symlink_to(ROOT / "README.md")
    with pytest.raises(DatasetError, match="links outside the knowledge folder"):
        load_dataset(tiny, check_media=False)


# -- (c) corrupt and truncated media --------------------------------------------------------------
MEDIA = ["screen.mp4", "audio/alice.flac"]


def _decode_all(path: Path) -> None:
    """Stream every frame or chunk of ``path``: DatasetError is the only failure allowed."""
    if path.suffix == ".mp4":
        for frame in iter_video(path):
            assert frame.luma.shape == (frame.height, frame.width)
    else:
        for chunk in iter_audio(path, participant="alice"):
            assert chunk.samples.dtype == np.int16


@PROPERTY
@given(
    which=st.sampled_from(MEDIA),
    keep=st.floats(min_value=0.0, max_value=0.8, exclude_max=True),
)
def test_truncated_media_is_a_dataset_error_naming_the_file(
    tiny_master: Path, which: str, keep: float
) -> None:
    with copy_of(tiny_master) as root:
        path = root / which
        data = path.read_bytes()
        path.write_bytes(data[: int(len(data) * keep)])
        with pytest.raises(DatasetError) as caught:
            load_dataset(root)
        assert caught.value.path == str(path)
        with contextlib.suppress(DatasetError):  # streaming what is left: no other error
            _decode_all(path)


@PROPERTY
@given(
    which=st.sampled_from(MEDIA),
    flips=st.lists(
        st.tuples(st.floats(0.0, 1.0, exclude_max=True), st.integers(1, 255)),
        min_size=1,
        max_size=40,
    ),
)
def test_flipped_bytes_load_or_raise_dataset_error_naming_the_file(
    tiny_master: Path, which: str, flips: list[tuple[float, int]]
) -> None:
    with copy_of(tiny_master) as root:
        path = root / which
        data = bytearray(path.read_bytes())
        for where, mask in flips:
            data[int(where * len(data))] ^= mask
        path.write_bytes(bytes(data))
        result = _load(root, check_media=True)
        if isinstance(result, DatasetError):
            assert result.path == str(path)
        with contextlib.suppress(DatasetError):
            _decode_all(path)


@pytest.mark.parametrize("content", [b"", b"\x00" * 1000, b"not a video at all\n" * 50])
def test_empty_or_foreign_media_files_are_refused(tiny: Path, content: bytes) -> None:
    for which in MEDIA:
        original = (tiny / which).read_bytes()
        (tiny / which).write_bytes(content)
        with pytest.raises(DatasetError) as caught:
            load_dataset(tiny)
        assert caught.value.path == str(tiny / which)
        assert "corrupt" in caught.value.fix or "empty" in caught.value.problem
        (tiny / which).write_bytes(original)


def test_media_paths_that_are_folders_are_refused(tiny: Path) -> None:
    (tiny / "screen.mp4").unlink()
    (tiny / "screen.mp4").mkdir()
    with pytest.raises(DatasetError, match=r"screen\.mp4: the video file is missing"):
        load_dataset(tiny)


# -- (d) huge frames and odd sample rates ---------------------------------------------------------
def write_frames(path: Path, sizes: list[tuple[int, int]], *, fmt: str = "mpegts") -> None:
    """One second of 10 fps grey video per size, in one stream (MPEG-TS lets the size change)."""
    with path.open("wb") as out:
        for width, height in sizes:
            segment = path.with_suffix(f".{width}x{height}.ts")
            with av.open(str(segment), "w", format=fmt) as container:
                stream = container.add_stream("libx264", rate=10)
                stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
                stream.time_base = Fraction(1, 10)
                stream.options = {"preset": "ultrafast"}
                for i in range(10):
                    frame = av.VideoFrame.from_ndarray(
                        np.full((height, width, 3), 128, np.uint8), format="rgb24"
                    )
                    frame.pts = i
                    for packet in stream.encode(frame):
                        container.mux(packet)
                for packet in stream.encode():
                    container.mux(packet)
            out.write(segment.read_bytes())
            segment.unlink()


@pytest.mark.parametrize(
    ("size", "limit"),
    [
        ((7680, 4320), "max_video_pixels"),
        ((16000, 16), "max_video_side"),
        ((16, 9000), "max_video_side"),
    ],
)
def test_huge_frames_are_refused_before_decoding_with_the_limit(
    tmp_path: Path, size: tuple[int, int], limit: str
) -> None:
    path = tmp_path / "huge.mp4"
    write_frames(path, [size])
    with pytest.raises(DatasetError) as caught:
        probe_video(path, expect_duration_s=1.0)
    message = str(caught.value)
    assert caught.value.path == str(path) and f"{size[0]}x{size[1]}" in message
    assert limit in message and f"WORKBENCH_{limit.upper()}" in message
    with pytest.raises(DatasetError, match=limit):
        next(iter_video(path))
    assert (
        probe_video(
            path,
            expect_duration_s=1.0,
            limits=Limits(max_video_pixels=10**9, max_video_side=20_000),
        ).width
        == size[0]
    )


def test_a_stream_that_grows_midway_is_refused_where_it_grows(tmp_path: Path) -> None:
    """The header says 320x180; the second second is 4000x2400 (9.6 MP): caught frame by frame."""
    path = tmp_path / "grows.mp4"
    write_frames(path, [(320, 180), (4000, 2400)])
    with av.open(str(path)) as container:
        assert container.streams.video[0].codec_context.width == 320  # the header is small
    with pytest.raises(DatasetError, match="4000x2400"):
        probe_video(path, expect_duration_s=2.0)
    sizes = []
    with pytest.raises(DatasetError, match=r"4000x2400.*max_video_pixels"):
        for frame in iter_video(path):
            sizes.append((frame.width, frame.height))
    assert set(sizes) == {(320, 180)} and len(sizes) >= 5


@pytest.mark.parametrize("rate", [7_000, 11_025, 96_000])
def test_odd_sample_rates_are_refused_naming_the_rate_and_the_fix(
    tmp_path: Path, rate: int
) -> None:
    path = tmp_path / "odd.flac"
    write_audio(path, duration_s=2.0, spans=[(0.5, 1.0)], rate=rate)
    with pytest.raises(DatasetError) as caught:
        probe_audio(path, expect_duration_s=2.0)
    assert caught.value.path == str(path)
    assert f"unsupported sample rate of {rate} Hz" in caught.value.problem
    assert "16000" in caught.value.fix and "sox" in caught.value.fix


@pytest.mark.parametrize("rate", [r for r in SUPPORTED_SAMPLE_RATES if r != STT_SAMPLE_RATE])
def test_supported_rates_are_resampled_to_16k_on_one_clock(tmp_path: Path, rate: int) -> None:
    path = tmp_path / f"a{rate}.flac"
    write_audio(path, duration_s=3.0, spans=[(1.0, 2.0)], rate=rate)
    assert probe_audio(path, expect_duration_s=3.0).sample_rate == rate
    chunks = list(iter_audio(path, participant="p", chunk_s=0.5))
    samples = np.concatenate([c.samples for c in chunks])
    assert abs(len(samples) - 3 * STT_SAMPLE_RATE) <= STT_SAMPLE_RATE // 50  # 20 ms
    loud = np.flatnonzero(np.abs(samples.astype(np.int32)) > 1000) / STT_SAMPLE_RATE
    assert loud.min() >= 0.95 and loud.max() <= 2.05  # the burst stays at 1-2 s


# -- (e) Unicode, quotes and SQL fragments: loader, ledger, dashboard filters ----------------------
SQLISH = [
    "'; DROP TABLE runs; --",
    '" OR 1=1 --',
    "x' OR '1'='1",
    "acme'--",
    "$tenant",
    "?",
    "{where}",
    "🚀 launch 🚀",
    "שלום \u202eevil",
    "nul\x00byte",
    "back\\slash \"quoted\" 'single'",
]


@pytest.mark.parametrize("value", [*SQLISH, "Acme", "acme corp", "ａcme", "acme\u200b", "a" * 65])
@pytest.mark.parametrize("key", ["tenant", "room", "name"])
def test_crafted_tenant_room_and_dataset_names_are_refused_by_the_loader(
    tiny: Path, key: str, value: str
) -> None:
    manifest = tiny / "manifest.toml"
    rows = [r for r in manifest.read_text().splitlines() if not r.startswith(f"{key} =")]
    manifest.write_text(f"{key} = {_toml_str(value)}\n" + "\n".join(rows) + "\n")
    with pytest.raises(DatasetError) as caught:
        load_dataset(tiny, check_media=False)
    assert caught.value.path == str(manifest) and "is not valid" in caught.value.problem


@pytest.fixture(scope="module")
def crafted_ledger(tiny_master: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Two real replays into one DuckDB file: one under a tenant id and room made of SQL and Unicode
    (built past the loader, which would refuse them, to prove the ledger binds every value), with
    questions made of the same; one under an ordinary tenant."""
    from assistant.ledger import Ledger
    from assistant.sessions.replay import replay

    config = Config()
    config = dataclasses.replace(config, stt=dataclasses.replace(config.stt, provider="recorded:"))
    dataset = load_dataset(tiny_master)
    asked = [
        Question(
            id=f"q{i}-{text[:6]}", t_s=1.0 + i * 0.5, asker="alice", text=text, needs_screen=False
        )
        for i, text in enumerate(SQLISH)
    ]
    evil = dataclasses.replace(
        dataset, tenant="'; DROP TABLE runs; --", room='" OR 1=1 --', questions=tuple(asked)
    )
    plain = dataclasses.replace(dataset, questions=dataset.questions[:1])
    path = tmp_path_factory.mktemp("ledger") / "crafted.duckdb"
    with Ledger(path) as ledger:
        replay(evil, ledger=ledger, config=config, run_id="evil-run")
        replay(plain, ledger=ledger, config=config, run_id="plain-run")
    return {"path": path, "asked": asked, "evil": evil}


def test_sql_and_unicode_questions_come_back_verbatim_and_the_tables_survive(
    crafted_ledger: dict[str, Any],
) -> None:
    from assistant.ledger import Ledger
    from assistant.ledger.queries import list_runs, run_requests

    with Ledger(crafted_ledger["path"], read_only=True) as ledger:
        requests = run_requests(ledger, "evil-run")
        runs = list_runs(ledger).set_index("run_id")
        tables = {
            row[0]
            for row in ledger.cursor()
            .execute("SELECT table_name FROM information_schema.tables")
            .fetchall()
        }
    assert {"runs", "requests", "calls", "frames", "utterances"} <= tables
    assert sorted(runs.index) == ["evil-run", "plain-run"]
    assert runs.loc["evil-run", "tenant"] == "'; DROP TABLE runs; --"
    assert runs.loc["evil-run", "room"] == '" OR 1=1 --'
    got = dict(zip(requests["question_id"], requests["question"], strict=True))
    assert got == {q.id: q.text for q in crafted_ledger["asked"]}  # NUL, RTL, emoji: verbatim
    assert set(requests["tenant"]) == {"'; DROP TABLE runs; --"}


@pytest.mark.parametrize(
    "tenant",
    [
        "' OR 1=1 --",
        "' OR '1'='1",
        "%",
        "*",
        "acme' OR tenant IS NOT NULL --",
        "acme\x00",
        "ACME",
        "🚀",
    ],
)
def test_dashboard_tenant_filters_with_sql_return_no_rows_not_all_rows(
    crafted_ledger: dict[str, Any], tenant: str
) -> None:
    from assistant.views.workbench import read_costs, read_runs, read_sweep_runs

    path = crafted_ledger["path"]
    assert len(read_runs(path).data) == 2  # the ledger has rows to leak
    for read in (read_runs, read_costs, read_sweep_runs):
        view = read(path, tenant)
        assert view.data is None, f"{read.__name__} returned rows for {tenant!r}"
        assert view.message
        if read is not read_sweep_runs:  # no --both-tiers run in this ledger: a generic hint
            assert repr(tenant) in view.message


def test_dashboard_filters_on_a_crafted_tenant_return_exactly_its_rows(
    crafted_ledger: dict[str, Any],
) -> None:
    from assistant.views.workbench import read_calls, read_costs, read_runs, read_tenants

    path = crafted_ledger["path"]
    assert read_tenants(path) == sorted(["'; DROP TABLE runs; --", "acme"])
    runs = read_runs(path, "'; DROP TABLE runs; --").data
    assert list(runs["run_id"]) == ["evil-run"]
    costs = read_costs(path, "'; DROP TABLE runs; --").data
    assert costs is not None
    assert set(costs["runs"]["run_id"]) == {"evil-run"}
    assert set(read_calls(path, "'; DROP TABLE runs; --")["tenant"]) == {"'; DROP TABLE runs; --"}
    assert list(read_runs(path, "acme").data["run_id"]) == ["plain-run"]


# -- SQL built from strings: every interpolated piece is a fixed identifier ------------------------
SQL_WORDS = re.compile(r"\b(SELECT|INSERT|UPDATE|DELETE|FROM|WHERE|ORDER BY|VALUES|DROP|CREATE)\b")
# file -> the expressions its SQL f-strings may interpolate, and why each is safe
ALLOWED_SQL_INTERPOLATIONS = {
    "assistant/ledger/queries/runs.py": {"table", "order"},  # _rows(): literal arguments only (below)
    "assistant/ledger/spool.py": {"table"},  # iterates the fixed TABLES registry
    "assistant/ledger/store.py": {
        "', '.join(names)",  # RunRecord's dataclass field names
        "', '.join('?' * len(names))",
        "table",  # checked against _IDENTIFIER and TABLES first
        "view",  # "_ledger_batch_{table}_{thread id}"
    },
    "assistant/ledger/queries/costs.py": {"column"},  # _tenant_query(column=...): literals only (below)
    # _table_rows(): a key of the fixed _ORDER table, called with literals only
    "assistant/ledger/queries/telemetry.py": {"table", "_ORDER[table]"},
    "assistant/ledger/queries/sweep.py": {"vision", "llm"},  # the fixed _COMBINATIONS tiers
    # ledger copy: table names from ledger_tables() (full-matched identifiers, and every one must
    # exist in the target, which our migrations made); views "_ledger_copy_{table}"; compact:
    # LAKE_ALIAS is a constant, `function` one of four literal DuckLake calls
    "assistant/ledger/lakes.py": {"t", "table", "view", "LAKE_ALIAS", "function"},
}


# The benchmarks and their synthetic ledger (ledger/synthetic.py) build SQL from their own integers,
# column expressions and a fixed table list;
# no user or dataset value reaches them.
NOT_SCANNED = ("assistant/benchmarks/", "assistant/ledger/synthetic.py")


def _sql_fstrings() -> Iterator[tuple[str, ast.JoinedStr]]:
    for file in sorted((ROOT / "assistant").rglob("*.py")):
        if file.relative_to(ROOT).as_posix().startswith(NOT_SCANNED):
            continue
        tree = ast.parse(file.read_text(), filename=str(file))
        for node in ast.walk(tree):
            if isinstance(node, ast.JoinedStr):
                literal = "".join(
                    v.value
                    for v in node.values
                    if isinstance(v, ast.Constant) and isinstance(v.value, str)
                )
                if SQL_WORDS.search(literal) and not re.search(r"[a-z]{4,} [a-z]{4,}", literal):
                    yield file.relative_to(ROOT).as_posix(), node


def test_sql_f_strings_interpolate_only_validated_identifiers() -> None:
    found: dict[str, set[str]] = {}
    for name, node in _sql_fstrings():
        for value in node.values:
            if isinstance(value, ast.FormattedValue):
                found.setdefault(name, set()).add(ast.unparse(value.value))
    unexpected = {
        name: exprs - ALLOWED_SQL_INTERPOLATIONS.get(name, set()) for name, exprs in found.items()
    }
    assert not any(unexpected.values()), f"SQL f-strings interpolate unchecked values: {unexpected}"
    assert "assistant/ledger/store.py" in found  # the scan sees the ledger's SQL


def test_sql_helpers_that_take_identifiers_get_literals_only() -> None:
    """``_rows(ledger, table, run_id, order)`` and ``_tenant_query(..., column=...)`` build SQL from
    their identifier arguments: every call passes string literals, never data."""
    for file in sorted((ROOT / "assistant").rglob("*.py")):
        for node in ast.walk(ast.parse(file.read_text())):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)):
                continue
            if node.func.id == "_rows":
                assert all(isinstance(a, ast.Constant) for a in (node.args[1], node.args[3])), file
            if node.func.id == "_tenant_query":
                column = next(k.value for k in node.keywords if k.arg == "column")
                assert isinstance(column, ast.Constant), file


def test_the_ledger_refuses_a_table_name_that_is_not_its_own() -> None:
    from assistant.ledger.store import insert_rows

    for table in ['runs"; DROP TABLE runs; --', "runs ", "RUNS", "information_schema.tables"]:
        with pytest.raises(ValueError, match="invalid table name"):
            insert_rows(None, table, [])  # type: ignore[arg-type]
