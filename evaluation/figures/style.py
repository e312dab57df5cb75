"""The house style of every figure: Okabe–Ito colours, one font, PNG only.

Figures are drawn on a bare :class:`matplotlib.figure.Figure` with the Agg
canvas, so the library never touches pyplot's global state or the backend of
whoever imports it. Released figures are PNG: raster images do not carry the
exact coordinates (event times) that an SVG or PDF would.
"""

from __future__ import annotations

from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Iterator, Sequence

import matplotlib as mpl
from matplotlib import text as mtext
from matplotlib.backends.backend_agg import FigureCanvasAgg, RendererAgg
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
#: Line styles of the cohorts, so that no figure carries meaning by colour alone.
COHORT_LINESTYLES: dict[str, str] = {"pre_fsp": "-", "transition": "--", "post_fsp": ":"}
#: Bar hatches of the cohorts (the same purpose for bars).
COHORT_HATCHES: dict[str, str] = {"pre_fsp": "", "transition": "///", "post_fsp": "..."}
#: Marker shapes of the cohorts (points and legends).
COHORT_MARKERS: dict[str, str] = {"pre_fsp": "o", "transition": "s", "post_fsp": "^"}
SPARE_LINESTYLES: tuple[str, ...] = ("-", "--", ":", "-.")
#: Words a reader uses for the states, outcomes and exit routes named in the released tables.
READABLE: dict[str, str] = {
    "referral": "Referral (no plan yet)", "cin_plan": "CIN plan", "cp_plan": "CP plan", "care": "In care",
    "closed": "Case closed", "time_in_need": "Time in need (CIN episode)", "time_on_cin_plan": "Time on a CIN plan",
    "time_in_protection": "Time on a CP plan", "time_in_care": "Time in care",
    "time_to_protection": "Time to a CP plan", "time_to_care": "Time to care", "re_referral": "Time to re-referral",
    "step_down": "Step-down to a CIN plan", "closure": "Case closure", "escalation_care": "Entry to care",
    "return_home": "Return home", "permanence": "Permanence (adoption, SGO, CAO)", "other": "Other",
    "referrals": "Referrals", "cin_plan_starts": "CIN plans started", "cp_plan_starts": "CP plans started",
    "care_entries": "Entries to care", "on_cp_plan_month_end": "Children on a CP plan at month end",
    "in_care_month_end": "Children in care at month end",
}
#: Average width of a character of the title font, in inches (for wrapping titles to the figure).
TITLE_CHAR_INCHES = 0.085
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


def readable(name) -> str:
    """What a reader calls a released state, outcome, exit route or series ("cp_plan" -> "CP plan")."""
    text = str(name)
    for prefix in ("days_in_", "km_", "cif_"):
        if text.startswith(prefix) and text[len(prefix):] in READABLE:
            text = text[len(prefix):]
    if text in READABLE:
        return READABLE[text]
    if text in COHORT_LABELS:
        return COHORT_LABELS[text]
    text = text.replace("_", " ")
    for word, right in (("cin", "CIN"), ("cp", "CP"), ("fsp", "FSP"), ("la", "LA"), ("rmst", "RMST")):
        text = " ".join(right if w.lower() == word else w for w in text.split(" "))
    return text[:1].upper() + text[1:]


def linestyles_for(groups: Sequence) -> dict:
    """A line style per group: the cohorts' own, spare dashes otherwise."""
    spare = iter(SPARE_LINESTYLES)
    return {g: COHORT_LINESTYLES.get(str(g)) or next(spare, "-") for g in groups}


def hatches_for(groups: Sequence) -> dict:
    """A bar hatch per group: the cohorts' own, spare patterns otherwise."""
    spare = iter(("", "///", "...", "xxx", "++"))
    return {g: COHORT_HATCHES.get(str(g), None) if str(g) in COHORT_HATCHES else next(spare, "") for g in groups}


