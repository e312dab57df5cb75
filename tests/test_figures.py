"""Figures: every function writes a valid, non-blank PNG in the house palette.

The tables are the demo release (:mod:`evaluation.report.demo`), which has
passed through the same disclosure control as a real run.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from evaluation import figures
from evaluation.figures.style import COHORT_COLOURS, OKABE_ITO, colours_for, ordered
from evaluation.report.demo import demo_release

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def release() -> dict[str, pd.DataFrame]:
    return demo_release(seed=3)


def pixels(path: Path) -> np.ndarray:
    assert path.read_bytes()[:8] == PNG_MAGIC
    with Image.open(path) as image:
        image.verify()
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


def assert_drawn(path: Path, min_ink: float = 0.02) -> np.ndarray:
    """A real picture: decodes, has a sensible size, and enough non-white ink in several colours."""
    image = pixels(path)
    height, width, _ = image.shape
    assert 300 <= width <= 3000 and 150 <= height <= 3000
    ink = (image < 245).any(axis=2).mean()
    assert ink > min_ink, f"{path.name} is nearly blank ({ink:.3%} ink)"
    packed = (image[..., 0].astype(np.int32) << 16) | (image[..., 1].astype(np.int32) << 8) | image[..., 2]
    assert np.unique(packed).size > 20
    return image


def has_colour(image: np.ndarray, hex_colour: str, tolerance: int = 12, min_pixels: int = 30) -> bool:
    rgb = np.array([int(hex_colour[i:i + 2], 16) for i in (1, 3, 5)])
    return int((np.abs(image.astype(int) - rgb).max(axis=2) <= tolerance).sum()) >= min_pixels


def test_km_figure_with_at_risk_table_uses_cohort_colours(release, tmp_path):
    path = figures.km_figure(release["km_time_in_protection"], tmp_path / "km.png")
    image = assert_drawn(path)
    for colour in COHORT_COLOURS.values():
        assert has_colour(image, colour)


def test_cumulative_incidence_panels(release, tmp_path):
    image = assert_drawn(figures.cif_figure(release["cif_exit_from_protection"], tmp_path / "cif.png"))
    assert has_colour(image, COHORT_COLOURS["pre_fsp"])


def test_forest_plot_keeps_not_estimable_rows(release, tmp_path):
    results = release["hazard_ratios"]
    assert results["release_note"].str.contains("not estimable").any()
    image = assert_drawn(figures.forest_figure(results, tmp_path / "forest.png"))
    assert has_colour(image, OKABE_ITO["blue"])


def test_forest_plot_when_nothing_is_estimable(release, tmp_path):
    results = release["hazard_ratios"].assign(estimate=np.nan, ci_lower=np.nan, ci_upper=np.nan)
    assert_drawn(figures.forest_figure(results, tmp_path / "forest.png"), min_ink=0.005)


def test_rmst_differences(release, tmp_path):
    assert_drawn(figures.rmst_figure(release["rmst_differences"], tmp_path / "rmst.png"))


def test_days_in_state_with_suppressed_values(release, tmp_path):
    table = release["days_in_state"]
    assert (table["mean_days"] == "c").any()
    assert_drawn(figures.days_in_state_figure(table, tmp_path / "days.png"))


def test_time_series_shades_go_live_and_lockdowns(release, tmp_path):
    image = assert_drawn(figures.timeseries_figure(release["monthly_referrals"], tmp_path / "ts.png"))
    assert has_colour(image, OKABE_ITO["vermillion"], min_pixels=50)     # go-live line
    assert has_colour(image, "#E3E3E3", tolerance=8, min_pixels=2000)    # lockdown shading


def test_flow_diagram(release, tmp_path):
    assert_drawn(figures.flow_figure(release["cohort_flow"], tmp_path / "flow.png"), min_ink=0.01)


def test_balance_plot(release, tmp_path):
    image = assert_drawn(figures.balance_figure(release["covariate_balance"], tmp_path / "balance.png"),
                         min_ink=0.01)
    assert has_colour(image, OKABE_ITO["vermillion"]) and has_colour(image, OKABE_ITO["blue"])


@pytest.mark.parametrize("draw", [
    figures.km_figure, figures.cif_figure, figures.forest_figure, figures.rmst_figure,
    figures.days_in_state_figure, figures.flow_figure, figures.balance_figure, figures.timeseries_figure,
])
def test_empty_tables_give_a_labelled_placeholder(draw, release, tmp_path):
    columns = {
        figures.km_figure: ["cohort", "time", "n_risk", "survival"],
        figures.cif_figure: ["cohort", "cause", "time", "cif"],
        figures.forest_figure: ["combination", "estimate", "ci_lower", "ci_upper"],
        figures.rmst_figure: ["outcome", "estimate", "ci_lower", "ci_upper"],
        figures.days_in_state_figure: ["state", "cohort", "mean_days"],
        figures.flow_figure: ["step", "cohort", "families", "children", "excluded_reason"],
        figures.balance_figure: ["covariate", "smd_before", "smd_after"],
        figures.timeseries_figure: ["month", "count"],
    }[draw]
    path = draw(pd.DataFrame(columns=columns), tmp_path / "empty.png")
    assert_drawn(path, min_ink=0.001)


def test_png_only(release, tmp_path):
    with pytest.raises(ValueError):
        figures.km_figure(release["km_time_in_protection"], tmp_path / "km.svg")
    assert not (tmp_path / "km.svg").exists()


def test_palette_is_stable_and_cohorts_ordered():
    assert ordered(["post_fsp", "pre_fsp", "transition"]) == ["pre_fsp", "transition", "post_fsp"]
    colours = colours_for(["post_fsp", "other", "pre_fsp"])
    assert colours["post_fsp"] == COHORT_COLOURS["post_fsp"]
    assert colours["other"] not in COHORT_COLOURS.values()
    assert set(colours.values()) <= set(OKABE_ITO.values())


def test_figures_leave_pyplot_alone(release, tmp_path):
    import matplotlib
    backend = matplotlib.get_backend()
    figures.km_figure(release["km_time_in_protection"], tmp_path / "km.png")
    assert matplotlib.get_backend() == backend
    import sys
    if "matplotlib.pyplot" in sys.modules:
        assert sys.modules["matplotlib.pyplot"].get_fignums() == []


def test_flow_diagram_levels_from_both_layouts(release, tmp_path):
    from evaluation.figures.flow import flow_levels
    levels = flow_levels(release["cohort_flow"])
    assert levels[0].shared is not None and not levels[0].cohorts
    assert set(levels[-1].cohorts) == {"pre_fsp", "transition", "post_fsp"}
    assert levels[1].excluded.startswith("no family link: c children")
    assert levels[-1].excluded.startswith("no assessment recorded")   # a step with exclusions only
    simple = pd.DataFrame({
        "step": ["Children in the extract", "Analysed", "Analysed"], "cohort": ["all", "pre_fsp", "post_fsp"],
        "families": ["100", "40", "35"], "children": ["180", "70", "60"],
        "excluded_reason": [None, "no assessment", "no assessment"]})
    levels = flow_levels(simple)
    assert [level.label for level in levels] == ["Children in the extract", "Analysed"]
    assert levels[1].excluded == "no assessment"
    assert_drawn(figures.flow_figure(simple, tmp_path / "simple.png"), min_ink=0.01)


# ---------------------------------------------------------------- as a reader sees them

def _patch_save_png(mp: pytest.MonkeyPatch, save) -> None:
    """Every ``evaluation`` module's ``save_png`` (the one of :mod:`evaluation.figures.style`) replaced,
    the modules that draw the release's figures imported first (the report imports them on first use)."""
    import importlib
    import pkgutil
    import sys

    from evaluation import figures as package
    from evaluation.figures import style

    for name in ["evaluation.comparison.figures", "evaluation.report.drawing",
                 *(f"{package.__name__}.{m.name}" for m in pkgutil.iter_modules(package.__path__))]:
        importlib.import_module(name)
    original = style.save_png
    for module in [m for name, m in sys.modules.items() if name.startswith("evaluation.")]:
        if getattr(module, "save_png", None) is original:
            mp.setattr(module, "save_png", save)


