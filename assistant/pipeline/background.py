"""Work kept off the question's path, each on one worker thread of its own.

- ``Prefetcher`` (``[vision] prefetch = "cheap"``, ``"premium"`` or ``"both"``): a kept frame's
  screen reading starts as soon as the frame is kept, so a question about that screen does not
  wait for it. Only the latest kept frame can be asked about, so a newer frame cancels a reading
  not yet started; a reading already running finishes and is reported as one nobody used (it
  was paid for). A frame showing the same screen as the last one read (``same_screen``: the
  encoder's noise between two decodes of a still screen) is not read again: the earlier reading
  stands for it, and a question about it takes that text.
- ``TranscriptionWorker`` (``[stt] background = true``): segments closed by the voice gate are
  transcribed while the media goes on being decoded; results come back in the order the segments
  were closed, so the caller records them exactly as a sequential run would.

Local providers are priced by the process's CPU seconds during the call (``cpu_scope =
"process"``). With other threads working at the same time that would count their work too, so a
call made here is charged its process CPU minus what the pipeline's other Python threads (the
caller, the other worker) spent meanwhile. Native threads of other libraries (the video decoder's)
are not told apart: what they did during the call is still counted (see docs/prefetch.md).
"""

from __future__ import annotations

import dataclasses
import os
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as futures_wait
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np

from assistant.core.errors import ProviderError
from assistant.core.events import KeptFrame, Utterance
from assistant.providers.base import CallFailure, CallResult, ProviderCallError
from assistant.providers.stt.base import Segment, Transcriber
from assistant.providers.vision.base import VisionProvider

PREFETCH_QUESTION = ""
"""What a prefetched reading is asked: nothing yet (no question has come). The frame cache
already serves one reading of a screen to every question about it."""

SAME_SCREEN_BLOCK = 8  # pixels: a screen's signature is its grey mean per 8x8 block
SAME_SCREEN_LEVELS = 32.0
"""Grey levels (of 255) an 8x8 block's mean may move between two frames of one screen. On the
demo, decodes of a still screen differ by at most 8.7 (x264's noise around text), and the smallest
real change (one typed character) moves a block by 134 (docs/prefetch.md)."""

T = TypeVar("T")
_TICK_S = 1.0 / (os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100)
_THREADS: set[int] = set()  # native ids of the pipelines' own threads (callers and workers)
_THREADS_LOCK = threading.Lock()


def _enlist() -> int:
    native_id = threading.get_native_id()
    with _THREADS_LOCK:
        _THREADS.add(native_id)
    return native_id


def _discharge(native_ids: set[int]) -> None:
    """Forget stopped workers' threads (a thread id is reused by the next thread)."""
    with _THREADS_LOCK:
        _THREADS.difference_update(native_ids)