def wrapped(text: str, width_inches: float) -> str:
    """``text`` broken into lines that fit ``width_inches`` of title font (existing breaks kept)."""
    import textwrap

    limit = max(int(width_inches / TITLE_CHAR_INCHES), 20)
    return "\n".join(line for part in str(text).split("\n") for line in (textwrap.wrap(part, limit) or [""]))


def title_figure(figure: Figure, text: str) -> None:
    """A bold, left-aligned figure title wrapped to the figure's width (never cut off)."""
    width = figure.get_figwidth() - 0.2
    figure.suptitle(wrapped(text, width), x=0.01, ha="left", fontsize=RC["axes.titlesize"], fontweight="bold")


def caveat(figure: Figure, text: str) -> None:
    """A caveat printed under the figure, wrapped to its width (partial data, etc.)."""
    figure.supxlabel(wrapped(text, figure.get_figwidth() * 1.12), fontsize=8, color=OKABE_ITO["vermillion"],
                     x=0.01, ha="left", style="italic")


@contextmanager
def house_figure(width: float = 7.0, height: float = 4.5) -> Iterator[Figure]:
    """A new figure in the house style (sizes in inches)."""
    with mpl.rc_context(RC):
        figure = Figure(figsize=(width, height), layout="constrained")
        FigureCanvasAgg(figure)
        yield figure


#: zlib level of the PNG files: PNG is lossless, so the level changes the file's size (about 9%
#: larger at 1 than at zlib's default 6 on the default county's figures), never a pixel, and level
#: 1 compresses in about two thirds of the time.
PNG_COMPRESS_LEVEL = 1


def save_png(figure: Figure, path: str | Path) -> Path:
    """Write ``figure`` as PNG (the only released figure format); returns the path."""
    path = Path(path)
    if path.suffix.lower() != ".png":
        raise ValueError(f"figures are released as PNG only, not {path.suffix!r}")
    path.parent.mkdir(parents=True, exist_ok=True)
    with mpl.rc_context(RC):
        engine = figure.get_layout_engine()
        if engine is None or not figure.axes:
            figure.savefig(path, format="png", metadata={"Software": None},
                           pil_kwargs={"compress_level": PNG_COMPRESS_LEVEL})
            return path
        # What savefig does with a layout engine, without its first pass over every artist: savefig
        # lays the figure out inside a whole draw with rendering switched off, then draws it. Here
        # the layout runs alone, at the saving resolution and on the same renderer, and savefig
        # draws once; every artist works out its text and legend place again when it is drawn,
        # and each axis its ticks once per place of its axes (_ticks_once), so the pixels are the
        # same (tests/test_figures.py compares them).
        dpi, original_dpi = mpl.rcParams["savefig.dpi"], figure.dpi
        figure.dpi = dpi
        try:
            with _ticks_once(figure):
                renderer = figure.canvas.get_renderer()
                _share_text_metrics(renderer)
                with getattr(renderer, "_draw_disabled", nullcontext)():
                    for axes in figure.axes:             # as Figure.draw does before its layout
                        locator = axes.get_axes_locator()
                        axes.apply_aspect(locator(axes, renderer) if locator else None)
                    engine.execute(figure)
                figure.set_layout_engine(None)
                figure.savefig(path, format="png", dpi=dpi, metadata={"Software": None},
                               pil_kwargs={"compress_level": PNG_COMPRESS_LEVEL})
        finally:
            figure.set_layout_engine(engine)
            figure.dpi = original_dpi
    return path


#: rcParams that can change what a string measures (fonts, hinting, kerning, mathtext).
_TEXT_RC = tuple(key for key in mpl.rcParams if key.startswith(("font.", "text.", "mathtext.")))
#: One small Agg renderer per resolution and text settings, whose text metrics every figure saved
#: with those shares (:func:`_share_text_metrics`); kept for the process's life, so never dangling.
_MEASURERS: dict[tuple, RendererAgg] = {}