@pytest.fixture(scope="module")
def drawing(tmp_path_factory):
    """Every figure of the pipeline-shaped release (the simulated county) and of the demo release,
    each with the layout problems its own renderer found when it was saved and the texts drawn;
    also the county's figures as saved (name -> path) and, for each ``save_png`` call that drew
    them, whether it left the figure's layout engine and resolution as they were."""
    from matplotlib.figure import Figure
    from matplotlib.text import Text

    from evaluation.figures import style
    from evaluation.figures.style import layout_problems
    from evaluation.report import draw_release_figures
    from test_release_assembly import county_release

    _, county, _ = county_release(tmp_path_factory)
    found: dict[str, dict] = {}
    original, one_pass, kept, saving = Figure.savefig, style.save_png, [], []

    def savefig(self, fname, *args, **kwargs):
        # the figure is named by the path save_png was given (savefig may be given a buffer)
        original(self, fname, *args, **kwargs)
        problems = layout_problems(self)
        texts = [t.get_text() for t in self.findobj(Text) if t.get_visible() and t.get_text().strip()]
        lines = [(line.get_label(), line.get_linestyle()) for axes in self.axes for line in axes.get_lines()]
        found[saving[-1].name] = {"problems": problems, "texts": texts, "lines": lines, "path": saving[-1]}

    def save_png(figure, path):
        engine, dpi = figure.get_layout_engine(), figure.dpi
        saving.append(Path(path))
        one_pass(figure, path)
        kept.append(figure.get_layout_engine() is engine and figure.dpi == dpi)
        return Path(path)

    mp = pytest.MonkeyPatch()
    mp.setattr(Figure, "savefig", savefig)
    _patch_save_png(mp, save_png)
    try:
        pipeline = draw_release_figures(county, tmp_path_factory.mktemp("county_figures"))
        county_kept = list(kept)
        demo = draw_release_figures(demo_release(seed=3), tmp_path_factory.mktemp("demo_figures"))
    finally:
        mp.undo()
    assert len(pipeline) >= 12 and len(demo) >= 8
    assert {path.name for path in [*pipeline.values(), *demo.values()]} <= set(found)
    return {"found": found, "county": dict(pipeline), "county_kept": county_kept}