def _thread_cpu_s(native_id: int) -> float:
    """CPU seconds of one thread of this process (Linux; 0.0 where /proc does not say)."""
    try:
        with open(f"/proc/self/task/{native_id}/stat", "rb") as stat:
            fields = stat.read().rsplit(b")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) * _TICK_S  # utime, stime


def _others_cpu_s() -> dict[int, float]:
    me = threading.get_native_id()
    with _THREADS_LOCK:
        others = [t for t in _THREADS if t != me]
    return {t: _thread_cpu_s(t) for t in others}


def _own_compute(result: CallResult[T], before: dict[int, float]) -> CallResult[T]:
    """``result`` with the other pipeline threads' CPU during the call taken out of its compute
    seconds (only for local calls measured on the whole process)."""
    if not result.local or result.usage.compute_s <= 0.0:
        return result
    others_s = sum(max(_thread_cpu_s(t) - s, 0.0) for t, s in before.items())
    if others_s <= 0.0:
        return result
    usage = dataclasses.replace(result.usage, compute_s=max(result.usage.compute_s - others_s, 0.0))
    return dataclasses.replace(result, usage=usage)


def _measured(call: Callable[[], CallResult[T]], scope: str) -> CallResult[T]:
    before = _others_cpu_s() if scope == "process" else {}
    return _own_compute(call(), before)


def screen_signature(rgb: np.ndarray) -> np.ndarray:
    """A frame's grey mean per ``SAME_SCREEN_BLOCK`` block (0-255): an area average, so a small
    glyph that a strided thumbnail could step over still moves its block."""
    h, w = rgb.shape[0] // SAME_SCREEN_BLOCK, rgb.shape[1] // SAME_SCREEN_BLOCK
    b = SAME_SCREEN_BLOCK
    grey = rgb[: h * b, : w * b].sum(axis=2, dtype=np.uint32)
    return grey.reshape(h, b, w, b).sum(axis=(1, 3)) / float(b * b * 3)


def same_screen(a: np.ndarray, b: np.ndarray) -> bool:
    """Two signatures of one screen: no block's mean moved more than ``SAME_SCREEN_LEVELS``."""
    return a.shape == b.shape and float(np.abs(a - b).max(initial=0.0)) <= SAME_SCREEN_LEVELS


@dataclass(frozen=True, slots=True)
class Read:
    """One prefetched screen reading: a call's result or failure, or text with no call: the frame
    cache's (a screen read before) or, with ``same_as``, the reading of an earlier frame of the
    same screen. ``waited_ms``: how long the question that took it waited."""

    frame: KeptFrame
    result: CallResult[Any] | None = None
    failure: CallFailure | None = None
    hit: str | None = None
    same_as: KeptFrame | None = None
    waited_ms: float = 0.0

    @property
    def made_call(self) -> bool:
        return self.result is not None or self.failure is not None


@dataclass(frozen=True, slots=True)
class _Job:
    """The reading that stands for a tier's latest frame (``digest``): of that frame, or of an
    earlier frame of the same screen (``signature`` is the frame read's)."""

    digest: str
    signature: np.ndarray
    future: Future[Read]


class Prefetcher:
    """Reads each kept frame in the background with each of ``providers`` (by tier), on one
    worker thread, the latest frame first.

    Each reading made by a call is given to one question (the first to ask about its screen,
    while no other screen has been read with that tier since); later questions about that screen
    take its text with no call. A reading no question took by the time the next screen is read
    (or the session ends) is reported by ``unused``.

    ``lock`` is held while the worker uses a provider: whoever else calls one of them (a
    question reading a frame that was not prefetched, a failover) holds it too."""

    def __init__(self, providers: dict[str, VisionProvider]) -> None:
        self.providers = providers
        self.lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="vision-prefetch")
        self._latest: dict[str, _Job] = {}  # tier -> the reading that stands for the latest frame
        self._retired: deque[Future[Read]] = deque()  # superseded readings already running
        self._standing: dict[str, Read] = {}  # tier -> the last screen's call, not given yet
        self._superseded: deque[Read] = deque()  # calls no question took, in order
        self._previous: np.ndarray | None = None  # the signature of the frame kept before
        self._workers: set[int] = set()
        self.counts: dict[str, int] = dict.fromkeys(("moving", "read", "same_screen", "cached"), 0)
        """Frames left unread because the screen was moving (once per frame); per tier, frames
        left unread because the frame being read shows the same screen (``same_screen``); and
        what the worker did with each frame it took up: read it (a call) or found it in the
        frame cache."""
        _enlist()

    def reads_with(self, provider: VisionProvider) -> bool:
        return any(provider is mine for mine in self.providers.values())

    def submit(self, frame: KeptFrame) -> None:
        """Start reading ``frame`` (now the latest kept frame); supersede the previous reading.

        A rate sampler's frame (reason ``"interval"``) that shows another screen than the frame
        kept before it is caught moving (typing, a scroll, a slide transition): it is not read,
        and the next frame is read if the screen held still. A question about a moving frame
        reads it itself, as without prefetch. The change sampler's frames are kept once the
        screen has settled: they are read at once."""
        signature = screen_signature(frame.rgb)
        previous, self._previous = self._previous, signature
        moving = frame.reason == "interval" and (
            previous is None or not same_screen(previous, signature)
        )
        if moving:
            self.counts["moving"] += 1
        for tier, provider in self.providers.items():
            latest = self._latest.get(tier)
            if latest is not None and latest.digest == frame.digest:
                continue  # that frame is being read already
            if latest is not None and same_screen(latest.signature, signature):
                # the frame being read (or read) shows this screen: its reading stands for it,
                # and a question about this frame waits for nothing else
                self.counts["same_screen"] += 1
                self._latest[tier] = dataclasses.replace(latest, digest=frame.digest)
                continue
            self._retire(tier)
            if not moving:
                job = self._pool.submit(self._read, tier, provider, frame)
                self._latest[tier] = _Job(frame.digest, signature, job)

    def _retire(self, tier: str) -> None:
        latest = self._latest.pop(tier, None)
        if latest is not None and not latest.future.cancel():  # running or done: a failure
            self._retired.append(latest.future)  # is reported from here, a call when superseded

    def take(self, tier: str, frame: KeptFrame) -> Read | None:
        """``tier``'s reading of ``frame`` (waiting for it if it is still running); None when it
        was not prefetched. The call that read its screen comes with it if no question took it
        yet; otherwise only that reading's text (``hit``)."""
        latest = self._latest.get(tier)
        if latest is None or latest.digest != frame.digest:
            return None
        started = time.perf_counter()
        read = latest.future.result()
        waited_ms = (time.perf_counter() - started) * 1000
        if read.failure is not None:  # the question reads it itself
            del self._latest[tier]
            return dataclasses.replace(read, frame=frame, waited_ms=waited_ms)
        same_as = read.frame if read.frame is not frame else None
        # the worker is done with this tier until the next submit: the standing call is stable
        standing = self._standing.get(tier)
        if standing is not None and standing.frame is read.frame:
            del self._standing[tier]
            return Read(frame, result=standing.result, same_as=same_as, waited_ms=waited_ms)
        text = str(read.result.value or "") if read.result is not None else read.hit
        if text is None:
            return None
        return Read(frame, hit=text, same_as=same_as, waited_ms=waited_ms)

    def unused(self, *, wait: bool, latest: bool = False) -> list[Read]:
        """Readings nobody took that made a call (or failed), in the order they were made: of
        screens no longer the last read (``latest``: of every screen, at the end of a session),
        those done by now or (``wait``) every one."""
        if latest:
            for tier in list(self._latest):
                self._retire(tier)
        if wait:
            self.wait()
        found: list[Read] = []
        while self._retired and (wait or self._retired[0].done()):
            read = self._retired.popleft().result()
            if read.failure is not None:
                found.append(read)
        while self._superseded:
            found.append(self._superseded.popleft())
        if latest:
            found += [self._standing.pop(tier) for tier in list(self._standing)]
        return found

    def wait(self, timeout_s: float | None = None) -> bool:
        """Wait until every reading started so far is done (False: ``timeout_s`` passed)."""
        jobs = [job.future for job in self._latest.values()] + list(self._retired)
        return not futures_wait(jobs, timeout=timeout_s).not_done

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        _discharge(self._workers)

    def _read(self, tier: str, provider: VisionProvider, frame: KeptFrame) -> Read:
        self._workers.add(_enlist())
        with self.lock:
            hit = provider.cached(frame)
            if hit is not None:  # another screen, read before: no call to give
                self.counts["cached"] += 1
                self._supersede(tier)
                return Read(frame, hit=hit)
            try:
                result = _measured(
                    lambda: provider.analyze(frame, PREFETCH_QUESTION), provider.cpu_scope
                )
            except ProviderCallError as exc:
                return Read(frame, failure=exc.failure)
            except ProviderError:  # a configuration problem: the question's own call says it
                return Read(frame)
            self.counts["read"] += 1
        read = Read(frame, result=result)
        self._supersede(tier)
        self._standing[tier] = read
        return read

    def _supersede(self, tier: str) -> None:
        """Another screen is read with ``tier``: the last one's call, if no question took it,
        was used by nobody."""
        standing = self._standing.pop(tier, None)
        if standing is not None:
            self._superseded.append(standing)


