"""Money as people read it: one formatter for the CLI, the views and the pages.

Dollars always (no µ$, never scientific notation): cents for a dollar or more (``$1,234.57``),
four decimals under a dollar (``$0.0123``), and under a cent three significant digits, as many
decimals as that takes (``$0.00181``, ``$0.00000042``). Amounts under a billionth of a dollar,
which no meter bills, show as ``<$0.000000001``.
"""

from __future__ import annotations

import math

SMALLEST_USD = 1e-9


def format_usd(cost_usd: float | None, *, none: str = "n/a") -> str:
    """``cost_usd`` as dollars for a person; ``none`` for None or NaN."""
    if cost_usd is None:
        return none
    value = float(cost_usd)
    if math.isnan(value):
        return none
    if math.isinf(value):
        return "-$∞" if value < 0 else "$∞"
    sign = "-" if value < 0 else ""
    size = abs(value)
    if size == 0:
        return "$0"
    if size >= 1:
        return f"{sign}${size:,.2f}"
    if size >= 0.01:
        return f"{sign}${size:.4f}"
    if size < SMALLEST_USD:
        return f"{sign}<${SMALLEST_USD:.9f}"
    decimals = 2 - math.floor(math.log10(size))  # three significant digits
    text = f"{size:.{decimals}f}"
    if float(text) >= 0.01:  # 0.009996 rounds up to a cent
        return f"{sign}${size:.4f}"
    return f"{sign}${text}"