@pytest.fixture(scope="module")
def drawn_release(drawing):
    """Every figure of the county's and the demo release: its layout problems, texts, lines and path."""
    return drawing["found"]


def test_no_figure_has_text_outside_it_or_text_over_text(drawn_release):
    problems = {name: found["problems"] for name, found in drawn_release.items() if found["problems"]}
    assert problems == {}


def test_layout_check_finds_cut_titles_overlapping_labels_and_legends_over_bars(tmp_path):
    from evaluation.figures.style import house_figure, layout_problems

    with house_figure(4.0, 3.0) as figure:
        axes = figure.add_subplot()
        axes.set_title("A title far too long for a figure four inches wide, so it runs off the canvas", loc="left")
        axes.set_xticks([1.0, 1.01], ["0.3", "0.4"])
        axes.barh([0, 1], [5, 6], label="bars")
        axes.legend(loc="upper left")
        problems = layout_problems(figure)
    assert any(p.startswith("outside the figure") for p in problems)
    assert any(p.startswith("overlapping: '0.3' and '0.4'") for p in problems)
    assert "legend drawn over a bar" in problems


def test_labels_are_words_not_table_names(drawn_release):
    for name, found in drawn_release.items():
        for text in found["texts"]:
            assert "_" not in text, (name, text)
            assert not re.search(r"\b(Cin|Cp|cin|cp)\b", text), (name, text)


def test_cohorts_differ_by_line_style_as_well_as_colour(drawn_release):
    for name in ("km_time_in_protection.png", "cif_exit_from_protection.png"):
        styles = {}
        for label, style in drawn_release[name]["lines"]:
            if label in ("Pre-FSP", "Transition", "Post-FSP"):
                styles.setdefault(label, style)
        assert len(styles) >= 2 and len(set(styles.values())) == len(styles), (name, styles)


