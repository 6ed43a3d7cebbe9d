"""Small Markdown formatters shared by every report section (numbers, percentages, tables)."""

from __future__ import annotations

import math


def fmt_us(us: float | None) -> str:
    """Microseconds as people read them: 45.2 us, 812 us, 60.4 ms; "-" when missing or NaN."""
    if us is None or (isinstance(us, float) and math.isnan(us)):
        return "-"
    if us >= 10_000:
        return f"{us / 1000:.1f} ms"
    if us >= 100:
        return f"{us:.0f} us"
    return f"{us:.1f} us"


def fmt_x(v: float | None, digits: int = 1) -> str:
    """A ratio: 18.4x, 817x."""
    if v is None:
        return "-"
    return f"{v:,.0f}x" if v >= 100 else f"{v:.{digits}f}x"


def fmt_pct(v: float | None, digits: int = 2) -> str:
    """A fraction in [0, 1] as a percentage."""
    return "-" if v is None else f"{100 * v:.{digits}f}%"


def table(header: list[str], rows: list[list[str]]) -> str:
    """A GitHub Markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)
