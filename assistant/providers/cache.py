"""The call cache: provider results by content, so no call is made twice across runs.

A stage base names what a call's result depends on (the audio and where it sits, the frame's
pixels, the answer prompt), and ``Provider.cache_key`` hashes that with the provider's scope
(``provider:model``, the options that change its output, and a fingerprint of the adapter's own
code: edit the OCR or the answerer, and their old results are no longer found). ``Provider._invoke``
looks the key up before it calls the hook: a hit is a ``CallResult`` with ``cached=True``, its
original latency and usage kept beside it. A miss is called and its result kept, in memory at once
(a later call of the same run finds it) and in the ledger through the run's rows (the recorder
emits a ``CallCacheRecord`` beside the call's own row, in the same checkpoint).

Which providers use the cache is the run's decision (``assistant.pipeline.stages``): local ones by
default, cloud ones only with ``[calls] cache = true``.
"""

from __future__ import annotations

import hashlib
import inspect
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from assistant.core.events import Usage

_OWN_ROOT = Path(__file__).resolve().parents[1]  # the assistant package


@dataclass(frozen=True, slots=True)
class CacheEntry:
    """One stored result: its value (the stage's JSON), usage and the original call's figures."""

    value_json: str
    usage: Usage
    latency_ms: float
    model_resolved: str


class CallCache:
    """Stored results by key (``Provider.cache_key``), shared by a run's providers; thread-safe.

    ``load`` fills it from the ledger's ``call_cache`` rows; ``put`` adds a result made now;
    ``hits`` and ``misses`` count this run's lookups."""

    def __init__(self) -> None:
        self._entries: dict[str, CacheEntry] = {}
        self._specs: set[str] = set()  # providers (provider:model) with stored results
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: str) -> CacheEntry | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                self.misses += 1
            else:
                self.hits += 1
            return entry

    def put(self, key: str, entry: CacheEntry) -> None:
        with self._lock:
            self._entries.setdefault(key, entry)  # the first result stored stays

    def holds(self, spec: str) -> bool:
        """Whether results of ``spec`` were loaded (its model may then never be needed)."""
        return spec in self._specs

    def load(
        self,
        rows: Iterable[tuple[str, str, str, int, int, int, float, float, float, str]],
    ) -> int:
        """Add ``(spec, key, value_json, input_tokens, output_tokens, image_count, audio_s,
        compute_s, latency_ms, model_resolved)`` rows, oldest first; how many keys were new."""
        added = 0
        with self._lock:
            for row in rows:
                spec, key, value_json, tin, tout, images, audio_s, compute_s, latency_ms, resolved = (
                    row
                )
                self._specs.add(spec)
                if key in self._entries:
                    continue
                usage = Usage(int(tin), int(tout), int(images), float(audio_s), float(compute_s))
                self._entries[key] = CacheEntry(value_json, usage, float(latency_ms), resolved)
                added += 1
        return added


def content_key(scope: str, stage: str, parts: Iterable[bytes | str]) -> str:
    """sha256 over the provider's scope, the stage and each part (length-prefixed, so no two
    different sequences of parts hash alike)."""
    digest = hashlib.sha256()
    for part in (scope, stage, *parts):
        data = part.encode() if isinstance(part, str) else bytes(part)
        digest.update(len(data).to_bytes(8, "little"))
        digest.update(data)
    return digest.hexdigest()


@lru_cache(maxsize=64)
def code_fingerprint(cls: type) -> str:
    """A digest of the adapter's code: every module of our own in the class's bases, and every
    module beside the class itself (its helpers: layout, prompts, the vendor's client). What its
    output depends on besides its model and options."""
    files: set[Path] = set()
    for base in cls.__mro__:
        path = _source(base)
        if path is not None:
            files.add(path)
            if base is cls:
                files.update(path.parent.glob("*.py"))
    digest = hashlib.sha256()
    for file in sorted(files):
        digest.update(file.relative_to(_OWN_ROOT).as_posix().encode())
        digest.update(file.read_bytes())
    return digest.hexdigest()[:16]


@lru_cache(maxsize=16)
def files_fingerprint(paths: tuple[str, ...]) -> str:
    """A digest of some of our own modules, named by their path inside the package (e.g.
    ``"pipeline/sampling.py"``): what a cached result computed by them depends on."""
    digest = hashlib.sha256()
    for name in sorted(paths):
        digest.update(name.encode())
        digest.update((_OWN_ROOT / name).read_bytes())
    return digest.hexdigest()[:16]


def _source(cls: type) -> Path | None:
    """The module file of ``cls`` when it is ours (not a library's, not a builtin)."""
    try:
        source = inspect.getsourcefile(cls)
    except TypeError:
        return None
    if source is None:
        return None
    path = Path(source).resolve()
    return path if _OWN_ROOT in path.parents else None
