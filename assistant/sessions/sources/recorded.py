"""A recorded session as a source: every track decoded as a stream and merged by media time."""

from __future__ import annotations

import heapq
from collections.abc import Generator, Iterator

from assistant.core.events import AudioChunk, Event, Question, VideoFrame
from assistant.sessions.datasets import Dataset
from assistant.sessions.frame_index import FrameIndex, indexed_frames
from assistant.sessions.media import iter_audio, iter_video
from assistant.sessions.sources.base import Source

# Ties at the same instant: frames first, then audio, then the question that may need both.
_ORDER = {VideoFrame: 0, AudioChunk: 1, Question: 2}


def available_at(event: Event) -> float:
    """When an event can be acted on: an audio chunk only once it has been fully heard."""
    if isinstance(event, AudioChunk):
        return event.t_s + event.duration_s
    return event.t_s


class RecordedSource(Source):
    kind = "recorded"

    def __init__(
        self, dataset: Dataset, *, audio_chunk_s: float = 0.5, frame_every_s: float | None = None,
        frame_index: FrameIndex | None = None,
    ) -> None:
        """``frame_every_s``: yield only the frames a ``fixed`` sampler with that period keeps
        (``pipeline.sampling.decode_period_s``), decoding no more than they need.
        ``frame_index``: a stored sampler pass over this video (``sessions.frame_index``): its
        frames are yielded at their times and none is decoded unless its pixels are read."""
        self.dataset = dataset
        self.audio_chunk_s = audio_chunk_s
        self.frame_every_s = frame_every_s
        self.frame_index = frame_index

    @property
    def duration_s(self) -> float:
        return self.dataset.duration_s

    def events(self) -> Generator[Event, None, None]:
        stop_s = self.dataset.duration_s if self.dataset.interrupted else None
        track = f"{self.dataset.screen_participant}:screen"
        streams: list[Iterator[Event]] = [
            iter_video(self.dataset.screen, track=track, stop_s=stop_s, every_s=self.frame_every_s)
            if self.frame_index is None
            else indexed_frames(self.dataset.screen, self.frame_index, track=track)
        ]
        streams += [
            iter_audio(p.audio, participant=p.identity, chunk_s=self.audio_chunk_s, stop_s=stop_s)
            for p in self.dataset.participants
        ]
        streams.append(iter(self.dataset.questions))
        yield from merge_by_time(streams)


def merge_by_time(streams: list[Iterator[Event]]) -> Iterator[Event]:
    """Events of several time-ordered streams in the order they become available
    (``available_at``); at the same instant frames, then audio, then questions."""
    keyed = [_keyed(stream, i) for i, stream in enumerate(streams)]
    for *_, event in heapq.merge(*keyed, key=lambda item: item[:3]):
        yield event


def _order(event: Event) -> int:
    return next(rank for kind, rank in _ORDER.items() if isinstance(event, kind))


def _keyed(stream: Iterator[Event], index: int) -> Iterator[tuple[float, int, int, Event]]:
    for event in stream:
        yield available_at(event), _order(event), index, event
