"""The comparison table: one row per entry, as aligned text, Markdown or HTML."""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from typing import Any

COLUMNS = (
    ("prior", "prior"),
    ("ELBO", "elbo"),
    ("log p(x) ± SE", "log_likelihood"),
    ("Δ vs baseline ± paired SE", "diff"),
    ("SE across seeds", "diff_seed_se"),
    ("rate (KL)", "rate"),
    ("distortion", "distortion"),
    ("active units", "active_units"),
    ("k̂ > 0.7", "khat_unreliable"),
    ("amortisation gap", "gap"),
    ("train s", "train_seconds"),
)


def _has_gap(rows: Sequence[dict[str, Any]]) -> bool:
    return any(not math.isnan(r.get("gap", math.nan)) for r in rows)


def _columns(rows: Sequence[dict[str, Any]]) -> list[tuple[str, str]]:
    return [c for c in COLUMNS if c[1] != "gap" or _has_gap(rows)]


def _cell(r: dict[str, Any], key: str) -> str:
    if key == "prior":
        return str(r["prior"])
    if key == "log_likelihood":
        return f"{r['log_likelihood']:.2f} ± {r['log_likelihood_se']:.2f}"
    if key == "diff":
        return f"{r['diff']:+.2f} ± {r['diff_se']:.2f}"
    if key == "gap":
        return f"{r['gap']:.2f} ± {r['gap_se']:.2f}"
    if key == "khat_unreliable":
        return f"{100 * r[key]:.1f} %"
    if key == "active_units":
        return f"{r[key]:.1f}"
    if key == "train_seconds":
        return f"{r[key]:.0f}"
    value = r[key]
    return "—" if value is None or math.isnan(value) else f"{value:.2f}"


def table_cells(rows: Sequence[dict[str, Any]]) -> tuple[list[str], list[list[str]]]:
    """Column titles and the formatted cells of every row (the gap column only where a
    gap was computed).

    Example:
        >>> titles, cells = table_cells([EXAMPLE_ROW])
        >>> titles[3], cells[0][3]
        ('Δ vs baseline ± paired SE', '+0.00 ± 0.00')
    """
    columns = _columns(rows)
    return [title for title, _ in columns], [[_cell(r, key) for _, key in columns] for r in rows]


def format_table(rows: Sequence[dict[str, Any]]) -> str:
    """The comparison as an aligned text table (the first entry is the baseline).

    Example:
        >>> print(format_table([EXAMPLE_ROW]).splitlines()[1])
        normal  -30.00  -28.00 ± 0.50  +0.00 ± 0.00  —  5.00  25.00  4.0  10.0 %  12
    """
    titles, cells = table_cells(rows)
    table = [titles, *cells]
    widths = [max(len(line[i]) for line in table) for i in range(len(titles))]
    return "\n".join(
        "  ".join(
            cell.rjust(w) if i else cell.ljust(w)
            for i, (cell, w) in enumerate(zip(line, widths, strict=True))
        ).rstrip()
        for line in table
    )


def table_note(rows: Sequence[dict[str, Any]]) -> str:
    """One sentence on units, K, seeds and the baseline.

    Example:
        >>> print(table_note([EXAMPLE_ROW]))
        Nats per test example; log p(x) importance-sampled with K = 100; 1 seed(s);
        baseline: normal.
    """
    r = rows[0]
    note = (
        f"Nats per test example; log p(x) importance-sampled with K = "
        f"{r.get('num_samples', '?')}; {r.get('seeds', 1)} seed(s); baseline: {r['prior']}."
    )
    if _has_gap(rows):
        note += f" Amortisation gap on the first {r.get('gap_points', '?')} test points."
    return note


def format_markdown(rows: Sequence[dict[str, Any]]) -> str:
    """The comparison as a Markdown table, with a note on units and K.

    Example:
        >>> print(format_markdown([EXAMPLE_ROW]).splitlines()[2])
        | normal | -30.00 | -28.00 ± 0.50 | +0.00 ± 0.00 | — | 5.00 | 25.00 | 4.0 | 10.0 % | 12 |
    """
    titles, cells = table_cells(rows)
    lines = ["| " + " | ".join(titles) + " |", "|" + "---|" * len(titles)]
    lines += ["| " + " | ".join(line) + " |" for line in cells]
    if rows:
        lines.append("\n" + table_note(rows))
    return "\n".join(lines)


def format_html(rows: Sequence[dict[str, Any]]) -> str:
    """The comparison as an HTML ``<table>`` (cells escaped; the best log p(x) in bold).

    Example:
        >>> "<td>normal</td>" in format_html([EXAMPLE_ROW])
        True
    """
    titles, cells = table_cells(rows)
    best = max(range(len(rows)), key=lambda i: rows[i]["log_likelihood"]) if rows else -1
    head = "".join(f"<th>{html.escape(t)}</th>" for t in titles)
    body = []
    for i, line in enumerate(cells):
        tds = [
            f"<td><b>{html.escape(c)}</b></td>"
            if (i == best and j == 2)
            else f"<td>{html.escape(c)}</td>"
            for j, c in enumerate(line)
        ]
        body.append("<tr>" + "".join(tds) + "</tr>")
    head = f"<thead><tr>{head}</tr></thead>"
    return f'<table class="compare">{head}<tbody>{"".join(body)}</tbody></table>'


EXAMPLE_ROW: dict[str, Any] = {
    "prior": "normal",
    "elbo": -30.0,
    "log_likelihood": -28.0,
    "log_likelihood_se": 0.5,
    "diff": 0.0,
    "diff_se": 0.0,
    "diff_seed_se": math.nan,
    "rate": 5.0,
    "distortion": 25.0,
    "active_units": 4,
    "khat_unreliable": 0.1,
    "gap": math.nan,
    "gap_se": math.nan,
    "train_seconds": 12.0,
    "num_samples": 100,
    "seeds": 1,
}
