"""The house style of every figure: Okabe–Ito colours, one font, PNG only.

Figures are drawn on a bare :class:`matplotlib.figure.Figure` with the Agg
canvas, so the library never touches pyplot's global state or the backend of
whoever imports it. Released figures are PNG: raster images do not carry the
exact coordinates (event times) that an SVG or PDF would.
"""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Sequence

import matplotlib as mpl
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

#: Okabe & Ito (2008) colour-blind-safe palette.
OKABE_ITO: dict[str, str] = {
    "black": "#000000",
    "orange": "#E69F00",
    "sky_blue": "#56B4E9",
    "bluish_green": "#009E73",
    "yellow": "#F0E442",
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "reddish_purple": "#CC79A7",
}
#: Order in which series take colours (yellow last: weak on white).
SERIES_COLOURS: tuple[str, ...] = tuple(OKABE_ITO[k] for k in (
    "blue", "vermillion", "bluish_green", "orange", "reddish_purple", "sky_blue", "black", "yellow"))
#: Fixed colours of the evaluation's cohorts, the same in every figure.
COHORT_COLOURS: dict[str, str] = {
    "pre_fsp": OKABE_ITO["blue"],
    "transition": OKABE_ITO["orange"],
    "post_fsp": OKABE_ITO["vermillion"],
}
COHORT_LABELS: dict[str, str] = {"pre_fsp": "Pre-FSP", "transition": "Transition", "post_fsp": "Post-FSP"}
GREY = "#6E6E6E"
SHADE = "#D9D9D9"

RC = {
    "font.family": "DejaVu Sans",
    "font.size": 9,
    "axes.titlesize": 10,
    "axes.titleweight": "bold",
    "axes.labelsize": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.color": "#E5E5E5",
    "grid.linewidth": 0.6,
    "legend.frameon": False,
    "legend.fontsize": 8,
    "xtick.labelsize": 8,
    "ytick.labelsize": 8,
    "lines.linewidth": 1.8,
    "savefig.dpi": 150,
    "figure.dpi": 100,
}


def colours_for(groups: Sequence) -> dict:
    """A colour per group: cohort colours for cohort names, the palette in order otherwise."""
    out, spare = {}, iter(c for c in SERIES_COLOURS if c not in COHORT_COLOURS.values())
    for k, group in enumerate(groups):
        if str(group) in COHORT_COLOURS:
            out[group] = COHORT_COLOURS[str(group)]
        else:
            out[group] = next(spare, SERIES_COLOURS[k % len(SERIES_COLOURS)])
    return out


def ordered(groups) -> list:
    """Distinct groups in first-seen order, except that cohorts come pre, transition, post."""
    distinct = list(dict.fromkeys(groups))
    rank = {name: k for k, name in enumerate(COHORT_COLOURS)}
    return sorted(distinct, key=lambda g: (rank.get(str(g), len(rank)), distinct.index(g)))


def label_for(group) -> str:
    """Readable label of a group (cohort names spelled out, underscores as spaces)."""
    return COHORT_LABELS.get(str(group), str(group).replace("_", " "))


@contextmanager
def house_figure(width: float = 7.0, height: float = 4.5) -> Iterator[Figure]:
    """A new figure in the house style (sizes in inches)."""
    with mpl.rc_context(RC):
        figure = Figure(figsize=(width, height), layout="constrained")
        FigureCanvasAgg(figure)
        yield figure


def save_png(figure: Figure, path: str | Path) -> Path:
    """Write ``figure`` as PNG (the only released figure format); returns the path."""
    path = Path(path)
    if path.suffix.lower() != ".png":
        raise ValueError(f"figures are released as PNG only, not {path.suffix!r}")
    path.parent.mkdir(parents=True, exist_ok=True)
    with mpl.rc_context(RC):
        figure.savefig(path, format="png", metadata={"Software": None})
    return path


def no_data(figure: Figure, message: str) -> None:
    """Replace an empty figure's content by a centred message."""
    axes = figure.add_subplot()
    axes.set_axis_off()
    axes.text(0.5, 0.5, message, ha="center", va="center", color=GREY, fontsize=11)