def _text_metrics_by_renderer():
    """Matplotlib's cache of text metrics per renderer: the WeakKeyDictionary that
    ``matplotlib.text._get_text_metrics_function`` keeps as its ``_cache`` default (private; a test
    fails if it is not there)."""
    return mtext._get_text_metrics_function.__defaults__[0]


def _share_text_metrics(renderer) -> None:
    """Let ``renderer`` answer "how wide, high and deep is this string" from the answers already
    worked out for every earlier figure saved at its resolution.

    Matplotlib caches a string's metrics per renderer, and every figure gets a renderer of its own,
    so each figure measured its tick labels, titles and legend entries again (FreeType lays out
    the string each time: ~0.4 ms for "0.25", several ms for a title); about two thirds of the
    release's measurements repeat an earlier figure's. An Agg renderer's metrics depend only on the
    string, the font properties, math or not and its resolution (``RendererAgg.
    get_text_width_height_descent`` reads nothing else of the renderer; the canvas size plays no
    part) and on the font and text settings, so a renderer is handed the cache of one measuring
    renderer per resolution and settings: the same function Matplotlib would build, with the same
    key, computing the same numbers.
    """
    if type(renderer) is not RendererAgg:
        return
    key = (renderer.dpi, *(repr(mpl.rcParams[name]) for name in _TEXT_RC))
    measurer = _MEASURERS.get(key)
    if measurer is None:
        measurer = _MEASURERS[key] = RendererAgg(1, 1, renderer.dpi)
    _text_metrics_by_renderer()[renderer] = mtext._get_text_metrics_function(measurer)


class _TicksOnce:
    """An axis's ticks and tick-label boxes, worked out once per place and view of its axes.

    Matplotlib works out an axis's ticks (locator, formatter, tick objects) and the boxes of its
    tick labels afresh every time it is asked, and while one figure is laid out and drawn it is
    asked about twenty times per axis: by the axis's own tight box, by its label's position (the
    "siblings"), by the spines' extents, in each of the constrained layout's two passes and again
    in the draw. Between those calls the figure changes only by where the layout puts each axes,
    so the answer is a function of the axes' box on the canvas, the view limits and the
    resolution (``state``), and an answer worked out for the same state is the one Matplotlib
    would work out again. One guard more: axes that share an axis share its locator and formatter,
    whose state (a date locator's unit, a scalar formatter's offset) is whatever the last axis to
    use them left, so an answer is reused only while no other axis or state has used them since.
    """

    def __init__(self) -> None:
        self.ticks: dict[int, tuple] = {}
        self.boxes: dict[tuple, tuple] = {}
        self.last_user: dict[int, tuple] = {}

    @staticmethod
    def state(axis) -> tuple:
        return (tuple(axis.axes.bbox.bounds), tuple(axis.get_view_interval()),
                axis.axes.get_figure(root=True).dpi)

    def update_ticks(self, axis, update):
        user = (id(axis), self.state(axis))
        tickers = (id(axis.major), id(axis.minor))
        known = self.ticks.get(id(axis))
        if known is not None and known[0] == user[1] and all(self.last_user.get(t) == user for t in tickers):
            return known[1]
        ticks = update()
        self.ticks[id(axis)] = (user[1], ticks)
        for ticker in tickers:
            self.last_user[ticker] = user
        return ticks

    def ticklabel_bboxes(self, axis, boxes, ticks, renderer):
        key = (id(axis), id(renderer), tuple(map(id, ticks)), self.state(axis))
        known = self.boxes.get(key)
        if known is None:
            known = self.boxes[key] = boxes(ticks, renderer)
        return known