Transcription = CallResult[list[Utterance]] | CallFailure


class TranscriptionWorker:
    """Transcribes segments on a worker thread; ``done`` gives them back in submission order."""

    def __init__(self, transcriber: Transcriber) -> None:
        self.transcriber = transcriber
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="transcription")
        self._pending: deque[tuple[Segment, Future[Transcription]]] = deque()
        self._workers: set[int] = set()
        _enlist()

    def submit(self, segment: Segment) -> None:
        self._pending.append((segment, self._pool.submit(self._transcribe, segment)))

    def pending(self) -> int:
        return len(self._pending)

    def done(self, *, wait: bool) -> list[tuple[Segment, Transcription]]:
        """The segments transcribed by now, oldest first, up to the first one still running;
        with ``wait``, every segment submitted. A worker's unexpected error is raised here."""
        found = []
        while self._pending and (wait or self._pending[0][1].done()):
            segment, job = self._pending.popleft()
            found.append((segment, job.result()))
        return found

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        _discharge(self._workers)

    def _transcribe(self, segment: Segment) -> Transcription:
        self._workers.add(_enlist())
        transcriber = self.transcriber
        try:
            return _measured(lambda: transcriber.transcribe(segment), transcriber.cpu_scope)
        except ProviderCallError as exc:
            return exc.failure
