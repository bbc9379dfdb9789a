"""Decode only the frames a fixed-rate sampler will keep.

The ``fixed`` sampler keeps the first frame and then the first frame at or after each step of a
grid anchored on it (``pipeline.sampling.RateGrid``). That rule needs only the frames' times, and
the demuxer gives them without decoding: so the stream is read one group of pictures (GOP: a key
frame and the frames up to the next one) at a time, the same rule picks the frames the sampler
will keep, and only what those frames need is decoded:

- a GOP with nothing to keep is not decoded at all;
- a GOP whose only kept frame is its key frame decodes that key frame alone (a recording with a
  key frame every second, sampled at 1 FPS, decodes nothing else);
- otherwise the GOP is decoded in order up to its last kept frame (what follows is skipped, as a
  seek to the next key frame would), and frames that no other frame references and nobody keeps
  are skipped inside the decoder (``skip_frame = NONREF``, set packet by packet).

Kept frames decode bit for bit as a full decode gives them: every frame they reference is decoded.
The plan holds only for H.264 with closed GOPs (every key frame starts afresh), which is what the
recorder and the datasets write; a stream whose frames lack timestamps, or a GOP with frames shown
before its key frame (an open GOP), is decoded in full from there on and every frame is offered.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

from assistant.pipeline.sampling import RateGrid

PLANNED_CODECS = frozenset({"h264"})


class _Gop:
    """One key frame and the packets up to the next, in decode order."""

    __slots__ = ("clean", "packets", "times_s")

    def __init__(self) -> None:
        self.packets: list[Any] = []
        self.times_s: list[float] = []  # per packet, in decode order
        self.clean = True  # every packet has a time and none is shown before the key frame


def _send(codec: Any, packet: Any) -> list[Any]:
    """One packet into the decoder (None: flush), the frames that come out."""
    return list(codec.decode(packet))


def _gops(container: Any, stream: Any, stop_s: float | None) -> Iterator[_Gop]:
    """The stream's packets grouped by key frame (demuxed, not decoded), up to the first GOP
    that starts after ``stop_s``."""
    base = stream.time_base
    gop: _Gop | None = None
    before_s = float("-inf")  # the latest time of every earlier GOP
    for packet in container.demux(stream):
        if packet.size == 0 and packet.dts is None:
            continue  # the demuxer's end-of-stream marker
        if gop is None or packet.is_keyframe:
            if gop is not None:
                yield gop
                if stop_s is not None and gop.times_s[0] > stop_s:
                    return  # nothing after it is needed (and a torn tail may follow)
                before_s = max(before_s, *gop.times_s)
            gop = _Gop()
        t_s = float(packet.pts * base) if packet.pts is not None else math.nan
        # a frame without a time, shown before its key frame or before an earlier GOP's frames
        if not t_s > before_s or (gop.times_s and t_s < gop.times_s[0]):
            gop.clean = False
        gop.packets.append(packet)
        gop.times_s.append(t_s)
    if gop is not None:
        yield gop


def planned_frames(
    container: Any, stream: Any, *, period_s: float, stop_s: float | None
) -> Iterator[tuple[Any, float]]:
    """(decoded frame, media time) for the frames a fixed sampler with ``period_s`` keeps, from
    ``stream`` of the open ``container``; every frame from the first unclean GOP on."""
    codec = stream.codec_context
    base = stream.time_base
    grid = RateGrid()
    wanted: set[int] = set()  # timestamps of kept frames sent to the decoder, not yet out
    every = False  # past an unclean GOP: decode and offer everything

    def decoded(packet: Any) -> Iterator[tuple[Any, float]]:
        for frame in _send(codec, packet):
            if frame.pts is not None and (every or frame.pts in wanted):
                wanted.discard(frame.pts)
                yield frame, float(frame.pts * base)

    def run(current: _Gop, following: _Gop | None) -> Iterator[tuple[Any, float]]:
        nonlocal every
        if every or not current.clean:
            every = True
            codec.skip_frame = "DEFAULT"
            for packet in current.packets:
                yield from decoded(packet)
            return
        keep = {  # the sampler's own rule over the GOP's times, in presentation order
            t_s for t_s in sorted(current.times_s)
            if (stop_s is None or t_s <= stop_s) and grid.admit(t_s, period_s) is not None
        }
        # the tail after the last kept frame is skipped unless the next GOP may refer to it
        last = len(current.packets) - 1
        if following is None or following.clean:
            last = max((i for i, t in enumerate(current.times_s) if t in keep), default=-1)
        for packet, t_s in zip(current.packets[: last + 1], current.times_s, strict=False):
            if t_s in keep:
                wanted.add(int(packet.pts))
                codec.skip_frame = "DEFAULT"
            else:  # decoded only if another frame refers to it
                codec.skip_frame = "NONREF"
            yield from decoded(packet)

    previous: _Gop | None = None
    for gop in _gops(container, stream, stop_s):
        if previous is not None:
            yield from run(previous, gop)
        previous = gop
    if previous is not None:
        yield from run(previous, None)
    codec.skip_frame = "DEFAULT"
    yield from decoded(None)