def test_days_in_state_chart_warns_that_cin_plans_are_partly_observed(tmp_path):
    from evaluation.report.drawing import _days_in_state

    table = pd.DataFrame({
        "outcome": ["days_in_cin_plan"] * 3 + ["days_in_cp_plan"] * 3,
        "cohort": ["pre_fsp", "transition", "post_fsp"] * 2, "time": 730.0,
        "estimate": [40.0, 90.0, 120.0, 30.0, 28.0, 25.0], "ci_lower": [30.0, 70.0, 100.0, 20.0, 18.0, 15.0],
        "ci_upper": [50.0, 110.0, 140.0, 40.0, 38.0, 35.0]})
    from matplotlib.figure import Figure
    from matplotlib.text import Text

    seen = []
    original = Figure.savefig
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(Figure, "savefig", lambda self, *a, **k: (seen.append(
            [t.get_text() for t in self.findobj(Text)]), original(self, *a, **k)))
        _days_in_state(table, tmp_path / "days.png")
    texts = " ".join(" ".join(seen[0]).split())
    assert "only from 1 April 2021" in texts and "pre-FSP and transition" in texts
    assert seen[0].count(" †") == 2                       # the two partly observed bars are marked
    assert "CIN plan" in seen[0] and "CP plan" in seen[0]


def test_nothing_touches_the_edge_of_a_figure(drawn_release):
    """A margin of background all round: no text or line was cut at the canvas edge."""
    for name, found in drawn_release.items():
        image = pixels(found["path"]).astype(int)
        border = np.concatenate([image[:2].reshape(-1, 3), image[-2:].reshape(-1, 3),
                                 image[:, :2].reshape(-1, 3), image[:, -2:].reshape(-1, 3)])
        assert (border >= 245).all(axis=1).mean() > 0.995, name



def test_saved_figures_have_the_pixels_of_savefig_alone(drawing, tmp_path_factory):
    """save_png lays a figure out and draws it once, where savefig alone would first draw every artist
    with rendering switched off to lay it out: every figure of the county's release has the same
    pixels both ways, and save_png leaves the figure as it was (layout engine, resolution). The
    one-pass side is the county's figures of ``drawing`` (the same release drawn through save_png,
    each call's figure checked there); here they are drawn again with savefig alone."""
    import matplotlib as mpl

    from evaluation.figures import style
    from evaluation.report import draw_release_figures
    from test_release_assembly import county_release

    def savefig_alone(figure, path):
        calls.append("alone")
        with mpl.rc_context(style.RC):
            figure.savefig(path, format="png", metadata={"Software": None},
                           pil_kwargs={"compress_level": style.PNG_COMPRESS_LEVEL})
        return Path(path)

    _, county, _ = county_release(tmp_path_factory)
    calls, drawn = [], {"one pass": drawing["county"]}
    with pytest.MonkeyPatch.context() as mp:
        _patch_save_png(mp, savefig_alone)
        drawn["alone"] = draw_release_figures(county, tmp_path_factory.mktemp("figures"))
    assert drawn["alone"].keys() == drawn["one pass"].keys() and len(drawn["alone"]) >= 12
    assert len(calls) == len(drawing["county_kept"]) == len(drawn["alone"])
    assert all(drawing["county_kept"])        # save_png left every figure's layout engine and dpi
    for name, path in drawn["alone"].items():
        assert np.array_equal(rgba(path), rgba(drawn["one pass"][name])), name


def rgba(path: Path) -> np.ndarray:
    """Every channel of every pixel of a PNG, as a reader decodes it."""
    assert path.read_bytes()[:8] == PNG_MAGIC
    with Image.open(path) as image:
        return np.asarray(image.convert("RGBA"))


def _savefig_alone(figure, path):
    """What save_png replaced: Matplotlib's savefig (its own layout pass, ticks worked out at every
    ask, Pillow's PNG writer) in the house style."""
    import matplotlib as mpl

    from evaluation.figures import style

    with mpl.rc_context(style.RC):
        figure.savefig(path, format="png", metadata={"Software": None},
                       pil_kwargs={"compress_level": style.PNG_COMPRESS_LEVEL})
    return Path(path)


