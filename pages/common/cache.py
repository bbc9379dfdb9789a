"""Cached readers for the pages, typed: ``cached(read, ttl_s=5)`` is ``st.cache_data`` around a
views function, keeping its signature and return type (a page needs no untyped wrapper
function), with ``clear()`` to drop what it holds.

The cache belongs to the views function, not to the page: two pages caching the same reader
with the same options share their entries.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, ParamSpec, TypeVar

import streamlit as st

if TYPE_CHECKING:
    from streamlit.runtime.caching.cache_utils import CachedFunc

P = ParamSpec("P")
R = TypeVar("R")


def cached(
    read: Callable[P, R],
    *,
    ttl_s: float | None = None,
    spinner: bool | str = False,
    max_entries: int | None = None,
) -> CachedFunc[P, R]:
    """``read`` behind ``st.cache_data`` (entries live ``ttl_s`` seconds; ``spinner``: False, or
    the text shown while it computes): called like ``read``, with ``clear()`` besides."""
    decorate: Callable[[Callable[P, R]], CachedFunc[P, R]] = st.cache_data(
        ttl=ttl_s, show_spinner=spinner, max_entries=max_entries
    )
    return decorate(read)
