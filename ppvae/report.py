"""A comparison as one self-contained HTML page: the table, the shared settings and every
figure embedded as a PNG data URI, so the file can be mailed or opened anywhere offline.
"""

from __future__ import annotations

import base64
import html
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ppvae.compare_figures import FIGURES
from ppvae.compare_table import format_html, table_note
from ppvae.io import write_text

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 72em; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.15em; margin-top: 1.6em; }
table.compare { border-collapse: collapse; font-size: 0.9em; }
table.compare th, table.compare td { border: 1px solid #ccc; padding: 0.3em 0.6em; }
table.compare td:not(:first-child) { text-align: right; font-variant-numeric: tabular-nums; }
table.compare thead { background: #f0f0f0; }
figure { margin: 1em 0; } figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { font-size: 0.9em; color: #555; }
dl.settings { display: grid; grid-template-columns: max-content auto; gap: 0.2em 1em; }
dl.settings dt { font-weight: 600; }
p.note { font-size: 0.9em; color: #444; max-width: 60em; }
"""

READING = (
    "Δ is the mean over test points (and seeds) of the per-point difference in "
    "log p(x) to the baseline; its paired standard error removes the difficulty the "
    "points share, so it resolves differences that the separate standard errors cannot. "
    "“SE across seeds” also counts the noise of training itself. k̂ is the Pareto "
    "shape of the importance weights (PSIS, through ArviZ): above 0.7 the guide is an "
    "unreliable proposal and log p(x) may be underestimated there. The amortisation gap "
    "is the ELBO a per-point optimised Gaussian gains over the encoder's guide."
)


def render_report(
    rows: Sequence[dict[str, Any]],
    figures: Mapping[str, str | os.PathLike],
    settings: Mapping[str, Any],
    title: str = "ppvae compare",
) -> str:
    """The report as an HTML string (figures read from their PNG files and embedded).

    Example:
        >>> from ppvae.compare_table import EXAMPLE_ROW
        >>> page = render_report([EXAMPLE_ROW], {}, {"data": "digits"})
        >>> page.startswith("<!DOCTYPE html>"), "<td>normal</td>" in page
        (True, True)
    """
    items = "".join(
        f"<dt>{html.escape(str(k))}</dt><dd>{html.escape(str(v))}</dd>" for k, v in settings.items()
    )
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(title)}</title><style>{STYLE}</style></head><body>",
        f"<h1>{html.escape(title)}: {len(rows)} models compared</h1>",
        f'<dl class="settings">{items}</dl>',
        "<h2>Results</h2>",
        format_html(rows),
        f'<p class="note">{html.escape(table_note(rows)) if rows else ""}</p>',
        f'<p class="note">{html.escape(READING)}</p>',
    ]
    for name, path in figures.items():
        data = base64.b64encode(Path(path).read_bytes()).decode("ascii")
        caption = html.escape(FIGURES.get(name, name))
        parts += [
            f'<h2 id="{html.escape(name)}">{caption}</h2>',
            f'<figure><img alt="{caption}" src="data:image/png;base64,{data}">',
            f"<figcaption>{caption}</figcaption></figure>",
        ]
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def write_report(
    path: str | os.PathLike,
    rows: Sequence[dict[str, Any]],
    figures: Mapping[str, str | os.PathLike],
    settings: Mapping[str, Any],
) -> Path:
    """Write :func:`render_report`'s page to ``path`` atomically; returns the path.

    Example:
        >>> import tempfile, pathlib
        >>> from ppvae.compare_table import EXAMPLE_ROW
        >>> p = write_report(pathlib.Path(tempfile.mkdtemp()) / "r.html", [EXAMPLE_ROW], {}, {})
        >>> "<table" in p.read_text()
        True
    """
    write_text(path, render_report(rows, figures, settings))
    return Path(path)