def _tricky_figures():
    """Figures whose axes share a locator and formatter while the layout gives them different
    lengths (dates, an offset on a scalar axis, log scales), a rotated label, and a figure legend:
    what _TicksOnce must not answer from another axis's state."""
    from evaluation.figures.style import house_figure

    days = pd.date_range("2019-01-01", periods=400, freq="D")
    with house_figure(7.0, 4.0) as figure:        # shared date axis: wide and narrow panels
        wide, narrow = figure.subplots(1, 2, sharex=True, width_ratios=[4, 1])
        wide.plot(days, np.arange(400) % 37)
        narrow.plot(days, np.sqrt(np.arange(400)))
        narrow.set_title("narrow", loc="left")
        yield "dates", figure
    with house_figure(6.0, 5.0) as figure:        # shared scalar axis far from zero (offset text)
        top, bottom = figure.subplots(2, 1, sharex=True, height_ratios=[3, 1])
        x = 1_000_000 + np.linspace(0, 0.004, 50)
        top.plot(x, np.cos(x * 1e3))
        bottom.plot(x, np.sin(x * 1e3))
        bottom.set_xlabel("x")
        bottom.set_ylabel("a long label that wraps", wrap=True)
        yield "offset", figure
    with house_figure(7.0, 4.5) as figure:        # shared log axes, minor ticks, rotated ticks
        panels = figure.subplots(2, 3, sharey=True, squeeze=False).ravel()
        for k, axes in enumerate(panels[:5]):
            axes.set_yscale("log")
            axes.errorbar(range(4), 0.5 + np.arange(4) * (k + 1) / 3, yerr=0.1, fmt="o-")
            axes.set_xticks(range(4), [f"2024-0{m + 1}-31" for m in range(4)], rotation=30, ha="right")
        panels[5].set_axis_off()
        figure.legend(["series"], loc="outside lower right")
        yield "log", figure


def test_save_png_has_the_pixels_of_savefig_on_shared_and_offset_axes(tmp_path):
    """The one-pass save (layout alone, ticks once per place, own PNG writer) against savefig
    alone on figures built to trip it: every channel of every pixel the same."""
    from evaluation.figures.style import save_png

    alone = {name: _savefig_alone(figure, tmp_path / f"{name}_alone.png") for name, figure in _tricky_figures()}
    for name, figure in _tricky_figures():              # the same figures made again
        assert np.array_equal(rgba(save_png(figure, tmp_path / f"{name}.png")), rgba(alone[name])), name
    assert len(alone) == 3


def test_ticks_are_reused_only_by_the_axis_and_place_that_worked_them_out():
    """_TicksOnce: an axis asked again in the same place answers from its first answer; after a
    sharing axis has used the common locator and formatter, or once its axes moved, it works its
    ticks out again."""
    from matplotlib.transforms import Bbox

    from evaluation.figures.style import _ticks_once, house_figure

    with house_figure(6.0, 3.0) as figure:
        left, right = figure.subplots(1, 2, sharex=True)
        left.plot([0, 1, 2], [3, 1, 2])
        worked = []
        for axis in (left.xaxis, right.xaxis, left.yaxis):
            original = axis._update_ticks
            axis._update_ticks = lambda original=original, axis=axis: (worked.append(axis), original())[1]
        with _ticks_once(figure):
            first = left.xaxis._update_ticks()
            assert left.xaxis._update_ticks() is first and worked == [left.xaxis]
            right.xaxis._update_ticks()                  # the shared ticker used by another axis
            assert worked == [left.xaxis, right.xaxis]
            left.xaxis._update_ticks()
            assert worked == [left.xaxis, right.xaxis, left.xaxis]
            left.yaxis._update_ticks()                   # not shared: its own answer, kept
            left.yaxis._update_ticks()
            assert worked.count(left.yaxis) == 1
            left._set_position(Bbox.from_bounds(0.1, 0.1, 0.3, 0.5))   # the layout moves the axes
            left.yaxis._update_ticks()
            assert worked.count(left.yaxis) == 2
        # afterwards every axis answers as before: its own attributes back, the others' removed
        assert "_update_ticks" not in vars(right.yaxis) and "_get_ticklabel_bboxes" not in vars(left.xaxis)
        left.xaxis._update_ticks()
        assert worked[-1] is left.xaxis and worked.count(left.xaxis) == 3