@contextmanager
def _ticks_once(figure: Figure) -> Iterator[None]:
    """Within the block, every axis of ``figure``'s axes answers repeated questions about its ticks
    from :class:`_TicksOnce` (instance attributes shadowing the methods; removed afterwards)."""
    once, names = _TicksOnce(), ("_update_ticks", "_get_ticklabel_bboxes")
    axes_list = [axis for axes in figure.axes for axis in axes._axis_map.values()]
    before = [{name: vars(axis)[name] for name in names if name in vars(axis)} for axis in axes_list]
    for axis in axes_list:
        update, boxes = axis._update_ticks, axis._get_ticklabel_bboxes
        axis._update_ticks = lambda axis=axis, update=update: once.update_ticks(axis, update)
        axis._get_ticklabel_bboxes = (lambda ticks, renderer, axis=axis, boxes=boxes:
                                      once.ticklabel_bboxes(axis, boxes, ticks, renderer))
    try:
        yield
    finally:
        for axis, own in zip(axes_list, before):
            for name in names:
                if name in own:
                    setattr(axis, name, own[name])
                else:
                    delattr(axis, name)


def layout_problems(figure: Figure, tolerance: float = 1.0) -> list[str]:
    """Text drawn outside the canvas, texts overlapping each other, legends over data.

    Draws ``figure`` with its own renderer and compares the window extents of every
    visible text (titles, labels, tick labels, annotations, legend entries). Used by the
    tests on every released figure.
    """
    from matplotlib.legend import Legend
    from matplotlib.patches import Rectangle
    from matplotlib.text import Text

    figure.canvas.draw()
    renderer = figure.canvas.get_renderer()
    canvas = figure.bbox
    shown, hidden = [], set()
    for axes in figure.axes:
        for axis, (low, high) in ((axes.xaxis, axes.get_xlim()), (axes.yaxis, axes.get_ylim())):
            low, high = sorted((low, high))
            for tick in axis.get_major_ticks() + axis.get_minor_ticks():
                # tick labels are not drawn on a hidden axis, nor outside the view
                if not axes.axison or not axis.get_visible() or not tick.get_visible() or \
                        not low - 1e-9 <= tick.get_loc() <= high + 1e-9:
                    hidden.update((id(tick.label1), id(tick.label2)))
    for text in figure.findobj(Text):
        if id(text) in hidden or not text.get_visible() or not text.get_text().strip() or text.get_alpha() == 0:
            continue
        box = text.get_window_extent(renderer)
        if box.width <= 0 or box.height <= 0:
            continue
        shown.append((text.get_text().replace("\n", " "), box))
    problems = []
    for label, box in shown:
        if (box.x0 < canvas.x0 - tolerance or box.y0 < canvas.y0 - tolerance or box.x1 > canvas.x1 + tolerance
                or box.y1 > canvas.y1 + tolerance):
            problems.append(f"outside the figure: {label!r}")
    for i, (first, a) in enumerate(shown):
        for second, b in shown[i + 1:]:
            overlap_x = min(a.x1, b.x1) - max(a.x0, b.x0)
            overlap_y = min(a.y1, b.y1) - max(a.y0, b.y0)
            if overlap_x > tolerance and overlap_y > tolerance:
                problems.append(f"overlapping: {first!r} and {second!r}")
    for axes in figure.axes:
        legend = axes.get_legend()
        if not isinstance(legend, Legend) or not legend.get_visible():
            continue
        box = legend.get_window_extent(renderer)
        for patch in axes.patches:
            if isinstance(patch, Rectangle) and patch.get_visible() and patch.get_width() and patch.get_height():
                other = patch.get_window_extent(renderer)
                if min(box.x1, other.x1) - max(box.x0, other.x0) > tolerance and \
                        min(box.y1, other.y1) - max(box.y0, other.y0) > tolerance:
                    problems.append("legend drawn over a bar")
                    break
    return problems


def no_data(figure: Figure, message: str) -> None:
    """Replace an empty figure's content by a centred message."""
    axes = figure.add_subplot()
    axes.set_axis_off()
    axes.text(0.5, 0.5, message, ha="center", va="center", color=GREY, fontsize=11)
