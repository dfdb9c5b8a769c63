"""The canvas every evaluation figure is drawn on: an explicit Agg figure, saved as a PNG sized for
the HTML report, and the colours all figures share (green right, red wrong, blue the query).
Figures are built with matplotlib's object API rather than through ``pyplot``: no global backend
is switched (a notebook or GUI importing siamkit keeps its own), no window is ever opened, and no
figure lingers in pyplot's registry to leak memory in long sweeps.
"""

from __future__ import annotations

from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

DPI = 100
RIGHT, WRONG, QUERY = "#1a9850", "#d73027", "#4575b4"


def _figure(width: float, height: float) -> Figure:
    figure = Figure(figsize=(width, height), dpi=DPI)
    FigureCanvasAgg(figure)
    return figure


def _save(figure: Figure, out_path) -> Path:
    path = Path(out_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.tight_layout()
    figure.savefig(path, format="png", dpi=DPI)
    return path