def test_long_lived_objects_are_frozen_only_while_the_figures_are_drawn(release, tmp_path, monkeypatch):
    """draw_release_figures keeps the garbage collector off the objects that existed before it (a
    full collection over a pipeline step's half a million objects cost ~0.45 CPU-s each time),
    gives them back afterwards, and leaves a freeze made by its caller as it was."""
    import gc

    from evaluation.report import drawing

    during, original = [], drawing.FIGURE_FOR_TABLE["hazard_ratios"]
    monkeypatch.setitem(drawing.FIGURE_FOR_TABLE, "hazard_ratios",
                        lambda table, path: (during.append(gc.get_freeze_count()), original(table, path))[1])
    assert gc.get_freeze_count() == 0
    drawn = drawing.draw_release_figures(release, tmp_path / "a")
    assert during[-1] > 0 and gc.get_freeze_count() == 0 and len(drawn) >= 8
    gc.freeze()
    try:
        frozen = gc.get_freeze_count()
        drawing.draw_release_figures(release, tmp_path / "b")
        # nothing more frozen, nothing thawed (objects that die meanwhile leave the frozen count)
        assert 0.99 * frozen < gc.get_freeze_count() <= during[-1] <= frozen
    finally:
        gc.unfreeze()
    for name, path in drawn.items():
        assert np.array_equal(rgba(path), rgba(tmp_path / "b" / path.name)), name


def _two_figures(width: float):
    """Two figures with the same texts (titles, labels, tick labels, a legend) at a given width."""
    from evaluation.figures.style import house_figure, title_figure

    for _ in range(2):
        with house_figure(width, 3.5) as figure:
            axes = figure.add_subplot()
            axes.plot([0, 10, 20], [0.2, 0.6, 0.4], label="Pre-FSP")
            axes.set_xlabel("Days since entry")
            axes.set_ylabel("Proportion still in the state")
            axes.legend(loc="upper right")
            title_figure(figure, "Time on a child protection (CP) plan")
            yield figure


def test_figures_saved_at_a_resolution_share_their_text_metrics(tmp_path, monkeypatch):
    """save_png hands each figure's renderer the text metrics of one measuring renderer per resolution
    and text settings (Matplotlib's per-renderer cache, private: this fails if it is not where
    _text_metrics_by_renderer finds it): a second figure with the same texts measures none of them
    again, a figure of another size shares them too, and the numbers are those any Agg renderer of
    the resolution works out, whatever its canvas size. Pixels: the county's figures against
    savefig alone (test_saved_figures_have_the_pixels_of_savefig_alone)."""
    import weakref

    from matplotlib.backends.backend_agg import RendererAgg
    from matplotlib.font_manager import FontProperties

    from evaluation.figures import style

    by_renderer = style._text_metrics_by_renderer()
    assert isinstance(by_renderer, weakref.WeakKeyDictionary)
    measured = []
    original = RendererAgg.get_text_width_height_descent
    monkeypatch.setattr(RendererAgg, "get_text_width_height_descent",
                        lambda self, s, prop, ismath: (measured.append(s), original(self, s, prop, ismath))[1])
    monkeypatch.setattr(style, "_MEASURERS", {})
    renderers, counts = [], []
    for k, figure in enumerate([*_two_figures(6.0), *_two_figures(7.5)]):
        before = len(measured)
        style.save_png(figure, tmp_path / f"{k}.png")
        renderers.append(figure.canvas.renderer)
        counts.append(len(measured) - before)
    assert counts[0] > 5 and counts[1] == 0 and counts[3] == 0      # the same texts: not measured again
    assert len({id(by_renderer[r]) for r in renderers}) == 1 and len(style._MEASURERS) == 1
    (measurer,) = style._MEASURERS.values()
    assert by_renderer[renderers[0]] is by_renderer[measurer]
    big = RendererAgg(1400, 900, measurer.dpi)
    for text in ("0.25", "Time on a child protection (CP) plan", "Pre-FSP"):
        for prop in (FontProperties(family="DejaVu Sans", size=8), FontProperties(size=10, weight="bold")):
            assert original(measurer, text, prop, False) == original(big, text, prop, False)
