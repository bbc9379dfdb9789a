"""A source replayed in real time: the live path's timing, over recorded media.

``PacedSource`` releases each event of the source it wraps when it would have become available in
a live room (``available_at``: a frame at its time, an audio chunk once fully heard), measured
from the start of iteration and divided by ``speed``. The consumer is the same ``Pipeline.handle``
as for any source; only the timing differs.

A live system cannot queue without bound: when the consumer falls more than ``max_lag_s`` media
seconds behind, video frames are dropped (and counted in ``dropped_frames``) until it has caught up
(its lag back to zero); audio chunks and questions are never dropped, only delivered late.

``events()`` sleeps with ``time.sleep``; ``aevents()`` is the same schedule for an event loop: it
waits with ``asyncio.sleep`` and pulls each event from the wrapped source in a worker thread, so
decoding never blocks the loop. Clock and sleep functions are injectable for tests.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator, Awaitable, Callable, Generator
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing

from assistant.core.errors import ConfigError
from assistant.core.events import Event, VideoFrame
from assistant.sessions.sources.base import Source
from assistant.sessions.sources.recorded import available_at


class _End:
    """Marks the end of the wrapped source when it is pulled from a worker thread."""


_END = _End()


class PacedSource(Source):
    kind = "paced"

    def __init__(
        self,
        source: Source,
        *,
        speed: float = 1.0,
        max_lag_s: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        async_sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    ) -> None:
        if not speed > 0:
            raise ConfigError(f"replay speed must be > 0 (1.0 is real time), got {speed}")
        if not max_lag_s >= 0:
            raise ConfigError(f"max_lag_s must be >= 0 media seconds, got {max_lag_s}")
        self.source = source
        self.speed = speed
        self.max_lag_s = max_lag_s
        self._clock = clock
        self._sleep = sleep
        self._async_sleep = async_sleep
        self.dropped_frames = 0
        self.lag_s = 0.0  # how late (media seconds) the last event released was
        self.max_seen_lag_s = 0.0
        self._dropping = False
        self._start = 0.0

    @property
    def duration_s(self) -> float | None:
        return self.source.duration_s

    def events(self) -> Generator[Event, None, None]:
        self._begin()
        with closing(self.source.events()) as events:  # closing this closes the wrapped source
            for event in events:
                wait_s = self._plan(event)
                if wait_s is None:
                    continue
                if wait_s > 0:
                    self._sleep(wait_s)
                yield event

    async def aevents(self) -> AsyncGenerator[Event, None]:
        self._begin()
        events = self.source.events()
        # one worker: pulls never overlap, and a close asked for mid-pull waits behind the pull
        pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="paced-source")
        loop = asyncio.get_running_loop()
        pulling = False
        try:
            while True:
                pulling = True
                event: Event | _End = await loop.run_in_executor(pool, next, events, _END)
                pulling = False
                if isinstance(event, _End):
                    return
                wait_s = self._plan(event)
                if wait_s is None:
                    continue
                if wait_s > 0:
                    await self._async_sleep(wait_s)
                yield event
        finally:
            if pulling:  # cancelled mid-pull: close once the worker is done with it
                pool.submit(events.close)
            else:
                events.close()
            pool.shutdown(wait=False)

    # -- schedule ------------------------------------------------------------------------------
    def _begin(self) -> None:
        self._start = self._clock()
        self.dropped_frames = 0
        self.lag_s = self.max_seen_lag_s = 0.0
        self._dropping = False

    def _media_now_s(self) -> float:
        return (self._clock() - self._start) * self.speed

    def _plan(self, event: Event) -> float | None:
        """Wall seconds to wait before releasing ``event``, or None to drop it."""
        lag_s = self._media_now_s() - available_at(event)
        if lag_s <= 0:
            self._dropping = False  # caught up
        elif lag_s > self.max_lag_s:
            self._dropping = True
        if self._dropping and isinstance(event, VideoFrame):
            self.dropped_frames += 1
            return None
        self.lag_s = max(lag_s, 0.0)
        self.max_seen_lag_s = max(self.max_seen_lag_s, self.lag_s)
        return max(-lag_s, 0.0) / self.speed
