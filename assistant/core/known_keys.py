"""Unknown keys are refused, naming the line and the nearest known key.

One rule for every file a user writes by hand (a dataset's ``manifest.toml`` and its
``questions.jsonl``): a key the reader does not know is a typo until shown otherwise, so it is
refused instead of being read as "not set" (``keyfacts`` loaded silently as no key facts;
``transcipt`` under ``[ground_truth]`` gave an error about something else).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Collection, Iterable


def nearest(key: str, known: Iterable[str]) -> str | None:
    """The known key closest to ``key`` (a typo's likely intent), or None when none is close."""
    names = list(known)
    folded = {name.lower().replace("-", "_"): name for name in names}
    plain = key.lower().replace("-", "_")
    if plain in folded:  # only the case or the separator differs
        return folded[plain]
    squeezed = {name.replace("_", ""): name for name in folded}
    if plain.replace("_", "") in squeezed:  # "keyfacts" for "key_facts"
        return folded[squeezed[plain.replace("_", "")]]
    close = difflib.get_close_matches(plain, list(folded), n=1, cutoff=0.6)
    return folded[close[0]] if close else None


def first_unknown(keys: Iterable[str], known: Collection[str]) -> str | None:
    """The first key (in the file's order) that is not in ``known``."""
    return next((key for key in keys if key not in known), None)


def unknown_key_problem(key: str, known: Collection[str], *, table: str = "") -> str:
    """``unknown key 'screen.fps'; did you mean 'file'? (known: file, participant)``."""
    shown = f"{table}.{key}" if table else key
    guess = nearest(key, known)
    hint = f"; did you mean '{guess}'?" if guess is not None else ""
    return f"unknown key '{shown}'{hint} (known here: {', '.join(sorted(known))})"


def toml_line(text: str, key: str, *, table: str = "", occurrence: int = 0) -> int | None:
    """The 1-based line where ``key`` is set in TOML ``text``: under ``[table]`` (or the
    ``occurrence``-th ``[[table]]``), or at the top level for ``table=""``; None if not found
    (a key written as a dotted or inline-table key)."""
    header = re.compile(r"\s*\[\[?\s*([^\]]+?)\s*\]\]?\s*(?:#.*)?")
    assign = re.compile(rf"""\s*(["']?){re.escape(key)}\1\s*=""")
    current, seen = "", -1
    for number, line in enumerate(text.splitlines(), start=1):
        found = header.fullmatch(line)
        if found is not None:
            current = found.group(1).strip("\"'")
            if current == table:
                seen += 1
            continue
        if current == table and (not table or seen == occurrence) and assign.match(line):
            return number
    return None
