"""The HTML building blocks of siamkit's pages: inline CSS, escaped tables, embedded PNGs, and
the one-table page (a sweep's). Self-contained: a page references no external resource, and every
text from a user's data goes through :func:`html.escape`.
"""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path
from typing import NamedTuple

from siamkit.io.atomic import write_text_atomic

CSS = """
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; max-width: 1150px;
       margin: 2em auto; padding: 0 1em; color: #222; line-height: 1.45; }
h1 { border-bottom: 2px solid #4575b4; padding-bottom: .3em; }
h2 { margin-top: 2em; color: #2c4f7c; }
table { border-collapse: collapse; margin: 1em 0; font-size: 0.92em; }
th, td { border: 1px solid #ccc; padding: .35em .8em; text-align: left; vertical-align: top; }
th { background: #eef2f7; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
td.better { color: #1a7f37; font-weight: 600; }
td.worse { color: #c62828; font-weight: 600; }
tr:nth-child(even) td { background: #fafafa; }
img { max-width: 100%; height: auto; border: 1px solid #ddd; }
pre { background: #f6f8fa; padding: 1em; overflow-x: auto; }
.table-wrap { overflow-x: auto; }
.protocol { background: #fff8e1; border-left: 4px solid #f0b400; padding: .6em 1em; }
.note { color: #666; font-size: 0.9em; }
"""


def _format(value) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.3g}" if value != 0 and abs(value) < 1e-3 else f"{value:.4f}"
    if isinstance(value, (list, tuple, dict)):
        return json.dumps(value)
    return str(value)


class _Styled(NamedTuple):
    """A table cell shown as ``text`` with extra CSS classes (e.g. a change coloured better/worse)."""

    text: str
    css: str


def _table(columns, rows) -> str:
    """An HTML table; numbers are right-aligned, everything is escaped."""
    head = "".join(f"<th>{html.escape(str(column))}</th>" for column in columns)
    body = []
    for row in rows:
        cells = []
        for value in row:
            if isinstance(value, _Styled):
                cells.append(f'<td class="num {value.css}">{html.escape(value.text)}</td>')
                continue
            numeric = isinstance(value, (int, float)) and not isinstance(value, bool)
            numeric = numeric or (isinstance(value, str) and (" ± " in value or "95% CI" in value))
            css = ' class="num"' if numeric else ""
            cells.append(f"<td{css}>{html.escape(_format(value))}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    # A wide table (a sweep with many metrics) scrolls sideways instead of running off the page.
    return f'<div class="table-wrap"><table><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table></div>'


def _image(path, alt: str) -> str:
    data = base64.b64encode(Path(path).read_bytes()).decode("ascii")
    return f'<p><img alt="{html.escape(alt)}" src="data:image/png;base64,{data}"></p>'


def _page(title: str, body_parts: list[str]) -> str:
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title><style>{CSS}</style></head>\n<body>\n"
        f"<h1>{html.escape(title)}</h1>\n" + "\n".join(body_parts) + "\n</body></html>\n"
    )


def _write_atomically(out_path, text: str) -> Path:
    write_text_atomic(out_path, text)
    return Path(out_path)


def write_table_html(path, rows, columns, title: str, plots=None, note: str | None = None) -> Path:
    """A self-contained HTML page with one table (e.g. a parameter sweep) and optional plots.

    ``rows`` are dicts keyed by ``columns`` or sequences in column order; ``plots`` maps a
    heading to a PNG path, embedded under the table; ``note`` (plain text) is shown above it.
    """
    columns = list(columns)
    table_rows = [[row.get(c) for c in columns] if isinstance(row, dict) else list(row) for row in rows]
    parts = [f'<p class="protocol">{html.escape(note)}</p>'] if note else []
    parts.append(_table(columns, table_rows))
    for heading, plot_path in (plots or {}).items():
        if plot_path and Path(plot_path).is_file():
            parts += [f"<h2>{html.escape(str(heading))}</h2>", _image(plot_path, str(heading))]
    return _write_atomically(path, _page(title, parts))
