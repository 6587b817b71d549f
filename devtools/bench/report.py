"""Samples, percentiles and tables: what the benchmarks print and save."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any


def percentile(samples: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100) of ``samples``, nearest-rank; NaN when there are none."""
    if not samples:
        return math.nan
    ordered = sorted(samples)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def median(samples: Sequence[float]) -> float:
    """The median of ``samples``; NaN when there are none."""
    return statistics.median(samples) if samples else math.nan


def ms(seconds: float) -> str:
    """Seconds as milliseconds for a table cell."""
    if math.isnan(seconds):
        return "n/a"
    value = seconds * 1000
    return f"{value:.2f}" if value < 10 else f"{value:.1f}" if value < 100 else f"{value:,.0f}"


def count(value: float | None) -> str:
    """A per-call count for a table cell (fractions when it varied between calls)."""
    if value is None or math.isnan(value):
        return "n/a"
    if abs(value - round(value)) < 0.05:
        return f"{round(value):,}"
    return f"{value:,.1f}"


def size(value: float | None) -> str:
    """A byte count for a table cell."""
    if value is None or math.isnan(value):
        return "n/a"
    for unit, scale in (("MB", 1e6), ("kB", 1e3)):
        if value >= scale:
            return f"{value / scale:,.1f} {unit}"
    return f"{value:,.0f} B"


def ratio(value: float | None, base: float | None) -> str:
    """``value / base`` as ``1.23x``; n/a when either is missing or base is zero."""
    if value is None or base is None or math.isnan(value) or math.isnan(base) or base == 0:
        return "n/a"
    return f"{value / base:,.2f}x"


@dataclass
class Table:
    """A Markdown table with a title and notes, printed and saved alike."""

    title: str
    columns: list[str]
    rows: list[list[str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, *cells: object) -> None:
        """Append a row; cells are shown as given (use the formatters above)."""
        self.rows.append([str(cell) for cell in cells])

    def render(self) -> str:
        """The table as Markdown, columns padded so it also reads as plain text."""
        widths = [len(c) for c in self.columns]
        for row in self.rows:
            for i, cell in enumerate(row):
                widths[i] = max(widths[i], len(cell))

        def line(cells: Sequence[str]) -> str:
            padded = [
                cell.ljust(widths[i]) if i == 0 else cell.rjust(widths[i])
                for i, cell in enumerate(cells)
            ]
            return "| " + " | ".join(padded) + " |"

        rule = (
            "|"
            + "|".join(
                "-" * (w + 2) if i == 0 else "-" * (w + 1) + ":" for i, w in enumerate(widths)
            )
            + "|"
        )
        out = [f"### {self.title}", "", line(self.columns), rule]
        out += [line(row) for row in self.rows]
        if self.notes:
            out.append("")
            out += [f"- {note}" for note in self.notes]
        return "\n".join(out) + "\n"

    def as_json(self) -> dict[str, Any]:
        """The table as saved in the results file."""
        return {
            "title": self.title,
            "columns": self.columns,
            "rows": self.rows,
            "notes": self.notes,
        }
